package refs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
)

// A committed transaction syncs the directories that name its refs, which
// git itself never does: the ref's parent and every directory down to it
// from refs/ (git may have created them), and the repository's directory
// when a ref is deleted (packed-refs is rewritten there).
func TestSyncRefDirs(t *testing.T) {
	r := newSessionRepo(t)
	var mu sync.Mutex
	var synced []string
	var fail error
	r.u.syncDir = func(dir string) error {
		mu.Lock()
		defer mu.Unlock()
		rel, err := filepath.Rel(r.dir, dir)
		if err != nil {
			t.Fatal(err)
		}
		synced = append(synced, filepath.ToSlash(rel))
		if fail != nil {
			return fail
		}
		return durable.SyncDir(dir)
	}
	took := func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := slices.Sorted(slices.Values(synced))
		synced = nil
		return s
	}
	a := r.commit("a")
	b := r.commit("b", a)

	if err := r.apply(Update{Ref: "refs/heads/main", Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	if got, want := took(), []string{"refs", "refs/heads"}; !slices.Equal(got, want) {
		t.Fatalf("create refs/heads/main synced %q, want %q", got, want)
	}
	if err := r.apply(Update{Ref: "refs/heads/main", Old: a, New: b},
		Update{Ref: "refs/tags/v1/rc", Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	if got, want := took(), []string{"refs", "refs/heads", "refs/tags", "refs/tags/v1"}; !slices.Equal(got, want) {
		t.Fatalf("update and nested create synced %q, want %q", got, want)
	}
	// Deleting a packed ref rewrites packed-refs in the repository. Its
	// loose directory is gone: nothing to sync there, and no error.
	r.git("pack-refs", "--all")
	if _, err := os.Stat(filepath.Join(r.dir, "refs", "tags", "v1")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("refs/tags/v1 after pack-refs: %v", err)
	}
	if err := r.u.ApplyLogged(t.Context(), r.dir, Reflog{Message: "m"}, Update{Ref: "refs/tags/v1/rc", Old: a, New: git.ZeroOID}); err != nil {
		t.Fatal(err)
	}
	if got, want := took(), []string{".", "refs", "refs/tags", "refs/tags/v1"}; !slices.Equal(got, want) {
		t.Fatalf("delete synced %q, want %q", got, want)
	}
	if got := r.git("for-each-ref", "--format=%(refname)"); got != "refs/heads/main" {
		t.Fatalf("refs after delete: %q", got)
	}

	// A failed sync is reported as such; the transaction stays committed.
	mu.Lock()
	fail = errors.New("disk on fire")
	mu.Unlock()
	err := r.apply(Update{Ref: "refs/heads/main", Old: b, New: a})
	if !errors.Is(err, ErrNotDurable) {
		t.Fatalf("failed sync: %v", err)
	}
	if got := r.git("rev-parse", "refs/heads/main"); got != string(a) {
		t.Fatalf("main at %s after a failed sync, want %s (committed)", got, a)
	}
}
