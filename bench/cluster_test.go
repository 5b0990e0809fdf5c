package bench

import (
	"bytes"
	"context"
	"crypto"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/cluster"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/objstore"
	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/s3test"
	"github.com/strata-storage/strata/internal/servertest"
)

// BenchmarkCluster measures the clustered mode (docs/scale-out.md) beside
// the single-node mode in the same run. Every node is a `strata serve`
// process on loopback (plain HTTP, --log-level warn, default maintenance);
// the cluster's nodes share one PostgreSQL (pgtest: fsync and
// synchronous_commit off) and one versitygw (s3test). Three parts:
//
//   - read: GET /repos/file of a 4 KiB file from 16 connections for a
//     fixed time, against one SQLite node, one cluster node, and three
//     cluster nodes in turn (rounds interleaved). On two shared cores req/s
//     mostly measures the neighbours; what scales is the CPU time each
//     node's process tree, and PostgreSQL, spend per request, from
//     /proc/<pid>/stat. Also: latency with one connection, and the version
//     query (the read path's one PostgreSQL round trip) alone.
//   - commit: commit-pack p50/p99 on a SQLite node against a cluster node,
//     interleaved, both on the same pushed history; then the cluster
//     commit broken into its parts by an in-process node whose ledger,
//     object store and record are timed, beside the same engine commit in
//     the single-node mode on a copy of its cache.
//   - clone: `git clone --bare` of a repository of some tens of MB from a
//     new node with an empty cache (cold) and again from the same node
//     (warm), and from the node the repository was pushed to.
//
// It makes its own runs and ignores b.N; the sub-benchmarks only report.
func BenchmarkCluster(b *testing.B) {
	env := startBenchCluster(b)
	b.Logf("machine: nproc %d, load average %s; commit %s", runtime.NumCPU(), loadAvg(), checkoutCommit())
	defer func() { b.Logf("load average at the end: %s", loadAvg()) }()

	single := env.startNode(b, "single", false)
	nodes := []*clusterNode{env.startNode(b, "n1", true), env.startNode(b, "n2", true), env.startNode(b, "n3", true)}

	reads := benchClusterReads(b, env, single, nodes)
	commits := benchClusterCommits(b, env, single, nodes[0])
	clones := benchClusterClones(b, env, nodes[0])
	for _, r := range append(append(reads, commits...), clones...) {
		b.Run(r.name, func(b *testing.B) {
			for _, m := range r.metrics {
				b.ReportMetric(m.v, m.unit)
			}
		})
	}
}

// result is what one sub-benchmark reports.
type result struct {
	name    string
	metrics []metric
}

// benchCluster is the shared stores and keys of the nodes.
type benchCluster struct {
	bin    string
	dsn    string
	s3     *s3test.Server
	signer crypto.Signer
	pub    string // organisation key
	secret string // --secret-key-file
	client *http.Client
}

