package refs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// A lock a killed git left behind blocks its ref until RemoveStaleLocks
// removes it; younger locks, which may be live, and other files stay.
func TestRemoveStaleLocks(t *testing.T) {
	r := newSessionRepo(t)
	a := r.commit("a")
	if err := r.apply(Update{Ref: "refs/heads/main", Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	write := func(rel string, age time.Duration) string {
		p := filepath.Join(r.dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := []string{
		write("refs/heads/main.lock", time.Hour),
		write("refs/heads/feature/x.lock", time.Hour),
		write("HEAD.lock", time.Hour),
		write("packed-refs.lock", time.Hour),
	}
	young := write("refs/tags/v1.lock", 0)
	other := write("refs/heads/notalock", time.Hour)
	cutoff := time.Now().Add(-time.Minute)

	var locked *LockedError
	if err := r.apply(Update{Ref: "refs/heads/main", Old: a, New: git.ZeroOID}); !errors.As(err, &locked) {
		t.Fatalf("delete under a leftover lock: %v", err)
	}
	removed, err := RemoveStaleLocks(r.dir, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	slices.Sort(stale)
	if !slices.Equal(removed, stale) {
		t.Fatalf("removed %q, want %q", removed, stale)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	for _, p := range []string{young, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if err := r.apply(Update{Ref: "refs/heads/main", Old: a, New: git.ZeroOID}); err != nil {
		t.Fatalf("delete once the leftover is gone: %v", err)
	}
}
