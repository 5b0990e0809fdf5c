// Package s3test runs a real S3-compatible server for tests: versitygw
// (https://github.com/versity/versitygw) serving a temporary directory
// through its posix backend on a loopback port, with a bucket created and
// random root credentials. A test can stop the server to simulate an
// outage and start it again on the same port with the same data. Only
// _test.go files import it.
//
// The binary is looked up on PATH, in $GOBIN and in $(go env GOPATH)/bin;
// when it is missing the test is skipped with the command that installs
// it (see Install).
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/versitygw"
)

// Install is the command that installs the versitygw these tests run.
const Install = versitygw.Install

// Region is the region the server is started with and Env names.
const Region = "us-east-1"

// Bucket and Prefix are where URL points.
const (
	Bucket = "strata-test"
	Prefix = "objects"
)

// Server is a running versitygw. Its methods may be called from any
// goroutine of the test.
type Server struct {
	// URL is s3://Bucket/Prefix, for objstore.Open.
	URL string
	// Endpoint is http://127.0.0.1:port; it does not change on a restart.
	Endpoint string
	// Env holds AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY for this server.
	Env map[string]string
	// Dir is the posix backend's root: Dir/Bucket/Prefix/... are the
	// objects, as plain files.
	Dir string

	t      testing.TB
	bin    string
	addr   string
	logDir string

	mu   sync.Mutex
	proc *process // nil while stopped
	runs int      // how many times a process was started (one log per run)
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
	log  *os.File
}

// Start runs a versitygw until the test ends, waits until it answers and
// creates Bucket. It skips the test when the binary is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Skipf("s3test: %v; install it with `%s`", err, Install)
	}
	dir := t.TempDir()
	s := &Server{
		URL:    "s3://" + Bucket + "/" + Prefix,
		Dir:    filepath.Join(dir, "root"),
		t:      t,
		bin:    bin,
		logDir: dir,
	}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	access, secret := "strata"+randomHex(8), randomHex(20)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.logTail()
		}
	})
	// A port picked by the kernel may be taken by someone else before
	// versitygw binds it: try a few.
	for attempt := 0; ; attempt++ {
		s.addr = freeAddr(t)
		s.Endpoint = "http://" + s.addr
		s.Env = map[string]string{
			"AWS_ENDPOINT_URL":      s.Endpoint,
			"AWS_REGION":            Region,
			"AWS_ACCESS_KEY_ID":     access,
			"AWS_SECRET_ACCESS_KEY": secret,
		}
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("s3test: %v", err)
		}
	}
	if err := s.makeBucket(); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", Bucket, err)
	}
	return s
}

// Getenv looks name up in Env: the env function objstore.Open takes.
func (s *Server) Getenv(name string) string { return s.Env[name] }

// Environ is Env as NAME=value pairs, for a child process.
func (s *Server) Environ() []string {
	var env []string
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// Stop kills the server (SIGKILL, as a crash or a network cut would end
// it: connections are reset, the port stops answering) and waits until it
// has exited. Objects already stored stay in Dir. Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
	p.log.Close()
}

// Start starts a stopped server again on the same port with the same data
// and credentials, and waits until it answers. Starting a running server
// does nothing.
func (s *Server) Start() {
	s.t.Helper()
	// The port was free a moment ago, but the kernel may take a moment to
	// release it after the kill; retry briefly.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("s3test: restart on %s: %v", s.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Restart stops the server and starts it again.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// start runs versitygw on s.addr and waits until /health answers.
func (s *Server) start() error {
	p, err := s.spawn()
	if err != nil || p == nil {
		return err
	}
	if err := versitygw.WaitHealthy(s.Endpoint, p.done, 30*time.Second); err != nil {
		s.Stop()
		return fmt.Errorf("%w\n%s", err, tail(p.log.Name()))
	}
	return nil
}

// spawn starts the process, unless one is running (then it returns nil).
func (s *Server) spawn() (*process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil, nil
	}
	s.runs++
	logf, err := os.Create(filepath.Join(s.logDir, fmt.Sprintf("versitygw-%d.log", s.runs)))
	if err != nil {
		return nil, err
	}
	cmd := versitygw.Command(s.bin, s.config())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logf}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	return p, nil
}

// config describes the server to package versitygw.
func (s *Server) config() versitygw.Config {
	return versitygw.Config{
		Addr:      s.addr,
		Region:    Region,
		Root:      s.Dir,
		AccessKey: s.Env["AWS_ACCESS_KEY_ID"],
		SecretKey: s.Env["AWS_SECRET_ACCESS_KEY"],
		Home:      s.logDir,
	}
}

// makeBucket creates Bucket through the S3 API, as any client would.
func (s *Server) makeBucket() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return versitygw.MakeBucket(ctx, s.config(), Bucket)
}

func (s *Server) logTail() {
	for i := 1; i <= s.runs; i++ {
		s.t.Logf("versitygw log (run %d):\n%s", i, tail(filepath.Join(s.logDir, fmt.Sprintf("versitygw-%d.log", i))))
	}
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// Binary finds versitygw (versitygw.Binary).
func Binary() (string, error) { return versitygw.Binary() }

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
