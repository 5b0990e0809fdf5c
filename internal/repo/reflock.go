package repo

import (
	"context"
	"slices"
	"sync"

	"github.com/strata-storage/strata/internal/git"
)

// refOrder serialises, per ref, the writers of this server. It does two
// jobs:
//
//   - A ref transaction and the observer call that records it run under
//     the lock. git's lock files already make the transactions on one ref
//     take turns, but they are released before the observer runs: without
//     this, two writers could move a ref A→B then B→C and record B→C
//     first, and every consumer of the event feed (webhooks, mirrors,
//     reconciliation) would see the ref's history out of order.
//   - A commit holds its branch's lock from reading the tip to moving it
//     (CommitChanges), so concurrent commits to one branch queue instead
//     of racing: each finds the tip the one before it left, where without
//     the queue all but one would lose the compare-and-swap and build,
//     write and sync their trees and commit again (docs/benchmarks.md,
//     finding 5, round 5).
//
// Only processes of this server take part; writers outside it (git on the
// disk, the embedded library) are found by reconciliation, and lose or
// win the compare-and-swap as before.
type refOrder struct {
	mu    sync.Mutex
	locks map[string]*refLock
}

// refLock is held while its channel holds a token; waiting on a channel
// lets a waiter give up with its request.
type refLock struct {
	token chan struct{}
	users int // holders and waiters
}

func newRefOrder() *refOrder { return &refOrder{locks: map[string]*refLock{}} }

// lock takes the locks of refs, in name order so two writers over the same
// refs cannot deadlock, and returns the function that releases them. It
// gives up, holding nothing, when ctx ends first.
func (o *refOrder) lock(ctx context.Context, storageKey string, refs ...git.ReferenceName) (unlock func(), err error) {
	keys := make([]string, 0, len(refs))
	for _, ref := range refs {
		keys = append(keys, storageKey+"\x00"+string(ref))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	locks := make([]*refLock, len(keys))
	o.mu.Lock()
	for i, k := range keys {
		l := o.locks[k]
		if l == nil {
			l = &refLock{token: make(chan struct{}, 1)}
			o.locks[k] = l
		}
		l.users++
		locks[i] = l
	}
	o.mu.Unlock()
	held := 0
	release := func() {
		for _, l := range locks[:held] {
			<-l.token
		}
		o.mu.Lock()
		for i, k := range keys {
			if locks[i].users--; locks[i].users == 0 {
				delete(o.locks, k)
			}
		}
		o.mu.Unlock()
	}
	for _, l := range locks {
		select {
		case l.token <- struct{}{}:
			held++
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}
