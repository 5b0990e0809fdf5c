package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// LogOptions select a page of history.
type LogOptions struct {
	Path  string // only commits touching this file or subtree ("" = all)
	Skip  int
	Limit int
}

// Log returns up to opt.Limit commits reachable from tip, newest first
// (git log order), and whether more follow.
//
// The walk runs in git (`git log` does path simplification and uses the
// commit-graph's Bloom filters) and prints every field the API returns, so
// a page costs no object reads. Walks are cached per (tip, path), both
// immutable, and the `git log` of a walk is kept running between pages:
// git cannot resume a path-limited walk from arguments (its queue of
// pending commits is not expressible as revisions), so re-walking with
// --skip made every page pay again for all the pages before it. A page
// waits only until the walk has produced the commits it needs; see walks
// for how a running walk is bounded.
func (r *Repo) Log(ctx context.Context, tip git.ObjectID, opt LogOptions) ([]*Commit, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("walk history of %s: %w", tip, err)
	}
	ws := r.memo.walks
	need := opt.Skip + opt.Limit + 1 // one more than the page tells whether more follow
	w := ws.get(r.key + "\x00" + string(tip) + "\x00" + opt.Path)
	for {
		ws.mu.Lock()
		p := w.prod
		if p != nil {
			p.lastUse = time.Now()
		}
		if n := len(w.commits); n >= need || w.complete {
			from, to := min(opt.Skip, n), min(opt.Skip+opt.Limit, n)
			page, more := w.commits[from:to:to], n > to
			ws.mu.Unlock()
			return page, more, nil
		}
		if p == nil {
			if w.ctx.Err() != nil || w.cost >= ws.maxCost {
				// Dropped from the cache, or as large as one walk may grow:
				// this page alone.
				ws.mu.Unlock()
				return r.logOnce(ctx, tip, opt)
			}
			if p = ws.startLocked(r, w, tip, opt.Path); p == nil {
				// Every walk process is busy serving someone.
				base := len(w.commits)
				prefix := w.commits[:base:base]
				ws.mu.Unlock()
				return r.logSync(ctx, w, prefix, tip, opt)
			}
		}
		// The first page asks for just enough (most readers stop there); a
		// reader who follows a cursor probably reads on, so the walk runs
		// ahead in the background while the page is sent, growing
		// geometrically so that any history costs O(n).
		target := need
		if opt.Skip > 0 {
			target = max(need, 4*len(w.commits), minWalkAhead)
			p.ahead = true
		}
		if target > p.demand {
			p.demand = target
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
		w.notifyAt = min(w.notifyAt, need)
		changed := w.changed
		p.waiters++
		ws.mu.Unlock()

		select {
		case <-changed:
		case <-p.done:
		case <-ctx.Done():
		}

		ws.mu.Lock()
		p.waiters--
		p.lastUse = time.Now()
		if err := ctx.Err(); err != nil {
			if p.waiters == 0 {
				// Nobody is left to read what this request asked for: the
				// walk pauses where it is (its idle timeout then ends it
				// unless someone asks again).
				p.demand = min(p.demand, len(w.commits))
			}
			ws.mu.Unlock()
			return nil, false, fmt.Errorf("walk history of %s: %w", tip, err)
		}
		err := p.err
		short := len(w.commits) < need && !w.complete
		ws.mu.Unlock()
		if err != nil && short {
			return nil, false, err
		}
	}
}

