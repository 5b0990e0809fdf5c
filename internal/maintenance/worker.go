package maintenance

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// Options configure a Worker. Start from DefaultOptions: a zero duration or
// threshold means zero (run every time), not "default".
type Options struct {
	// Workers is how many repositories may be maintained at once, across
	// the whole server (minimum 1).
	Workers int
	// Interval is the least time between two runs of one repository, and
	// between two checks that found nothing to do.
	Interval time.Duration
	// RefUpdates is the number of ref transactions after which a
	// repository is due.
	RefUpdates int
	// LooseObjects is the number of loose objects after which a repository
	// is due, checked at most once per Interval.
	LooseObjects int
	// FullInterval is how often a due run is a Full one (repack everything,
	// prune); the others are Incremental.
	FullInterval time.Duration
	// PruneGrace is the age below which an unreachable object is kept: it
	// may belong to a write that has not updated its ref yet.
	PruneGrace time.Duration
	// TmpObjectGrace is the age after which an objects/xx/tmp_obj_* file
	// (an object write cut off by a crash) is removed; 0 keeps them for
	// git prune.
	TmpObjectGrace time.Duration
	// QueueSize bounds the repositories waiting for a worker (minimum 1).
	// When it is full, Trigger drops the request; the repository's next
	// ref update asks again.
	QueueSize int
	// PushObjects and PushBytes make a write that adds at least this many
	// objects or bytes (a large push) ask for an Incremental run at once,
	// ahead of Interval, so that clones get a bitmap covering the new
	// pack without waiting for the next scheduled run; 0 turns either off.
	PushObjects int64
	PushBytes   int64
	// MaxPacks is the pack count above which a repository gets an
	// Incremental (geometric) run at once, so that a stream of small
	// pushes cannot pile up packs between scheduled runs; 0 turns it off.
	MaxPacks int
	// QuietRollUp is how long a repository must go without writes before
	// the packs its last writes added (at least quietPacks) are rolled up,
	// however few: a burst of API commits that stops short of MaxPacks
	// does not leave its packs to every git process until the next
	// scheduled run. 0 turns it off.
	QuietRollUp time.Duration
	// StopTimeout is how long Stop lets a running task finish before it
	// cancels the task (killing its git process, which git's atomic
	// renames make safe).
	StopTimeout time.Duration
	// Logger receives one line per run; nil discards.
	Logger *slog.Logger
}

// DefaultOptions are the defaults of `strata serve`.
func DefaultOptions() Options {
	return Options{
		Workers:        1,
		Interval:       15 * time.Minute,
		RefUpdates:     50,
		LooseObjects:   1000,
		FullInterval:   24 * time.Hour,
		PruneGrace:     14 * 24 * time.Hour,
		TmpObjectGrace: time.Hour,
		PushObjects:    50_000,
		PushBytes:      50 << 20,
		MaxPacks:       50,
		QueueSize:      1024,
		QuietRollUp:    5 * time.Second,
		StopTimeout:    30 * time.Second,
	}
}

// Repositories opens repositories by storage key; *repo.Manager is one.
// Open must return an error matching repo.ErrNotFound for a repository
// that no longer exists.
type Repositories interface {
	Open(ctx context.Context, storageKey string) (*repo.Repo, error)
}

// Worker maintains repositories in the background after writes.
//
// Call Start once, Trigger any number of times from any goroutine, then
// Stop once. Stop lets a running task finish (bounded by StopTimeout) and
// drops queued ones. A nil *Worker does nothing, so a server with
// maintenance disabled holds nil.
type Worker struct {
	git   *git.Factory
	repos Repositories
	opts  Options
	log   *slog.Logger
	now   func() time.Time

	// ctx is the parent of every run; cancelled by Stop after StopTimeout.
	ctx    context.Context
	cancel context.CancelFunc
	quit   chan struct{} // closed by Stop: take no more work
	queue  chan string
	wg     sync.WaitGroup

	mu       sync.Mutex
	started  bool
	stopping bool
	state    map[string]*repoState
	swept    time.Time

	// Test hooks: beforeRun and afterRun around the git steps of a run
	// (not around checks that find nothing to do), handled after every
	// dequeued repository, under w.mu.
	beforeRun, afterRun func(storageKey string, kind Kind)
	handled             func(storageKey string, o outcome)
}

