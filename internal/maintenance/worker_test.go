package maintenance

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outcomes hooks the worker's handled callback. next waits for the next
// outcome and fails the test unless it is want; handled is the channel
// it reads, for tests that also check that none came.
func (e *env) outcomes(t *testing.T) (next func(want outcome), handled chan outcome) {
	handled = make(chan outcome, 10)
	e.w.handled = func(_ string, o outcome) { handled <- o }
	return func(want outcome) {
		t.Helper()
		select {
		case got := <-handled:
			if got != want {
				t.Fatalf("outcome %d, want %d", got, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no outcome, want %d", want)
		}
	}, handled
}

func (e *env) state(key string) repoState {
	e.w.mu.Lock()
	defer e.w.mu.Unlock()
	if st := e.w.state[key]; st != nil {
		return *st
	}
	return repoState{}
}

// Commits keep landing (through the engine's commit path, as commit-pack
// does) on several branches while the worker repacks and prunes the same
// repository; reads run alongside. Every acknowledged commit must stay
// reachable, nothing may fail, and fsck must stay clean.
func TestWorker_concurrentWrites(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Workers = 2
	opts.FullInterval = 300 * time.Millisecond // a mix of full and incremental runs
	e := newEnv(t, opts)
	r := e.newRepo()
	dir := r.Path()
	commitFile(t, r, "main", "README", "base\n")

	var writing atomic.Bool
	var runs, runsDuringWrites, fullDuringWrites atomic.Int32
	e.w.beforeRun = func(_ string, k Kind) {
		runs.Add(1)
		if writing.Load() {
			runsDuringWrites.Add(1)
			if k == Full {
				fullDuringWrites.Add(1)
			}
		}
	}
	writing.Store(true)
	e.w.Start()

	const writers, perWriter = 4, 40
	acked := make([][]git.ObjectID, writers)
	writeErrs := make([][]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				oid, err := tryCommitFile(r, git.NormalNamespace, fmt.Sprintf("w%d", w), fmt.Sprintf("w%d/%d/f.txt", w, i%7), fmt.Sprintf("writer %d commit %d\n", w, i))
				if err != nil { // not acknowledged
					writeErrs[w] = append(writeErrs[w], err)
					continue
				}
				acked[w] = append(acked[w], oid)
			}
		})
	}
	readErrs := make(chan error, 1)
	stopReads := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		ctx := context.Background()
		for {
			select {
			case <-stopReads:
				return
			default:
			}
			list, err := r.ListRefs(ctx, "refs/heads/")
			if err == nil {
				for _, ref := range list {
					if _, err = r.ReadCommit(ctx, git.NormalNamespace, string(ref.OID)); err != nil {
						break
					}
				}
			}
			if err != nil {
				select {
				case readErrs <- err:
				default:
				}
				return
			}
		}
	})
	wg.Wait()
	writing.Store(false)
	close(stopReads)
	readers.Wait()
	e.w.Stop()
	select {
	case err := <-readErrs:
		t.Fatalf("read during maintenance: %v", err)
	default:
	}

	if runsDuringWrites.Load() < 2 {
		t.Fatalf("only %d runs overlapped the writes (%d in all): the test proved nothing", runsDuringWrites.Load(), runs.Load())
	}
	t.Logf("%d runs, %d during writes (%d full)", runs.Load(), runsDuringWrites.Load(), fullDuringWrites.Load())
	for w := range writers {
		for _, err := range writeErrs[w] {
			t.Errorf("writer %d: commit failed during maintenance: %v", w, err)
		}
		history := gitOut(t, dir, "", "rev-list", fmt.Sprintf("refs/heads/w%d", w))
		have := map[string]bool{}
		for _, oid := range strings.Fields(history) {
			have[oid] = true
		}
		if len(acked[w])+len(writeErrs[w]) != perWriter {
			t.Fatalf("writer %d: %d commits acknowledged, %d failed, of %d", w, len(acked[w]), len(writeErrs[w]), perWriter)
		}
		for _, oid := range acked[w] {
			if !have[string(oid)] {
				t.Fatalf("acknowledged commit %s of writer %d is not reachable from its branch", oid, w)
			}
		}
	}
	fsck(t, dir)
	if strings.Contains(e.logBuf.String(), "result=failed") {
		t.Fatalf("a run failed:\n%s", e.logBuf.String())
	}
}

