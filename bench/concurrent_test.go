package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

// BenchmarkConcurrentClones runs STRATA_BENCH_CONCURRENT_CLONES (default
// 50) simultaneous `git clone --bare` of one repository
// (STRATA_BENCH_CONCURRENT_MB, default 100 MB of incompressible blobs)
// from a `strata serve` subprocess over HTTPS, and the same number of
// simultaneous `git clone --bare --no-local` of the same directory (git
// over pipes) for comparison. It reports the aggregate throughput, the
// clones' p50/p99 wall time, and memory:
//
//   - strata-peak-rss-MB: the strata process's VmHWM (kernel-tracked peak
//     resident set), strata-anon-MB its peak RssAnon over the samples
//   - git-peak-rss-MB / git-peak-anon-MB: the largest sum, over samples
//     every STRATA_BENCH_SAMPLE_MS (default 20), of VmRSS / RssAnon of the
//     server-side git processes (for strata: every process below the
//     server; for git-pipe: every upload-pack and what it ran). VmRSS counts
//     the mapped pack once per process, RssAnon is private memory only.
//   - git-peak-procs: the most server-side git processes seen at once
//   - failed: clones that failed. git does not retry a 503 (Strata's
//     answer when no upload-pack slot frees up within its queue timeout);
//     STRATA_BENCH_CLONE_RETRIES=N retries such a clone up to N times
//     after a second, as a CI job's retry would (retried counts them).
//
// The strata binary is built from this module unless STRATA_BENCH_BINARY
// names one. b.N is ignored: run with -benchtime 1x.
func BenchmarkConcurrentClones(b *testing.B) {
	clones := envInt("STRATA_BENCH_CONCURRENT_CLONES", 50)
	retries := envInt("STRATA_BENCH_CLONE_RETRIES", 0)
	size := int64(envInt("STRATA_BENCH_CONCURRENT_MB", 100)) * 1e6
	srv := startStrataProcess(b)
	const id = "bench/concurrent"
	token := srv.token(b, id, auth.ScopeRepoWrite, auth.ScopeGitRead)
	srv.createRepo(b, token)
	dirs, _ := filepath.Glob(filepath.Join(srv.dataDir, "repos", "*", "*.git"))
	if len(dirs) != 1 {
		b.Fatalf("want one repository directory, have %v", dirs)
	}
	dir := dirs[0]
	pack := writeRandomRepo(b, dir, size, 256<<10, 2)
	tip := gitRun(b, "", nil, nil, "--git-dir", dir, "rev-parse", "refs/heads/main")
	b.Logf("repository: pack of %.1f MB; %d concurrent clones", mb(pack), clones)
	work := b.TempDir()
	url := "https://t:" + token + "@" + srv.addr + "/" + id + ".git"
	env := []string{"GIT_SSL_CAINFO=" + srv.caFile, "GIT_TERMINAL_PROMPT=0"}

	run := func(b *testing.B, name string, env []string, from []string, server func(procTable) []int) {
		// One clone first: warm caches, and the single-clone figure.
		one := filepath.Join(work, name+"-single.git")
		single := timedGit(b, "", env, append(append([]string{"clone", "--bare", "--quiet"}, from...), one)...)
		os.RemoveAll(one)

		stop := make(chan struct{})
		peak := make(chan memPeak, 1)
		go func() { peak <- sampleMemory(stop, server) }()
		var lat latencies
		var failures []string
		retried := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for i := range clones {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dst := filepath.Join(work, fmt.Sprintf("%s-%d.git", name, i))
				var errb bytes.Buffer
				var err error
				t0 := time.Now()
				for try := 0; ; try++ {
					cmd := exec.Command("git", append(append([]string{"clone", "--bare", "--quiet"}, from...), dst)...)
					cmd.Env = append(slices.Clone(gitEnv), env...)
					errb.Reset()
					cmd.Stderr = &errb
					if err = cmd.Run(); err == nil || try >= retries || !strings.Contains(errb.String(), "503") {
						break
					}
					os.RemoveAll(dst)
					mu.Lock()
					retried++
					mu.Unlock()
					time.Sleep(time.Second)
				}
				d := time.Since(t0)
				if err == nil {
					if got := gitRun(b, "", nil, nil, "--git-dir", dst, "rev-parse", "refs/heads/main"); got != tip {
						err = fmt.Errorf("main at %s, want %s", got, tip)
					}
				}
				os.RemoveAll(dst)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("clone %d after %v: %v: %s", i, d.Round(time.Millisecond), err, strings.TrimSpace(errb.String())))
					return
				}
				lat = append(lat, d)
			}()
		}
		wg.Wait()
		wall := time.Since(start)
		close(stop)
		p := <-peak
		for _, f := range failures {
			b.Log(f)
		}
		b.Logf("%s: %d/%d clones in %v; single clone %v", name, len(lat), clones, wall.Round(time.Millisecond), single.Round(time.Millisecond))
		lat.report(b)
		b.ReportMetric(mb(pack)*float64(len(lat))/wall.Seconds(), "aggregate-MB/s")
		b.ReportMetric(mb(pack)/single.Seconds(), "single-MB/s")
		b.ReportMetric(float64(len(failures)), "failed")
		b.ReportMetric(float64(retried), "retried")
		b.ReportMetric(float64(p.gitRSS)/(1<<20), "git-peak-rss-MB")
		b.ReportMetric(float64(p.gitAnon)/(1<<20), "git-peak-anon-MB")
		b.ReportMetric(float64(p.gitProcs), "git-peak-procs")
		if len(failures) > 0 {
			// Reported, not fatal: the figures of the rest still count.
			b.Logf("%d of %d clones failed (see above)", len(failures), clones)
		}
	}

	b.Run("strata-https", func(b *testing.B) {
		hwm0 := srv.status(b)["VmHWM"]
		var anon int64
		run(b, "strata", env, []string{url}, func(t procTable) []int {
			if a := t.status(srv.pid)["RssAnon"]; a > anon {
				anon = a
			}
			return t.descendants(srv.pid)
		})
		st := srv.status(b)
		b.Logf("strata VmHWM %d MiB before the clones, %d MiB after", hwm0>>20, st["VmHWM"]>>20)
		b.ReportMetric(float64(st["VmHWM"])/(1<<20), "strata-peak-rss-MB")
		b.ReportMetric(float64(anon)/(1<<20), "strata-anon-MB")
	})
	b.Run("git-pipe", func(b *testing.B) {
		self := os.Getpid()
		run(b, "pipe", nil, []string{"--no-local", dir}, func(t procTable) []int {
			seen := map[int]bool{}
			for _, pid := range t.descendants(self) {
				if strings.Contains(t.cmdline(pid), "upload-pack") {
					seen[pid] = true
					for _, d := range t.descendants(pid) {
						seen[d] = true
					}
				}
			}
			var pids []int
			for pid := range seen {
				pids = append(pids, pid)
			}
			return pids
		})
	})
}

