package repo

import (
	"slices"
	"sync"

	"github.com/strata-storage/strata/internal/git/refs"
)

// refOrder serialises, per ref, a ref transaction with the observer call
// that records it. git's lock files already make the transactions on one
// ref take turns, but they are released before the observer runs: without
// this, two writers could move a ref A→B then B→C and record B→C first,
// and every consumer of the event feed (webhooks, mirrors, reconciliation)
// would see the ref's history out of order.
//
// Only processes of this server take part; writers outside it (git on the
// disk, the embedded library) are found by reconciliation.
type refOrder struct {
	mu    sync.Mutex
	locks map[string]*refLock
}

type refLock struct {
	sync.Mutex
	users int
}

func newRefOrder() *refOrder { return &refOrder{locks: map[string]*refLock{}} }

// lock takes the locks of every ref in updates, in name order so two
// transactions over the same refs cannot deadlock, and returns the
// function that releases them.
func (o *refOrder) lock(storageKey string, updates []refs.Update) (unlock func()) {
	keys := make([]string, 0, len(updates))
	for _, u := range updates {
		keys = append(keys, storageKey+"\x00"+string(u.Ref))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	held := make([]*refLock, len(keys))
	o.mu.Lock()
	for i, k := range keys {
		l := o.locks[k]
		if l == nil {
			l = &refLock{}
			o.locks[k] = l
		}
		l.users++
		held[i] = l
	}
	o.mu.Unlock()
	for _, l := range held {
		l.Lock()
	}
	return func() {
		for _, l := range held {
			l.Unlock()
		}
		o.mu.Lock()
		for i, k := range keys {
			if held[i].users--; held[i].users == 0 {
				delete(o.locks, k)
			}
		}
		o.mu.Unlock()
	}
}
