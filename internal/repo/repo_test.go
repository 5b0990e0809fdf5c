package repo_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/repo"
)

// newRepo creates an empty repository (default branch main) in a fresh
// Manager that lives as long as the test.
func newRepo(t *testing.T) *repo.Repo {
	t.Helper()
	return newObservedRepo(t, nil)
}

// newObservedRepo is newRepo with obs told of every ref update.
func newObservedRepo(t *testing.T, obs repo.RefObserver) *repo.Repo {
	t.Helper()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	m, err := repo.NewManager(t.TempDir(), f, cache, obs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	r, err := m.Create(context.Background(), "abcdef0123", "main")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReadRef_noTraversal: a branch "name" can never walk out of its
// namespace through the file system (regression: ephemeral reads once
// resolved "../../../../../refs/heads/main" to the normal main).
func TestReadRef_noTraversal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRepo(t)
	cmd := exec.Command("sh", "-c", `c=$(git commit-tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904 -m x) && git update-ref refs/heads/main $c`)
	cmd.Env = []string{"GIT_DIR=" + r.Path(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "PATH=/usr/bin:/bin:/usr/local/bin",
		"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := r.ResolveCommit(ctx, git.NormalNamespace, "main"); err != nil {
		t.Fatalf("normal main: %v", err)
	}
	for _, name := range []string{"../../../../../refs/heads/main", "../../refs/heads/main", "a/../../../../../refs/heads/main"} {
		if _, err := r.ResolveCommit(ctx, git.EphemeralNamespace, name); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("ephemeral %q: got %v, want not found", name, err)
		}
		if _, err := r.ResolveBranch(git.EphemeralNamespace, name); !errors.Is(err, repo.ErrNotFound) {
			t.Errorf("branch %q: got %v, want not found", name, err)
		}
	}
	if _, err := r.ReadRef(git.ReferenceName("refs/heads/../../" + filepath.Base(r.Path()))); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("traversal via ReadRef: %v", err)
	}
}

// TestReadRef_underAFile: refs/tags/a/b while refs/tags/a exists is simply
// not found (regression: it was an internal error).
func TestReadRef_underAFile(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	if _, err := r.ReadRef("refs/heads/main/sub"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	cmd := exec.Command("git", "--git-dir", r.Path(), "update-ref", "refs/tags/a", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
	cmd.Env = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "PATH=/usr/bin:/bin:/usr/local/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if _, err := r.ReadRef("refs/tags/a/b"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("ref under a file: got %v, want not found", err)
	}
}

// TestReadRef_looseFiles: loose refs of every shape read the same, whether
// they fit the small read or take the fallback (no trailing newline, a
// symbolic ref longer than the buffer), and a directory is no ref.
func TestReadRef_looseFiles(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	const oid = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	long := "refs/heads/" + strings.Repeat("directory/", 30) + "x"
	for name, content := range map[string]string{
		"refs/heads/plain":        oid + "\n",
		"refs/heads/no-newline":   oid,
		"refs/heads/sym":          "ref: refs/heads/plain\n",
		long:                      oid + "\n",
		"refs/heads/long-sym":     "ref: " + long + "\n",
		"refs/heads/dir/child":    oid + "\n",
		"refs/heads/trailing-ws":  oid + " \n",
		"refs/heads/to-no-newlin": "ref: refs/heads/no-newline",
	} {
		p := filepath.Join(r.Path(), filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"refs/heads/plain", "refs/heads/no-newline", "refs/heads/sym", long, "refs/heads/long-sym", "refs/heads/dir/child", "refs/heads/trailing-ws", "refs/heads/to-no-newlin"} {
		got, err := r.ReadRef(git.ReferenceName(name))
		if err != nil || got != oid {
			t.Errorf("ReadRef(%.40s) = %q, %v; want %s", name, got, err, oid)
		}
	}
	if _, err := r.ReadRef("refs/heads/dir"); !errors.Is(err, repo.ErrNotFound) {
		t.Errorf("a directory: got %v, want not found", err)
	}
}

// TestManager_openAfterRemove: Open remembers a repository it has seen, but
// never past its Remove.
func TestManager_openAfterRemove(t *testing.T) {
	t.Parallel()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	m, err := repo.NewManager(t.TempDir(), f, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if _, err := m.Open(t.Context(), "feedface01"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("Open before Create: %v", err)
	}
	if _, err := m.Create(context.Background(), "feedface01", "main"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second Open is answered from memory
		if _, err := m.Open(t.Context(), "feedface01"); err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
	}
	if err := m.Remove(t.Context(), "feedface01"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(t.Context(), "feedface01"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("Open after Remove: %v, want not found", err)
	}
}
