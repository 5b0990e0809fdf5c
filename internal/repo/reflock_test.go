package repo_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// recorder is an observer that is slow at random, like a metadata write.
type recorder struct {
	mu   sync.Mutex
	seen []refs.Update
}

func (r *recorder) RefsUpdated(_ context.Context, _ string, updates []refs.Update) {
	time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
	r.mu.Lock()
	r.seen = append(r.seen, updates...)
	r.mu.Unlock()
}

// TestUpdateRefs_observedInOrder: concurrent transactions on one ref are
// observed in the order the ref moved (regression: the observer of an
// earlier transaction could run after a later one's, putting the event
// feed out of order).
func TestUpdateRefs_observedInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{}
	r := newObservedRepo(t, rec)

	const n = 120
	script := `for i in $(seq ` + "120" + `); do git commit-tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904 -m "c$i"; done`
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"GIT_DIR=" + r.Path(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "PATH=/usr/bin:/bin:/usr/local/bin",
		"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	commits := make(chan git.ObjectID, n)
	for _, c := range strings.Fields(string(out)) {
		commits <- git.ObjectID(c)
	}
	close(commits)

	ref := git.ReferenceName("refs/heads/main")
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for c := range commits {
				for {
					old := git.ZeroOID
					if info, err := r.ReadRef(ref); err == nil {
						old = info
					}
					err := r.UpdateRefs(ctx, refs.Update{Ref: ref, Old: old, New: c})
					if err == nil {
						break
					}
					if !errors.Is(err, repo.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()

	if len(rec.seen) != n {
		t.Fatalf("observed %d updates, want %d", len(rec.seen), n)
	}
	at := git.ZeroOID
	for i, u := range rec.seen {
		if u.Old != at {
			t.Fatalf("update %d observed moving %s → %s, but the ref was at %s", i, u.Old, u.New, at)
		}
		at = u.New
	}
}

// TestCommitChanges_queuedPerBranch: concurrent commits to one branch
// queue for it, so each is built once on the tip the one before it left:
// every commit lands, in one pack each (a commit that lost the
// compare-and-swap would write its trees and commit again, in a second
// pack).
func TestCommitChanges_queuedPerBranch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{}
	r := newObservedRepo(t, rec)

	const writers, each = 12, 3
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			for j := range each {
				if _, err := commitFile(ctx, r, "main", fmt.Sprintf("w%d/c%d.txt", i, j)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	git := func(args ...string) string { t.Helper(); return gitIn(t, r.Path(), args...) }
	if n := git("rev-list", "--count", "main"); n != strconv.Itoa(writers*each) {
		t.Fatalf("main has %s commits, want %d", n, writers*each)
	}
	if files := strings.Fields(git("ls-tree", "-r", "--name-only", "main")); len(files) != writers*each {
		t.Fatalf("main's tree has %d files, want %d", len(files), writers*each)
	}
	packs, err := filepath.Glob(filepath.Join(r.Path(), "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	if len(packs) != writers*each {
		t.Errorf("%d packs for %d commits: some commits were built twice", len(packs), writers*each)
	}
	if len(rec.seen) != writers*each {
		t.Errorf("observed %d updates, want %d", len(rec.seen), writers*each)
	}
	git("fsck", "--strict")
}

// TestWrites_queuedPerRef: merges and patches into one branch, and notes
// added to one notes ref, all at once: each waits its turn at its ref, so
// none runs out of retries (a merge has 5, a patch and a note 8).
func TestWrites_queuedPerRef(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRepo(t)
	const n = 10
	if _, err := commitFile(ctx, r, "main", "README"); err != nil {
		t.Fatal(err)
	}
	sources := make([]git.ObjectID, n)
	for i := range sources {
		res, err := commitFile(ctx, r, fmt.Sprintf("b%d", i), fmt.Sprintf("b%d.txt", i))
		if err != nil {
			t.Fatal(err)
		}
		sources[i] = res.Commit
	}

	author := repo.Signature{Name: "A", Email: "a@example.com"}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			if _, err := r.Merge(ctx, repo.MergeRequest{Source: sources[i], SourceName: fmt.Sprintf("b%d", i),
				TargetBranch: "main", Strategy: repo.MergeAlways, Author: author}); err != nil {
				t.Errorf("merge b%d: %v", i, err)
			}
		})
		wg.Go(func() {
			<-start
			if _, err := r.WriteNote(ctx, repo.NoteWrite{Ref: "refs/notes/commits", Object: sources[i],
				Action: repo.NoteAdd, Text: fmt.Sprintf("note %d", i), Author: author}); err != nil {
				t.Errorf("note on b%d: %v", i, err)
			}
		})
		wg.Go(func() {
			<-start
			pf, err := repo.NewPatchFile()
			if err != nil {
				t.Error(err)
				return
			}
			defer pf.Close()
			fmt.Fprintf(pf, "diff --git a/p%d.txt b/p%d.txt\nnew file mode 100644\n--- /dev/null\n+++ b/p%d.txt\n@@ -0,0 +1 @@\n+patch %d\n", i, i, i, i)
			if _, err := r.CommitPatch(ctx, pf, repo.CommitRequest{Branch: "main", Author: author, Message: "patch"}); err != nil {
				t.Errorf("patch %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	git := func(args ...string) string { t.Helper(); return gitIn(t, r.Path(), args...) }
	if files := strings.Fields(git("ls-tree", "--name-only", "main")); len(files) != 1+2*n {
		t.Errorf("main has %d files, want %d: %v", len(files), 1+2*n, files)
	}
	if notes := strings.Split(git("notes", "list"), "\n"); len(notes) != n {
		t.Errorf("%d notes, want %d", len(notes), n)
	}
	git("fsck", "--strict")
}

// commitFile commits a new file at path to branch (made from main if it
// does not exist).
func commitFile(ctx context.Context, r *repo.Repo, branch, path string) (*repo.CommitResult, error) {
	w, err := r.BeginWrite()
	if err != nil {
		return nil, err
	}
	bw := w.NewBlob()
	fmt.Fprintf(bw, "%s on %s\n", path, branch)
	oid, err := bw.Close()
	if err != nil {
		w.Abort()
		return nil, err
	}
	req := repo.CommitRequest{Branch: branch, Author: repo.Signature{Name: "A", Email: "a@example.com"}, Message: "m",
		Changes: []repo.FileChange{{Path: path, Mode: "100644", OID: oid}}}
	if branch != "main" {
		req.BaseBranch = "main"
	}
	return r.CommitChanges(ctx, w, req)
}