// memPeak is the most memory the sampled processes used at once.
type memPeak struct {
	gitRSS, gitAnon int64
	gitProcs        int
}

// sampleMemory samples until stop is closed: each round lists /proc,
// asks pick which processes count, and sums their VmRSS and RssAnon.
func sampleMemory(stop <-chan struct{}, pick func(procTable) []int) memPeak {
	every := time.Duration(envInt("STRATA_BENCH_SAMPLE_MS", 20)) * time.Millisecond
	var p memPeak
	for {
		t := readProcTable()
		var rss, anon int64
		pids := pick(t)
		for _, pid := range pids {
			st := t.status(pid)
			rss += st["VmRSS"]
			anon += st["RssAnon"]
		}
		p.gitRSS, p.gitAnon, p.gitProcs = max(p.gitRSS, rss), max(p.gitAnon, anon), max(p.gitProcs, len(pids))
		select {
		case <-stop:
			return p
		case <-time.After(every):
		}
	}
}

// procTable is a snapshot of the parent of every process.
type procTable map[int]int // pid → ppid

func readProcTable() procTable {
	t := procTable{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			t[pid] = ppid
		}
	}
	return t
}

// descendants lists every process below pid.
func (t procTable) descendants(pid int) []int {
	children := map[int][]int{}
	for p, pp := range t {
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func (t procTable) cmdline(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(data), "\x00", " ")
}

// status reads the kB fields of /proc/<pid>/status, in bytes (empty when
// the process is gone).
func (procTable) status(pid int) map[string]int64 {
	return procStatus(pid)
}

func procStatus(pid int) map[string]int64 {
	m := map[string]int64{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 2 && fs[1] == "kB" {
			if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
				m[k] = n << 10
			}
		}
	}
	return m
}

