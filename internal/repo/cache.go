package repo

import (
	"container/list"
	"sync"

	"github.com/strata-storage/strata/internal/git"
)

// lru is a bounded least-recently-used map, safe for concurrent use. Each
// entry has a cost (1 for counted caches, the size in bytes for contents);
// the total never exceeds max.
//
// Strata caches only answers that can never change for their key: what a
// path is in a given commit, the contents of an object id, the history below
// a commit, the last commit touching a path below a commit. So there is
// nothing to invalidate.
type lru[V any] struct {
	mu    sync.Mutex
	max   int64
	total int64
	order *list.List
	items map[string]*list.Element
	// evicted, when set, hears about every value pushed out by the cost
	// bound, after the lock is released (so it may call back in).
	evicted func(V)
}

type lruItem[V any] struct {
	key  string
	val  V
	cost int64
}

func newLRU[V any](max int64) *lru[V] {
	return &lru[V]{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruItem[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(key string, val V, cost int64) {
	if cost > c.max {
		return
	}
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		it := el.Value.(*lruItem[V])
		c.total += cost - it.cost
		it.val, it.cost = val, cost
		c.order.MoveToFront(el)
	} else {
		c.items[key] = c.order.PushFront(&lruItem[V]{key: key, val: val, cost: cost})
		c.total += cost
	}
	c.unlockEvicting()
}

// getOrPut returns key's value, or stores and returns mk()'s (of cost)
// when there is none: one value per key even for racing callers.
func (c *lru[V]) getOrPut(key string, mk func() V, cost int64) V {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		v := el.Value.(*lruItem[V]).val
		c.mu.Unlock()
		return v
	}
	v := mk()
	c.items[key] = c.order.PushFront(&lruItem[V]{key: key, val: v, cost: cost})
	c.total += cost
	c.unlockEvicting()
	return v
}

// setCost changes the cost of key's entry, if it still holds a value for
// which is returns true, without making it more recently used; it
// reports whether it did. An entry may so grow past max and evict itself.
func (c *lru[V]) setCost(key string, is func(V) bool, cost int64) bool {
	c.mu.Lock()
	el, ok := c.items[key]
	if !ok || !is(el.Value.(*lruItem[V]).val) {
		c.mu.Unlock()
		return false
	}
	it := el.Value.(*lruItem[V])
	c.total += cost - it.cost
	it.cost = cost
	c.unlockEvicting()
	return true
}

// unlockEvicting drops least recently used entries until the total is
// within max, unlocks, then tells evicted about them.
func (c *lru[V]) unlockEvicting() {
	var gone []V
	for c.total > c.max {
		old := c.order.Back()
		it := old.Value.(*lruItem[V])
		c.order.Remove(old)
		delete(c.items, it.key)
		c.total -= it.cost
		if c.evicted != nil {
			gone = append(gone, it.val)
		}
	}
	c.mu.Unlock()
	for _, v := range gone {
		c.evicted(v)
	}
}

// caches are the engine's immutable-answer caches, shared by every Repo a
// Manager opens. Keys start with the repository's storage key.
type caches struct {
	lastMod *lru[LastChange]
	paths   *lru[blobRef]
	blobs   *lru[[]byte]
	walks   *walks
	// written holds the trees and commits this process wrote (content by
	// id), so the next commit on a branch edits its parent from memory:
	// the parent is in the newest pack, which every git process would
	// first have to find by re-scanning the pack directory.
	written *lru[[]byte]
}

// blobRef is what a path names in a commit.
type blobRef struct {
	OID  git.ObjectID
	Size int64
	Type string
}

// maxCachedBlob is the largest blob kept in memory: small files are the
// hot ones (configs, docs, source) and cost one allocation to serve.
const maxCachedBlob = 64 << 10

func newCaches() *caches {
	return &caches{
		lastMod: newLRU[LastChange](1 << 16),
		paths:   newLRU[blobRef](1 << 16),
		blobs:   newLRU[[]byte](64 << 20),
		walks:   newWalks(32<<20, maxLiveWalks),
		written: newLRU[[]byte](16 << 20),
	}
}
