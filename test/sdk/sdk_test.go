// Package sdk_test runs the official @pierre/storage TypeScript SDK
// (pinned to 1.17.1 in package.json) against freshly built Strata servers.
//
// The Go tests build ./cmd/strata, generate an ES256 key pair with
// `strata keygen`, create a throw-away CA and a TLS certificate for
// 127.0.0.1, start `strata serve` over HTTPS on free ports and then run
// the Node test files (*.test.mjs) in this directory with `node --test`.
// TestSDKConformance runs them against one server; TestSDKConformance_cluster
// against three nodes of the clustered mode (docs/scale-out.md) behind a
// round-robin proxy.
//
// Node.js (>= 20) and npm are hard requirements: the tests fail (they do
// not skip) when they are missing. The cluster run needs PostgreSQL
// (internal/pgtest) and versitygw (internal/s3test) and skips without them.
//
// Optional environment variables for local iteration:
//
//	STRATA_SDK_BINARY        use this prebuilt strata binary instead of
//	                         building ./cmd/strata
//	STRATA_SDK_TEST_FILES    space-separated list of test files to run
//	                         (default: every *.test.mjs in this directory)
//	STRATA_SDK_TEST_PATTERN  passed to node as --test-name-pattern
//	STRATA_SDK_SERVER_LOG    copy the server log to this path at the end
//	                         (the cluster's nodes: to PATH.node1, PATH.node2, …)
package sdk_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/roundrobin"
	"github.com/strata-storage/strata/internal/s3test"
)

const (
	orgName           = "sdk"
	healthTimeout     = 60 * time.Second
	defaultNodeBudget = 20 * time.Minute
)

func TestSDKConformance(t *testing.T) {
	runConformance(t, []server{{
		name: "server",
		args: []string{"--data-dir", filepath.Join(t.TempDir(), "data")},
	}})
}

// TestSDKConformance_cluster runs the whole suite against three nodes of
// the clustered mode on one PostgreSQL database and one versitygw bucket,
// each with its own data and cache directories, behind a proxy that sends
// every request to the next node: a repository is created on one node,
// written on the next and read on the third, and a git push's info/refs
// and receive-pack reach different nodes.
func TestSDKConformance_cluster(t *testing.T) {
	dsn := pgtest.New(t)
	s3 := s3test.Start(t)
	// Every node must open the secrets (git credentials, webhook secrets)
	// the others sealed.
	secret := filepath.Join(t.TempDir(), "secret.key")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []server
	for i := 1; i <= 3; i++ {
		dir := t.TempDir()
		nodes = append(nodes, server{
			name: fmt.Sprintf("node%d", i),
			args: []string{
				"--data-dir", filepath.Join(dir, "data"),
				"--cache-dir", filepath.Join(dir, "cache"),
				"--metadata", dsn,
				"--objects", s3.URL,
				"--secret-key-file", secret,
				// Compaction past 3 packs (default 32) and the garbage
				// collection of the packs it replaced run many times
				// during the suite, so the tests also read repositories
				// whose manifests were compacted under them. The grace
				// stays far above a download of the suite's small packs.
				"--cluster-compact-packs", "3",
				"--cluster-garbage-grace", "20s",
				"--cluster-garbage-interval", "5s",
			},
			env: s3.Environ(),
		})
	}
	runConformance(t, nodes)
}

// server is one `strata serve` process of a run: a name for its log, and
// the flags and environment it gets besides those every server gets (its
// address, the organisation, TLS, the outbound policy for the suite's
// loopback receivers).
type server struct {
	name string
	args []string
	env  []string
}