// repoState is the scheduler's memory of one repository. A repository has
// at most one entry in the queue or in a worker: queued and running are
// never both true, which is what keeps two runs apart.
type repoState struct {
	updates   int       // ref transactions since the last completed run
	queued    bool      // in the queue
	running   bool      // a worker has it
	lastRun   time.Time // end of the last scheduled run in this process
	nextCheck time.Time // a check found nothing to do: not before this
	lastSeen  time.Time // last Trigger or ObjectsAdded

	// urgent asks the next run to start now, ahead of Interval; set while
	// running, it queues the repository again when the run ends.
	urgent urgency
	// inspected says packsBase is known: the packs the last run or check
	// found. packsAdded counts packs reported by ObjectsAdded since.
	inspected  bool
	packsBase  int
	packsAdded int
	// packsSinceQuiet counts the packs reported since a run other than
	// one for too many packs started. Such a run in the middle of a burst
	// resets packsAdded but leaves a geometric progression of packs, so
	// it must not stop the roll-up that follows once the burst is over.
	packsSinceQuiet int
}

// urgency is why a repository is run ahead of its schedule.
type urgency string

const (
	notUrgent   urgency = ""
	urgentPush  urgency = "large-write" // ObjectsAdded over PushObjects or PushBytes
	urgentPacks urgency = "packs"       // more than MaxPacks packs
	urgentQuiet urgency = "quiet"       // new packs, then QuietRollUp without writes
)

// quietPacks is how many packs writes must have added (as counted by
// Trigger and ObjectsAdded) for a quiet repository to get a roll-up: one
// pack more than a roll-up's result is nothing to roll up, and a few
// cost git processes little (docs/maintenance.md).
const quietPacks = 4

// Added is what one write (a push) stored in a repository.
type Added struct {
	Packs   int   // pack files
	Objects int64 // objects, packed or loose
	Bytes   int64 // bytes on disk
}

// NewWorker returns a stopped Worker that runs git through f on the
// repositories repos opens.
func NewWorker(f *git.Factory, repos Repositories, opts Options) *Worker {
	opts.Workers = max(opts.Workers, 1)
	opts.QueueSize = max(opts.QueueSize, 1)
	opts.Interval = max(opts.Interval, 0)
	opts.FullInterval = max(opts.FullInterval, 0)
	opts.PruneGrace = max(opts.PruneGrace, 0)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Worker{
		git:    f,
		repos:  repos,
		opts:   opts,
		log:    log,
		now:    time.Now,
		ctx:    ctx,
		cancel: cancel,
		quit:   make(chan struct{}),
		queue:  make(chan string, opts.QueueSize),
		state:  make(map[string]*repoState),
	}
}

// Start starts the worker goroutines. Calling it again, or after Stop,
// does nothing.
func (w *Worker) Start() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.stopping {
		return
	}
	w.started = true
	w.log.Info("maintenance worker started", "workers", w.opts.Workers, "interval", w.opts.Interval,
		"ref_updates", w.opts.RefUpdates, "loose_objects", w.opts.LooseObjects,
		"push_objects", w.opts.PushObjects, "push_bytes", w.opts.PushBytes, "max_packs", w.opts.MaxPacks,
		"full_interval", w.opts.FullInterval, "prune_grace", w.opts.PruneGrace)
	for range w.opts.Workers {
		w.wg.Add(1)
		go w.loop()
	}
	if w.opts.QuietRollUp > 0 {
		w.wg.Add(1)
		go w.quietLoop()
	}
}

// Stop drops queued repositories, waits for running tasks to finish (or
// cancels them after StopTimeout) and returns when every goroutine has
// exited. It is safe to call more than once.
func (w *Worker) Stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return
	}
	w.stopping = true
	close(w.quit)
	w.mu.Unlock()

	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(w.opts.StopTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		w.log.Warn("maintenance: stop timeout reached, cancelling the running task", "timeout", w.opts.StopTimeout)
		w.cancel()
		<-done
	}
	w.cancel()
}