// Bounds of the walk cache and its processes.
const (
	// minWalkAhead is how far a reader who follows a cursor makes the walk
	// run ahead at least: far enough that the history of most paths is
	// then read in full.
	minWalkAhead = 1000
	// maxLiveWalks is how many walk processes may exist at once (per
	// Manager, so server-wide), running or paused.
	maxLiveWalks = 16
	// walkIdle: a walk process nobody asked anything of for this long is
	// killed; a later page resumes the walk with --skip.
	walkIdle = 2 * time.Second
	// walkMaxLife: no walk process runs longer (the heavy requests' time
	// limit); a later page resumes the walk with --skip.
	walkMaxLife = 2 * time.Minute
	// walkBaseCost is what a cached walk costs before any commit.
	walkBaseCost = 512
	// walkPipeBytes is the kernel buffer of a walk's stdout pipe (one
	// page, the least Linux allows; 64 KiB by default). A paused walk
	// stops reading, but git goes on walking until the pipe and its own
	// stdio buffer are full, and a reader that is slow to be scheduled
	// lets git run ahead as far. With 64 KiB, a first page of
	// BenchmarkQueries' path (100 commits) cost git 17-22 ms of CPU
	// against 6-8 ms for `git log --max-count=101`, and first pages
	// served back to back took 1.2-2.6× as long; with 4 KiB, 0.5-1.8 ms
	// more than --max-count. (Also stopping git with SIGSTOP at each
	// pause measured no better.)
	walkPipeBytes = 4096
	// walkAheadPipeBytes is the pipe's buffer once a reader followed a
	// cursor and the walk runs ahead of it: git's default, so that git
	// does not stall on a reader that is busy sending pages.
	walkAheadPipeBytes = 64 << 10
)

// walks caches history walks per (repository, tip, path) in an LRU
// bounded in bytes, and owns the `git log` processes that grow them.
//
// A walk's process (its producer) reads commits only while some reader
// asked for more than it has (the demand); otherwise it is paused: it
// stops reading, so git blocks once the pipe is full. It ends, killing
// git, when it reaches the root; when nobody used the walk for idle; when
// it ran maxLife; when the walk reaches maxCost; when the cache evicts
// the walk; or when a new walk needs its place among the maxLive
// processes (the least recently used one nobody waits on gives way; when
// every one has a waiter, the new walk runs a bounded `git log` in the
// request instead, as before producers existed). A reader waiting for
// commits a stopped producer did not reach starts the next one, with
// --skip. Every producer's goroutine ends with its process, within idle
// of its last use or at once when stopped.
type walks struct {
	lru     *lru[*walk]
	maxCost int64 // of one walk: its producer stops there
	maxLive int
	idle    time.Duration
	maxLife time.Duration

	// mu guards the walks' and producers' mutable fields, live and
	// closed. It is never held across a process start, a pipe read or a
	// call into the LRU.
	mu     sync.Mutex
	live   []*producer // counted against maxLive
	closed bool
	starts int // producers started, for tests
	wg     sync.WaitGroup
}

func newWalks(maxBytes int64, maxLive int) *walks {
	ws := &walks{lru: newLRU[*walk](maxBytes), maxCost: maxBytes / 4, maxLive: maxLive, idle: walkIdle, maxLife: walkMaxLife}
	// Called outside the LRU's lock; drop only cancels a context.
	ws.lru.evicted = func(w *walk) { w.drop() }
	return ws
}

// walk is a prefix of one history walk, newest first, and the producer
// growing it, if any. Commits are only appended: a page handed out is a
// slice of them with its capacity cut, so neither a producer nor a
// reader can write into what the other sees.
type walk struct {
	key  string
	ctx  context.Context // done once the cache dropped the walk
	drop context.CancelFunc

	// Guarded by walks.mu.
	commits  []*Commit
	complete bool // reached the root
	cost     int64
	prod     *producer
	changed  chan struct{} // closed and replaced when len(commits) reaches notifyAt, the walk completes or prod ends
	notifyAt int           // the least need of the readers waiting
}

// producer is the `git log` process feeding one walk.
type producer struct {
	cancel context.CancelFunc // kills the process
	wake   chan struct{}      // (capacity 1) demand rose
	done   chan struct{}      // closed once the process is reaped

	// Guarded by walks.mu.
	demand  int       // len(walk.commits) to reach before pausing
	ahead   bool      // a reader followed a cursor: read ahead of it
	waiters int       // readers waiting for commits
	lastUse time.Time // by a reader
	err     error     // why it ended, unless at the root or stopped on purpose
}