// However many workers and triggers, one repository is never maintained by
// two runs at once; different repositories are.
func TestWorker_oneRunPerRepository(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Workers = 4
	e := newEnv(t, opts)
	repos := []string{e.newRepo().Key(), e.newRepo().Key()}

	var mu sync.Mutex
	active := map[string]int{}
	maxPerRepo, total, maxTotal := 0, 0, 0
	runs := map[string]int{}
	e.w.beforeRun = func(key string, _ Kind) {
		mu.Lock()
		active[key]++
		total++
		runs[key]++
		maxPerRepo = max(maxPerRepo, active[key])
		maxTotal = max(maxTotal, total)
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // widen the window for an overlap
	}
	e.w.afterRun = func(key string, _ Kind) {
		mu.Lock()
		active[key]--
		total--
		mu.Unlock()
	}
	e.w.Start()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 150 {
				e.w.Trigger(repos[(g+i)%2])
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	waitFor(t, "runs on both repositories", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return runs[repos[0]] >= 3 && runs[repos[1]] >= 3
	})
	e.w.Stop()
	mu.Lock()
	defer mu.Unlock()
	if maxPerRepo != 1 {
		t.Fatalf("%d runs at once on one repository", maxPerRepo)
	}
	if maxTotal < 2 {
		t.Fatalf("runs never overlapped across repositories (max %d at once) with 4 workers", maxTotal)
	}
}

// A repository is checked on its first update, run after RefUpdates
// updates, and not run again within Interval however many updates follow.
func TestWorker_debounce(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.Interval = time.Hour
	opts.RefUpdates = 50
	opts.LooseObjects = 1 << 30 // only ref updates make it due
	opts.MaxPacks = 0           // nor the packs they may add
	e := newEnv(t, opts)
	r := e.newRepo()
	key := r.Key()

	var clockMu sync.Mutex
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.w.now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return clock
	}
	advance := func(d time.Duration) {
		clockMu.Lock()
		clock = clock.Add(d)
		clockMu.Unlock()
	}
	next, handled := e.outcomes(t)
	idle := func(wantUpdates int) {
		t.Helper()
		st := e.state(key)
		if st.queued || st.running || st.updates != wantUpdates {
			t.Fatalf("state %+v, want idle with %d updates", st, wantUpdates)
		}
		select {
		case o := <-handled:
			t.Fatalf("unexpected outcome %d", o)
		default:
		}
	}
	e.w.Start()

	e.w.Trigger(key) // first update: checked (loose objects), nothing to do
	next(notNeeded)
	for range 48 {
		e.w.Trigger(key)
	}
	idle(49)
	e.w.Trigger(key) // the 50th: due
	next(ranOK)
	idle(0)
	for range 120 { // within the interval: counted, not run
		e.w.Trigger(key)
	}
	idle(120)
	advance(59 * time.Minute)
	e.w.Trigger(key)
	idle(121)
	advance(time.Minute)
	e.w.Trigger(key) // an interval after the last run, with 122 pending
	next(ranOK)
	idle(0)
}

// Repositories deleted before or during their run are skipped, logged,
// and forgotten.
func TestWorker_deletedRepository(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testOptions())
	if out := runNow(t, e.w, "k0123456789abcdef0123456789abcdef"); out != gone {
		t.Fatalf("missing repository: outcome %d, want gone", out)
	}
	r := e.newRepo()
	commitFile(t, r, "main", "a", "a\n")
	e.w.beforeRun = func(key string, _ Kind) {
		if err := e.repos.Remove(context.Background(), key); err != nil {
			t.Errorf("Remove: %v", err)
		}
	}
	if out := runNow(t, e.w, r.Key()); out != gone {
		t.Fatalf("repository removed during its run: outcome %d, want gone", out)
	}
	if _, ok := e.w.state[r.Key()]; ok {
		t.Fatal("deleted repository still tracked")
	}
	log := e.logBuf.String()
	if !strings.Contains(log, `reason="repository deleted"`) || !strings.Contains(log, `reason="repository deleted during the run"`) {
		t.Fatalf("skips not logged:\n%s", log)
	}
	if strings.Contains(log, "level=ERROR") {
		t.Fatalf("a deleted repository was logged as an error:\n%s", log)
	}
}

