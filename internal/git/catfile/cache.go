package catfile

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// Defaults for Options' zero values.
const (
	DefaultMaxProcesses   = 128
	DefaultMaxPerRepo     = 8
	DefaultMaxIdlePerRepo = 8
	DefaultIdleTimeout    = 10 * time.Second
	DefaultMaxWait        = 200 * time.Millisecond
)

// stdoutBufSize is the read buffer on each process's stdout: headers are
// parsed in place from it, so it also bounds the longest reply line.
const stdoutBufSize = 64 << 10

var errStopped = errors.New("catfile: cache stopped")

// Options configure a Cache. Zero values take the defaults.
type Options struct {
	// MaxProcesses bounds the pool's processes, idle and checked out
	// together. When a checkout or a release finds the pool full, the
	// oldest idle processes are evicted first. Checkouts never wait: if
	// every process is checked out a new one is started anyway and killed
	// on release, so the overshoot is at most the readers in use.
	MaxProcesses int
	// MaxPerRepo bounds the processes of one repository, idle and checked
	// out. A checkout beyond it waits for a reader of that repository to
	// be released: on a hot repository, starting a process per extra
	// concurrent request (and killing it afterwards) costs ~2 ms each and
	// buys nothing on a machine with few cores.
	MaxPerRepo int
	// MaxWait bounds how long a checkout waits at MaxPerRepo before it
	// starts a process anyway. It keeps a caller that nests checkouts
	// (holds one reader while asking for another) from deadlocking when
	// every slot is held by such callers.
	MaxWait time.Duration
	// MaxIdlePerRepo bounds the idle processes kept for one repository;
	// a reader released beyond it is killed instead of cached.
	MaxIdlePerRepo int
	// IdleTimeout is how long a process may sit idle before the monitor
	// kills it.
	IdleTimeout time.Duration
	// Tick drives the monitor; the received time is used as "now", so tests
	// can age processes without sleeping. nil means a ticker firing every
	// IdleTimeout/2.
	Tick <-chan time.Time
}

// Stats are the pool's counters since NewCache.
type Stats struct {
	Hits         int64 // checkouts served by an idle process
	Misses       int64 // checkouts that started a process
	Evictions    int64 // clean processes killed by the pool: idle timeout, size limits, Stop
	DirtyReturns int64 // readers released dirty (or cancelled), whose process was killed
	Overflows    int64 // checkouts that waited MaxWait at MaxPerRepo and started a process anyway
	Processes    int   // live processes, idle and checked out
	Idle         int   // idle processes
}

// Cache is a pool of `git cat-file --batch-command` processes keyed by
// repository. It is safe for concurrent use; Stop must be called.
type Cache struct {
	f    *git.Factory
	opts Options

	// ctx is the parent of every process's context: processes belong to
	// the Cache, not to the request that happened to start them.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards the fields below. It is never held across a pipe read,
	// write, or Wait.
	mu       sync.Mutex
	stopped  bool
	all      map[*process]struct{} // live processes, idle or checked out
	idle     map[string][]*process // per repository, oldest first
	lru      list.List             // idle processes of every repository, oldest first
	spawning int                   // starts in flight; they count toward MaxProcesses
	live     map[string]int        // per repository: processes alive or starting
	waiters  map[string]*list.List // per repository: chan grant of checkouts waiting for a slot
	stats    Stats

	starts      sync.WaitGroup // starts in flight, so Stop can wait for them
	stopOnce    sync.Once
	stopMonitor chan struct{}
	monitorDone chan struct{}
}

// process is one running cat-file. Its pipes are used only by the Reader
// that has it checked out.
type process struct {
	gitDir string
	cmd    *git.Process
	ctx    context.Context
	cancel context.CancelFunc
	stdin  io.WriteCloser
	stdout *bufio.Reader
	line   []byte // scratch for the command line being written

	lastUsed time.Time     // when it went idle; guarded by Cache.mu
	elem     *list.Element // its place in Cache.lru while idle; guarded by Cache.mu

	reapOnce sync.Once
	waitErr  error
}

// kill makes the process exit without waiting for it. Safe from any
// goroutine (it is what a request's cancellation calls).
func (p *process) kill() { p.cancel() }

