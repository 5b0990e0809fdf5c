package servertest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the strata binary Binary built: one per test binary, removed
// by Main.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary returns ./cmd/strata built into a temporary directory, building
// it on the first call only, for the whole test binary. Main removes it
// when the tests end; a package with a TestMain of its own must call Main.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "strata-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.dir = dir
		path := filepath.Join(dir, "strata")
		// By import path, so that it builds from any package's directory.
		cmd := exec.Command("go", "build", "-o", path, "github.com/strata-storage/strata/cmd/strata")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binary.path = path
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// removeBinary deletes what Binary built, if anything.
func removeBinary() {
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
}

// Process is `strata serve` run as a process of its own (from Binary), so
// that a test can crash it with SIGKILL and start it again on the same
// flags and directories. It runs in a process group of its own, so that a
// kill takes the git processes it was running too. Set the fields, then
// Start; Stop it (or Kill it) before the test ends. Not safe for
// concurrent use.
type Process struct {
	Name string    // in messages: "<Name> did not become healthy"
	Bin  string    // the strata binary
	Args []string  // serve's flags after --addr
	Env  []string  // added to the test's environment; nil: the test's as it is
	Log  io.Writer // the process's stdout and stderr
	// Marks writes "--- start on <addr>" and "--- killed" lines into
	// Log, to tell one run from the next.
	Marks bool
	URL   string // http://127.0.0.1:port, set by Start

	cmd *exec.Cmd
}

// Start runs `strata serve --addr <a fresh loopback port> Args...` and
// waits (up to 2 minutes) until /healthz answers 200.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(p.Bin, append([]string{"serve", "--addr", addr}, p.Args...)...)
	if p.Env != nil {
		cmd.Env = append(os.Environ(), p.Env...)
	}
	if p.Marks {
		fmt.Fprintf(p.Log, "--- start on %s\n", addr)
	}
	cmd.Stdout, cmd.Stderr = p.Log, p.Log
	// Its own process group, so that a kill takes its git children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	p.URL = "http://" + addr
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy: %v", p.Name, err)
		}
	}
}

// Pid is the running process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Kill is a crash: SIGKILL to the process, then (once it is reaped) to
// what is left of its process group, the git processes it was running.
// It does nothing when the process is not running.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGKILL)
	p.cmd.Wait()
	syscall.Kill(-pid, syscall.SIGKILL)
	p.cmd = nil
	if p.Marks {
		fmt.Fprintln(p.Log, "--- killed")
	}
}

// Stop shuts the process down cleanly with SIGTERM, with SIGKILL after
// 30 s, then kills what is left of its process group. It does nothing
// when the process is not running.
func (p *Process) Stop() {
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-done
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	p.cmd = nil
}
