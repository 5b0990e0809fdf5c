package catfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

func TestCache_ReuseAfterFullRead(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("first", map[string]string{"a.txt": "alpha\n"})
	c := newTestCache(t, Options{})
	ctx := context.Background()

	r1, release := checkout(t, c, repo.gitDir)
	o, err := r1.Object(ctx, "HEAD:a.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Exactly Size bytes, never seeing io.EOF: still clean.
	if _, err := io.ReadFull(o, make([]byte, o.Size)); err != nil {
		t.Fatal(err)
	}
	release()
	release() // idempotent

	r2, release2 := checkout(t, c, repo.gitDir)
	defer release2()
	if r2.proc != r1.proc {
		t.Error("second checkout got a new process")
	}
	if _, err := r1.Info(ctx, "HEAD"); !errors.Is(err, errReleased) {
		t.Errorf("released reader still usable: %v", err)
	}
	if _, data, err := r2.ReadObject(ctx, "HEAD:a.txt", 100); err != nil || string(data) != "alpha\n" {
		t.Fatalf("reused reader: %q, %v", data, err)
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 || s.Processes != 1 || s.Idle != 0 {
		t.Errorf("stats = %+v, want 1 hit, 1 miss, 1 process checked out", s)
	}
}

func TestCache_DirtyReturnIsKilled(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	content := bytes.Repeat([]byte("0123456789"), 1000)
	repo.commit("first", map[string]string{"big.txt": string(content), "small.txt": "small\n"})
	c := newTestCache(t, Options{})
	ctx := context.Background()

	r, release := checkout(t, c, repo.gitDir)
	pids := catFilePIDs(t, repo.gitDir)
	if len(pids) != 1 {
		t.Fatalf("cat-file processes = %v, want 1", pids)
	}
	o, err := r.Object(ctx, "HEAD:big.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(o, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Info(ctx, "HEAD"); err == nil {
		t.Fatal("request accepted with an object half read")
	}
	release() // object abandoned mid-read

	if s := c.Stats(); s.DirtyReturns != 1 || s.Processes != 0 || s.Idle != 0 {
		t.Fatalf("stats after dirty return = %+v", s)
	}
	if processExists(pids[0]) {
		t.Fatalf("dirty process %d still exists (or is an unreaped zombie)", pids[0])
	}
	if _, err := o.Read(make([]byte, 1)); err == nil {
		t.Error("object readable after release")
	}

	r, release = checkout(t, c, repo.gitDir)
	defer release()
	if s := c.Stats(); s.Misses != 2 || s.Hits != 0 {
		t.Fatalf("stats = %+v, want the next checkout to miss", s)
	}
	for _, tc := range []struct{ rev, want string }{{"HEAD:small.txt", "small\n"}, {"HEAD:big.txt", string(content)}} {
		if _, data, err := r.ReadObject(ctx, tc.rev, 1<<20); err != nil || string(data) != tc.want {
			t.Fatalf("%s after dirty return: %d bytes, %v", tc.rev, len(data), err)
		}
	}
}

func TestCache_CloseDrainsForReuse(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("first", map[string]string{"big.txt": string(bytes.Repeat([]byte("q"), 300<<10))})
	c := newTestCache(t, Options{})

	r, release := checkout(t, c, repo.gitDir)
	o, err := r.Object(context.Background(), "HEAD:big.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Read(make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Read(make([]byte, 5)); !errors.Is(err, errClosed) {
		t.Errorf("Read after Close = %v", err)
	}
	if info, err := r.Info(context.Background(), "HEAD:big.txt"); err != nil || info.Size != 300<<10 {
		t.Fatalf("Info after Close = %+v, %v", info, err)
	}
	release()
	if s := c.Stats(); s.DirtyReturns != 0 || s.Idle != 1 {
		t.Errorf("stats = %+v, want the drained process cached", s)
	}
}

func TestCache_ConcurrentReaders(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("f%02d.txt", i)] = fmt.Sprintf("file %d %s\n", i, bytes.Repeat([]byte{'a' + byte(i)}, i*500))
	}
	repo.commit("many", files)
	c := newTestCache(t, Options{MaxIdlePerRepo: 4})
	ctx := context.Background()

	const goroutines, reads = 32, 200
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range reads {
				name := fmt.Sprintf("f%02d.txt", (g+i)%20)
				if err := concurrentRead(ctx, c, repo.gitDir, name, files[name], i%3); err != nil {
					errc <- fmt.Errorf("goroutine %d read %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	s := c.Stats()
	if s.Hits+s.Misses != goroutines*reads || s.DirtyReturns != 0 {
		t.Errorf("stats = %+v, want %d clean checkouts", s, goroutines*reads)
	}
	if s.Idle > 4 || s.Processes != s.Idle {
		t.Errorf("stats = %+v, want at most MaxIdlePerRepo idle and none checked out", s)
	}
	if s.Hits == 0 {
		t.Errorf("stats = %+v, want processes reused", s)
	}
	t.Logf("stats: %+v", s)
}

func concurrentRead(ctx context.Context, c *Cache, gitDir, name, want string, mode int) error {
	r, release, err := c.Reader(ctx, gitDir)
	if err != nil {
		return err
	}
	defer release()
	rev := "HEAD:" + name
	switch mode {
	case 0:
		info, err := r.Info(ctx, rev)
		if err != nil || info.Size != int64(len(want)) {
			return fmt.Errorf("Info = %+v, %v", info, err)
		}
	case 1:
		_, data, err := r.ReadObject(ctx, rev, 1<<20)
		if err != nil || string(data) != want {
			return fmt.Errorf("ReadObject = %d bytes, %v", len(data), err)
		}
	default:
		o, err := r.Object(ctx, rev)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(o); err != nil || buf.String() != want {
			return fmt.Errorf("Object = %d bytes, %v", buf.Len(), err)
		}
	}
	return nil
}

func TestCache_MaxIdlePerRepo(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("first", map[string]string{"a": "a\n"})
	c := newTestCache(t, Options{MaxIdlePerRepo: 2})

	var releases []func()
	for range 4 {
		_, release := checkout(t, c, repo.gitDir)
		releases = append(releases, release)
	}
	if s := c.Stats(); s.Processes != 4 || s.Misses != 4 {
		t.Fatalf("stats = %+v, want 4 concurrent processes", s)
	}
	for _, release := range releases {
		release()
	}
	if s := c.Stats(); s.Processes != 2 || s.Idle != 2 || s.Evictions != 2 {
		t.Fatalf("stats = %+v, want 2 cached and 2 killed", s)
	}
}

func TestCache_MaxProcessesEvictsOldestIdle(t *testing.T) {
	t.Parallel()
	repos := []*testRepo{newRepo(t), newRepo(t), newRepo(t)}
	for _, r := range repos {
		r.commit("first", map[string]string{"a": "a\n"})
	}
	c := newTestCache(t, Options{MaxProcesses: 2})
	ctx := context.Background()
	use := func(r *testRepo) {
		t.Helper()
		rd, release := checkout(t, c, r.gitDir)
		defer release()
		if _, err := rd.Info(ctx, "HEAD"); err != nil {
			t.Fatal(err)
		}
	}
	use(repos[0])
	use(repos[1])
	use(repos[0]) // repos[0] is now the most recently used
	use(repos[2]) // full: evicts repos[1]'s process, the oldest idle
	if s := c.Stats(); s.Processes != 2 || s.Evictions != 1 || s.Hits != 1 || s.Misses != 3 {
		t.Fatalf("stats = %+v", s)
	}
	use(repos[0])
	if s := c.Stats(); s.Hits != 2 {
		t.Fatalf("stats = %+v, want repos[0] still cached", s)
	}
	use(repos[1])
	if s := c.Stats(); s.Misses != 4 || s.Processes != 2 {
		t.Fatalf("stats = %+v, want repos[1] evicted earlier", s)
	}

	// Checkouts beyond the limit don't block; the overshoot is shed on release.
	var releases []func()
	for _, r := range repos {
		_, release := checkout(t, c, r.gitDir)
		releases = append(releases, release)
	}
	_, release := checkout(t, c, repos[0].gitDir)
	releases = append(releases, release)
	if s := c.Stats(); s.Processes != 4 {
		t.Fatalf("stats = %+v, want 4 checked out", s)
	}
	for _, release := range releases {
		release()
	}
	if s := c.Stats(); s.Processes != 2 || s.Idle != 2 {
		t.Fatalf("stats = %+v, want the pool back at its limit", s)
	}
}

func TestCache_IdleEviction(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("first", map[string]string{"a": "a\n"})
	tick := make(chan time.Time)
	c := newTestCache(t, Options{IdleTimeout: 10 * time.Second, Tick: tick})
	// The monitor handles one tick at a time, so once a second send is
	// received the first has been fully processed.
	sendTick := func(now time.Time) {
		tick <- now
		tick <- now
	}

	var releases []func()
	for range 2 {
		_, release := checkout(t, c, repo.gitDir)
		releases = append(releases, release)
	}
	for _, release := range releases {
		release()
	}
	pids := catFilePIDs(t, repo.gitDir)
	if len(pids) != 2 {
		t.Fatalf("cat-file processes = %v, want 2", pids)
	}
	busy, releaseBusy := checkout(t, c, repo.gitDir) // checked out: never evicted by the monitor

	sendTick(time.Now().Add(5 * time.Second))
	if s := c.Stats(); s.Processes != 2 || s.Evictions != 0 {
		t.Fatalf("stats = %+v, want nothing evicted before IdleTimeout", s)
	}
	sendTick(time.Now().Add(11 * time.Second))
	if s := c.Stats(); s.Processes != 1 || s.Idle != 0 || s.Evictions != 1 {
		t.Fatalf("stats = %+v, want the idle process evicted", s)
	}
	if _, err := busy.Info(context.Background(), "HEAD"); err != nil {
		t.Fatalf("checked-out reader broken by the monitor: %v", err)
	}
	releaseBusy()
	gone := 0
	for _, pid := range pids {
		if !processExists(pid) {
			gone++
		}
	}
	if gone != 1 {
		t.Errorf("%d of %v reaped, want 1", gone, pids)
	}
	_, release := checkout(t, c, repo.gitDir)
	release()
	if s := c.Stats(); s.Hits != 2 || s.Misses != 2 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCache_Stop(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("first", map[string]string{"a": "a\n"})
	c := NewCache(factory, Options{}) // real ticker: Stop must end it too
	ctx := context.Background()

	var releases []func()
	for range 3 {
		_, release := checkout(t, c, repo.gitDir)
		releases = append(releases, release)
	}
	releases[0]()
	releases[1]()
	held, releaseHeld := checkout(t, c, repo.gitDir)
	o, err := held.Object(ctx, "HEAD:a")
	if err != nil {
		t.Fatal(err)
	}
	pids := catFilePIDs(t, repo.gitDir)
	if len(pids) != 3 {
		t.Fatalf("cat-file processes = %v, want 3", pids)
	}

	c.Stop()
	if s := c.Stats(); s.Processes != 0 || s.Idle != 0 {
		t.Fatalf("stats after Stop = %+v", s)
	}
	for _, pid := range pids {
		if processExists(pid) {
			t.Errorf("process %d survived Stop (or was never reaped)", pid)
		}
	}
	if left := catFilePIDs(t, repo.gitDir); len(left) != 0 {
		t.Errorf("cat-file processes after Stop: %v", left)
	}
	// Readers still checked out fail cleanly, and releasing them is safe.
	if _, err := io.ReadAll(o); err == nil {
		t.Error("read from a stopped cache succeeded")
	}
	releaseHeld()
	releases[2]()
	if _, _, err := c.Reader(ctx, repo.gitDir); !errors.Is(err, errStopped) {
		t.Errorf("checkout after Stop = %v", err)
	}
	c.Stop() // idempotent
}

func TestCache_SeesLaterWrites(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	first := repo.commit("first", map[string]string{"a": "one\n"})
	c := newTestCache(t, Options{})
	ctx := context.Background()

	r, release := checkout(t, c, repo.gitDir)
	defer release()
	if info, err := r.Info(ctx, "refs/heads/feature"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("feature before creation = %+v, %v", info, err)
	}
	if info, err := r.Info(ctx, "HEAD"); err != nil || info.OID != first {
		t.Fatalf("HEAD = %+v, %v", info, err)
	}

	// Written after the process started: a new object, a new ref, a moved ref.
	second := repo.commit("second", map[string]string{"a": "two\n"})
	repo.git("update-ref", "refs/heads/feature", first.String())
	blob := repo.writeBlob([]byte("fresh\n"))

	for rev, want := range map[string]git.ObjectID{
		"refs/heads/feature": first,
		"HEAD":               second,
		"refs/heads/main":    second,
		blob.String():        blob,
	} {
		if info, err := r.Info(ctx, rev); err != nil || info.OID != want {
			t.Errorf("Info(%q) = %+v, %v; want %s", rev, info, err, want)
		}
	}
	if _, data, err := r.ReadObject(ctx, "HEAD:a", 10); err != nil || string(data) != "two\n" {
		t.Errorf("HEAD:a = %q, %v", data, err)
	}

	// Refs moved into packed-refs, then updated again.
	repo.git("pack-refs", "--all")
	repo.git("update-ref", "refs/heads/feature", second.String())
	if info, err := r.Info(ctx, "refs/heads/feature"); err != nil || info.OID != second {
		t.Errorf("feature after pack-refs and update = %+v, %v; want %s", info, err, second)
	}
	repo.git("update-ref", "-d", "refs/heads/feature")
	if _, err := r.Info(ctx, "refs/heads/feature"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted ref still resolves: %v", err)
	}
}

// benchBlob is a 4 KB blob in a fresh repository.
func benchBlob(b *testing.B) (*testRepo, git.ObjectID) {
	repo := newRepo(b)
	return repo, repo.writeBlob(bytes.Repeat([]byte("strata!\n"), 512))
}

func BenchmarkReader_Object(b *testing.B) {
	repo, oid := benchBlob(b)
	c := newTestCache(b, Options{})
	ctx := context.Background()
	buf := make([]byte, 8<<10)
	b.ReportAllocs()
	for b.Loop() {
		r, release, err := c.Reader(ctx, repo.gitDir)
		if err != nil {
			b.Fatal(err)
		}
		o, err := r.Object(ctx, oid.String())
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.ReadFull(o, buf[:o.Size]); err != nil || n != 4096 {
			b.Fatal(n, err)
		}
		release()
	}
	if s := c.Stats(); s.Misses != 1 {
		b.Fatalf("stats = %+v, want every read pooled", s)
	}
}

func BenchmarkProcessPerRead(b *testing.B) {
	repo, oid := benchBlob(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := factory.Output(ctx, repo.gitDir, git.Command{Name: "cat-file", Args: []string{"blob", oid.String()}})
		if err != nil || len(out) != 4096 {
			b.Fatal(len(out), err)
		}
	}
}

// TestCache_maxPerRepoWaits: checkouts beyond MaxPerRepo wait for a
// release instead of starting (and then killing) extra processes, and a
// waiter whose context ends gives up cleanly.
func TestCache_maxPerRepoWaits(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	dir, blob := repo.gitDir, string(repo.writeBlob([]byte("hello")))
	c := newTestCache(t, Options{MaxPerRepo: 2})
	ctx := context.Background()

	_, rel1, err := c.Reader(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, rel2, err := c.Reader(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	// A third checkout waits...
	got := make(chan *Reader, 1)
	go func() {
		r, rel, err := c.Reader(ctx, dir)
		if err != nil {
			t.Error(err)
			got <- nil
			return
		}
		if _, err := r.Info(ctx, blob); err != nil {
			t.Error(err)
		}
		rel()
		got <- r
	}()
	// ...and one with a short deadline gives up.
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.Reader(tctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter past its deadline: %v", err)
	}
	select {
	case <-got:
		t.Fatal("third checkout did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	rel1()
	if r := <-got; r == nil {
		t.Fatal("waiter failed")
	}
	rel2()
	if s := c.Stats(); s.Processes > 2 || s.Misses != 2 {
		t.Fatalf("stats %+v: want at most 2 processes, 2 starts", s)
	}
}

// TestCache_nestedCheckoutsDoNotDeadlock: callers that hold every slot and
// each ask for one more reader get one after MaxWait instead of waiting
// for each other forever.
func TestCache_nestedCheckoutsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	c := newTestCache(t, Options{MaxPerRepo: 2, MaxWait: 30 * time.Millisecond})
	ctx := context.Background()
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, rel1, err := c.Reader(ctx, repo.gitDir)
			if err != nil {
				done <- err
				return
			}
			defer rel1()
			time.Sleep(10 * time.Millisecond) // both hold a slot now
			_, rel2, err := c.Reader(ctx, repo.gitDir)
			if err == nil {
				rel2()
			}
			done <- err
		}()
	}
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("nested checkouts deadlocked")
		}
	}
	if s := c.Stats(); s.Overflows == 0 {
		t.Fatalf("stats %+v: expected overflow checkouts", s)
	}
}
