package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestSyncDir(t *testing.T) {
	t.Parallel()
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory = %v, want fs.ErrNotExist", err)
	}
}

// SyncTree syncs the directory, every directory and every file below it.
func TestSyncTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := []string{dir}
	for _, rel := range []string{"a", "a/b", "c"} {
		p := filepath.Join(dir, rel)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	for _, rel := range []string{"HEAD", "a/b/f", "c/g"} {
		p := filepath.Join(dir, rel)
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	var mu sync.Mutex
	var got []string
	err := syncTree(dir, func(p string) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p)
		return syncPath(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("synced %q, want %q", got, want)
	}
	if err := SyncTree(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncTree of a missing directory = %v, want fs.ErrNotExist", err)
	}
}

// Parallel calls fn once per index, however many, and returns every error.
func TestParallel(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 100} {
		var mu sync.Mutex
		seen := make(map[int]int)
		errA, errB := errors.New("a"), errors.New("b")
		err := Parallel(n, func(i int) error {
			mu.Lock()
			seen[i]++
			mu.Unlock()
			switch {
			case i == 0 && n > 1:
				return errA
			case i == n-1 && n > 1:
				return errB
			}
			return nil
		})
		if len(seen) != n {
			t.Errorf("n=%d: called for %d indexes", n, len(seen))
		}
		for i, c := range seen {
			if c != 1 || i < 0 || i >= n {
				t.Errorf("n=%d: index %d called %d times", n, i, c)
			}
		}
		if n > 1 && (!errors.Is(err, errA) || !errors.Is(err, errB)) {
			t.Errorf("n=%d: error %v, want both", n, err)
		}
		if n == 0 && err != nil {
			t.Errorf("n=0: error %v", err)
		}
	}
}
