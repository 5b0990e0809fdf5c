package auth

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// principalCache is a size-bounded LRU of verified tokens, keyed by the
// SHA-256 of the token so the cache never holds token text. Entries carry
// the instant they stop being valid and are dropped when found stale.
type principalCache struct {
	mu       sync.Mutex
	capacity int
	order    list.List // of *cacheEntry; front = most recently used
	items    map[[sha256.Size]byte]*list.Element
	// gen counts purges. A verification that began before a purge may have
	// used a key removed since, so put drops its result.
	gen uint64
}

type cacheEntry struct {
	key   [sha256.Size]byte
	p     *Principal // never handed out; Verify returns clones
	until time.Time  // served only while now is before this
}

func newPrincipalCache(capacity int) *principalCache {
	return &principalCache{capacity: capacity, items: make(map[[sha256.Size]byte]*list.Element)}
}

func (c *principalCache) get(key [sha256.Size]byte, now time.Time) *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.order.Remove(el)
		delete(c.items, key)
		return nil
	}
	c.order.MoveToFront(el)
	return e.p
}

// generation returns the purge count, to pass to put.
func (c *principalCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches p unless the cache was purged since generation returned gen.
func (c *principalCache) put(key [sha256.Size]byte, p *Principal, until time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		e.p, e.until = p, until
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, p: p, until: until})
	for c.order.Len() > c.capacity {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}

func (c *principalCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.order.Init()
	clear(c.items)
}

func (c *principalCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
