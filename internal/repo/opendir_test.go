package repo_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// TestOpenDir_buildTree: a repository opened by path builds trees with the
// shared editor, commits through a Write and moves a ref with a reflog
// entry; git agrees with all of it.
func TestOpenDir_buildTree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	u := refs.NewUpdater(f)
	t.Cleanup(u.Close)
	dir := filepath.Join(t.TempDir(), "plain.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := repo.OpenDir(filepath.Join(dir, "missing"), f, cache, u); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("missing dir: %v", err)
	}
	r, err := repo.OpenDir(dir, f, cache, u)
	if err != nil {
		t.Fatal(err)
	}

	commit := func(base git.ObjectID, parent git.ObjectID, changes ...repo.FileChange) (git.ObjectID, git.ObjectID) {
		t.Helper()
		w, err := r.BeginWrite()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		var resolved []repo.FileChange
		for _, ch := range changes {
			if !ch.Delete {
				bw := w.NewBlob()
				bw.Write([]byte(ch.OID)) // the test passes contents in OID
				oid, err := bw.Close()
				if err != nil {
					t.Fatal(err)
				}
				ch.OID = oid
			}
			resolved = append(resolved, ch)
		}
		tree, err := r.BuildTree(ctx, w, base, resolved)
		if err != nil {
			t.Fatal(err)
		}
		sig := odb.Signature{Name: "T", Email: "t@t", When: time.Unix(1700000000, 0).UTC()}
		var parents []git.ObjectID
		if parent != "" {
			parents = []git.ObjectID{parent}
		}
		c, err := w.WriteCommit(odb.Commit{Tree: tree, Parents: parents, Author: sig, Committer: sig, Message: "m\n"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		return tree, c
	}
	// The empty tree is written so that a commit can name it.
	empty, root := commit("", "")
	if empty != git.EmptyTreeOID {
		t.Fatalf("empty tree %s", empty)
	}
	t1, c1 := commit(empty, root,
		repo.FileChange{Path: "a/b.txt", Mode: odb.ModeFile, OID: "b"},
		repo.FileChange{Path: "keep/k", Mode: odb.ModeFile, OID: "k"})
	// A file becomes a directory; the emptied directory a disappears.
	_, c2 := commit(t1, c1,
		repo.FileChange{Path: "a/b.txt", Delete: true},
		repo.FileChange{Path: "keep/k/deeper", Mode: odb.ModeExecutable, OID: "d"})

	main := git.ReferenceName("refs/heads/main")
	log := refs.Reflog{Message: "commit: m", Name: "Ann", Email: "ann@example.com"}
	if err := r.UpdateRefsLogged(ctx, log, refs.Update{Ref: main, Old: git.ZeroOID, New: c2}); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateRefsLogged(ctx, log, refs.Update{Ref: main, Old: c1, New: c1}); !errors.Is(err, repo.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", dir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := git("ls-tree", "-r", "--format=%(objectmode) %(path)", "main"); got != "100755 keep/k/deeper" {
		t.Fatalf("tree: %q", got)
	}
	git("fsck", "--full", "--strict")
	b, err := os.ReadFile(filepath.Join(dir, "logs", "refs", "heads", "main"))
	if err != nil || !strings.Contains(string(b), " Ann <ann@example.com> ") || !strings.HasSuffix(string(b), "\tcommit: m\n") {
		t.Fatalf("reflog: %q %v", b, err)
	}
}
