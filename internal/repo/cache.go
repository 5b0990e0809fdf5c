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
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		it := el.Value.(*lruItem[V])
		c.total += cost - it.cost
		it.val, it.cost = val, cost
		c.order.MoveToFront(el)
	} else {
		c.items[key] = c.order.PushFront(&lruItem[V]{key: key, val: val, cost: cost})
		c.total += cost
	}
	for c.total > c.max {
		old := c.order.Back()
		it := old.Value.(*lruItem[V])
		c.order.Remove(old)
		delete(c.items, it.key)
		c.total -= it.cost
	}
}

// caches are the engine's immutable-answer caches, shared by every Repo a
// Manager opens. Keys start with the repository's storage key.
type caches struct {
	lastMod *lru[LastChange]
	paths   *lru[blobRef]
	blobs   *lru[[]byte]
	walks   *lru[*walk]
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
		walks:   newLRU[*walk](32 << 20),
	}
}
