package metadata

import (
	"context"
	"sync"
	"time"
)

// CachedStore keeps recent Repo lookups in memory in front of another
// Store. Every authenticated request looks its repository up, and a SQLite
// query (prepare, file locks) costs more than the rest of a small file
// read; repository rows change only through this process's create, delete
// and default-branch calls, which invalidate the entry at once. The TTL
// bounds staleness should another process ever share the database.
// Every other method (branches, events, git credentials) passes straight
// through; credential queries check the repository is live themselves.
type CachedStore struct {
	Store
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[repoKey]cachedRepo
	// gen counts invalidations. A lookup that missed stores its answer only
	// if no invalidation ran meanwhile: a read of the row that began before
	// a delete committed must not put the live row back after the delete
	// forgot it.
	gen uint64
}

type repoKey struct{ org, id string }

type cachedRepo struct {
	repo    Repo
	expires time.Time
}

// NewCachedStore wraps s; ttl ≤ 0 means 2 s.
func NewCachedStore(s Store, ttl time.Duration) *CachedStore {
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	return &CachedStore{Store: s, ttl: ttl, max: 10000, entries: make(map[repoKey]cachedRepo)}
}

// Repo answers from the cache while the entry is fresh.
func (c *CachedStore) Repo(ctx context.Context, org, id string) (Repo, error) {
	k := repoKey{org, id}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.repo, nil
	}
	r, err := c.Store.Repo(ctx, org, id)
	if err != nil {
		return r, err
	}
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		return r, nil
	}
	if len(c.entries) >= c.max {
		clear(c.entries) // crude but bounded; refills in one round of lookups
	}
	c.entries[k] = cachedRepo{repo: r, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return r, nil
}

func (c *CachedStore) forget(org, id string) {
	c.mu.Lock()
	delete(c.entries, repoKey{org, id})
	c.gen++
	c.mu.Unlock()
}

// CreateRepo invalidates the id's entry.
func (c *CachedStore) CreateRepo(ctx context.Context, r Repo) (Repo, error) {
	defer c.forget(r.Org, r.ID)
	return c.Store.CreateRepo(ctx, r)
}

// DeleteRepo invalidates the id's entry, so a deleted repository stops
// being served at once.
func (c *CachedStore) DeleteRepo(ctx context.Context, org, id string) (Repo, error) {
	c.forget(org, id)
	defer c.forget(org, id)
	return c.Store.DeleteRepo(ctx, org, id)
}

// SetBaseRepo invalidates the id's entry.
func (c *CachedStore) SetBaseRepo(ctx context.Context, org, id string, base *BaseRepo) error {
	defer c.forget(org, id)
	return c.Store.SetBaseRepo(ctx, org, id, base)
}

// SetDefaultBranch invalidates the id's entry.
func (c *CachedStore) SetDefaultBranch(ctx context.Context, org, id, branch string) error {
	defer c.forget(org, id)
	return c.Store.SetDefaultBranch(ctx, org, id, branch)
}