// Stop waits for the running task, drops queued ones, and turns later
// triggers into no-ops.
func TestWorker_stop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testOptions())
	a, b, c := e.newRepo().Key(), e.newRepo().Key(), e.newRepo().Key()
	started := make(chan string, 3)
	release := make(chan struct{})
	var ranAfter atomic.Bool
	e.w.beforeRun = func(key string, _ Kind) {
		started <- key
		<-release
	}
	e.w.afterRun = func(string, Kind) { ranAfter.Store(true) }
	e.w.Start()
	e.w.Trigger(a)
	if got := <-started; got != a {
		t.Fatalf("first run on %s, want %s", got, a)
	}
	e.w.Trigger(b)
	e.w.Trigger(c)
	waitFor(t, "b and c queued", func() bool { return e.state(b).queued && e.state(c).queued })

	stopped := make(chan struct{})
	go func() {
		e.w.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a run was in progress")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-stopped
	if !ranAfter.Load() {
		t.Fatal("the running task did not finish")
	}
	select {
	case key := <-started:
		t.Fatalf("queued repository %s ran after Stop", key)
	default:
	}
	e.w.Trigger(a) // no panic, no run
	e.w.Stop()     // idempotent
	if st := e.state(a); st.queued || st.running {
		t.Fatalf("trigger after Stop queued work: %+v", st)
	}
	var nilWorker *Worker
	nilWorker.Start()
	nilWorker.Trigger(a)
	nilWorker.Stop()
}

// A task that outlives StopTimeout is cancelled, and Stop still returns
// only after it has ended.
func TestWorker_stopTimeout(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.StopTimeout = 50 * time.Millisecond
	e := newEnv(t, opts)
	key := e.newRepo().Key()
	started := make(chan struct{})
	var ended atomic.Bool
	e.w.beforeRun = func(string, Kind) {
		close(started)
		<-e.w.ctx.Done() // a task that only ends when cancelled
	}
	e.w.afterRun = func(string, Kind) { ended.Store(true) }
	e.w.Start()
	e.w.Trigger(key)
	<-started
	begin := time.Now()
	e.w.Stop()
	if !ended.Load() {
		t.Fatal("Stop returned before the cancelled task ended")
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Fatalf("Stop took %s", d)
	}
	if !strings.Contains(e.logBuf.String(), "result=interrupted") {
		t.Fatalf("interrupted run not logged:\n%s", e.logBuf.String())
	}
}

// The queue is bounded: a full queue drops the trigger, and the
// repository's next update asks again.
func TestWorker_queueFull(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.QueueSize = 1
	e := newEnv(t, opts)
	a, b, c := e.newRepo().Key(), e.newRepo().Key(), e.newRepo().Key()
	started := make(chan string, 3)
	release := make(chan struct{})
	e.w.beforeRun = func(key string, _ Kind) {
		started <- key
		if key == a {
			<-release
		}
	}
	e.w.Start()
	e.w.Trigger(a)
	<-started
	e.w.Trigger(b) // fills the queue
	e.w.Trigger(c) // dropped
	if st := e.state(c); st.queued || st.updates != 1 {
		t.Fatalf("c: %+v, want counted but not queued", st)
	}
	close(release)
	if got := <-started; got != b {
		t.Fatalf("ran %s, want %s", got, b)
	}
	waitFor(t, "b done", func() bool { st := e.state(b); return !st.queued && !st.running })
	e.w.Trigger(c)
	if got := <-started; got != c {
		t.Fatalf("ran %s, want %s", got, c)
	}
}

// Idle repositories are forgotten, so the scheduler's memory follows the
// active set.
func TestWorker_sweep(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Interval = time.Minute
	e := newEnv(t, opts)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e.w.mu.Lock()
	defer e.w.mu.Unlock()
	e.w.state["idle"] = &repoState{updates: 3, lastSeen: now.Add(-2 * time.Hour), lastRun: now.Add(-3 * time.Hour)}
	e.w.state["recent"] = &repoState{updates: 3, lastSeen: now.Add(-time.Minute)}
	e.w.state["queued"] = &repoState{queued: true, lastSeen: now.Add(-5 * time.Hour)}
	e.w.sweep(now)
	if _, ok := e.w.state["idle"]; ok {
		t.Error("idle repository kept")
	}
	for _, k := range []string{"recent", "queued"} {
		if _, ok := e.w.state[k]; !ok {
			t.Errorf("%s repository forgotten", k)
		}
	}
}

