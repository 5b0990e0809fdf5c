// Package cluster is the clustered mode's repo.Record: the refs of record
// and the pack manifest live in a metadata.Ledger (PostgreSQL), the packs
// in object storage, and every node keeps a cache of each repository it
// serves in an ordinary bare repository, on which the git binary and the
// engine run exactly as in the single-node mode. docs/scale-out.md has the
// design and what each path costs.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// Objects is the object storage the packs live in (an *objstore.Bucket).
// Keys are "<storage key>/pack-<hash>.pack" and ".idx".
type Objects interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Download writes the object to path atomically (temporary file,
	// fsync, rename).
	Download(ctx context.Context, key, path string) error
	Delete(ctx context.Context, key string) error
}

// Options tune the clustered mode's housekeeping.
type Options struct {
	// CompactPacks is the manifest length past which a write triggers a
	// compaction of the repository's packs (default 32).
	CompactPacks int
	// GarbageGrace is how long a pack no manifest lists stays in object
	// storage before it is deleted, so that a node still downloading it
	// finishes (default 1 hour).
	GarbageGrace time.Duration
}

// Cluster implements repo.Record. It is safe for concurrent use; one
// process owns a cache directory.
type Cluster struct {
	ledger  metadata.Ledger
	objects Objects
	git     *git.Factory
	cache   *catfile.Cache
	updater *refs.Updater
	log     *slog.Logger
	opts    Options
	count   counters
	// started is when this process made the Cluster: a ref lock file in a
	// cache older than that was left by a previous run (clearLeftovers).
	started time.Time

	mu         sync.Mutex
	repos      map[string]*cached       // by storage key
	compacting map[string]struct{}      // storage keys with a compaction running here
	versions   map[string]*versionQuery // version queries in flight, by storage key

	// stop ends background work (compactions, garbage collection); wg
	// waits for it.
	stop    context.Context
	stopped context.CancelFunc
	wg      sync.WaitGroup
}

var _ repo.Record = (*Cluster)(nil)

// New returns the record kept in ledger and objects. The caller owns cache
// (the caches' cat-file pool, shared with the engine) and updater (their
// ref updates), and stops them after Close.
func New(ledger metadata.Ledger, objects Objects, f *git.Factory, cache *catfile.Cache, updater *refs.Updater, log *slog.Logger, opts Options) *Cluster {
	if opts.CompactPacks <= 0 {
		opts.CompactPacks = 32
	}
	if opts.GarbageGrace <= 0 {
		opts.GarbageGrace = time.Hour
	}
	stop, stopped := context.WithCancel(context.Background())
	return &Cluster{
		ledger: ledger, objects: objects, git: f, cache: cache, updater: updater, log: log, opts: opts,
		repos: make(map[string]*cached), compacting: make(map[string]struct{}), versions: make(map[string]*versionQuery),
		stop: stop, stopped: stopped, started: time.Now(),
	}
}

// Close stops background work and waits for it.
func (c *Cluster) Close() {
	c.stopped()
	c.wg.Wait()
}

// cached is what this node knows of its cache of one repository. Its lock
// serialises every change of the cache's refs: Refresh and the cache side
// of Publish.
type cached struct {
	c  *Cluster
	mu sync.Mutex
	// loaded is false until the state file was read.
	loaded bool
	state  cacheState
}

// cacheState is the cache's position, kept beside it in the repository
// directory (stateFile) so a restarted node does not download again what
// it has.
type cacheState struct {
	// Version is the ledger version the cache's refs and HEAD are at; -1
	// when unknown (a cache update failed half-way), so the next Refresh
	// reads everything again.
	Version int64 `json:"version"`
	// Packs are the manifest packs whose objects the cache holds (as those
	// packs, or loose, or repacked by local maintenance).
	Packs map[string]bool `json:"packs"`
	// Refs are the cache's refs as last set by this node: every object they
	// reach is in the manifest, which is what Publish relies on to pack only
	// what is new.
	Refs map[string]string `json:"refs"`
}

const stateFile = "strata-cluster.json"

func (c *Cluster) entry(key string) *cached {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.repos[key]
	if !ok {
		e = &cached{c: c}
		c.repos[key] = e
	}
	return e
}

// load reads the state file once; a missing or unreadable one means an
// empty cache (nothing is lost by it but downloads). Being the first
// touch of the cache by this process, it also clears the lock files and
// temporary directories a previous run left in it.
func (e *cached) load(gitDir string) {
	if e.loaded {
		return
	}
	e.loaded = true
	e.c.clearLeftovers(gitDir)
	e.state = cacheState{Version: -1}
	b, err := os.ReadFile(filepath.Join(gitDir, stateFile))
	if err != nil {
		return
	}
	var st cacheState
	if json.Unmarshal(b, &st) == nil {
		e.state = st
	}
}

// save writes the state file. It is not synced: after a power loss an old
// or missing state only costs a Refresh and downloads, never correctness,
// because the refs it lists are also checked against the cache's own.
func (e *cached) save(gitDir string) error {
	b, err := json.Marshal(e.state)
	if err != nil {
		return err
	}
	tmp := filepath.Join(gitDir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(gitDir, stateFile))
}

// Create registers an empty repository in the ledger. The Manager makes
// the cache.
func (c *Cluster) Create(ctx context.Context, key, defaultBranch string) error {
	err := c.ledger.LedgerCreate(ctx, key, defaultBranch)
	switch {
	case errors.Is(err, metadata.ErrExists):
		return fmt.Errorf("create repository %s: %w", key, repo.ErrExists)
	case err != nil:
		return c.unavailable("create repository", key, err)
	}
	return nil
}

// SetHead changes HEAD of record, then the cache's.
func (c *Cluster) SetHead(ctx context.Context, key, gitDir, branch string) error {
	if err := c.ledger.LedgerSetHead(ctx, key, branch); err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return fmt.Errorf("set HEAD of %s: %w", key, repo.ErrNotFound)
		}
		return c.unavailable("set HEAD", key, err)
	}
	// The version moved: the next Refresh sets the cache's HEAD; doing it
	// now as well makes this node read its own write at once.
	return c.Refresh(ctx, key, gitDir)
}

// Remove forgets the repository in the ledger, which queues its packs for
// deletion (see Collect).
func (c *Cluster) Remove(ctx context.Context, key string) error {
	if err := c.ledger.LedgerRemove(ctx, key); err != nil {
		return c.unavailable("remove repository", key, err)
	}
	c.mu.Lock()
	delete(c.repos, key)
	c.mu.Unlock()
	return nil
}

func packKey(storageKey, pack, ext string) string { return storageKey + "/" + pack + ext }

// unavailable wraps a failure to reach the ledger or object storage: the
// caller sees repo.ErrUnavailable (503), with the cause for the logs.
func (c *Cluster) unavailable(what, key string, err error) error {
	c.count.unavailable.Add(1)
	return fmt.Errorf("%s %s: %w: %w", what, key, repo.ErrUnavailable, err)
}