// reap kills the process and waits for it, once; concurrent and later
// callers get the same result. Cancel comes before Wait: a cat-file blocked
// writing to a full stdout pipe that nobody reads would never exit, and
// Wait would hang.
func (p *process) reap() error {
	p.reapOnce.Do(func() {
		p.cancel()
		p.waitErr = p.cmd.Wait()
	})
	return p.waitErr
}

// NewCache returns a pool that starts processes through f. It starts one
// monitor goroutine, which Stop ends.
func NewCache(f *git.Factory, opts Options) *Cache {
	if opts.MaxProcesses <= 0 {
		opts.MaxProcesses = DefaultMaxProcesses
	}
	if opts.MaxPerRepo <= 0 {
		opts.MaxPerRepo = DefaultMaxPerRepo
	}
	if opts.MaxIdlePerRepo <= 0 {
		opts.MaxIdlePerRepo = DefaultMaxIdlePerRepo
	}
	opts.MaxIdlePerRepo = min(opts.MaxIdlePerRepo, opts.MaxPerRepo)
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	// Processes must outlive every request, so their parent context is
	// deliberately detached from any caller's.
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{
		f:           f,
		opts:        opts,
		ctx:         ctx,
		cancel:      cancel,
		all:         make(map[*process]struct{}),
		idle:        make(map[string][]*process),
		live:        make(map[string]int),
		waiters:     make(map[string]*list.List),
		stopMonitor: make(chan struct{}),
		monitorDone: make(chan struct{}),
	}
	tick := opts.Tick
	var ticker *time.Ticker
	if tick == nil {
		ticker = time.NewTicker(opts.IdleTimeout / 2)
		tick = ticker.C
	}
	go c.monitor(tick, ticker)
	return c
}

func (c *Cache) monitor(tick <-chan time.Time, ticker *time.Ticker) {
	defer close(c.monitorDone)
	if ticker != nil {
		defer ticker.Stop()
	}
	for {
		select {
		case <-c.stopMonitor:
			return
		case now, ok := <-tick:
			if !ok {
				tick = nil // a closed channel stops ticking; Stop still works
				continue
			}
			c.evictIdle(now)
		}
	}
}

// evictIdle kills processes that have been idle longer than IdleTimeout.
func (c *Cache) evictIdle(now time.Time) {
	var victims []*process
	c.mu.Lock()
	for e := c.lru.Front(); e != nil; e = c.lru.Front() {
		if now.Sub(e.Value.(*process).lastUsed) <= c.opts.IdleTimeout {
			break // the list is in idle order, so the rest are younger
		}
		victims = append(victims, c.evictOldestLocked())
	}
	c.mu.Unlock()
	reapAll(victims)
}

// Stop ends the monitor and kills and reaps every process, including ones
// still checked out (their readers fail; their release funcs remain safe to
// call). Later checkouts fail. Stop is idempotent and returns only when no
// process is left.
func (c *Cache) Stop() {
	c.stopOnce.Do(func() {
		close(c.stopMonitor)
		<-c.monitorDone

		c.mu.Lock()
		c.stopped = true
		for key, l := range c.waiters {
			for e := l.Front(); e != nil; e = e.Next() {
				e.Value.(chan grant) <- grant{}
			}
			delete(c.waiters, key)
		}
		c.mu.Unlock()
		// Kill everything at once, then reap: a start in flight sees the
		// cancelled context and cleans up after itself.
		c.cancel()
		c.starts.Wait()

		c.mu.Lock()
		victims := make([]*process, 0, len(c.all))
		for p := range c.all {
			victims = append(victims, p)
		}
		c.stats.Evictions += int64(c.lru.Len())
		clear(c.all)
		clear(c.idle)
		c.lru.Init()
		c.mu.Unlock()
		reapAll(victims)
	})
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Processes = len(c.all)
	s.Idle = c.lru.Len()
	return s
}