// Trigger tells the worker that a ref transaction committed in the
// repository. It never blocks: it counts, and queues the repository if it
// is due and not already queued or running.
func (w *Worker) Trigger(storageKey string) {
	if w == nil {
		return
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.stopping {
		return
	}
	st := w.entry(storageKey, now)
	st.updates++
	// Each transaction may have added a pack: API writes store the
	// objects of every transaction as one pack (odb). A push's pack is
	// reported again by ObjectsAdded, and a transaction without new
	// objects adds none; the count only decides when to look, and the run
	// counts the packs on disk first.
	st.packsAdded++
	st.packsSinceQuiet++
	if st.urgent == notUrgent && w.tooManyPacks(st) {
		st.urgent = urgentPacks
	}
	// An urgent request the full queue dropped is retried here too.
	if st.queued || st.running || (!w.due(st, now) && st.urgent == notUrgent) {
		return
	}
	w.enqueue(storageKey, st)
}

// ObjectsAdded tells the worker what a write stored, after its refs moved
// (so a run sees the new objects as reachable). A large write, or one that
// takes the repository past MaxPacks, queues an Incremental run at once,
// ignoring Interval; it is still one run per repository at a time, served
// by the same workers in queue order. Like Trigger it never blocks.
func (w *Worker) ObjectsAdded(storageKey string, a Added) {
	if w == nil {
		return
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.stopping {
		return
	}
	st := w.entry(storageKey, now)
	st.packsAdded += a.Packs
	st.packsSinceQuiet += a.Packs
	switch {
	case w.opts.PushObjects > 0 && a.Objects >= w.opts.PushObjects, w.opts.PushBytes > 0 && a.Bytes >= w.opts.PushBytes:
		st.urgent = urgentPush
	case w.tooManyPacks(st):
		if st.urgent == notUrgent {
			st.urgent = urgentPacks
		}
	default:
		return
	}
	// A queued repository takes the urgency with it; a running one is
	// queued again when its run ends (handle), as the run may have looked
	// at the pack directory before this write landed.
	if st.queued || st.running {
		return
	}
	w.enqueue(storageKey, st)
}

// tooManyPacks reports whether the packs reported since the last look at
// the repository take it past MaxPacks. It also wants half of MaxPacks
// new since then, so a repository that a geometric repack cannot bring
// under the limit (kept packs) is not repacked after every push.
func (w *Worker) tooManyPacks(st *repoState) bool {
	return w.opts.MaxPacks > 0 && st.inspected &&
		st.packsBase+st.packsAdded > w.opts.MaxPacks && st.packsAdded >= max(w.opts.MaxPacks/2, 1)
}

// entry returns the state of a repository, creating it. Called with w.mu
// held.
func (w *Worker) entry(storageKey string, now time.Time) *repoState {
	st := w.state[storageKey]
	if st == nil {
		st = &repoState{}
		w.state[storageKey] = st
	}
	st.lastSeen = now
	return st
}

// enqueue queues a repository that is neither queued nor running, or
// drops the request when the queue is full. Called with w.mu held.
func (w *Worker) enqueue(storageKey string, st *repoState) {
	select {
	case w.queue <- storageKey:
		st.queued = true
	default:
		w.log.Debug("maintenance queue full, dropping trigger", "repo", storageKey)
	}
}

// due reports whether a repository should be queued: never twice within
// Interval, and then when it had RefUpdates transactions or its last check
// is an Interval old (the check will count loose objects).
func (w *Worker) due(st *repoState, now time.Time) bool {
	if !st.lastRun.IsZero() && now.Sub(st.lastRun) < w.opts.Interval {
		return false
	}
	return st.updates >= w.opts.RefUpdates || !now.Before(st.nextCheck)
}

func (w *Worker) loop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.quit:
			return
		case key := <-w.queue:
			select {
			case <-w.quit: // stopping wins over queued work
				return
			default:
			}
			w.handle(key)
		}
	}
}