func startBenchCluster(b *testing.B) *benchCluster {
	b.Helper()
	dsn := pgtest.New(b)
	s3 := s3test.Start(b)
	dir := b.TempDir()
	bin := strataBinary(b)
	signer, pub := servertest.NewKey(b)
	secret := filepath.Join(dir, "secret.key")
	key := make([]byte, 32)
	crand.Read(key)
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		b.Fatal(err)
	}
	return &benchCluster{bin: bin, dsn: dsn, s3: s3, signer: signer, pub: pub, secret: secret,
		client: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// token is a token for repo with every repository scope.
func (c *benchCluster) token(b *testing.B, repo string) string {
	tok, err := auth.Mint(c.signer, auth.Claims{Issuer: "acme", Repo: repo, TTL: 4 * time.Hour,
		Scopes: []auth.Scope{auth.ScopeRepoWrite, auth.ScopeGitRead, auth.ScopeGitWrite}})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// clusterNode is one `strata serve` process.
type clusterNode struct {
	name string
	url  string
	pid  int
	dir  string
	cmd  *exec.Cmd
	c    *benchCluster
}

// startNode runs `strata serve` on a fresh port and directory until stop
// or the end of the benchmark: in the clustered mode when clustered, else
// the single-node mode with SQLite.
func (c *benchCluster) startNode(b *testing.B, name string, clustered bool) *clusterNode {
	b.Helper()
	dir := b.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	args := []string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"),
		"--org", "acme=" + c.pub, "--log-level", "warn"}
	env := os.Environ()
	if clustered {
		args = append(args, "--metadata", c.dsn, "--objects", c.s3.URL, "--cache-dir", filepath.Join(dir, "cache"),
			"--secret-key-file", c.secret)
		env = append(env, c.s3.Environ()...)
	}
	logf, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	n := &clusterNode{name: name, url: "http://" + addr, pid: cmd.Process.Pid, dir: dir, cmd: cmd, c: c}
	b.Cleanup(func() {
		n.stop()
		logf.Close()
		if data, _ := os.ReadFile(logf.Name()); len(data) > 0 {
			if len(data) > 4000 {
				data = data[len(data)-4000:]
			}
			b.Logf("node %s log (tail):\n%s", name, data)
		}
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(n.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("node %s did not become healthy", name)
		}
	}
}

// stop ends the node with SIGTERM (SIGKILL after 30 s).
func (n *clusterNode) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-n.pid, syscall.SIGKILL)
		<-done
	}
	syscall.Kill(-n.pid, syscall.SIGKILL)
	n.cmd = nil
}

