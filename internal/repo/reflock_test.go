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
	"github.com/strata-storage/strata/internal/git/catfile"
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
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	rec := &recorder{}
	m, err := repo.NewManager(t.TempDir(), f, cache, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	r, err := m.Create(ctx, "abcdef0123", "main")
	if err != nil {
		t.Fatal(err)
	}

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
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	rec := &recorder{}
	m, err := repo.NewManager(t.TempDir(), f, cache, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	r, err := m.Create(ctx, "abcdef0123", "main")
	if err != nil {
		t.Fatal(err)
	}

	const writers, each = 12, 3
	author := repo.Signature{Name: "A", Email: "a@example.com"}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			for j := range each {
				w, err := r.BeginWrite()
				if err != nil {
					t.Error(err)
					return
				}
				bw := w.NewBlob()
				fmt.Fprintf(bw, "writer %d, commit %d\n", i, j)
				oid, err := bw.Close()
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.CommitChanges(ctx, w, repo.CommitRequest{Branch: "main", Author: author, Message: "m",
					Changes: []repo.FileChange{{Path: fmt.Sprintf("w%d/c%d.txt", i, j), Mode: "100644", OID: oid}}}); err != nil {
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

	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"--git-dir", r.Path()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
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
