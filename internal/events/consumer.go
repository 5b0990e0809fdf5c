package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// A consumer of the feed (webhook delivery, push-back mirroring) turns
// events into work items in an outbox of its own, then works the outbox
// at its own pace. Both steps are here once; the consumers supply what
// differs.

// Cursors keeps the consumers' positions in the feed.
type Cursors interface {
	EventCursor(ctx context.Context, consumer string) (int64, error)
}

// feedBatch is how many events one fan-out transaction covers.
const feedBatch = 256

// FanOut drains the events after consumer's cursor, a batch at a time:
// pick chooses the batch's work items, and enqueue stores them together
// with the cursor's move in one transaction, so a crash neither loses nor
// repeats a batch. A batch that another process enqueued first
// (metadata.ErrCursorMoved) is skipped.
func FanOut[T any](ctx context.Context, l *Log, cursors Cursors, consumer string,
	pick func(context.Context, []RefUpdate) ([]T, error),
	enqueue func(context.Context, metadata.CursorMove, []T) error) error {
	for {
		from, err := cursors.EventCursor(ctx, consumer)
		if err != nil {
			return err
		}
		evs, err := l.Since(ctx, from, feedBatch)
		if err != nil || len(evs) == 0 {
			return err
		}
		items, err := pick(ctx, evs)
		if err != nil {
			return err
		}
		move := metadata.CursorMove{Consumer: consumer, From: from, To: evs[len(evs)-1].Seq}
		if err := enqueue(ctx, move, items); err != nil && !errors.Is(err, metadata.ErrCursorMoved) {
			return err
		}
		if len(evs) < feedBatch {
			return nil
		}
	}
}

// Consumer describes a feed consumer to a Runner.
type Consumer struct {
	Name string // in log lines
	// FanOut moves new events into the outbox.
	FanOut func(context.Context) error
	// Dispatch starts what is due (see Dispatch) and returns how long
	// until the next item is due.
	Dispatch func(context.Context) (time.Duration, error)
	// Prune forgets items finished before a time; it runs once an hour.
	Prune     func(ctx context.Context, before time.Time) (int64, error)
	Retention time.Duration
	// Poll is the longest the runner sleeps when nothing wakes it.
	Poll time.Duration
	// Concurrency bounds the work running at once.
	Concurrency int
	Log         *slog.Logger
}

// Runner runs a Consumer: its main loop in one goroutine (fan out,
// dispatch, prune, sleep until woken, until the next item is due, or for
// Poll), and the work Dispatch starts in goroutines of their own, at most
// one per key — a webhook, a repository — so each key's items stay in
// order. Start once, Notify from any goroutine, Stop once; a nil Runner
// ignores Notify and Stop.
type Runner struct {
	c      Consumer
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup // work in flight

	mu   sync.Mutex
	busy map[string]bool // keys with work running
}

// NewRunner returns a Runner for c; Start runs it.
func NewRunner(c Consumer) *Runner {
	return &Runner{c: c, wake: make(chan struct{}, 1), busy: map[string]bool{}}
}

// Start starts the main loop.
func (r *Runner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.run(ctx)
}

// Stop cancels the loop and the work in flight and waits for them.
func (r *Runner) Stop() {
	if r == nil || r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.wg.Wait()
}

// Notify wakes the loop (new events or items may be waiting); it never
// blocks.
func (r *Runner) Notify() {
	if r == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// minFanOutInterval spaces the fan-outs of a stream of events. Each one
// commits the consumer's cursor (with fsync) even when nothing is to be
// done, so one per event cost every API commit a metadata commit of its
// own on the same disk (docs/benchmarks.md, finding 5). A lone event is
// still fanned out at once.
const minFanOutInterval = 50 * time.Millisecond

func (r *Runner) run(ctx context.Context) {
	defer close(r.done)
	c := r.c
	timer := time.NewTimer(0)
	defer timer.Stop()
	var pruned, fannedOut time.Time
	for {
		if wait := minFanOutInterval - time.Since(fannedOut); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		fannedOut = time.Now()
		if err := c.FanOut(ctx); err != nil && ctx.Err() == nil {
			c.Log.Error(c.Name+": read the ref-event feed", "err", err)
		}
		wait, err := c.Dispatch(ctx)
		if err != nil && ctx.Err() == nil {
			c.Log.Error(c.Name+": read the outbox", "err", err)
		}
		if time.Since(pruned) > time.Hour {
			pruned = time.Now()
			if n, err := c.Prune(ctx, pruned.Add(-c.Retention)); err != nil && ctx.Err() == nil {
				c.Log.Error(c.Name+": prune finished items", "err", err)
			} else if n > 0 {
				c.Log.Info(c.Name+": pruned finished items", "items", n)
			}
		}
		timer.Reset(min(wait, c.Poll))
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// Dispatch starts work on every due head whose key has no work running,
// as r's concurrency allows, and returns how long until the next head is
// due. heads returns up to n heads of the outbox's per-key queues, the
// earliest due first, leaving out the keys in skip; held are keys to
// leave alone besides those with work running. When work returns, its
// key is free again and the loop is woken.
func Dispatch[H any](ctx context.Context, r *Runner, held []string,
	heads func(ctx context.Context, n int, skip []string) ([]H, error),
	key func(H) string, due func(H) time.Time, work func(context.Context, H)) (time.Duration, error) {
	poll := r.c.Poll
	r.mu.Lock()
	free := r.c.Concurrency - len(r.busy)
	skip := held
	for k := range r.busy {
		skip = append(skip, k)
	}
	r.mu.Unlock()
	if free <= 0 {
		return poll, nil // the end of some work wakes us
	}
	hs, err := heads(ctx, free+1, skip)
	if err != nil {
		return poll, err
	}
	now := time.Now()
	wait := poll
	for i, h := range hs {
		if d := due(h); d.After(now) {
			wait = d.Sub(now)
			break // earliest first: the rest are later
		}
		if i == free {
			wait = 0 // more are due than may run
			break
		}
		k := key(h)
		r.mu.Lock()
		r.busy[k] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			work(ctx, h)
			r.mu.Lock()
			delete(r.busy, k)
			r.mu.Unlock()
			r.Notify()
		}()
	}
	return wait, nil
}
