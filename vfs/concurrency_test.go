package vfs

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWriters: many goroutines write from the same snapshots;
// every write either lands (and stays in history) or is told it was
// stale. Nothing is lost silently.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	const writers, rounds = 8, 6
	var mu sync.Mutex
	var landed []string
	stale := 0
	for round := range rounds {
		base := must(s.Branches().Get("main"))(t)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := fmt.Sprintf("r%d/w%d", round, w)
				next, err := base.WriteText(path, path, WriteOptions{})
				var se *StaleSnapshotError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					landed = append(landed, next.Hash())
				case errors.As(err, &se):
					stale++
				default:
					t.Errorf("write %s: %v", path, err)
				}
			}()
		}
		wg.Wait()
	}
	if len(landed) != rounds || stale != rounds*(writers-1) {
		t.Fatalf("%d landed, %d stale; want %d and %d", len(landed), stale, rounds, rounds*(writers-1))
	}
	tip := must(s.Branches().Get("main"))(t)
	history := map[string]bool{}
	for c, err := range tip.Log(LogOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		history[c.Hash()] = true
	}
	for _, h := range landed {
		if !history[h] {
			t.Fatalf("commit %s was acknowledged but is not in history", h)
		}
	}
	coreFsck(t, s)
}

// TestRetryWrite: writers that retry on stale snapshots all land.
func TestRetryWrite(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	const writers = 6
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := RetryWrite(s, "main", fmt.Sprintf("f%d", w), []byte("x"), WriteOptions{}, 50)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	files := coreFiles(t, must(s.Branches().Get("main"))(t))
	if len(files) != writers {
		t.Fatalf("files %v", files)
	}
	if _, err := RetryWrite(s, "nope", "x", nil, WriteOptions{}, 0); err == nil {
		t.Fatal("missing branch")
	}
}

// TestStale_otherWriters: a git push or update-ref from outside makes a
// held snapshot stale, with the actual tip reported.
func TestStale_otherWriters(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	snap := must(s.Branches().Get("main"))(t)
	one := must(snap.WriteText("a", "1", WriteOptions{}))(t)
	coreGit(t, s.Path(), "update-ref", "refs/heads/main", snap.Hash())
	_, err := one.WriteText("b", "2", WriteOptions{})
	var se *StaleSnapshotError
	if !errors.As(err, &se) || se.Tip != snap.Hash() || se.Snapshot != one.Hash() || !strings.Contains(err.Error(), "'main'") {
		t.Fatalf("stale after an outside update: %v", err)
	}
	// The branch deleted from outside: stale too.
	coreGit(t, s.Path(), "update-ref", "-d", "refs/heads/main")
	if _, err := snap.WriteText("b", "2", WriteOptions{}); !errors.As(err, &se) {
		t.Fatalf("deleted branch: %v", err)
	}
}
