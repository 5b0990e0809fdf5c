// Package packcache owns the on-disk cache of generated packs: the output
// of git-pack-objects(1) for one upload-pack request, kept under a key the
// caller derives from everything the pack depends on (docs/git-transport.md,
// "Pack cache"). Identical requests share one generation (single flight):
// readers follow the file while it grows, so the 50th clone of a CI
// fan-out starts streaming at once instead of running pack-objects again.
//
// An entry becomes servable to new requests only once its generation has
// finished; a failed or abandoned generation is discarded. Complete entries
// are evicted least recently used first when their total size passes the
// cap, and are not served past their maximum age. The cache lives in one
// directory that is emptied when the cache is created, so nothing left by
// a crashed process (a partial file) is ever served.
package packcache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Config sizes a Cache.
type Config struct {
	// Dir holds the entries; it is emptied by New.
	Dir string
	// MaxBytes caps the total size of complete entries. An entry larger
	// than MaxBytes is served to the requests that shared its generation
	// and then dropped.
	MaxBytes int64
	// MaxAge is how long after its generation an entry may be served.
	MaxAge time.Duration
	// Now is the clock (tests drive it); nil means time.Now.
	Now func() time.Time
}

// Generator writes the pack of one key to w. It is run at most once at a
// time per key, detached from any one request, and cancelled when every
// request following it has gone. Returning ErrServeOnce (possibly
// wrapped) after a complete write serves the pack to the readers following
// the generation without keeping it.
type Generator func(ctx context.Context, w io.Writer) error

// ErrServeOnce is what a Generator returns when it wrote a complete pack
// that may not match its key any more (the repository moved while it ran):
// the readers following the generation get the pack and io.EOF, as they
// would from any run racing the change, but no later request is served
// it and the file is removed.
var ErrServeOnce = errors.New("packcache: serve once, do not keep")

// Stats counts what the cache did since it was created.
type Stats struct {
	Hits        int64 // requests served from a complete entry
	Shared      int64 // requests that joined a generation in progress
	Generations int64 // generations started
	Failed      int64 // generations that failed or were abandoned
	ServedOnce  int64 // generations that returned ErrServeOnce
	Evictions   int64 // complete entries removed for size or age
	Entries     int   // complete entries now
	Bytes       int64 // their total size
}

// Cache is safe for concurrent use. Stop ends generations in progress and
// waits for them.
type Cache struct {
	dir    string
	max    int64
	maxAge time.Duration
	now    func() time.Time

	ctx    context.Context // generations run under it; Stop cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*entry
	lru     *list.List // complete entries, most recently used at the front
	stats   Stats
	seq     uint64 // file names: a key regenerated after eviction gets a new file
}

// entry is one key's pack: complete, or being generated.
type entry struct {
	key  string
	path string

	// Guarded by Cache.mu.
	readers  int
	complete bool
	created  time.Time
	elem     *list.Element
	cancel   context.CancelFunc // the generation's, until it ends

	begun     chan struct{} // closed once the generation has begun (Begin)
	beginOnce sync.Once

	// Guarded by mu: the generation's progress, which readers follow.
	mu      sync.Mutex
	written int64
	done    bool
	err     error
	changed chan struct{} // closed and replaced whenever the above move
}

// New empties cfg.Dir and returns a cache over it.
func New(cfg Config) (*Cache, error) {
	if cfg.Dir == "" || cfg.MaxBytes <= 0 || cfg.MaxAge <= 0 {
		return nil, errors.New("packcache: Dir, MaxBytes and MaxAge are required")
	}
	// Entries are only indexed in memory, so what a previous process left
	// (complete or not) is unknown: start empty.
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("packcache: empty %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("packcache: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{dir: cfg.Dir, max: cfg.MaxBytes, maxAge: cfg.MaxAge, now: now,
		ctx: ctx, cancel: cancel, entries: map[string]*entry{}, lru: list.New()}, nil
}

// Stop cancels the generations in progress and waits for them. Readers
// still following one get an error.
func (c *Cache) Stop() {
	c.cancel()
	c.wg.Wait()
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = c.lru.Len()
	return s
}

// Open returns a reader of key's pack: a complete entry, the generation in
// progress, or a new generation by gen. The reader must be closed; its
// reads wait for the generation and fail if it fails or ctx ends.
func (c *Cache) Open(ctx context.Context, key string, gen Generator) (*Reader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return nil, errors.New("packcache: stopped")
	}
	e := c.entries[key]
	if e != nil && e.complete && c.now().Sub(e.created) > c.maxAge {
		c.evictLocked(e)
		e = nil
	}
	if e == nil {
		var err error
		if e, err = c.startLocked(key, gen); err != nil {
			return nil, err
		}
	} else if e.complete {
		c.stats.Hits++
		c.lru.MoveToFront(e.elem)
	} else {
		c.stats.Shared++
	}
	f, err := os.Open(e.path)
	if err != nil {
		// Only if the directory was tampered with: drop the entry.
		if e.complete {
			c.evictLocked(e)
		}
		return nil, fmt.Errorf("packcache: %w", err)
	}
	e.readers++
	return &Reader{c: c, e: e, f: f, ctx: ctx}, nil
}