// Reader checks out a process for the repository at gitDir (an absolute
// path), starting one if none is idle. release must be called once the
// caller is done with the Reader and every Object it returned (later calls
// are no-ops); it puts a clean process back in the pool and kills a dirty
// one. ctx only bounds the checkout: the process itself belongs to the Cache.
func (c *Cache) Reader(ctx context.Context, gitDir string) (*Reader, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if !filepath.IsAbs(gitDir) {
		// The Factory runs git in gitDir with GIT_DIR=gitDir, so a relative
		// path would resolve twice.
		return nil, nil, fmt.Errorf("catfile: repository path %q is not absolute", gitDir)
	}
	key := filepath.Clean(gitDir)

	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil, nil, errStopped
	}
	if p := c.takeIdleLocked(key); p != nil {
		c.stats.Hits++
		c.mu.Unlock()
		return c.checkout(p)
	}
	if c.live[key] >= c.opts.MaxPerRepo {
		g, err := c.waitLocked(ctx, key) // unlocks
		if err != nil {
			return nil, nil, err
		}
		if g.p != nil {
			c.mu.Lock()
			c.stats.Hits++
			c.mu.Unlock()
			return c.checkout(g.p)
		}
		// A slot was handed over: start a process in it.
		c.mu.Lock()
		if c.stopped {
			c.releaseSlotLocked(key)
			c.mu.Unlock()
			return nil, nil, errStopped
		}
	} else {
		c.live[key]++
	}
	c.stats.Misses++
	var victims []*process
	for len(c.all)+c.spawning >= c.opts.MaxProcesses && c.lru.Len() > 0 {
		victims = append(victims, c.evictOldestLocked())
	}
	c.spawning++
	c.starts.Add(1)
	c.mu.Unlock()
	defer c.starts.Done()

	reapAll(victims)
	p, err := c.start(key)

	c.mu.Lock()
	c.spawning--
	stopped := c.stopped
	if err == nil && !stopped {
		c.all[p] = struct{}{}
	} else {
		c.releaseSlotLocked(key)
	}
	c.mu.Unlock()
	if err != nil {
		if stopped {
			return nil, nil, errStopped
		}
		return nil, nil, err
	}
	if stopped {
		p.reap()
		return nil, nil, errStopped
	}
	return c.checkout(p)
}

func (c *Cache) checkout(p *process) (*Reader, func(), error) {
	r := &Reader{proc: p}
	return r, func() { c.release(r) }, nil
}

func (c *Cache) start(gitDir string) (*process, error) {
	ctx, cancel := context.WithCancel(c.ctx)
	gp, err := c.f.Start(ctx, gitDir,
		git.Command{Name: "cat-file", Flags: []string{"--batch-command"}},
		git.WithStdinPipe(), git.WithStdoutPipe())
	if err != nil {
		cancel()
		return nil, fmt.Errorf("catfile: %w", err)
	}
	return &process{
		gitDir: gitDir,
		cmd:    gp,
		ctx:    ctx,
		cancel: cancel,
		stdin:  gp.Stdin,
		stdout: bufio.NewReaderSize(gp.Stdout, stdoutBufSize),
	}, nil
}

func (c *Cache) release(r *Reader) {
	if r.released {
		return
	}
	clean := r.finishUse()
	p := r.proc

	var victims []*process
	c.mu.Lock()
	_, owned := c.all[p]
	switch {
	case !owned || c.stopped:
		// Stop took it (or eviction did, and freed its slot); reap below
		// only waits for that reap.
		victims = append(victims, p)
	case !clean:
		c.stats.DirtyReturns++
		delete(c.all, p)
		victims = append(victims, p)
		c.releaseSlotLocked(p.gitDir)
	case c.handOverLocked(p):
		// A waiting checkout took it as it is.
	case len(c.idle[p.gitDir]) >= c.opts.MaxIdlePerRepo:
		c.stats.Evictions++
		delete(c.all, p)
		victims = append(victims, p)
		c.releaseSlotLocked(p.gitDir)
	default:
		p.lastUsed = time.Now()
		c.idle[p.gitDir] = append(c.idle[p.gitDir], p)
		p.elem = c.lru.PushBack(p)
		// Over the limit because checkouts overshot it: shed the oldest.
		for len(c.all) > c.opts.MaxProcesses && c.lru.Len() > 0 {
			victims = append(victims, c.evictOldestLocked())
		}
	}
	c.mu.Unlock()
	reapAll(victims)
}

