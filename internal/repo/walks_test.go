package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// longHistory writes n commits on refs/heads/long with git fast-import;
// commit i changes d<i%3>/f<i%7>.txt, so each of d0, d1 and d2 has about
// n/3 commits of history.
func longHistory(fx *dmFixture, n int) git.ObjectID {
	fx.t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "commit refs/heads/long\ncommitter C <c@example.com> %d +0000\ndata <<EOF\nchange %d\nEOF\n", 1700000000+i, i)
		fmt.Fprintf(&b, "M 100644 inline d%d/f%d.txt\ndata <<EOF\nversion %d\nEOF\n\n", i%3, i%7, i)
	}
	fx.run(git.Command{Name: "fast-import", Flags: []string{"--quiet"}}, git.WithStdin(strings.NewReader(b.String())))
	return git.ObjectID(fx.run(git.Command{Name: "rev-parse", Args: []string{"refs/heads/long"}}))
}

// gitLog is git's answer: the commits of tip touching path, newest first.
func gitLog(fx *dmFixture, tip git.ObjectID, path string) []string {
	fx.t.Helper()
	cmd := git.Command{Name: "log", Flags: []string{"--format=%H"}, Args: []string{string(tip)}}
	if path != "" {
		cmd.PostSep = []string{git.LiteralPathspec(path)}
	}
	return strings.Fields(fx.run(cmd))
}

// readAll pages through the history of path from tip, limit at a time,
// as a client following next_cursor does.
func readAll(ctx context.Context, r *Repo, tip git.ObjectID, path string, limit int) ([]string, error) {
	var got []string
	for skip := 0; ; skip += limit {
		page, more, err := r.Log(ctx, tip, LogOptions{Path: path, Skip: skip, Limit: limit})
		if err != nil {
			return got, err
		}
		if len(page) > limit || (more && len(page) < limit) {
			return got, fmt.Errorf("page at %d: %d commits for limit %d, more=%v", skip, len(page), limit, more)
		}
		for _, c := range page {
			got = append(got, string(c.OID))
		}
		if !more {
			return got, nil
		}
	}
}

// settle waits until no walk process of ws is left (they end on their
// own once idle) and returns how many were started in all.
func settle(t *testing.T, ws *walks) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ws.mu.Lock()
		live, starts := len(ws.live), ws.starts
		ws.mu.Unlock()
		if live == 0 {
			return starts
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d walk processes still alive", live)
		}
	}
}

// TestLog_oneWalkForAllPages: reading a whole history page by page runs
// one git log, kept running between pages, and the pages are git's.
func TestLog_oneWalkForAllPages(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	ws := fx.repo.memo.walks
	ws.idle = time.Minute // nothing stops the walk but its end
	tip := longHistory(fx, 600)
	want := gitLog(fx, tip, "d1")
	if len(want) < 150 {
		t.Fatalf("history of d1 has %d commits", len(want))
	}
	got, err := readAll(fx.ctx, fx.repo, tip, "d1", 7)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages give %d commits, git log %d", len(got), len(want))
	}
	if n := settle(t, ws); n != 1 {
		t.Errorf("%d git log processes for one history, want 1", n)
	}
	// Read again, at another page size: from the cache.
	got, err = readAll(fx.ctx, fx.repo, tip, "d1", 100)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("second read: %d commits, %v", len(got), err)
	}
	if n := settle(t, ws); n != 1 {
		t.Errorf("%d git log processes after reading the cached history, want 1", n)
	}
}

// TestLog_concurrentReaders: readers paging through the same walk at
// once, at different page sizes, all get git's history.
func TestLog_concurrentReaders(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	ws := fx.repo.memo.walks
	tip := longHistory(fx, 600)
	for _, path := range []string{"d2", ""} {
		want := gitLog(fx, tip, path)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				limit := []int{1, 7, 30, 100}[i%4]
				got, err := readAll(fx.ctx, fx.repo, tip, path, limit)
				if err == nil && !slices.Equal(got, want) {
					err = fmt.Errorf("limit %d: %d commits, git log %d", limit, len(got), len(want))
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("path %q: %v", path, err)
			}
		}
	}
	ws.close()
}

// TestLog_cancelledFirstPage: a first request cancelled before or while
// the walk runs gets its context's error; the walk pauses, is killed once
// idle, and later readers still get git's history.
func TestLog_cancelledFirstPage(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	ws := fx.repo.memo.walks
	ws.idle = 10 * time.Millisecond
	tip := longHistory(fx, 600)
	want := gitLog(fx, tip, "d0")

	ctx, cancel := context.WithCancel(fx.ctx)
	cancel()
	if _, _, err := fx.repo.Log(ctx, tip, LogOptions{Path: "d0", Limit: 10}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want context.Canceled", err)
	}
	settle(t, ws)
	// Cancelled while waiting, at some point of the walk.
	for _, after := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		ctx, cancel := context.WithCancel(fx.ctx)
		time.AfterFunc(after, cancel)
		if _, _, err := fx.repo.Log(ctx, tip, LogOptions{Path: "d0", Skip: 20, Limit: 10}); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("request cancelled after %v: %v", after, err)
		}
		cancel()
	}
	settle(t, ws)
	got, err := readAll(fx.ctx, fx.repo, tip, "d0", 9)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("after cancelled requests: %d commits (git log %d), %v", len(got), len(want), err)
	}
	settle(t, ws)
}