// get returns the walk for key, new and empty if the cache has none.
func (ws *walks) get(key string) *walk {
	return ws.lru.getOrPut(key, func() *walk {
		ctx, drop := context.WithCancel(context.Background())
		return &walk{key: key, ctx: ctx, drop: drop, cost: walkBaseCost, changed: make(chan struct{}), notifyAt: math.MaxInt}
	}, walkBaseCost)
}

// broadcastLocked wakes every reader waiting on w.
func (w *walk) broadcastLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
	w.notifyAt = math.MaxInt
}

// startLocked starts a producer for w from len(w.commits), making room
// among the live ones if it must; nil when it cannot.
func (ws *walks) startLocked(r *Repo, w *walk, tip git.ObjectID, path string) *producer {
	if ws.closed || ws.maxLive <= 0 {
		return nil
	}
	if len(ws.live) >= ws.maxLive {
		victim := -1
		for i, q := range ws.live {
			if q.waiters == 0 && (victim < 0 || q.lastUse.Before(ws.live[victim].lastUse)) {
				victim = i
			}
		}
		if victim < 0 {
			return nil
		}
		// Its process dies at once; its walk keeps what it read.
		ws.live[victim].cancel()
		ws.live = slices.Delete(ws.live, victim, victim+1)
	}
	ctx, cancel := context.WithTimeout(w.ctx, ws.maxLife)
	p := &producer{cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{}), lastUse: time.Now()}
	w.prod = p
	ws.live = append(ws.live, p)
	ws.starts++
	ws.wg.Add(1)
	go ws.produce(ctx, r, w, p, tip, path, len(w.commits))
	return p
}

// produce runs p until its walk ends or it is stopped, then detaches it.
func (ws *walks) produce(ctx context.Context, r *Repo, w *walk, p *producer, tip git.ObjectID, path string, skip int) {
	defer ws.wg.Done()
	end, err := ws.run(ctx, r, w, p, tip, path, skip)
	ws.mu.Lock()
	if end {
		w.complete = true
	}
	if w.prod == p {
		w.prod = nil
	}
	if i := slices.Index(ws.live, p); i >= 0 {
		ws.live = slices.Delete(ws.live, i, i+1)
	}
	p.err = err
	w.broadcastLocked()
	cost := w.cost
	ws.mu.Unlock()
	ws.lru.setCost(w.key, func(v *walk) bool { return v == w }, cost)
	close(p.done)
}

// errStopped ends a producer on purpose; it is not the readers' error.
var errStopped = errors.New("walk stopped")

// run starts `git log` from tip after skip commits and feeds w until the
// root (end), a stop (neither end nor an error) or a failure. Only a git
// that printed everything and exited 0 reached the root: a killed one
// ends its output early too.
func (ws *walks) run(ctx context.Context, r *Repo, w *walk, p *producer, tip git.ObjectID, path string, skip int) (end bool, err error) {
	defer p.cancel()
	cmd := logCommand(tip, path)
	if skip > 0 {
		cmd.Flags = append(cmd.Flags, "--skip="+strconv.Itoa(skip))
	}
	// The pipe is ours, so that it is small before git writes into it.
	pr, pw, err := os.Pipe()
	if err != nil {
		return false, fmt.Errorf("walk history of %s: %w", tip, err)
	}
	defer pr.Close()
	_ = setPipeSize(pr, walkPipeBytes) // only an optimisation
	proc, err := r.git.Start(ctx, r.path, cmd, git.WithStdout(pw))
	pw.Close() // git has its copy
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("walk history of %s: %w", tip, err)
	}
	ferr := ws.feed(ctx, pr, w, p)
	if ferr != nil {
		p.cancel() // git may still be writing; what it says next is not wanted
	}
	werr := proc.Wait()
	switch {
	case errors.Is(ferr, errStopped) || ctx.Err() != nil:
		return false, nil
	case ferr != nil:
		return false, fmt.Errorf("walk history of %s: %w", tip, ferr)
	case werr != nil:
		return false, fmt.Errorf("walk history of %s: %w", tip, werr)
	}
	return true, nil
}

