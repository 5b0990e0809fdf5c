package events

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

type head struct {
	key string
	due time.Time
}

// TestDispatch: work starts for due heads only, one per key, at most the
// concurrency at once; busy and held keys are skipped; the wait is until
// the next head is due.
func TestDispatch(t *testing.T) {
	t.Parallel()
	r := NewRunner(Consumer{Poll: time.Minute, Concurrency: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	now := time.Now()
	queue := []head{{"a", now.Add(-time.Second)}, {"b", now}, {"c", now}, {"d", now.Add(time.Hour)}}
	release := make(chan struct{})
	var mu sync.Mutex
	var started []string
	var skipped [][]string
	heads := func(_ context.Context, n int, skip []string) ([]head, error) {
		mu.Lock()
		skipped = append(skipped, slices.Clone(skip))
		mu.Unlock()
		var out []head
		for _, h := range queue {
			if !slices.Contains(skip, h.key) && len(out) < n {
				out = append(out, h)
			}
		}
		return out, nil
	}
	work := func(_ context.Context, h head) {
		mu.Lock()
		started = append(started, h.key)
		mu.Unlock()
		<-release
	}
	key := func(h head) string { return h.key }
	due := func(h head) time.Time { return h.due }

	// b is held: a and c start, d is not due for an hour.
	wait, err := Dispatch(context.Background(), r, []string{"b"}, heads, key, due, work)
	if err != nil || wait <= 59*time.Minute || wait > time.Hour {
		t.Fatalf("first dispatch: wait %v, %v; want about an hour", wait, err)
	}
	// Both slots are taken: nothing is even looked up.
	if wait, _ := Dispatch(context.Background(), r, nil, heads, key, due, work); wait != time.Minute {
		t.Errorf("dispatch with every slot taken: wait %v, want the poll interval", wait)
	}
	close(release)
	r.wg.Wait()
	slices.Sort(started)
	if !slices.Equal(started, []string{"a", "c"}) {
		t.Errorf("started %v, want [a c]", started)
	}
	if !slices.Equal(skipped[0], []string{"b"}) || len(skipped) != 1 {
		t.Errorf("skip lists %v, want one, [b]", skipped)
	}
	if len(r.busy) != 0 {
		t.Errorf("busy keys left after the work ended: %v", r.busy)
	}
	// More due than may run: the wait is zero, so the loop comes back.
	started = nil
	queue = []head{{"x", now}, {"y", now}, {"z", now}}
	release = make(chan struct{})
	close(release)
	if wait, err := Dispatch(context.Background(), r, nil, heads, key, due, work); err != nil || wait != 0 {
		t.Errorf("three due, two slots: wait %v, %v; want 0", wait, err)
	}
	r.wg.Wait()
	if slices.Sort(started); !slices.Equal(started, []string{"x", "y"}) {
		t.Errorf("started %v, want [x y]", started)
	}
}

// TestRunner_spacesFanOuts: a stream of notifications is fanned out in a
// few rounds, not one per notification, and a lone one at once.
func TestRunner_spacesFanOuts(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var rounds []time.Time
	r := NewRunner(Consumer{
		FanOut: func(context.Context) error {
			mu.Lock()
			rounds = append(rounds, time.Now())
			mu.Unlock()
			return nil
		},
		Dispatch:    func(context.Context) (time.Duration, error) { return time.Hour, nil },
		Prune:       func(context.Context, time.Time) (int64, error) { return 0, nil },
		Poll:        time.Hour,
		Concurrency: 1,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	r.Start()
	defer r.Stop()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(rounds)
	}
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); count() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d fan-outs, want %d", count(), n)
			}
		}
	}
	waitFor(1) // the start
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond {
		r.Notify()
		time.Sleep(time.Millisecond)
	}
	time.Sleep(2 * minFanOutInterval)
	mu.Lock()
	stream := len(rounds) - 1
	for i := 2; i < len(rounds); i++ {
		if gap := rounds[i].Sub(rounds[i-1]); gap < minFanOutInterval {
			t.Errorf("fan-outs %d and %d %v apart, want at least %v", i-1, i, gap, minFanOutInterval)
		}
	}
	mu.Unlock()
	// ~150 notifications over 200 ms: about 200/50 rounds, however slow the machine.
	if stream < 1 || stream > 6 {
		t.Errorf("%d fan-outs for a 200 ms stream of notifications, want 1 to 6", stream)
	}
	// Quiet for longer than the interval: the next notification goes at once.
	before := count()
	r.Notify()
	waitFor(before + 1)
}