// TestLog_idleWalkResumes: a walk nobody asked anything of is killed;
// the next page starts another git log where the cache ends (--skip).
func TestLog_idleWalkResumes(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	ws := fx.repo.memo.walks
	ws.idle = time.Millisecond
	tip := longHistory(fx, 300)
	want := gitLog(fx, tip, "d1")
	var got []string
	for skip := 0; ; skip += 25 {
		page, more, err := fx.repo.Log(fx.ctx, tip, LogOptions{Path: "d1", Skip: skip, Limit: 25})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			got = append(got, string(c.OID))
		}
		if !more {
			break
		}
		settle(t, ws) // the walk's process ends before the next page
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages give %d commits, git log %d", len(got), len(want))
	}
	if n := settle(t, ws); n < 2 {
		t.Errorf("%d git log processes, want one per resumption", n)
	}
}

// TestLog_boundedProcesses: with fewer process slots than walks, walks
// give way to each other (or run in the request when every slot has a
// reader waiting) and every history is still git's.
func TestLog_boundedProcesses(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	tip := longHistory(fx, 300)
	paths := []string{"d0", "d1", "d2", "d1/f3.txt"}
	for _, slots := range []int{0, 1, 2} {
		t.Run(fmt.Sprint(slots), func(t *testing.T) {
			ws := newWalks(32<<20, slots)
			r := *fx.repo
			r.memo = &caches{walks: ws}
			// Interleave the pages of every path, one reader each.
			got := make([][]string, len(paths))
			done := make([]bool, len(paths))
			for skip := 0; slices.Contains(done, false); skip += 6 {
				for i, path := range paths {
					if done[i] {
						continue
					}
					page, more, err := r.Log(fx.ctx, tip, LogOptions{Path: path, Skip: skip, Limit: 6})
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range page {
						got[i] = append(got[i], string(c.OID))
					}
					done[i] = !more
					ws.mu.Lock()
					live := len(ws.live)
					ws.mu.Unlock()
					if live > slots {
						t.Fatalf("%d walk processes with %d slots", live, slots)
					}
				}
			}
			for i, path := range paths {
				if want := gitLog(fx, tip, path); !slices.Equal(got[i], want) {
					t.Errorf("%s: pages give %d commits, git log %d", path, len(got[i]), len(want))
				}
			}
			// Concurrent readers of more walks than slots.
			var wg sync.WaitGroup
			for _, path := range paths {
				wg.Go(func() {
					got, err := readAll(fx.ctx, &r, tip, path, 5)
					if err != nil || !slices.Equal(got, gitLog(fx, tip, path)) {
						t.Errorf("%s, concurrently: %d commits, %v", path, len(got), err)
					}
				})
			}
			wg.Wait()
			ws.close()
		})
	}
}

// TestLog_evictedAndCapped: walks the cache evicts, or that reach the
// largest size one walk may have, stop; the pages past them come from a
// bounded git log each, and are still git's.
func TestLog_evictedAndCapped(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	tip := longHistory(fx, 300)
	for _, tc := range []struct {
		desc     string
		maxBytes int64
		maxCost  int64
	}{
		{desc: "tiny cache", maxBytes: 4 << 10, maxCost: 4 << 10},
		{desc: "capped walk", maxBytes: 32 << 20, maxCost: 10 << 10},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ws := newWalks(tc.maxBytes, maxLiveWalks)
			ws.maxCost = tc.maxCost
			r := *fx.repo
			r.memo = &caches{walks: ws}
			for _, path := range []string{"d0", "d1", ""} {
				for _, limit := range []int{4, 50} {
					got, err := readAll(fx.ctx, &r, tip, path, limit)
					if want := gitLog(fx, tip, path); err != nil || !slices.Equal(got, want) {
						t.Errorf("%q by %d: %d commits (git log %d), %v", path, limit, len(got), len(want), err)
					}
				}
			}
			ws.close()
			ws.lru.mu.Lock()
			total, max := ws.lru.total, ws.lru.max
			ws.lru.mu.Unlock()
			if total > max {
				t.Errorf("cache holds %d bytes, bound %d", total, max)
			}
		})
	}
}

// TestLog_failedWalk: git failing (an unknown tip) is every reader's
// error, each time, and leaves no process behind.
func TestLog_failedWalk(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	ws := fx.repo.memo.walks
	bad := git.ObjectID(strings.Repeat("e", 40))
	for range 2 {
		if _, _, err := fx.repo.Log(fx.ctx, bad, LogOptions{Path: "x", Limit: 5}); err == nil {
			t.Fatal("history of an unknown commit: no error")
		}
	}
	settle(t, ws)
}

func TestSetPipeSize(t *testing.T) {
	t.Parallel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if err := setPipeSize(pr, walkPipeBytes); err != nil {
		t.Fatal(err)
	}
	const fGetPipeSize = 1024 + 8
	n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, pr.Fd(), fGetPipeSize, 0)
	if errno != 0 || n != walkPipeBytes {
		t.Fatalf("pipe size %d (%v), want %d", n, errno, walkPipeBytes)
	}
}