// runConformance starts servers and runs the Node suite against them:
// against the one server directly, or against several through a
// round-robin HTTPS proxy (internal/roundrobin) with the servers'
// certificate. Every server gets the same organisation key and TLS
// certificate.
func runConformance(t *testing.T, servers []server) {
	nodeBin := requireTool(t, "node")
	npmBin := requireTool(t, "npm")

	sdkDir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	modRoot := moduleRoot(t, sdkDir)
	tmp := t.TempDir()

	// 1. Build the server binary.
	strataBin := strataBinary(t, modRoot)

	// 2. Generate the organisation key pair.
	keysDir := filepath.Join(tmp, "keys")
	runCmd(t, modRoot, time.Minute, strataBin, "keygen", "--out", keysDir, "--alg", "ES256")
	privKey, pubKey := findKeyPair(t, keysDir)
	t.Logf("keygen: private key %s, public key %s", filepath.Base(privKey), filepath.Base(pubKey))

	// 3. TLS material for 127.0.0.1.
	caFile, certFile, keyFile := writeTLSMaterial(t, tmp)

	// 4. Start the servers, and the proxy in front of several.
	var backends []*url.URL
	for _, srv := range servers {
		addr := freeAddr(t)
		logPath := filepath.Join(tmp, srv.name+".log")
		args := append([]string{
			"serve",
			"--addr", addr,
			"--org", orgName + "=" + pubKey,
			"--tls-cert", certFile,
			"--tls-key", keyFile,
			// webhooks.test.mjs receives deliveries on loopback with the
			// suite's certificate.
			"--upstream-allow-private",
			"--upstream-ca-file", caFile,
		}, srv.args...)
		logCopy := strings.TrimSpace(os.Getenv("STRATA_SDK_SERVER_LOG"))
		if logCopy != "" && len(servers) > 1 {
			logCopy += "." + srv.name
		}
		startServer(t, strataBin, srv.name, logPath, logCopy, srv.env, args...)
		backends = append(backends, &url.URL{Scheme: "https", Host: addr})
	}
	for i, b := range backends {
		waitHealthy(t, servers[i].name, b.String(), filepath.Join(tmp, servers[i].name+".log"))
	}
	addr := backends[0].Host
	if len(backends) > 1 {
		addr = startProxy(t, backends, caFile, certFile, keyFile, filepath.Join(tmp, "proxy.log"))
	}
	baseURL := "https://" + addr
	originRoot := filepath.Join(tmp, "origin")
	originHost := startOrigin(t, originRoot, certFile, keyFile)

	// 5. Make sure the SDK is installed.
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", "@pierre", "storage", "package.json")); err != nil {
		t.Logf("node_modules missing; running npm ci")
		runCmd(t, sdkDir, 5*time.Minute, npmBin, "ci", "--no-audit", "--no-fund")
	}

	// 6. Run the Node suite.
	files := testFiles(t, sdkDir)
	args := []string{"--test", "--test-concurrency=1", "--test-reporter=spec"}
	if p := strings.TrimSpace(os.Getenv("STRATA_SDK_TEST_PATTERN")); p != "" {
		args = append(args, "--test-name-pattern="+p)
	}
	args = append(args, files...)

	budget := defaultNodeBudget
	if dl, ok := t.Deadline(); ok {
		if remaining := time.Until(dl) - 30*time.Second; remaining < budget {
			budget = remaining
		}
	}
	if budget <= 0 {
		t.Fatalf("no time left for the node suite (go test -timeout too small)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()

	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = sdkDir
	cmd.Env = append(os.Environ(),
		"STRATA_API_URL="+baseURL,
		"STRATA_ORG="+orgName,
		"STRATA_KEY_FILE="+privKey,
		"STRATA_STORAGE_HOST="+addr,
		"NODE_EXTRA_CA_CERTS="+caFile,
		// The same CA for git subprocesses (GIT_SSL_CAINFO) spawned by the
		// tests that drive real git through SDK remote URLs.
		"STRATA_CA_FILE="+caFile,
		// The server's certificate and key, for test receivers (webhooks).
		"STRATA_TLS_CERT_FILE="+certFile,
		"STRATA_TLS_KEY_FILE="+keyFile,
		// An upstream for sync.test.mjs: git http-backend over TLS.
		"STRATA_ORIGIN_HOST="+originHost,
		"STRATA_ORIGIN_ROOT="+originRoot,
		"STRATA_ORIGIN_PASSWORD="+originPassword,
		"NO_COLOR=1",
	)
	cmd.WaitDelay = 10 * time.Second
	out := t.Output()
	cmd.Stdout = out
	cmd.Stderr = out
	t.Logf("running: node %s", strings.Join(args, " "))
	start := time.Now()
	err = cmd.Run()
	t.Logf("node finished in %s", time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("node suite timed out after %s", budget)
	}
	if err != nil {
		t.Fatalf("node suite failed: %v", err)
	}
}

// The strata binary is built once per test binary, into binDir (made and
// removed by TestMain), for every run that needs it.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// strataBinary returns STRATA_SDK_BINARY, or ./cmd/strata built once.
func strataBinary(t *testing.T, modRoot string) string {
	t.Helper()
	if p := strings.TrimSpace(os.Getenv("STRATA_SDK_BINARY")); p != "" {
		t.Logf("using prebuilt server binary %s (STRATA_SDK_BINARY)", p)
		return p
	}
	binOnce.Do(func() {
		name := "strata"
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		p := filepath.Join(binDir, name)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(t), "build", "-o", p, "./cmd/strata")
		cmd.Dir = modRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			binError = fmt.Errorf("go build ./cmd/strata: %v\n%s", err, out)
			return
		}
		binPath = p
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// startProxy serves a round-robin proxy over backends on a free loopback
// port with the servers' certificate, until the test ends, and returns
// its host:port. Its errors (a backend that cannot be reached) go to
// logPath, dumped when the test fails.
func startProxy(t *testing.T, backends []*url.URL, caFile, certFile, keyFile, logPath string) string {
	t.Helper()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	errorLog := log.New(logFile, "proxy: ", log.LstdFlags|log.Lmicroseconds)
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16,
	}
	proxy, err := roundrobin.New(backends, transport, errorLog)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   proxy,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:  errorLog,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(l, "", ""); !errors.Is(err, http.ErrServerClosed) {
			errorLog.Printf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
		transport.CloseIdleConnections()
		logFile.Close()
		if t.Failed() {
			dumpLogTail(t, "proxy", logPath, 100)
		}
	})
	t.Logf("round-robin proxy on %s over %d servers", l.Addr(), len(backends))
	return l.Addr().String()
}

