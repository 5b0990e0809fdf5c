package events

import (
	"context"
	"errors"
	"log/slog"
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

// Loop is the main loop of a consumer: fan out, dispatch what is due,
// prune what finished long ago, then sleep until woken, until the next
// item is due, or for Poll.
type Loop struct {
	Name string // in log lines
	// FanOut moves new events into the outbox.
	FanOut func(context.Context) error
	// Dispatch starts what is due and returns when the next item is due.
	Dispatch func(context.Context) (time.Duration, error)
	// Prune forgets items finished before a time, once an hour.
	Prune     func(ctx context.Context, before time.Time) (int64, error)
	Retention time.Duration
	Poll      time.Duration
	Wake      <-chan struct{}
	Log       *slog.Logger
}

// Run runs the loop until ctx is done.
func (l Loop) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var pruned time.Time
	for {
		if err := l.FanOut(ctx); err != nil && ctx.Err() == nil {
			l.Log.Error(l.Name+": read the ref-event feed", "err", err)
		}
		wait, err := l.Dispatch(ctx)
		if err != nil && ctx.Err() == nil {
			l.Log.Error(l.Name+": read the outbox", "err", err)
		}
		if time.Since(pruned) > time.Hour {
			pruned = time.Now()
			if n, err := l.Prune(ctx, pruned.Add(-l.Retention)); err != nil && ctx.Err() == nil {
				l.Log.Error(l.Name+": prune finished items", "err", err)
			} else if n > 0 {
				l.Log.Info(l.Name+": pruned finished items", "items", n)
			}
		}
		timer.Reset(min(wait, l.Poll))
		select {
		case <-ctx.Done():
			return
		case <-l.Wake:
		case <-timer.C:
		}
	}
}