// A large write runs an Incremental repack at once, inside Interval and
// below RefUpdates; a small one only counts; packs past MaxPacks run one
// too, but only once enough new packs arrived since the last look.
func TestWorker_objectsAdded(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.Interval = time.Hour
	opts.RefUpdates = 1 << 20
	opts.LooseObjects = 1 << 30
	opts.PushObjects = 100
	opts.PushBytes = 1 << 20
	opts.MaxPacks = 4
	opts.QuietRollUp = 0
	e := newEnv(t, opts)
	r := e.newRepo()
	key := r.Key()
	commitFile(t, r, "main", "README", "base\n")
	kinds := make(chan Kind, 10)
	e.w.beforeRun = func(_ string, k Kind) { kinds <- k }
	next, handled := e.outcomes(t)
	quiet := func() {
		t.Helper()
		time.Sleep(50 * time.Millisecond)
		select {
		case o := <-handled:
			t.Fatalf("unexpected outcome %d", o)
		default:
		}
	}
	e.w.Start()

	e.w.Trigger(key) // the first write: a check learns the pack count
	next(notNeeded)
	e.w.ObjectsAdded(key, Added{Packs: 1, Objects: 99, Bytes: 1000})
	quiet()
	e.w.ObjectsAdded(key, Added{Packs: 1, Objects: 100})
	next(ranOK)
	if k := <-kinds; k != Incremental {
		t.Fatalf("a large write ran %s, want incremental", k)
	}
	if st, _ := inspect(r.Path()); !st.midx || !st.bitmap {
		t.Fatal("no multi-pack-index bitmap after the run")
	}
	if st := e.state(key); !st.lastRun.IsZero() || !st.inspected {
		t.Fatalf("state %+v: an urgent run must not restart the interval", st)
	}
	e.w.ObjectsAdded(key, Added{Bytes: 2 << 20}) // bytes alone are enough
	next(ranOK)
	<-kinds

	// Pushed packs: six new ones on disk (the worker verifies the count
	// there), reported one by one; the run comes with the one past
	// MaxPacks, and as the repository has a bitmap, it is a roll-up.
	base := e.state(key).packsBase
	for i := range 6 {
		oid := writeLooseBlob(t, r.Path(), fmt.Sprintf("pushed %d\n", i))
		gitOut(t, r.Path(), string(oid)+"\n", "pack-objects", "-q", filepath.Join(r.Path(), "objects", "pack", "pack"))
	}
	for range opts.MaxPacks - base {
		e.w.ObjectsAdded(key, Added{Packs: 1, Objects: 1})
	}
	quiet()
	e.w.ObjectsAdded(key, Added{Packs: 1, Objects: 1})
	next(ranOK)
	if k := <-kinds; k != RollUp {
		t.Fatalf("too many packs in a repository with a bitmap ran %s, want roll-up", k)
	}
	if n := e.state(key).packsBase; n > opts.MaxPacks {
		t.Fatalf("%d packs after the pack-count run", n)
	}
	if st := e.state(key); !st.lastRun.IsZero() {
		t.Fatalf("state %+v: a roll-up must not restart the interval", st)
	}
	fsck(t, r.Path())
}

// A stream of API commits (one pack each, counted by Trigger) gets, after
// its scheduled run and within Interval, only roll-ups, however many ref
// updates pile up: they keep the packs bounded by MaxPacks and a half
// whatever the stream's length, and leave the multi-pack-index and its
// bitmap as the scheduled run wrote them.
func TestWorker_commitStream(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.Interval = time.Hour
	opts.RefUpdates = 5
	opts.LooseObjects = 1 << 30
	opts.MaxPacks = 8
	opts.QuietRollUp = 0
	e := newEnv(t, opts)
	r := e.newRepo()
	key, dir := r.Key(), r.Path()
	// A full run was done recently: the scheduled run is incremental.
	if err := touch(filepath.Join(dir, fullRepackStamp), time.Now()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var kinds []Kind
	e.w.beforeRun = func(_ string, k Kind) {
		mu.Lock()
		kinds = append(kinds, k)
		mu.Unlock()
	}
	idle := func() {
		t.Helper()
		waitFor(t, "the worker to go idle", func() bool {
			st := e.state(key)
			return !st.queued && !st.running
		})
	}
	e.w.Start()
	for i := range 6 { // a check, then the scheduled run
		commitFile(t, r, "main", fmt.Sprintf("base/%d", i), "base\n")
		idle()
	}
	if st := e.state(key); st.lastRun.IsZero() || len(kinds) != 1 || kinds[0] != Incremental {
		t.Fatalf("runs %v, state %+v; want one scheduled incremental run", kinds, st)
	}
	midx := midxBitmap(t, dir)
	if midx == "" {
		t.Fatal("no multi-pack-index bitmap after the scheduled run")
	}

	const commits = 60
	for i := range commits {
		commitFile(t, r, "main", fmt.Sprintf("stream/%d", i), fmt.Sprintf("commit %d\n", i))
	}
	idle()
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) == 1 {
		t.Fatalf("%d commits past MaxPacks %d ran nothing", commits, opts.MaxPacks)
	}
	for _, k := range kinds[1:] {
		if k != RollUp {
			t.Fatalf("runs %v, want only roll-ups after the scheduled run", kinds)
		}
	}
	st, err := inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.packs > opts.MaxPacks+opts.MaxPacks/2 {
		t.Fatalf("%d packs after %d commits and %d roll-ups, want at most %d", st.packs, commits, len(kinds)-1, opts.MaxPacks+opts.MaxPacks/2)
	}
	if got := midxBitmap(t, dir); got != midx {
		t.Fatalf("multi-pack-index bitmap %s, was %s: a roll-up must not rewrite it", got, midx)
	}
	gitOut(t, dir, "", "multi-pack-index", "verify", "--no-progress")
	if got := gitOut(t, dir, "", "rev-list", "--count", "--use-bitmap-index", "--objects", "main"); got == "" {
		t.Fatal("no object count with the bitmap")
	}
	fsck(t, dir)
}