// quietLoop queues a roll-up for every repository that has gone
// QuietRollUp without writes after its writes added quietPacks packs or
// more since a run other than one for too many packs. It looks every half
// QuietRollUp, so a roll-up comes between one and one and a half
// QuietRollUp after the last write.
func (w *Worker) quietLoop() {
	defer w.wg.Done()
	tick := time.NewTicker(w.opts.QuietRollUp / 2)
	defer tick.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-tick.C:
		}
		now := w.now()
		w.mu.Lock()
		for key, st := range w.state {
			if st.queued || st.running || st.packsSinceQuiet < quietPacks || now.Sub(st.lastSeen) < w.opts.QuietRollUp {
				continue
			}
			if st.urgent == notUrgent {
				st.urgent = urgentQuiet
			}
			w.enqueue(key, st)
		}
		w.mu.Unlock()
	}
}

// outcome is how handling a queued repository ended.
type outcome int

const (
	ranOK     outcome = iota // a run completed
	ranFailed                // a run failed; back off like a success
	notNeeded                // the check found nothing to do
	gone                     // the repository no longer exists
)

// handle checks and maybe maintains a dequeued repository.
func (w *Worker) handle(key string) outcome {
	w.mu.Lock()
	st := w.state[key]
	st.queued = false
	st.running = true
	pending, urgent := st.updates, st.urgent
	st.urgent = notUrgent
	// Within Interval of the last scheduled run, only urgency runs
	// anything, however many ref updates or loose objects there are.
	onSchedule := st.lastRun.IsZero() || w.now().Sub(st.lastRun) >= w.opts.Interval
	// Packs reported from now on may or may not be in what this run
	// sees; counting them again after it errs towards an earlier run.
	st.packsAdded = 0
	if urgent != urgentPacks {
		st.packsSinceQuiet = 0
	}
	w.mu.Unlock()

	res := w.maintain(w.ctx, key, pending, onSchedule, urgent)

	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	st.running = false
	if res.packs >= 0 {
		st.inspected, st.packsBase = true, res.packs
	}
	// Only a scheduled run restarts Interval and uses up the counted ref
	// updates: urgent runs are Incremental, and letting them postpone
	// the scheduled ones would starve the Full runs that prune.
	switch res.outcome {
	case ranOK:
		if res.scheduled {
			st.lastRun = now
			st.updates = max(st.updates-pending, 0)
		}
	case ranFailed:
		if res.scheduled {
			st.lastRun = now
		}
	case notNeeded:
		st.nextCheck = now.Add(w.opts.Interval)
	case gone:
		delete(w.state, key)
	}
	if res.outcome != gone && st.urgent != notUrgent {
		w.enqueue(key, st) // it became urgent while running
	}
	w.sweep(now)
	if w.handled != nil {
		w.handled(key, res.outcome)
	}
	return res.outcome
}

// sweep forgets repositories idle for two intervals (at least an hour): for
// them a fresh entry behaves the same, except that ref updates counted
// below RefUpdates are lost, and the next Trigger checks loose objects
// instead. It bounds the scheduler's memory by the set of active
// repositories. Called with w.mu held.
func (w *Worker) sweep(now time.Time) {
	idle := max(2*w.opts.Interval, time.Hour)
	if now.Sub(w.swept) < idle/2 {
		return
	}
	w.swept = now
	for key, st := range w.state {
		cooling := (!st.lastRun.IsZero() && now.Sub(st.lastRun) < w.opts.Interval) || now.Before(st.nextCheck)
		if !st.queued && !st.running && !cooling && now.Sub(st.lastSeen) >= idle {
			delete(w.state, key)
		}
	}
}

// result is how maintain ended.
type result struct {
	outcome outcome
	// packs is the pack count after the run, or what the check found; -1
	// if the repository could not be inspected.
	packs int
	// scheduled: the repository was due on its own (ref updates, loose
	// objects), not only urgent.
	scheduled bool
}