// strataProcess is `strata serve` running as a subprocess over HTTPS.
type strataProcess struct {
	pid     int
	addr    string // 127.0.0.1:port
	dataDir string
	caFile  string
	key     crypto.Signer
	client  *http.Client
}

// startStrataProcess builds strata (or takes STRATA_BENCH_BINARY) and
// runs `strata serve` with a fresh organisation key and TLS certificate
// until the benchmark ends.
// strataBinary is STRATA_BENCH_BINARY, or strata built from the checkout
// into a temporary directory.
func strataBinary(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("STRATA_BENCH_BINARY"); bin != "" {
		return bin
	}
	bin := filepath.Join(b.TempDir(), "strata")
	build := exec.Command("go", "build", "-o", bin, "github.com/strata-storage/strata/cmd/strata")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startStrataProcess(b *testing.B) *strataProcess {
	b.Helper()
	dir := b.TempDir()
	bin := strataBinary(b)
	signer, pub := servertest.NewKey(b)
	cert, key := writeTLSCert(b, dir)
	s := &strataProcess{
		addr:    fmt.Sprintf("127.0.0.1:%d", freePort(b)),
		dataDir: filepath.Join(dir, "data"),
		caFile:  cert,
		key:     signer,
		client:  &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}},
	}
	cmd := exec.Command(bin, "serve", "--addr", s.addr, "--data-dir", s.dataDir, "--org", "acme="+pub,
		"--tls-cert", cert, "--tls-key", key, "--log-level", "warn")
	if os.Getenv("STRATA_BENCH_PPROF") != "" {
		// Each server gets its own listener, announced at once so that a
		// profile can be taken while the benchmark runs.
		pprofAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
		cmd.Args = append(cmd.Args, "--pprof-addr", pprofAddr)
		fmt.Fprintf(os.Stderr, "strata serve %s: pprof on http://%s/debug/pprof/\n", s.addr, pprofAddr)
	}
	cmd.Env = os.Environ()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s.pid = cmd.Process.Pid
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-s.pid, syscall.SIGKILL)
			<-done
		}
		if logs.Len() > 0 {
			b.Logf("strata serve output:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+s.addr+"/healthz", nil)
		if resp, err := s.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if ctx.Err() != nil {
			b.Fatalf("strata serve did not become healthy:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *strataProcess) token(b *testing.B, repo string, scopes ...auth.Scope) string {
	tok, err := auth.Mint(s.key, auth.Claims{Issuer: "acme", Repo: repo, Scopes: scopes, TTL: 2 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func (s *strataProcess) createRepo(b *testing.B, token string) {
	req, _ := http.NewRequest("POST", "https://"+s.addr+"/api/v1/repos", strings.NewReader(`{"default_branch":"main"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	mustOK(b, resp, 201)
}

func (s *strataProcess) status(b *testing.B) map[string]int64 {
	st := procStatus(s.pid)
	if len(st) == 0 {
		b.Fatalf("strata (pid %d) is gone", s.pid)
	}
	return st
}
