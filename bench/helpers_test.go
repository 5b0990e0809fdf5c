package bench

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cgi"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// envInt reads a positive integer knob from the environment.
func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
			return n
		}
	}
	return def
}

// mb is bytes in (decimal) megabytes, the unit of every MB/s figure.
func mb(n int64) float64 { return float64(n) / 1e6 }

// gitRun runs git in dir (its working directory; may be "") with the bench
// environment plus env, and returns its trimmed stdout.
func gitRun(tb testing.TB, dir string, env []string, stdin io.Reader, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(slices.Clone(gitEnv), env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(redact(args), " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// timedGit is gitRun returning how long git took.
func timedGit(tb testing.TB, dir string, env []string, args ...string) time.Duration {
	tb.Helper()
	start := time.Now()
	gitRun(tb, dir, env, nil, args...)
	return time.Since(start)
}

// redact hides tokens embedded in remote URLs from failure messages.
func redact(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if u, err := url.Parse(a); err == nil && u.User != nil {
			u.User = url.User("t")
			out[i] = u.String()
		}
	}
	return out
}

// writeTLSCert writes a self-signed ECDSA P-256 certificate for 127.0.0.1
// into dir and returns the certificate and key files.
func writeTLSCert(tb testing.TB, dir string) (certFile, keyFile string) {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "strata bench"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}

// tlsServer is an in-process Strata serving HTTPS, and what git needs to
// trust it.
type tlsServer struct {
	*servertest.Server
	caFile string // the self-signed certificate, for GIT_SSL_CAINFO
	host   string // 127.0.0.1:port
}

func startTLSServer(b *testing.B, edits ...func(*config.Config)) *tlsServer {
	b.Helper()
	cert, key := writeTLSCert(b, b.TempDir())
	srv := servertest.Start(b, servertest.WithConfig(func(c *config.Config) {
		c.TLSCert, c.TLSKey = cert, key
		for _, e := range edits {
			e(c)
		}
	}))
	u, err := url.Parse(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	return &tlsServer{Server: srv, caFile: cert, host: u.Host}
}

// gitEnvTLS is what git needs to talk to s.
func (s *tlsServer) gitEnvTLS() []string {
	return []string{"GIT_SSL_CAINFO=" + s.caFile, "GIT_TERMINAL_PROMPT=0"}
}

// remote is the https remote of repository id with token as the password.
func (s *tlsServer) remote(token, id string) string {
	return "https://t:" + token + "@" + s.host + "/" + id + ".git"
}

// createRepo creates repository id through REST and returns a token for
// it (repo:write, git:read, git:write) and its directory on disk.
func createRepo(b *testing.B, srv *servertest.Server, id string) (token, dir string) {
	b.Helper()
	token = srv.Token(id, auth.ScopeRepoWrite, auth.ScopeGitRead, auth.ScopeGitWrite)
	before := srv.RepoDirs()
	resp := srv.Do("POST", "/api/v1/repos", token, strings.NewReader(`{"default_branch":"main"}`))
	mustOK(b, resp, 201)
	for _, d := range srv.RepoDirs() {
		if !slices.Contains(before, d) {
			return token, d
		}
	}
	b.Fatalf("create repo %s: no new directory under %s", id, srv.DataDir)
	return "", ""
}

// deleteRepo deletes repository id through REST (its directory goes too).
func deleteRepo(b *testing.B, srv *servertest.Server, token string) {
	b.Helper()
	mustOK(b, srv.Do("DELETE", "/api/v1/repos/delete", token, nil), 200)
}

// writeRandomRepo fills the bare repository gitDir through git fast-import
// with about totalBytes of incompressible blobs (random data from a seeded
// ChaCha8, sizes spread evenly around blobBytes) in commits of 40 files on
// refs/heads/main, then repacks it into one pack with a bitmap, as a
// maintained repository is. It returns the pack's size in bytes.
func writeRandomRepo(tb testing.TB, gitDir string, totalBytes, blobBytes int64, seed uint64) int64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 's', 't', 'r', 'a', 't', 'a'})
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		buf := make([]byte, 2*blobBytes)
		var written int64
		for c := 1; written < totalBytes; c++ {
			fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata 12\nrandom data\n", 1700000000+c)
			for i := 0; i < 40 && written < totalBytes; i++ {
				n := blobBytes/4 + rng.Int64N(blobBytes*3/2+1) // [¼, 1¾] × blobBytes, mean blobBytes
				src.Read(buf[:n])
				fmt.Fprintf(w, "M 100644 inline data/c%03d/blob%02d.bin\ndata %d\n", c, i, n)
				w.Write(buf[:n])
				w.WriteString("\n")
				written += n
			}
		}
		w.Flush()
		pw.Close()
	}()
	// Level 0 only makes generation fast: deflate stores random data
	// uncompressed at any level, so the pack is the same either way.
	gitRun(tb, "", nil, pr, "--git-dir", gitDir, "-c", "core.compression=0", "fast-import", "--quiet")
	gitRun(tb, "", nil, nil, "--git-dir", gitDir, "repack", "-adq")
	return packBytes(tb, gitDir)
}