// feed reads commits from out into w while there is demand for them,
// pauses (reads nothing) while there is none, and returns nil at the end
// of the output, errStopped when it should stop early, or the read's
// error.
func (ws *walks) feed(ctx context.Context, out *os.File, w *walk, p *producer) error {
	lr := &logReader{br: bufio.NewReaderSize(out, 64<<10)}
	grown := false
	idle := time.NewTimer(ws.idle)
	defer idle.Stop()
	for {
		ws.mu.Lock()
		for len(w.commits) >= p.demand {
			cost := w.cost
			ws.mu.Unlock()
			if !ws.lru.setCost(w.key, func(v *walk) bool { return v == w }, cost) {
				return errStopped // evicted
			}
			idle.Reset(ws.idle)
			select {
			case <-p.wake:
			case <-ctx.Done():
				return errStopped
			case <-idle.C:
				ws.mu.Lock()
				if p.waiters == 0 && time.Since(p.lastUse) >= ws.idle {
					ws.mu.Unlock()
					return errStopped
				}
				continue // used meanwhile: check the demand, wait again
			}
			ws.mu.Lock()
		}
		ahead := p.ahead
		ws.mu.Unlock()
		if ahead && !grown {
			// A reader follows the cursor: git may run freely now.
			_ = setPipeSize(out, walkAheadPipeBytes)
			grown = true
		}

		c, err := lr.next()
		if err == io.EOF {
			return nil // produce marks the walk complete if git exits 0
		}
		if err != nil {
			return err
		}
		ws.mu.Lock()
		w.commits = append(w.commits, c)
		w.cost += commitsCost([]*Commit{c})
		if len(w.commits) >= w.notifyAt {
			w.broadcastLocked()
		}
		full, n, cost := w.cost >= ws.maxCost, len(w.commits), w.cost
		ws.mu.Unlock()
		if full {
			return errStopped
		}
		// The cache's account of the walk lags at most this far behind.
		if n%256 == 0 && !ws.lru.setCost(w.key, func(v *walk) bool { return v == w }, cost) {
			return errStopped // evicted
		}
	}
}

// close stops every producer and waits for their goroutines; walks then
// runs no more processes (a Log still answers, from bounded walks).
func (ws *walks) close() {
	ws.mu.Lock()
	ws.closed = true
	for _, p := range ws.live {
		p.cancel()
	}
	ws.mu.Unlock()
	ws.wg.Wait()
}

// logSync extends w in the request, as one bounded `git log --skip`, when
// no producer can run: the first page walks just far enough, a later one
// well ahead. prefix is w's commits when it was called; the result is
// kept only if nobody extended w meanwhile.
func (r *Repo) logSync(ctx context.Context, w *walk, prefix []*Commit, tip git.ObjectID, opt LogOptions) ([]*Commit, bool, error) {
	ws := r.memo.walks
	need := opt.Skip + opt.Limit + 1
	base := len(prefix)
	want := need
	if opt.Skip > 0 {
		want = max(need, 4*base, minWalkAhead)
	}
	more, err := r.walkLog(ctx, tip, opt.Path, base, want-base)
	if err != nil {
		return nil, false, err
	}
	all := append(prefix, more...) // prefix's capacity is cut: a new array
	ws.mu.Lock()
	if w.prod == nil && len(w.commits) == base && !w.complete {
		w.commits = all
		w.complete = len(more) < want-base
		w.cost += commitsCost(more)
		w.broadcastLocked()
	}
	cost := w.cost
	ws.mu.Unlock()
	ws.lru.setCost(w.key, func(v *walk) bool { return v == w }, cost)
	n := len(all)
	from, to := min(opt.Skip, n), min(opt.Skip+opt.Limit, n)
	return all[from:to:to], n > to, nil
}

