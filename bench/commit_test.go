package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// BenchmarkCommitPack compares one small commit through Strata's API with
// the same commit made by git plumbing, on a repository of ≥100k objects
// (4000 commits × 25 files: 308k objects with the trees).
func BenchmarkCommitPack(b *testing.B) {
	f := newFixture(b, benchCommits(4000), 25)
	b.Logf("repository: %s", strings.ReplaceAll(f.objectCount(b), "\n", ", "))
	b.Run("strata", func(b *testing.B) { benchCommitPackStrata(b, f) })
	b.Run("git-plumbing", func(b *testing.B) { benchCommitPackPlumbing(b, f) })
}

// benchCommitPackStrata: POST /repos/commit-pack adding one 1 KiB file
// on top of main, end to end over loopback HTTP (objects and ref fsynced).
func benchCommitPackStrata(b *testing.B, f *fixture) {
	content := bytes.Repeat([]byte("x"), 1024)
	var lat latencies
	b.ResetTimer()
	for range b.N {
		i := seq.Add(1)
		body := commitPackBody(fmt.Sprintf("bench/strata/%d.txt", i), append(content[:1000:1000], []byte(fmt.Sprint(i))...))
		start := time.Now()
		resp := f.srv.Do("POST", "/api/v1/repos/commit-pack", f.token, strings.NewReader(body), "Content-Type", "application/x-ndjson")
		mustOK(b, resp, 201)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
}

// benchCommitPackPlumbing: the same commit made the classic way with
// one process per step: hash-object -w, mktree (root + nested trees would be
// more; we give plumbing the cheapest case: read the tip tree, add one entry
// at the root), commit-tree, update-ref with the old value (CAS).
// seq keeps file names unique across the repeated runs testing.B makes of a
// sub-benchmark (mktree would happily write duplicate entries).
var seq atomic.Int64

func benchCommitPackPlumbing(b *testing.B, f *fixture) {
	content := bytes.Repeat([]byte("y"), 1024)
	var lat latencies
	b.ResetTimer()
	for range b.N {
		i := seq.Add(1)
		start := time.Now()
		tip := gitCmd(b, f.dir, nil, "rev-parse", "refs/heads/main")
		blob := gitCmd(b, f.dir, bytes.NewReader(append(content[:1000:1000], []byte(fmt.Sprint(i))...)), "hash-object", "-w", "--stdin")
		entries := gitCmd(b, f.dir, nil, "ls-tree", tip)
		tree := gitCmd(b, f.dir, strings.NewReader(entries+fmt.Sprintf("\n100644 blob %s\tplumbing-%d.txt\n", blob, i)), "mktree")
		commit := gitCmd(b, f.dir, strings.NewReader("bench\n"), "commit-tree", tree, "-p", tip)
		gitCmd(b, f.dir, nil, "update-ref", "refs/heads/main", commit, tip)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkCommitStream is a sustained stream of API commits and what it
// leaves behind for git: STRATA_BENCH_STREAM_COMMITS (2000) commit-packs
// in a row into the CommitPack fixture, the pack count sampled as they
// land, then the git plumbing commit of BenchmarkCommitPack timed in the
// repository against a copy of it taken before the stream (runs
// alternating between the two, so load on the machine hits both alike):
// right after the last commit, and once maintenance has gone quiet.
// A ratio of 1 means the stream's packs cost git nothing.
// STRATA_BENCH_MAINT_PACKS sets --maintenance-packs (default: the
// server's).
//
// It ignores b.N and runs once per process: go test calls a benchmark
// again with a larger b.N unless -benchtime is 1x, and that call reports
// the first one's figures.
func BenchmarkCommitStream(b *testing.B) {
	if streamMetrics != nil {
		for _, m := range streamMetrics {
			b.ReportMetric(m.v, m.unit)
		}
		return
	}
	var metrics []metric
	report := func(v float64, unit string) {
		metrics = append(metrics, metric{v, unit})
		b.ReportMetric(v, unit)
	}
	defer func() { streamMetrics = metrics }()
	commits := envInt("STRATA_BENCH_STREAM_COMMITS", 2000)
	srv := servertest.Start(b, servertest.WithConfig(func(c *config.Config) {
		if n := envInt("STRATA_BENCH_MAINT_PACKS", 0); n > 0 {
			c.Maintenance.Packs = n
		}
	}))
	f := &fixture{srv: srv, repo: "bench/stream"}
	f.token = srv.Token(f.repo, auth.ScopeRepoWrite, auth.ScopeGitWrite)
	mustOK(b, srv.Do("POST", "/api/v1/repos", f.token, strings.NewReader(`{"default_branch":"main"}`)), 201)
	f.dir = srv.RepoDirs()[0]
	fillRepo(b, f.dir, benchCommits(4000), 25)
	ref := filepath.Join(b.TempDir(), "before.git")
	if out, err := exec.Command("cp", "-a", f.dir, ref).CombinedOutput(); err != nil {
		b.Fatalf("copy the repository: %v\n%s", err, out)
	}
	for _, dir := range []string{f.dir, ref} {
		gitCmd(b, dir, nil, "branch", "plumbing", "main")
	}
	b.Logf("repository: %s; %s", strings.ReplaceAll(f.objectCount(b), "\n", ", "), packDirSummary(b, f.dir))

	const rounds = 41
	compare := func(label string) {
		b.Helper()
		live, before, cpuLive, cpuBefore := plumbingRounds(b, f.dir, ref, rounds)
		report(live.pct(0.5).Seconds()*1000, "plumbing-"+label+"-p50-ms")
		report(before.pct(0.5).Seconds()*1000, "plumbing-reference-"+label+"-p50-ms")
		report(float64(live.pct(0.5))/float64(before.pct(0.5)), "plumbing-"+label+"-ratio")
		report(float64(cpuLive.pct(0.5))/float64(cpuBefore.pct(0.5)), "plumbing-"+label+"-cpu-ratio")
		b.Logf("plumbing %s: p50 %v (git CPU %v) against %v (%v) on the copy taken before the stream; %s",
			label, live.pct(0.5).Round(10*time.Microsecond), cpuLive.pct(0.5).Round(10*time.Microsecond),
			before.pct(0.5).Round(10*time.Microsecond), cpuBefore.pct(0.5).Round(10*time.Microsecond), packDirSummary(b, f.dir))
	}
	compare("before")

	content := bytes.Repeat([]byte("s"), 1024)
	var lat latencies
	var samples []string
	maxPacks := 0
	start := time.Now()
	for i := range commits {
		body := commitPackBody(fmt.Sprintf("stream/%d/%d.txt", i%50, i), append(content[:1000:1000], []byte(fmt.Sprint(i))...))
		t0 := time.Now()
		mustOK(b, f.srv.Do("POST", "/api/v1/repos/commit-pack", f.token, strings.NewReader(body), "Content-Type", "application/x-ndjson"), 201)
		lat = append(lat, time.Since(t0))
		if (i+1)%50 == 0 {
			n := countPacks(b, f.dir)
			maxPacks = max(maxPacks, n)
			samples = append(samples, fmt.Sprint(n))
		}
	}
	elapsed := time.Since(start)
	report(lat.pct(0.50).Seconds()*1000, "p50-ms")
	report(lat.pct(0.99).Seconds()*1000, "p99-ms")
	report(float64(maxPacks), "max-packs")
	b.Logf("%d commits in %v; packs every 50 commits: %s", commits, elapsed.Round(time.Millisecond), strings.Join(samples, " "))

	compare("after")
	// Maintenance is quiet once the pack directory stopped changing for
	// longer than the roll-up that follows a quiet repository takes to
	// come (5 to 7.5 s after the last write, maintenance.Options).
	quiet := time.Now()
	last := ""
	for time.Since(quiet) < 10*time.Second {
		time.Sleep(100 * time.Millisecond)
		if s := packDirState(b, f.dir); s != last {
			last, quiet = s, time.Now()
		}
	}
	compare("settled")
	report(float64(countPacks(b, f.dir)), "packs-settled")
}

type metric struct {
	v    float64
	unit string
}

// streamMetrics are the figures of this process's BenchmarkCommitStream.
var streamMetrics []metric

// plumbingRounds times the plumbing commit of benchCommitPackPlumbing
// plus a `git log -1`, on branch plumbing, alternately in live and in
// reference: wall time, and the CPU time of the git processes, which the
// machine's other load disturbs less.
func plumbingRounds(b *testing.B, live, reference string, rounds int) (wallLive, wallRef, cpuLive, cpuRef latencies) {
	content := bytes.Repeat([]byte("p"), 1024)
	for r := range 2 * rounds {
		dir, wall, cpu := live, &wallLive, &cpuLive
		if r%2 == 1 {
			dir, wall, cpu = reference, &wallRef, &cpuRef
		}
		i := seq.Add(1)
		var used time.Duration
		run := func(stdin io.Reader, args ...string) string {
			cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
			cmd.Env = gitEnv
			cmd.Stdin = stdin
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				b.Fatalf("git %v: %v\n%s", args, err, errb.String())
			}
			used += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			return strings.TrimSpace(out.String())
		}
		start := time.Now()
		tip := run(nil, "rev-parse", "refs/heads/plumbing")
		blob := run(bytes.NewReader(append(content[:1000:1000], []byte(fmt.Sprint(i))...)), "hash-object", "-w", "--stdin")
		entries := run(nil, "ls-tree", tip)
		tree := run(strings.NewReader(entries+fmt.Sprintf("\n100644 blob %s\tplumbing-%d.txt\n", blob, i)), "mktree")
		commit := run(strings.NewReader("bench\n"), "commit-tree", tree, "-p", tip)
		run(nil, "update-ref", "refs/heads/plumbing", commit, tip)
		run(nil, "log", "-1", "--format=%H %s", "main")
		*wall = append(*wall, time.Since(start))
		*cpu = append(*cpu, used)
	}
	return wallLive, wallRef, cpuLive, cpuRef
}

// countPacks counts the packs git uses (pack-*.pack with an index).
func countPacks(tb testing.TB, gitDir string) int {
	idx, err := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "pack-*.idx"))
	if err != nil {
		tb.Fatal(err)
	}
	return len(idx)
}

// packDirState is the pack directory's listing, to tell when it stops
// changing.
func packDirState(tb testing.TB, gitDir string) string {
	ents, err := os.ReadDir(filepath.Join(gitDir, "objects", "pack"))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// packDirSummary says how many packs there are, and whether a
// multi-pack-index and a bitmap exist.
func packDirSummary(tb testing.TB, gitDir string) string {
	names := strings.Fields(packDirState(tb, gitDir))
	return fmt.Sprintf("%d packs, multi-pack-index %v, bitmap %v", countPacks(tb, gitDir), slices.Contains(names, "multi-pack-index"),
		slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".bitmap") }))
}