// startLocked creates key's file and starts its generation.
func (c *Cache) startLocked(key string, gen Generator) (*entry, error) {
	c.seq++
	e := &entry{key: key, path: filepath.Join(c.dir, fmt.Sprintf("%s-%d.pack", key, c.seq)), changed: make(chan struct{}), begun: make(chan struct{})}
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("packcache: %w", err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	e.cancel = cancel
	c.entries[key] = e
	c.stats.Generations++
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		err := gen(ctx, &fileWriter{e: e, f: f})
		written := err == nil || errors.Is(err, ErrServeOnce)
		if cerr := f.Close(); cerr != nil && written {
			err = cerr
		} else if written && ctx.Err() != nil {
			err = ctx.Err() // a generator that ignored its cancellation
		}
		c.finish(e, err)
	}()
	return e, nil
}

// finish publishes the end of e's generation: a failed one is removed,
// a complete one joins the LRU and the cap is enforced.
func (c *Cache) finish(e *entry, err error) {
	c.mu.Lock()
	e.cancel = nil
	switch {
	case errors.Is(err, ErrServeOnce):
		c.stats.ServedOnce++
		c.dropLocked(e)
		err = nil // for its readers it is a complete pack
	case err != nil:
		c.stats.Failed++
		c.dropLocked(e)
	case e.written > c.max:
		// Its readers have it open; keeping it would evict everything else.
		c.dropLocked(e)
	default:
		e.complete = true
		e.created = c.now()
		e.elem = c.lru.PushFront(e)
		c.stats.Bytes += e.written
		c.trimLocked()
	}
	c.mu.Unlock()
	e.mu.Lock()
	e.done, e.err = true, err
	close(e.changed)
	e.mu.Unlock()
	if err == nil {
		e.begin()
	}
}

func (e *entry) begin() { e.beginOnce.Do(func() { close(e.begun) }) }

// Begin tells the readers following a generation that it is under way
// (it got the slot it waited for, say) before it writes its first byte;
// the first write, and a successful end, imply it. w must be the
// writer a Generator was given; anything else is ignored.
func Begin(w io.Writer) {
	if fw, ok := w.(*fileWriter); ok {
		fw.e.begin()
	}
}

// trimLocked evicts expired entries, then the least recently used until
// the total fits the cap (the newest entry too, if it alone is larger).
func (c *Cache) trimLocked() {
	now := c.now()
	for el := c.lru.Back(); el != nil; {
		prev := el.Prev()
		if e := el.Value.(*entry); now.Sub(e.created) > c.maxAge {
			c.evictLocked(e)
		}
		el = prev
	}
	for c.stats.Bytes > c.max && c.lru.Len() > 0 {
		c.evictLocked(c.lru.Back().Value.(*entry))
	}
}

// evictLocked removes a complete entry. Readers still following it keep
// their open file.
func (c *Cache) evictLocked(e *entry) {
	c.lru.Remove(e.elem)
	c.stats.Bytes -= e.written
	c.stats.Evictions++
	c.dropLocked(e)
}

// dropLocked unlinks e's file and forgets it, unless a newer entry has
// taken its key.
func (c *Cache) dropLocked(e *entry) {
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	os.Remove(e.path)
}

// release is a reader's Close: the last reader of a generation in progress
// cancels it (nobody would be served) and the entry is dropped at once,
// so a new request starts afresh rather than joining a dying generation.
func (c *Cache) release(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.readers--
	if e.readers == 0 && e.cancel != nil {
		e.cancel()
		c.dropLocked(e)
	}
}

// fileWriter appends to the entry's file and wakes its readers.
type fileWriter struct {
	e *entry
	f *os.File
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if n > 0 {
		w.e.begin()
		w.e.mu.Lock()
		w.e.written += int64(n)
		close(w.e.changed)
		w.e.changed = make(chan struct{})
		w.e.mu.Unlock()
	}
	return n, err
}

// Reader reads one entry from the start, following its generation.
type Reader struct {
	c      *Cache
	e      *entry
	f      *os.File
	ctx    context.Context
	off    int64
	closed bool
}

// Read returns the pack's next bytes, waiting for the generation when it
// has read all that was written so far. It returns the generation's error
// if that failed, and io.EOF only at the end of a complete pack.
func (r *Reader) Read(p []byte) (int, error) {
	for {
		r.e.mu.Lock()
		written, done, err, changed := r.e.written, r.e.done, r.e.err, r.e.changed
		r.e.mu.Unlock()
		if r.off < written {
			n, rerr := r.f.ReadAt(p[:min(int64(len(p)), written-r.off)], r.off)
			r.off += int64(n)
			if rerr == io.EOF && n > 0 {
				rerr = nil
			}
			return n, rerr
		}
		if done {
			if err != nil {
				return 0, fmt.Errorf("pack generation failed: %w", err)
			}
			return 0, io.EOF
		}
		select {
		case <-changed:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// WriteTo writes the rest of the pack to w. A complete pack goes as its
// file, so that an http.ResponseWriter on a plain TCP connection sends it
// with sendfile(2), never copying it through this process; one still
// being generated is copied as Read returns it.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	if size := r.Size(); size >= 0 {
		if _, err := r.f.Seek(r.off, io.SeekStart); err != nil {
			return 0, err
		}
		n, err := io.Copy(w, &io.LimitedReader{R: r.f, N: size - r.off})
		r.off += n
		return n, err
	}
	return io.Copy(w, struct{ io.Reader }{r}) // Read's loop, not WriteTo's
}

// Begun is closed once the entry's generation has begun (see Begin): at
// once for a complete entry, never for a generation that fails before.
func (r *Reader) Begun() <-chan struct{} { return r.e.begun }

// Size is the pack's length once its generation has succeeded, and -1
// while it is still being written (or if it failed).
func (r *Reader) Size() int64 {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	if r.e.done && r.e.err == nil {
		return r.e.written
	}
	return -1
}

// Close releases the reader.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.c.release(r.e)
	return r.f.Close()
}
