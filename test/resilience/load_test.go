package resilience

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadStats counts what the clients did.
type loadStats struct {
	mu       sync.Mutex
	ops      map[string]int // by kind
	statuses map[int]int
	failures []string // 5xx, transport errors, failed git commands
	took     map[string][]time.Duration
}

// timed runs op and records how long it took under kind (reported, never
// asserted).
func (ls *loadStats) timed(kind string, op func()) {
	start := time.Now()
	op()
	d := time.Since(start)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.took[kind] = append(ls.took[kind], d)
}

// percentiles formats p50/p99 of kind's durations.
func (ls *loadStats) percentiles(kind string) string {
	ds := slices.Clone(ls.took[kind])
	if len(ds) == 0 {
		return kind + " -"
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(time.Millisecond)
	}
	return fmt.Sprintf("%s p50 %s p99 %s", kind, at(0.50), at(0.99))
}

func (ls *loadStats) done(kind string, status int, err error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.ops[kind]++
	ls.statuses[status]++
	switch {
	case err != nil:
		ls.failures = append(ls.failures, fmt.Sprintf("%s: %v", kind, err))
	case status >= 500:
		ls.failures = append(ls.failures, fmt.Sprintf("%s: status %d", kind, status))
	}
}

// Many concurrent clients — readers, committers, cloners, pushers and
// greps — against one server on loopback for a fixed time: no 5xx, no
// failed git command, no lost write, /healthz answering throughout
// (within 10 s: a hang detector, not a latency target), and the server's
// RSS sampled from /proc and reported. CI runs 50 clients for 10 s; -soak
// (STRATA_SOAK=1, `make soak`) runs 200 for 60 s.
func TestLoad_mixedClients(t *testing.T) {
	t.Parallel()
	clients, dur := 50, 10*time.Second
	if soak() {
		clients, dur = 200, 60*time.Second
	}
	s := newStrata(t)
	s.start()
	const nrepos = 10
	var repos []string
	for i := range nrepos {
		r := fmt.Sprintf("load-%d", i)
		repos = append(repos, r)
		s.createRepo(r)
		for f := range 8 {
			content := strings.Repeat(fmt.Sprintf("line %d of file %d in %s\n", f, f, r), 50) + "needle here\n"
			if _, _, err := s.commitPack(r, "main", fmt.Sprintf("src/f%d.txt", f), content); err != nil {
				t.Fatal(err)
			}
		}
	}

	var (
		stats  = &loadStats{ops: map[string]int{}, statuses: map[int]int{}, took: map[string][]time.Duration{}}
		acked  acks
		stop   = make(chan struct{})
		probes atomic.Int64
		slow   atomic.Int64 // probes over 1 s
		peak   atomic.Int64
		worst  atomic.Int64 // slowest probe, ns
	)
	pid := s.pid()
	base := rss(pid)
	var bg sync.WaitGroup
	bg.Go(func() { // RSS sampler
		for {
			if r := rss(pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	probeErr := make(chan error, 1)
	bg.Go(func() { // health probe
		hc := &http.Client{Timeout: 10 * time.Second}
		for {
			start := time.Now()
			resp, err := hc.Get(s.URL + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("/healthz answered %d", resp.StatusCode)
				}
			}
			if err != nil {
				select {
				case probeErr <- err:
				default:
				}
			}
			took := time.Since(start)
			probes.Add(1)
			if took > time.Second {
				slow.Add(1)
			}
			if int64(took) > worst.Load() {
				worst.Store(int64(took))
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			repo := repos[c%nrepos]
			switch c % 5 {
			case 0:
				readClient(ctx, s, stats, rng, repos)
			case 1:
				commitClient(ctx, s, stats, &acked, repo, c)
			case 2:
				cloneClient(ctx, t, s, stats, rng, repos)
			case 3:
				pushClient(ctx, t, s, stats, &acked, repo, c)
			case 4:
				grepClient(ctx, s, stats, rng, repos)
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	select {
	case err := <-probeErr:
		t.Errorf("/healthz during the load: %v", err)
	default:
	}
	final := rss(pid)

	stats.mu.Lock()
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range stats.ops {
			if !yield(k) {
				return
			}
		}
	})
	var ops, lat []string
	total := 0
	for _, k := range kinds {
		ops = append(ops, fmt.Sprintf("%s %d", k, stats.ops[k]))
		lat = append(lat, stats.percentiles(k))
		total += stats.ops[k]
	}
	t.Logf("load: %d clients for %s on %d CPUs (%s/%s); %d operations (%.0f/s): %s", clients, dur, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		total, float64(total)/dur.Seconds(), strings.Join(ops, ", "))
	t.Logf("load: latency %s", strings.Join(lat, ", "))
	t.Logf("load: statuses %v; %d acknowledged writes", stats.statuses, len(acked.all()))
	t.Logf("load: server RSS %d MiB before, %d MiB peak, %d MiB after", base>>20, peak.Load()>>20, final>>20)
	t.Logf("load: /healthz probed %d times, %d over 1 s, slowest %s", probes.Load(), slow.Load(), time.Duration(worst.Load()).Round(time.Millisecond))
	failures := stats.failures
	stats.mu.Unlock()
	if len(failures) > 0 {
		t.Errorf("%d failed operations under load, e.g.:\n%s", len(failures), strings.Join(failures[:min(10, len(failures))], "\n"))
	}
	checkAcked(t, s, acked.all())
}

// readClient reads files, branches and history.
func readClient(ctx context.Context, s *strata, stats *loadStats, rng *rand.Rand, repos []string) {
	for ctx.Err() == nil {
		repo := repos[rng.IntN(len(repos))]
		var path string
		switch rng.IntN(3) {
		case 0:
			path = fmt.Sprintf("/api/v1/repos/file?path=src/f%d.txt", rng.IntN(8))
		case 1:
			path = "/api/v1/repos/branches"
		case 2:
			path = "/api/v1/repos/commits?branch=main"
		}
		var status int
		var err error
		stats.timed("read", func() { status, _, err = s.call("GET", path, s.token(repo), nil) })
		stats.done("read", status, err)
	}
}

// commitClient commits to its own branch; every 201 is an acknowledged
// write.
func commitClient(ctx context.Context, s *strata, stats *loadStats, acked *acks, repo string, c int) {
	branch := fmt.Sprintf("client-%d", c)
	for n := 0; ctx.Err() == nil; n++ {
		var status int
		var sha string
		var err error
		stats.timed("commit", func() {
			status, sha, err = s.commitPack(repo, branch, fmt.Sprintf("c%d/%d.txt", c, n), fmt.Sprintf("%d %d\n", c, n))
		})
		stats.done("commit", status, err)
		if err == nil && status != http.StatusCreated {
			stats.done("commit", status, fmt.Errorf("commit-pack answered %d", status))
		}
		if sha != "" {
			acked.add(repo, "refs/heads/"+branch, sha, "commit-pack")
		}
	}
}

// cloneClient clones a repository, again and again.
func cloneClient(ctx context.Context, t testing.TB, s *strata, stats *loadStats, rng *rand.Rand, repos []string) {
	tmp := t.TempDir()
	for n := 0; ctx.Err() == nil; n++ {
		dir := filepath.Join(tmp, fmt.Sprint(n))
		var err error
		stats.timed("clone", func() { _, err = git("", "clone", "-q", s.remote(repos[rng.IntN(len(repos))]), dir) })
		stats.done("clone", gitStatus(err), err)
		os.RemoveAll(dir)
	}
}

// pushClient commits in its own clone and pushes its own branch.
func pushClient(ctx context.Context, t testing.TB, s *strata, stats *loadStats, acked *acks, repo string, c int) {
	dir := filepath.Join(t.TempDir(), "clone")
	_, err := git("", "clone", "-q", s.remote(repo), dir)
	stats.done("clone", gitStatus(err), err)
	if err != nil {
		return
	}
	branch := fmt.Sprintf("push-%d", c)
	if _, err := git(dir, "checkout", "-q", "-b", branch); err != nil {
		stats.done("push", 0, err)
		return
	}
	for n := 0; ctx.Err() == nil; n++ {
		name := fmt.Sprintf("p%d-%d.txt", c, n)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Error(err)
			return
		}
		if _, err := git(dir, "add", name); err != nil {
			t.Error(err)
			return
		}
		if _, err := git(dir, "commit", "-q", "-m", name); err != nil {
			t.Error(err)
			return
		}
		sha, _ := git(dir, "rev-parse", "HEAD")
		var err error
		stats.timed("push", func() { _, err = git(dir, "push", "-q", s.remote(repo), branch) })
		stats.done("push", gitStatus(err), err)
		if err == nil {
			acked.add(repo, "refs/heads/"+branch, sha, "push")
		}
	}
}

// grepClient searches a repository.
func grepClient(ctx context.Context, s *strata, stats *loadStats, rng *rand.Rand, repos []string) {
	for ctx.Err() == nil {
		repo := repos[rng.IntN(len(repos))]
		var status int
		var err error
		stats.timed("grep", func() {
			status, _, err = s.call("POST", "/api/v1/repos/grep", s.token(repo),
				map[string]any{"query": map[string]any{"pattern": "needle|file [0-9]"}, "ref": "main"})
		})
		stats.done("grep", status, err)
	}
}

// gitStatus is 200 for a git command that worked, the HTTP status git
// reports when it names one, else 0.
func gitStatus(err error) int {
	if err == nil {
		return 200
	}
	msg := err.Error()
	for _, marker := range []string{"returned error: ", "HTTP "} {
		if i := strings.Index(msg, marker); i >= 0 {
			var code int
			if _, e := fmt.Sscanf(msg[i+len(marker):], "%d", &code); e == nil {
				return code
			}
		}
	}
	return 0
}