// requireTool fails the test when a required executable is not on PATH.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for the SDK conformance suite but was not found on PATH: %v", name, err)
	}
	return p
}

func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("go tool not found on PATH")
	return ""
}

func moduleRoot(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command(goTool(t), "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod)
		}
	}
	// Fall back to the known layout: test/sdk is two levels below the root.
	root, absErr := filepath.Abs(filepath.Join(dir, "..", ".."))
	if absErr != nil {
		t.Fatalf("cannot locate module root: %v / %v", err, absErr)
	}
	return root
}

// runCmd runs a command to completion and fails the test with its combined
// output when it does not succeed.
func runCmd(t *testing.T, dir string, timeout time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s (in %s) failed: %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, buf.String())
	}
}

// findKeyPair picks the PEM files written by `strata keygen`: the one holding
// a "PRIVATE KEY" block and the one holding a "PUBLIC KEY" block.
func findKeyPair(t *testing.T, dir string) (priv, pub string) {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	sort.Strings(names)
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		for rest := data; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			switch {
			case strings.Contains(block.Type, "PRIVATE KEY") && priv == "":
				priv = name
			case strings.Contains(block.Type, "PUBLIC KEY") && pub == "":
				pub = name
			}
		}
	}
	if priv == "" || pub == "" {
		t.Fatalf("strata keygen did not produce a private and a public PEM key in %s (files: %v)", dir, names)
	}
	return priv, pub
}

// writeTLSMaterial creates a throw-away CA and a server certificate for
// 127.0.0.1 signed by it. It returns the CA certificate (for
// NODE_EXTRA_CA_CERTS) and the server certificate/key pair.
func writeTLSMaterial(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	now := time.Now()

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate CA key: %v", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "Strata SDK conformance test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create CA certificate: %v", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate server key: %v", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create server certificate: %v", err)
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatalf("marshal server key: %v", err)
	}

	caFile = filepath.Join(dir, "tls-ca.pem")
	certFile = filepath.Join(dir, "tls-cert.pem")
	keyFile = filepath.Join(dir, "tls-key.pem")
	writePEM(t, caFile, "CERTIFICATE", caDER, 0o644)
	writePEM(t, certFile, "CERTIFICATE", srvDER, 0o644)
	writePEM(t, keyFile, "PRIVATE KEY", srvKeyDER, 0o600)
	return caFile, certFile, keyFile
}

func randomSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	return n
}

func writePEM(t *testing.T, path, typ string, der []byte, perm os.FileMode) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// freeAddr returns 127.0.0.1:<port> for a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

// startServer launches a server named name with env added to this
// process's environment and its output going to logPath, and registers a
// cleanup that stops it with SIGTERM (SIGKILL after a grace period),
// copies the log to logCopy when that is not empty, and dumps the log's
// errors and tail when the test failed.
func startServer(t *testing.T, bin, name, logPath, logCopy string, env []string, args ...string) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create %s log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Logf("started %s: strata %s (pid %d)", name, strings.Join(args, " "), cmd.Process.Pid)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	t.Cleanup(func() {
		select {
		case err := <-exited:
			t.Logf("%s had already exited: %v", name, err)
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil && !isSignalExit(err) {
					t.Logf("%s exit after SIGTERM: %v", name, err)
				}
			case <-time.After(15 * time.Second):
				t.Logf("%s did not stop within 15s of SIGTERM; killing it", name)
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		logFile.Close()
		if logCopy != "" {
			if data, err := os.ReadFile(logPath); err == nil {
				if err := os.WriteFile(logCopy, data, 0o644); err != nil {
					t.Logf("copy %s log: %v", name, err)
				}
			}
		}
		if t.Failed() {
			dumpServerErrors(t, name, logPath)
			dumpLogTail(t, name, logPath, 150)
		}
	})
}

func isSignalExit(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false
}

// dumpLogTail logs the last maxLines lines of the log of name at path.
func dumpLogTail(t *testing.T, name, path string, maxLines int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Logf("cannot read %s log: %v", name, err)
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > maxLines {
			lines = lines[1:]
		}
	}
	t.Logf("---- last %d lines of %s log (%s) ----\n%s\n---- end of %s log ----",
		len(lines), name, path, strings.Join(lines, "\n"), name)
}

// dumpServerErrors logs every line of the log of server name that reports
// a warning, an error or a 5xx response, wherever it is in the log.
func dumpServerErrors(t *testing.T, name, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var hits []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") ||
			strings.Contains(line, "panic") || strings.Contains(line, " status=5") {
			hits = append(hits, line)
		}
	}
	if len(hits) > 200 {
		hits = hits[len(hits)-200:]
	}
	if len(hits) > 0 {
		t.Logf("---- %s log: warnings, errors and 5xx responses ----\n%s\n---- end ----", name, strings.Join(hits, "\n"))
	}
}

// waitHealthy polls GET /healthz of server name until it answers 200.
func waitHealthy(t *testing.T, name, baseURL, logPath string) {
	t.Helper()
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			// The test CA is only trusted by node (NODE_EXTRA_CA_CERTS).
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // local test server
		},
	}
	deadline := time.Now().Add(healthTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := client.Get(baseURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			lastErr = fmt.Errorf("GET /healthz: status %d", resp.StatusCode)
		} else {
			lastErr = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	dumpLogTail(t, name, logPath, 100)
	t.Fatalf("%s at %s did not become healthy within %s: %v", name, baseURL, healthTimeout, lastErr)
}

// testFiles lists the node test files to run.
func testFiles(t *testing.T, dir string) []string {
	t.Helper()
	if env := strings.Fields(os.Getenv("STRATA_SDK_TEST_FILES")); len(env) > 0 {
		return env
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if err != nil {
		t.Fatalf("glob: %v", err)
	}
	if len(matches) == 0 {
		t.Fatalf("no *.test.mjs files in %s", dir)
	}
	sort.Strings(matches)
	files := make([]string, len(matches))
	for i, m := range matches {
		files[i] = "./" + filepath.Base(m)
	}
	return files
}
