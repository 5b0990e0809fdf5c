package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is a child process: a Strata node or versitygw.
type proc struct {
	name string
	log  string // the file its output goes to
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
	err  error         // its exit status, once done is closed
}

// startProc starts cmd with its output appended to logPath. The child
// gets a process group of its own, so a terminal's Ctrl-C reaches only
// this program, which stops the children in order; and the kernel sends
// it pdeathsig should this program die without stopping it.
func startProc(name, logPath string, cmd *exec.Cmd, pdeathsig syscall.Signal) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: pdeathsig}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// signal sends sig unless the process has exited.
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits until the process has exited, killing it after timeout.
func (p *proc) wait(timeout time.Duration) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		fmt.Fprintf(os.Stderr, "%s did not stop within %s: killing it\n", p.name, timeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	f, err := os.Open(p.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