// packBytes is the size of the packs of gitDir.
func packBytes(tb testing.TB, gitDir string) int64 {
	tb.Helper()
	packs, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "*.pack"))
	var n int64
	for _, p := range packs {
		st, err := os.Stat(p)
		if err != nil {
			tb.Fatal(err)
		}
		n += st.Size()
	}
	if n == 0 {
		tb.Fatalf("no pack in %s", gitDir)
	}
	return n
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitTCP waits until addr accepts connections.
func waitTCP(tb testing.TB, addr string) {
	tb.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	tb.Fatalf("nothing listens on %s", addr)
}

// startGitDaemon serves every repository under base with `git daemon` on
// loopback until the benchmark ends and returns its git:// base URL.
func startGitDaemon(b *testing.B, base string) string {
	b.Helper()
	port := freePort(b)
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
		"--base-path="+base, "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), base)
	cmd.Env = gitEnv
	// `git daemon` runs git-daemon as a child: kill the process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	waitTCP(b, fmt.Sprintf("127.0.0.1:%d", port))
	return fmt.Sprintf("git://127.0.0.1:%d/", port)
}

// throughput reports MB/s of moving n bytes in the median run, next to the
// p50/p99 of the runs.
func reportThroughput(b *testing.B, lat latencies, n int64) {
	lat.report(b)
	b.ReportMetric(mb(n)/lat.pct(0.5).Seconds(), "MB/s")
	b.ReportMetric(float64(len(lat)), "runs")
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[len(s)/2]
}

// cpuTimes is CPU time (user+system) of this process and of its waited-for
// children, from getrusage(2).
type cpuTimes struct{ self, children time.Duration }

func cpuNow() cpuTimes {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return cpuTimes{self: tv(s), children: tv(c)}
}

// cpuRun is where the CPU time of one run went.
type cpuRun struct {
	client time.Duration // the git client and everything it ran (pipe: upload-pack/receive-pack too)
	server time.Duration // this process: the in-process server (Strata, or the CGI host of git-http-backend)
	git    time.Duration // git processes the server ran
}

// timedCPU runs git in the bench environment plus env and measures its
// wall time and where CPU time went meanwhile: the client's process tree
// (wait4 counts descendants it waited for), this process (the in-process
// server), and other children reaped meanwhile (the server's git).
func timedCPU(tb testing.TB, env []string, args ...string) (time.Duration, cpuRun) {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = append(slices.Clone(gitEnv), env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	before := cpuNow()
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(redact(args), " "), err, errb.String())
	}
	wall := time.Since(start)
	after := cpuNow()
	client := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return wall, cpuRun{client: client, server: after.self - before.self, git: after.children - before.children - client}
}

// cpuRuns collects the CPU split of several runs.
type cpuRuns []cpuRun

// report adds the median CPU seconds per run of each part.
func (c cpuRuns) report(b *testing.B, withServer bool) {
	med := func(f func(cpuRun) time.Duration) float64 {
		xs := make([]float64, len(c))
		for i, r := range c {
			xs[i] = f(r).Seconds()
		}
		return median(xs)
	}
	b.ReportMetric(med(func(r cpuRun) time.Duration { return r.client }), "client-cpu-s")
	if withServer {
		b.ReportMetric(med(func(r cpuRun) time.Duration { return r.server }), "server-cpu-s")
		b.ReportMetric(med(func(r cpuRun) time.Duration { return r.git }), "server-git-cpu-s")
	}
}

// startHTTPBackend serves every repository under root with git's own
// smart-HTTP server, git-http-backend(1), run as CGI by net/http/cgi over
// TLS (HTTP/1.1) on loopback, pushes enabled, until the benchmark ends. It returns
// the base URL and the certificate to trust.
func startHTTPBackend(b *testing.B, root string) (base, caFile string) {
	b.Helper()
	backend := filepath.Join(gitRun(b, "", nil, nil, "--exec-path"), "git-http-backend")
	cert, key := writeTLSCert(b, b.TempDir())
	h := &cgi.Handler{
		Path: backend,
		Env: append(slices.Clone(gitEnv), "GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true"),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// HTTP/1.1 only, as Strata serves git: Go would offer HTTP/2 otherwise.
	srv := &http.Server{Handler: h, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	go srv.ServeTLS(l, cert, key)
	b.Cleanup(func() { srv.Close() })
	return "https://" + l.Addr().String() + "/", cert
}