// takeIdleLocked returns the repository's most recently used idle process,
// the one most likely to have warm caches, or nil.
func (c *Cache) takeIdleLocked(gitDir string) *process {
	ps := c.idle[gitDir]
	if len(ps) == 0 {
		return nil
	}
	p := ps[len(ps)-1]
	ps[len(ps)-1] = nil
	if len(ps) == 1 {
		delete(c.idle, gitDir)
	} else {
		c.idle[gitDir] = ps[:len(ps)-1]
	}
	c.lru.Remove(p.elem)
	p.elem = nil
	return p
}

// evictOldestLocked removes the oldest idle process from the pool and
// returns it; the caller reaps it after unlocking.
func (c *Cache) evictOldestLocked() *process {
	p := c.lru.Remove(c.lru.Front()).(*process)
	p.elem = nil
	ps := c.idle[p.gitDir]
	if i := slices.Index(ps, p); i >= 0 {
		ps = slices.Delete(ps, i, i+1)
	}
	if len(ps) == 0 {
		delete(c.idle, p.gitDir)
	} else {
		c.idle[p.gitDir] = ps
	}
	delete(c.all, p)
	c.releaseSlotLocked(p.gitDir)
	c.stats.Evictions++
	return p
}

// grant is what a waiting checkout receives: an idle process to use as it
// is, or (p == nil) a slot in which to start one.
type grant struct{ p *process }

// waitLocked queues a checkout for key and waits for a grant. Called with
// c.mu held; returns with it released.
func (c *Cache) waitLocked(ctx context.Context, key string) (grant, error) {
	ch := make(chan grant, 1)
	l := c.waiters[key]
	if l == nil {
		l = list.New()
		c.waiters[key] = l
	}
	el := l.PushBack(ch)
	c.mu.Unlock()
	timer := time.NewTimer(c.opts.MaxWait)
	defer timer.Stop()
	var err error
	select {
	case g := <-ch:
		return g, nil
	case <-timer.C:
		// Waited long enough: take a slot over the limit instead.
		c.mu.Lock()
		if l := c.waiters[key]; l != nil && removeElement(l, el) {
			if l.Len() == 0 {
				delete(c.waiters, key)
			}
			c.live[key]++
			c.stats.Overflows++
			c.mu.Unlock()
			return grant{}, nil
		}
		c.mu.Unlock()
		return <-ch, nil // a grant raced with the timer: take it
	case <-ctx.Done():
		err = ctx.Err()
		c.mu.Lock()
		if l := c.waiters[key]; l != nil && removeElement(l, el) {
			if l.Len() == 0 {
				delete(c.waiters, key)
			}
			c.mu.Unlock()
			return grant{}, err
		}
		c.mu.Unlock()
		// A grant raced with the cancellation: pass it on.
		if g := <-ch; g.p != nil {
			c.release(&Reader{proc: g.p})
		} else {
			c.mu.Lock()
			c.releaseSlotLocked(key)
			c.mu.Unlock()
		}
		return grant{}, ctx.Err()
	}
}

// removeElement removes el from l if it is still there.
func removeElement(l *list.List, el *list.Element) bool {
	for e := l.Front(); e != nil; e = e.Next() {
		if e == el {
			l.Remove(el)
			return true
		}
	}
	return false
}

// popWaiterLocked removes and returns the oldest waiter for key, or nil.
func (c *Cache) popWaiterLocked(key string) chan grant {
	l := c.waiters[key]
	if l == nil || l.Len() == 0 {
		return nil
	}
	ch := l.Remove(l.Front()).(chan grant)
	if l.Len() == 0 {
		delete(c.waiters, key)
	}
	return ch
}

// handOverLocked gives a clean released process straight to a waiter.
func (c *Cache) handOverLocked(p *process) bool {
	ch := c.popWaiterLocked(p.gitDir)
	if ch == nil {
		return false
	}
	ch <- grant{p: p}
	return true
}

// releaseSlotLocked frees one of key's process slots: to a waiter, which
// will start a process in it, or back to the pool.
func (c *Cache) releaseSlotLocked(key string) {
	if ch := c.popWaiterLocked(key); ch != nil && !c.stopped {
		ch <- grant{}
		return
	}
	if c.live[key]--; c.live[key] <= 0 {
		delete(c.live, key)
	}
}

func reapAll(ps []*process) {
	for _, p := range ps {
		// The error is a killed process's "signal: killed": expected.
		_ = p.reap()
	}
}