// do sends a request and returns the status and body.
func (n *clusterNode) do(method, path, token, contentType string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequest(method, n.url+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := n.c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// must is do that fails the benchmark unless the status is want.
func (n *clusterNode) must(b *testing.B, want int, method, path, token, contentType string, body io.Reader) []byte {
	b.Helper()
	status, data, err := n.do(method, path, token, contentType, body)
	if err != nil || status != want {
		b.Fatalf("%s %s on %s: %d %s %v", method, path, n.name, status, data, err)
	}
	return data
}

func (n *clusterNode) createRepo(b *testing.B, token string) {
	b.Helper()
	n.must(b, http.StatusCreated, "POST", "/api/v1/repos", token, "application/json", strings.NewReader(`{"default_branch":"main"}`))
}

func (n *clusterNode) commit(b *testing.B, token, path string, content []byte) time.Duration {
	b.Helper()
	start := time.Now()
	n.must(b, http.StatusCreated, "POST", "/api/v1/repos/commit-pack", token, "application/x-ndjson", strings.NewReader(commitPackBody(path, content)))
	return time.Since(start)
}

// counter reads a counter from the node's /metrics (0 when absent).
func (n *clusterNode) counter(b *testing.B, name string) float64 {
	b.Helper()
	data := n.must(b, http.StatusOK, "GET", "/metrics", "", "", nil)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}

// remote is the git URL of repo on the node.
func (n *clusterNode) remote(token, repo string) string {
	return strings.Replace(n.url, "http://", "http://t:"+token+"@", 1) + "/" + repo + ".git"
}

// cpu is the CPU time the node's process tree has used.
func (n *clusterNode) cpu() time.Duration { return treeCPU(n.pid) }

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// treeCPU is the CPU time (user + system) of pid and its live
// descendants, each including the children it has reaped: the git
// processes a node ran and waited for count, and so do those still
// running (the cat-file pool).
func treeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	var ticks int64
	for _, p := range append([]int{pid}, readProcTable().descendants(pid)...) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// Fields from 3 (state) on: utime is 14, stime 15, cutime 16,
		// cstime 17.
		f := strings.Fields(s[i+1:])
		if len(f) < 15 {
			continue
		}
		for _, k := range f[11:15] {
			v, _ := strconv.ParseInt(k, 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// childNamed finds the child of this process whose program is name (the
// PostgreSQL and versitygw that pgtest and s3test started).
func childNamed(name string) int {
	t := readProcTable()
	for pid, ppid := range t {
		if argv := strings.Fields(t.cmdline(pid)); ppid == os.Getpid() && len(argv) > 0 && filepath.Base(argv[0]) == name {
			return pid
		}
	}
	return 0
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// checkoutCommit names the commit the benchmark runs at, with "+dirty"
// when the work tree has changes.
func checkoutCommit() string {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, _ := exec.Command("git", "-C", "..", "status", "--porcelain", "--untracked-files=no").Output(); len(bytes.TrimSpace(st)) > 0 {
		c += "+dirty"
	}
	return c
}

// --- read

// benchClusterReads measures file reads: CPU per request on a SQLite
// node, one cluster node and three cluster nodes, and latency.
func benchClusterReads(b *testing.B, env *benchCluster, single *clusterNode, nodes []*clusterNode) []result {
	const repoID, path = "bench/read", "docs/read-4k.txt"
	seconds := envInt("STRATA_BENCH_CLUSTER_READ_SECONDS", 5)
	conns := envInt("STRATA_BENCH_CLUSTER_READ_CONNS", 16)
	rounds := envInt("STRATA_BENCH_CLUSTER_ROUNDS", 3)
	token := env.token(b, repoID)
	content := bytes.Repeat([]byte("0123456789abcdef"), 256)
	for _, n := range []*clusterNode{single, nodes[0]} {
		n.createRepo(b, token)
		n.commit(b, token, path, content)
	}
	pg, s3 := childNamed("postgres"), childNamed("versitygw")
	if pg == 0 {
		b.Log("no PostgreSQL child process found (STRATA_TEST_POSTGRES_DSN?): its CPU is not measured")
	}
	reqPath := "/api/v1/repos/file?path=" + path + "&ref=main"

	type variant struct {
		name  string
		nodes []*clusterNode
	}
	variants := []variant{{"single-sqlite", []*clusterNode{single}}, {"cluster-1node", nodes[:1]}, {"cluster-3nodes", nodes}}
	type sample struct{ rps, nodeUS, pgUS, s3US, clientUS float64 }
	samples := map[string][]sample{}
	// Warm every cache and connection first.
	for _, v := range variants {
		readLoad(b, env.client, v.nodes, reqPath, token, conns, time.Second)
	}
	for round := range rounds {
		for _, v := range variants {
			var before []time.Duration
			for _, n := range v.nodes {
				before = append(before, n.cpu())
			}
			pg0, s30, self0 := treeCPU(pg), treeCPU(s3), cpuNow().self
			start := time.Now()
			count := readLoad(b, env.client, v.nodes, reqPath, token, conns, time.Duration(seconds)*time.Second)
			wall := time.Since(start)
			var node time.Duration
			for i, n := range v.nodes {
				node += n.cpu() - before[i]
			}
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(count) }
			s := sample{rps: float64(count) / wall.Seconds(), nodeUS: per(node), pgUS: per(treeCPU(pg) - pg0), s3US: per(treeCPU(s3) - s30), clientUS: per(cpuNow().self - self0)}
			samples[v.name] = append(samples[v.name], s)
			b.Logf("read round %d %s: %d requests in %v, %.0f req/s; CPU per request: nodes %.0f µs, PostgreSQL %.0f µs, client %.0f µs (load %s)",
				round, v.name, count, wall.Round(time.Millisecond), s.rps, s.nodeUS, s.pgUS, s.clientUS, loadAvg())
		}
	}
	var out []result
	for _, v := range variants {
		med := func(f func(sample) float64) float64 {
			xs := make([]float64, 0, len(samples[v.name]))
			for _, s := range samples[v.name] {
				xs = append(xs, f(s))
			}
			return median(xs)
		}
		out = append(out, result{"read/" + v.name, []metric{
			{unit: "req/s", v: med(func(s sample) float64 { return s.rps })},
			{unit: "node-cpu-us/req", v: med(func(s sample) float64 { return s.nodeUS })},
			{unit: "pg-cpu-us/req", v: med(func(s sample) float64 { return s.pgUS })},
			{unit: "client-cpu-us/req", v: med(func(s sample) float64 { return s.clientUS })},
		}})
	}

	// Latency with one connection, interleaved in batches.
	n1 := envInt("STRATA_BENCH_CLUSTER_READ_SEQUENTIAL", 1000)
	var latSingle, latCluster latencies
	for i := 0; i < n1; i += 50 {
		for _, x := range []struct {
			n   *clusterNode
			lat *latencies
		}{{single, &latSingle}, {nodes[1], &latCluster}} {
			for range 50 {
				start := time.Now()
				x.n.must(b, http.StatusOK, "GET", reqPath, token, "", nil)
				*x.lat = append(*x.lat, time.Since(start))
			}
		}
	}
	out = append(out,
		result{"read-1conn/single-sqlite", []metric{{unit: "p50-ms", v: ms(latSingle.pct(0.5))}, {unit: "p99-ms", v: ms(latSingle.pct(0.99))}}},
		result{"read-1conn/cluster", []metric{{unit: "p50-ms", v: ms(latCluster.pct(0.5))}, {unit: "p99-ms", v: ms(latCluster.pct(0.99))}}})

	// The version query alone, from this process over the same socket.
	store, err := metadata.OpenPostgres(context.Background(), env.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	r, err := store.Repo(context.Background(), "acme", repoID)
	if err != nil {
		b.Fatal(err)
	}
	var lat latencies
	pg0 := treeCPU(pg)
	for range n1 {
		start := time.Now()
		if _, _, err := store.LedgerVersion(context.Background(), r.StorageKey); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	pgUS := float64((treeCPU(pg) - pg0).Microseconds()) / float64(n1)
	out = append(out, result{"read/version-query", []metric{{unit: "p50-ms", v: ms(lat.pct(0.5))}, {unit: "p99-ms", v: ms(lat.pct(0.99))}, {unit: "pg-cpu-us/query", v: pgUS}}})
	return out
}

// readLoad reads reqPath from conns connections for d, each request on
// the next of nodes, and returns how many answered 200. Any other answer
// fails the benchmark.
func readLoad(b *testing.B, client *http.Client, nodes []*clusterNode, reqPath, token string, conns int, d time.Duration) int64 {
	var count, failed atomic.Int64
	var first atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			for i := c; time.Now().Before(deadline); i++ {
				n := nodes[i%len(nodes)]
				req, _ := http.NewRequest("GET", n.url+reqPath, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					first.CompareAndSwap(nil, resp.Status)
					continue
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d reads failed, the first with %v", failed.Load(), first.Load())
	}
	return count.Load()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// --- commit

// benchClusterCommits measures commit-pack on a SQLite node against a
// cluster node, then the parts of the cluster commit.
func benchClusterCommits(b *testing.B, env *benchCluster, single, node *clusterNode) []result {
	const repoID = "bench/commit"
	history := envInt("STRATA_BENCH_CLUSTER_HISTORY", 1000)
	count := envInt("STRATA_BENCH_CLUSTER_COMMITS", 200)
	token := env.token(b, repoID)
	// The same history on both: written once with fast-import, pushed.
	src := filepath.Join(b.TempDir(), "src.git")
	gitRun(b, "", nil, nil, "init", "-q", "--bare", src)
	fillRepo(b, src, history, 25)
	b.Logf("commit history: %d commits × 25 files, a %.1f MB pack", history, mb(packBytes(b, src)))
	for _, n := range []*clusterNode{single, node} {
		n.createRepo(b, token)
		start := time.Now()
		gitRun(b, "", nil, nil, "--git-dir", src, "push", "-q", n.remote(token, repoID), "main")
		b.Logf("pushed %d commits × 25 files to %s in %v", history, n.name, time.Since(start).Round(time.Millisecond))
	}
	pg, s3 := childNamed("postgres"), childNamed("versitygw")
	compactions0, uploaded0 := node.counter(b, "strata_cluster_compactions_total"), node.counter(b, "strata_cluster_uploaded_bytes_total")
	content := bytes.Repeat([]byte("x"), 1000)
	var latSingle, latCluster latencies
	var cpuSingle, cpuCluster, cpuPG, cpuS3 time.Duration
	for i := range count {
		both := []func(){
			func() {
				c0 := single.cpu()
				latSingle = append(latSingle, single.commit(b, token, fmt.Sprintf("bench/single/%d.txt", i), append(content, fmt.Sprint(i)...)))
				cpuSingle += single.cpu() - c0
			},
			func() {
				c0, p0, s0 := node.cpu(), treeCPU(pg), treeCPU(s3)
				latCluster = append(latCluster, node.commit(b, token, fmt.Sprintf("bench/cluster/%d.txt", i), append(content, fmt.Sprint(i)...)))
				cpuCluster += node.cpu() - c0
				cpuPG += treeCPU(pg) - p0
				cpuS3 += treeCPU(s3) - s0
			},
		}
		if i%2 == 1 {
			both[0], both[1] = both[1], both[0]
		}
		both[0]()
		both[1]()
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(count) }
	// What the node uploaded: each commit's pack, and every compaction's
	// pack of the whole repository.
	compactions := node.counter(b, "strata_cluster_compactions_total") - compactions0
	uploaded := node.counter(b, "strata_cluster_uploaded_bytes_total") - uploaded0
	b.Logf("the cluster node uploaded %.1f MB over %d commits (%.0f KB per commit) and compacted %.0f times",
		uploaded/1e6, count, uploaded/1e3/float64(count), compactions)
	out := []result{
		{"commit/single-sqlite", []metric{{unit: "p50-ms", v: ms(latSingle.pct(0.5))}, {unit: "p99-ms", v: ms(latSingle.pct(0.99))}, {unit: "node-cpu-ms/commit", v: per(cpuSingle)}}},
		{"commit/cluster", []metric{{unit: "p50-ms", v: ms(latCluster.pct(0.5))}, {unit: "p99-ms", v: ms(latCluster.pct(0.99))}, {unit: "node-cpu-ms/commit", v: per(cpuCluster)},
			{unit: "pg-cpu-ms/commit", v: per(cpuPG)}, {unit: "s3-cpu-ms/commit", v: per(cpuS3)}, {unit: "uploaded-KB/commit", v: uploaded / 1e3 / float64(count)}, {unit: "compactions", v: compactions}}},
	}
	b.Logf("commit-pack p50: single %.2f ms, cluster %.2f ms: %+.2f ms", ms(latSingle.pct(0.5)), ms(latCluster.pct(0.5)), ms(latCluster.pct(0.5))-ms(latSingle.pct(0.5)))
	return append(out, benchCommitParts(b, env, repoID, count/2)...)
}

// benchCommitParts commits through the engine of an in-process cluster
// node whose ledger, object store and record are timed, interleaved with
// the same commit on a single-node copy of its cache.
func benchCommitParts(b *testing.B, env *benchCluster, repoID string, count int) []result {
	ctx := context.Background()
	store, err := metadata.OpenPostgres(ctx, env.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	bucket, err := objstore.Open(ctx, env.s3.URL, env.s3.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	defer bucket.Close()
	// Each node's git writes a trace2 file per process (GIT_TRACE2 names
	// a directory), read below for what each git command took.
	traceCluster, traceSingle := b.TempDir(), b.TempDir()
	f := tracedFactory(b, traceCluster)
	f2 := tracedFactory(b, traceSingle)
	cache := catfile.NewCache(f, catfile.Options{})
	defer cache.Stop()
	cache2 := catfile.NewCache(f2, catfile.Options{})
	defer cache2.Stop()
	ledger := &timedLedger{Ledger: store}
	objects := &timedObjects{Objects: bucket}
	up := refs.NewUpdater(f)
	defer up.Close()
	cl := cluster.New(ledger, objects, f, cache, up, slog.New(slog.DiscardHandler), cluster.Options{})
	defer cl.Close()
	record := &timedRecord{Cluster: cl}
	root := b.TempDir()
	m, err := repo.NewManager(root, f, cache, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	m.SetRecord(record)
	r, err := store.Repo(ctx, "acme", repoID)
	if err != nil {
		b.Fatal(err)
	}
	key := r.StorageKey
	first, err := m.Open(ctx, key) // downloads the packs
	if err != nil {
		b.Fatal(err)
	}
	// The single-node reference: a copy of the cache, no record.
	rel, _ := filepath.Rel(root, first.Path())
	root2 := b.TempDir()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(root2, rel)), 0o755); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", first.Path(), filepath.Join(root2, rel)).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v\n%s", err, out)
	}
	m2, err := repo.NewManager(root2, f2, cache2, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m2.Close()

	// Publish's phases, from the timed calls' ends: before the first
	// upload (checks, pack-objects), the two uploads, the ledger
	// transaction, and after it (the cache's refs, the state file).
	var open, total, publish, pack, putPack, putIdx, ledgerTx, after, singleTotal latencies
	for i := range count {
		for turn := range 2 {
			if (i+turn)%2 == 0 { // the single-node engine commit
				start := time.Now()
				r2, err := m2.Open(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				engineCommit(b, r2, fmt.Sprintf("bench/engine-single/%d.txt", i))
				singleTotal = append(singleTotal, time.Since(start))
				continue
			}
			start := time.Now()
			rc, err := m.Open(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			open = append(open, time.Since(start))
			engineCommit(b, rc, fmt.Sprintf("bench/engine-cluster/%d.txt", i))
			total = append(total, time.Since(start))
			pub := record.publish
			pp, pi := objects.within(pub, ".pack"), objects.within(pub, ".idx")
			if pp.start.IsZero() || pi.start.IsZero() {
				b.Fatalf("commit %d: Publish uploaded no pack", i)
			}
			publish = append(publish, pub.dur())
			pack = append(pack, pp.start.Sub(pub.start))
			putPack = append(putPack, pp.dur())
			putIdx = append(putIdx, pi.dur())
			ledgerTx = append(ledgerTx, ledger.publish.dur())
			after = append(after, pub.end.Sub(ledger.publish.end))
		}
	}
	p50 := func(l latencies) float64 { return ms(l.pct(0.5)) }
	b.Logf("engine commit p50: single-node %.2f ms, cluster %.2f ms (open/refresh %.2f, publish %.2f: checks and pack-objects %.2f, PUT .pack %.2f, PUT .idx %.2f, ledger transaction %.2f, cache refs and state %.2f)",
		p50(singleTotal), p50(total), p50(open), p50(publish), p50(pack), p50(putPack), p50(putIdx), p50(ledgerTx), p50(after))
	// What starting a git process costs on this machine now: fork, exec,
	// git's start-up (the trace's elapsed times leave it out).
	plain, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var spawn latencies
	for range 50 {
		start := time.Now()
		if _, err := plain.Output(ctx, "", git.Command{Name: "version"}); err != nil {
			b.Fatal(err)
		}
		spawn = append(spawn, time.Since(start))
	}
	b.Logf("git version through the factory: p50 %.2f ms", p50(spawn))
	gitCluster, gitSingle := readTraces(b, traceCluster), readTraces(b, traceSingle)
	b.Logf("git processes per engine commit, cluster: %s", gitCluster.summary(count))
	b.Logf("git processes per engine commit, single-node: %s", gitSingle.summary(count))
	return []result{
		{"commit-engine/single", []metric{{unit: "p50-ms", v: p50(singleTotal)}, {unit: "p99-ms", v: ms(singleTotal.pct(0.99))},
			{unit: "git-procs/commit", v: float64(gitSingle.runs()) / float64(count)}}},
		{"commit-engine/cluster", []metric{{unit: "p50-ms", v: p50(total)}, {unit: "p99-ms", v: ms(total.pct(0.99))},
			{unit: "open-p50-ms", v: p50(open)}, {unit: "publish-p50-ms", v: p50(publish)}, {unit: "put-pack-p50-ms", v: p50(putPack)}, {unit: "put-idx-p50-ms", v: p50(putIdx)},
			{unit: "ledger-p50-ms", v: p50(ledgerTx)}, {unit: "prepack-p50-ms", v: p50(pack)}, {unit: "after-ledger-p50-ms", v: p50(after)},
			{unit: "pack-objects-p50-ms", v: gitCluster.p50("pack-objects")},
			{unit: "git-procs/commit", v: float64(gitCluster.runs()) / float64(count)}, {unit: "git-spawn-p50-ms", v: p50(spawn)}}},
	}
}

// tracedFactory is a git factory whose processes write trace2 files into
// dir. The factory takes GIT_TRACE2 from the environment when it is made;
// the variable is unset again at once, so nothing else inherits it.
func tracedFactory(b *testing.B, dir string) *git.Factory {
	os.Setenv("GIT_TRACE2", dir)
	f, err := git.NewFactory(git.FactoryOptions{})
	os.Unsetenv("GIT_TRACE2")
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// gitTimes are the elapsed times of short-lived git processes by command
// ("pack-objects", "cat-file --batch-check", …); long-lived ones (the
// cat-file pool, update-ref sessions) are left out.
type gitTimes map[string]latencies

// readTraces reads the trace2 files in dir: one per git process, with
// its command line ("start"), name ("cmd_name") and "exit elapsed:".
func readTraces(b *testing.B, dir string) gitTimes {
	files, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	out := gitTimes{}
	for _, fe := range files {
		data, err := os.ReadFile(filepath.Join(dir, fe.Name()))
		if err != nil {
			continue
		}
		var name, start string
		var elapsed time.Duration
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) < 4:
			case f[2] == "start":
				start = line
			case f[2] == "cmd_name":
				name = f[3]
			case f[2] == "exit" && strings.HasPrefix(f[3], "elapsed:"):
				secs, _ := strconv.ParseFloat(strings.TrimPrefix(f[3], "elapsed:"), 64)
				elapsed = time.Duration(secs * float64(time.Second))
			}
		}
		switch {
		case name == "" || elapsed == 0 || strings.Contains(start, " --stdin") && name == "update-ref" || strings.Contains(start, "--batch-command"):
			continue // not finished, or a long-lived session
		case name == "cat-file" && strings.Contains(start, "--batch-check"):
			name += " --batch-check"
		}
		out[name] = append(out[name], elapsed)
	}
	return out
}

func (g gitTimes) p50(name string) float64 { return ms(g[name].pct(0.5)) }

func (g gitTimes) runs() int {
	n := 0
	for _, l := range g {
		n += len(l)
	}
	return n
}

// summary lists each command's runs per commit and median time.
func (g gitTimes) summary(commits int) string {
	var parts []string
	for name, l := range g {
		parts = append(parts, fmt.Sprintf("%s ×%.2f p50 %.2f ms", name, float64(len(l))/float64(commits), ms(l.pct(0.5))))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// engineCommit commits one 1 KiB file on main through the engine and
// returns main's value before it.
func engineCommit(b *testing.B, r *repo.Repo, path string) git.ObjectID {
	ctx := context.Background()
	w, err := r.BeginWrite()
	if err != nil {
		b.Fatal(err)
	}
	bw := w.NewBlob()
	bw.Write(bytes.Repeat([]byte("y"), 1000))
	io.WriteString(bw, path)
	oid, err := bw.Close()
	if err != nil {
		b.Fatal(err)
	}
	res, err := r.CommitChanges(ctx, w, repo.CommitRequest{Branch: "main", Message: "bench",
		Author:  repo.Signature{Name: "Bench", Email: "bench@example.com"},
		Changes: []repo.FileChange{{Path: path, Mode: "100644", OID: oid}}})
	if err != nil {
		b.Fatal(err)
	}
	return res.Old
}

// span is when a call started and ended.
type span struct{ start, end time.Time }

func (s span) dur() time.Duration { return s.end.Sub(s.start) }

// timedLedger times the ledger transaction of the last Publish.
type timedLedger struct {
	metadata.Ledger
	publish span
}

func (l *timedLedger) LedgerPublish(ctx context.Context, key string, changes []metadata.RefChange, pack *metadata.PackRecord, events []metadata.RefEvent) (metadata.Published, error) {
	start := time.Now()
	p, err := l.Ledger.LedgerPublish(ctx, key, changes, pack, events)
	l.publish = span{start, time.Now()}
	return p, err
}

// timedObjects records every upload (a compaction's too, in the
// background: within keeps those of one Publish).
type timedObjects struct {
	cluster.Objects
	mu   sync.Mutex
	puts []put
}

type put struct {
	ext  string // ".pack", ".idx"
	size int64
	span
}

func (o *timedObjects) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := o.Objects.Put(ctx, key, r, size)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.puts = append(o.puts, put{filepath.Ext(key), size, span{start, time.Now()}})
	return err
}

// within returns the smallest upload of ext made inside w: the one of the
// Publish w times, not of a compaction overlapping it.
func (o *timedObjects) within(w span, ext string) span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var best *put
	for i, p := range o.puts {
		if p.ext == ext && !p.start.Before(w.start) && !p.end.After(w.end) && (best == nil || p.size < best.size) {
			best = &o.puts[i]
		}
	}
	if best == nil {
		return span{}
	}
	return best.span
}

// timedRecord times the last Publish.
type timedRecord struct {
	*cluster.Cluster
	publish span
}

func (r *timedRecord) Publish(ctx context.Context, key, gitDir string, log *refs.Reflog, updates []refs.Update, written string) error {
	start := time.Now()
	err := r.Cluster.Publish(ctx, key, gitDir, log, updates, written)
	r.publish = span{start, time.Now()}
	return err
}

// --- clone

// benchClusterClones clones a repository of some tens of MB from a new
// node with an empty cache (cold), again from it (warm), and from the
// node it was pushed to; and times a cold node's first request alone.
func benchClusterClones(b *testing.B, env *benchCluster, pushed *clusterNode) []result {
	const repoID = "bench/clone"
	size := int64(envInt("STRATA_BENCH_CLUSTER_CLONE_MB", 40)) * 1e6
	runs := envInt("STRATA_BENCH_CLUSTER_CLONE_RUNS", 3)
	token := env.token(b, repoID)
	src := filepath.Join(b.TempDir(), "src.git")
	gitRun(b, "", nil, nil, "init", "-q", "--bare", src)
	packSize := writeRandomRepo(b, src, size, 64<<10, 13)
	pushed.createRepo(b, token)
	start := time.Now()
	gitRun(b, "", nil, nil, "--git-dir", src, "push", "-q", pushed.remote(token, repoID), "main")
	b.Logf("pushed a %.1f MB pack to %s in %v", mb(packSize), pushed.name, time.Since(start).Round(time.Millisecond))

	clone := func(n *clusterNode) time.Duration {
		dir := filepath.Join(b.TempDir(), "clone.git")
		d := timedGit(b, "", nil, "clone", "-q", "--bare", n.remote(token, repoID), dir)
		os.RemoveAll(dir)
		return d
	}
	var cold, warm, pushedWarm, firstRequest, afterFirst latencies
	for round := range runs {
		pushedWarm = append(pushedWarm, clone(pushed))
		fresh := env.startNode(b, fmt.Sprintf("cold-%d", round), true)
		cold = append(cold, clone(fresh))
		warm = append(warm, clone(fresh))
		fresh.stop()
		// The cold cost alone: the first request (ls-remote) fills the
		// cache, the clone after it is warm.
		fresh = env.startNode(b, fmt.Sprintf("first-%d", round), true)
		firstRequest = append(firstRequest, timedGit(b, "", nil, "ls-remote", fresh.remote(token, repoID)))
		afterFirst = append(afterFirst, clone(fresh))
		fresh.stop()
		b.Logf("clone round %d: cold %v, warm (same node) %v, warm (pushed-to node) %v; first request on a new node %v, clone after it %v (load %s)",
			round, cold[round].Round(time.Millisecond), warm[round].Round(time.Millisecond), pushedWarm[round].Round(time.Millisecond),
			firstRequest[round].Round(time.Millisecond), afterFirst[round].Round(time.Millisecond), loadAvg())
	}
	rate := func(l latencies) []metric {
		return []metric{{unit: "p50-ms", v: ms(l.pct(0.5))}, {unit: "MB/s", v: mb(packSize) / l.pct(0.5).Seconds()}}
	}
	return []result{
		{"clone/cold", rate(cold)},
		{"clone/warm", rate(warm)},
		{"clone/warm-pushed-node", rate(pushedWarm)},
		{"clone/cold-first-request", []metric{{unit: "p50-ms", v: ms(firstRequest.pct(0.5))}}},
		{"clone/after-first-request", rate(afterFirst)},
	}
}