// maintain checks one repository and runs what it needs.
func (w *Worker) maintain(ctx context.Context, key string, pending int, onSchedule bool, urgent urgency) result {
	r, err := w.repos.Open(ctx, key)
	if errors.Is(err, repo.ErrNotFound) {
		w.log.Info("maintenance skipped", "repo", key, "reason", "repository deleted")
		return result{outcome: gone, packs: -1}
	}
	if err != nil {
		w.log.Error("maintenance skipped", "repo", key, "err", err)
		return result{outcome: ranFailed, packs: -1}
	}
	dir := r.Path()
	before, err := inspect(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			w.log.Info("maintenance skipped", "repo", key, "reason", "repository deleted")
			return result{outcome: gone, packs: -1}
		}
		w.log.Error("maintenance skipped", "repo", key, "err", err)
		return result{outcome: ranFailed, packs: -1}
	}
	now := w.now()
	scheduled := onSchedule && (pending >= w.opts.RefUpdates || before.loose >= w.opts.LooseObjects)
	switch tooManyPacks := w.opts.MaxPacks > 0 && before.packs > w.opts.MaxPacks; {
	case tooManyPacks && urgent == notUrgent:
		urgent = urgentPacks // packs nobody reported (fetches, forks)
	case !tooManyPacks && urgent == urgentPacks:
		urgent = notUrgent // reported packs were packed since (a run racing the report)
	}
	if !scheduled && urgent == notUrgent {
		w.log.Debug("maintenance not needed", "repo", key, "ref_updates", pending, "loose", before.loose, "packs", before.packs)
		return result{outcome: notNeeded, packs: before.packs}
	}
	// An urgent run is Incremental: its point is a bitmap and few packs
	// soon, and a Full run rewrites every pack. A scheduled run that is
	// also urgent may be Full; that writes a bitmap too. Too many packs
	// in a repository that has a bitmap only need a RollUp of the packs
	// the bitmap does not cover: rewriting the bitmap is most of an
	// Incremental run's cost, and it follows the repository's size.
	kind := Incremental
	switch {
	case scheduled && (before.lastFull.IsZero() || now.Sub(before.lastFull) >= w.opts.FullInterval):
		kind = Full
	case !scheduled && (urgent == urgentPacks && before.bitmap || urgent == urgentQuiet):
		kind = RollUp
	}
	trigger := "scheduled"
	if !scheduled {
		trigger = string(urgent)
	}
	if kind == RollUp {
		if roll, err := rollUpPacks(dir); err == nil && len(roll) < 2 {
			w.log.Debug("maintenance not needed", "repo", key, "trigger", trigger, "packs", before.packs, "roll_up", len(roll))
			return result{outcome: notNeeded, packs: before.packs}
		}
	}

	if w.beforeRun != nil {
		w.beforeRun(key, kind)
	}
	var done []string
	var failed string
	start := time.Now()
	for _, s := range w.steps(dir, kind, urgent == urgentPush && before.packs > 0) {
		select {
		case <-w.quit:
			err = errStopping
		default:
			err = s.run(ctx)
		}
		if err != nil {
			failed = s.name
			break
		}
		done = append(done, s.name)
	}
	elapsed := time.Since(start)
	if w.afterRun != nil {
		w.afterRun(key, kind)
	}

	attrs := []any{"repo", key, "kind", string(kind), "trigger", trigger, "tasks", done, "duration", elapsed.Round(time.Millisecond),
		"ref_updates", pending, "loose_before", before.loose, "packs_before", before.packs}
	if err != nil {
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			w.log.Info("maintenance skipped", append(attrs, "reason", "repository deleted during the run")...)
			return result{outcome: gone, packs: -1}
		}
		if errors.Is(err, errStopping) || ctx.Err() != nil {
			w.log.Warn("maintenance run", append(attrs, "result", "interrupted", "task", failed)...)
			return result{outcome: ranFailed, packs: -1, scheduled: scheduled}
		}
		w.log.Error("maintenance run", append(attrs, "result", "failed", "task", failed, "err", err)...)
		return result{outcome: ranFailed, packs: -1, scheduled: scheduled}
	}
	after, err := inspect(dir)
	packs := after.packs
	if err != nil {
		packs = -1
	}
	w.log.Info("maintenance run", append(attrs, "result", "ok", "loose_after", after.loose, "packs_after", after.packs,
		"midx", after.midx, "bitmap", after.bitmap, "commit_graph", after.commitGraph)...)
	return result{outcome: ranOK, packs: packs, scheduled: scheduled}
}

var errStopping = errors.New("maintenance worker stopping")