// A burst of commits that stops short of MaxPacks gets a roll-up once the
// repository has been quiet for QuietRollUp; fewer than quietPacks new
// packs do not.
func TestWorker_quietRollUp(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.Interval = time.Hour
	opts.RefUpdates = 1 << 20
	opts.LooseObjects = 1 << 30
	opts.QuietRollUp = 20 * time.Millisecond
	e := newEnv(t, opts)
	r := e.newRepo()
	dir := r.Path()
	next, handled := e.outcomes(t)
	e.w.Start()
	commitFile(t, r, "main", "README", "base\n") // the first write: a check
	next(notNeeded)
	for i := range quietPacks - 1 {
		commitFile(t, r, "main", fmt.Sprintf("few/%d", i), "few\n")
	}
	time.Sleep(10 * opts.QuietRollUp)
	select {
	case o := <-handled:
		t.Fatalf("outcome %d after %d packs, want nothing", o, quietPacks-1)
	default:
	}
	commitFile(t, r, "main", "few/last", "one more\n")
	next(ranOK)
	st, err := inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.packs != 1 {
		t.Fatalf("%d packs after the quiet roll-up, want 1", st.packs)
	}
	if log := e.logBuf.String(); !strings.Contains(log, "kind=roll-up trigger=quiet") {
		t.Fatalf("no quiet roll-up logged:\n%s", log)
	}
	fsck(t, dir)
}

// A run for too many packs in the middle of a burst does not stand in for
// the roll-up that follows the burst: the packs written after it still
// get rolled up once writes pause, however few came after that run.
func TestWorker_quietRollUpAfterPacksRun(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.Interval = time.Hour
	opts.RefUpdates = 1 << 20
	opts.LooseObjects = 1 << 30
	opts.MaxPacks = 6
	opts.QuietRollUp = 2 * time.Second
	e := newEnv(t, opts)
	r := e.newRepo()
	next, _ := e.outcomes(t)
	e.w.Start()
	commitFile(t, r, "main", "README", "base\n") // the first write: a check
	next(notNeeded)
	// The sixth pack takes the repository past MaxPacks: a run at once.
	for i := range 6 {
		commitFile(t, r, "main", fmt.Sprintf("burst/%d", i), "burst\n")
	}
	next(ranOK)
	// Fewer than quietPacks after that run, well within QuietRollUp.
	for i := range quietPacks - 2 {
		commitFile(t, r, "main", fmt.Sprintf("tail/%d", i), "tail\n")
	}
	next(ranOK)
	if log := e.logBuf.String(); !strings.Contains(log, "kind=roll-up trigger=quiet") {
		t.Fatalf("no quiet roll-up logged:\n%s", log)
	}
	roll, err := rollUpPacks(r.Path())
	if err != nil || len(roll) > 1 {
		t.Errorf("after the quiet roll-up, %d packs still to roll up (%v)", len(roll), err)
	}
	fsck(t, r.Path())
}

// A large write that arrives while the repository's run is in progress
// queues it again when that run ends.
func TestWorker_objectsAddedWhileRunning(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Interval = time.Hour
	opts.PushObjects = 1
	e := newEnv(t, opts)
	r := e.newRepo()
	key := r.Key()
	release := make(chan struct{})
	var once sync.Once
	e.w.beforeRun = func(string, Kind) { once.Do(func() { <-release }) }
	handled := make(chan outcome, 10)
	e.w.handled = func(_ string, o outcome) { handled <- o }
	e.w.Start()
	commitFile(t, r, "main", "README", "base\n") // due: RefUpdates is 1
	waitFor(t, "the run to start", func() bool { return e.state(key).running })
	e.w.ObjectsAdded(key, Added{Objects: 5})
	close(release)
	for range 2 {
		select {
		case o := <-handled:
			if o != ranOK {
				t.Fatalf("outcome %d", o)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the large write did not get its own run")
		}
	}
	if st := e.state(key); st.urgent != notUrgent || st.queued {
		t.Fatalf("state %+v after the second run", st)
	}
}