// logOnce answers one page with its own bounded `git log --skip`,
// outside the cache.
func (r *Repo) logOnce(ctx context.Context, tip git.ObjectID, opt LogOptions) ([]*Commit, bool, error) {
	list, err := r.walkLog(ctx, tip, opt.Path, opt.Skip, opt.Limit+1)
	if err != nil {
		return nil, false, err
	}
	n := min(len(list), opt.Limit)
	return list[:n:n], len(list) > opt.Limit, nil
}

func commitsCost(cs []*Commit) int64 {
	var n int64
	for _, c := range cs {
		n += int64(len(c.Message)+len(c.Author.Name)+len(c.Author.Email)+len(c.Committer.Name)+len(c.Committer.Email)) +
			int64(len(c.Parents))*48 + 256
	}
	return n
}

// logCommand is `git log` from tip printing logFormat records, limited to
// path unless it is "".
func logCommand(tip git.ObjectID, path string) git.Command {
	cmd := git.Command{
		Name: "log",
		Flags: []string{
			"-z", logFormat, "--date=raw",
			// The repository's .mailmap and signature display must not
			// change what the API reports.
			"--no-use-mailmap", "--no-show-signature",
		},
		Args: []string{string(tip)},
	}
	if path != "" {
		cmd.PostSep = []string{git.LiteralPathspec(path)}
	}
	return cmd
}

// walkLog runs one `git log` from tip and parses up to count commits after
// the first skip.
func (r *Repo) walkLog(ctx context.Context, tip git.ObjectID, path string, skip, count int) ([]*Commit, error) {
	cmd := logCommand(tip, path)
	cmd.Flags = append(cmd.Flags, "--max-count="+strconv.Itoa(count), "--skip="+strconv.Itoa(skip))
	out, err := r.git.Output(ctx, r.path, cmd)
	if err != nil {
		return nil, fmt.Errorf("walk history of %s: %w", tip, err)
	}
	commits, err := parseLog(out)
	if err != nil {
		return nil, fmt.Errorf("walk history of %s: %w", tip, err)
	}
	return commits, nil
}

// logReader reads logFormat records from a `git log -z` stream.
type logReader struct {
	br  *bufio.Reader
	buf []byte
}

// next reads one record: io.EOF at the end of the stream. The record is
// one string its fields are cut from (one allocation, not one per field).
func (lr *logReader) next() (*Commit, error) {
	lr.buf = lr.buf[:0]
	var ends [logFields]int
	for i := range ends {
		for {
			frag, err := lr.br.ReadSlice(0)
			lr.buf = append(lr.buf, frag...)
			if err == bufio.ErrBufferFull {
				continue
			}
			switch {
			case err == io.EOF && len(lr.buf) == 0 && i == 0:
				return nil, io.EOF
			case err == io.EOF && i == logFields-1:
				// The last record may lack its terminator.
			case err == io.EOF:
				return nil, fmt.Errorf("truncated log record (%d fields): %w", i, io.ErrUnexpectedEOF)
			case err != nil:
				return nil, err
			}
			break
		}
		ends[i] = len(lr.buf)
	}
	rec := string(lr.buf)
	var f [logFields]string
	start := 0
	for i, end := range ends {
		f[i] = strings.TrimSuffix(rec[start:end], "\x00")
		start = end
	}
	return logRecord(f)
}

// fSetPipeSize is Linux's F_SETPIPE_SZ (F_LINUX_SPECIFIC_BASE + 7).
const fSetPipeSize = 1024 + 7

// setPipeSize sets the kernel buffer of the pipe f is an end of to n
// bytes, rounded up to a page. Linux refuses to shrink a pipe below what
// it holds.
func setPipeSize(f *os.File, n int) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := sc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, uintptr(n))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
