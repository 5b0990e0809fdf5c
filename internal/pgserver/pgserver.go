// Package pgserver runs a private PostgreSQL server from the one installed
// on the machine: initdb into a directory, then postgres on that data,
// reachable by a unix socket in the directory or on a loopback port, with
// trust authentication for the superuser "postgres". As root, both run as
// the postgres user, since initdb refuses to run as root.
//
// It is the start-up code shared by the tests' throw-away server
// (internal/pgtest) and `make cluster` (tools/cluster); Strata itself
// never starts a database.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// FindBinaries returns initdb and postgres of the newest PostgreSQL under
// /usr/lib/postgresql (Debian's layout), else those on PATH.
func FindBinaries() (initdb, postgres string, ok bool) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExecutable(i) && isExecutable(p) {
			return i, p, true
		}
	}
	i, err1 := exec.LookPath("initdb")
	p, err2 := exec.LookPath("postgres")
	return i, p, err1 == nil && err2 == nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Options says how to run the server.
type Options struct {
	// Initdb and Postgres are the binaries (FindBinaries).
	Initdb, Postgres string
	// Dir is the server's directory, which must exist: the data go in
	// Dir/data (made by initdb unless it holds a cluster already), the log
	// in Dir/postgres.log and, without Port, the socket in Dir (whose path
	// must then be short: a socket's is at most 107 bytes on Linux). As
	// root, Dir is given to the postgres user.
	Dir string
	// Port, when not 0, makes the server listen on 127.0.0.1:Port and on
	// no unix socket.
	Port int
	// Settings are passed to postgres as -c name=value, after the ones
	// above.
	Settings []string
	// Pdeathsig, when not 0, is the signal the kernel sends postgres when
	// the process that started it dies (SIGQUIT: immediate shutdown).
	Pdeathsig syscall.Signal
	// Setpgid runs postgres in a process group of its own, so a
	// terminal's Ctrl-C reaches only the caller, which stops it last.
	Setpgid bool
}

// Server is a running postgres.
type Server struct {
	// URL is the postgres:// URL of its maintenance database "postgres"
	// as the superuser.
	URL string
	// Dir is Options.Dir.
	Dir string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Start runs initdb when Dir/data holds no cluster yet, starts postgres
// and waits until it accepts connections.
func Start(opts Options) (s *Server, err error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = postgresUser(); err != nil {
			return nil, err
		}
		if err := os.Chown(opts.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(opts.Dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the processes write to their own copies
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Dir = opts.Dir // initdb needs a working directory the user may read
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}

	data := filepath.Join(opts.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		// --no-sync: initdb's files are synced by the first checkpoint,
		// or lost with a crash before it, which only a test allows.
		if err := command(opts.Initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync").Run(); err != nil {
			return nil, fmt.Errorf("initdb: %w\n%s", err, readLog(logPath))
		}
	}
	var args []string
	var u string
	if opts.Port != 0 {
		args = []string{"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(opts.Port), "-c", "unix_socket_directories="}
		u = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", opts.Port)
	} else {
		args = []string{"-k", opts.Dir, "-c", "listen_addresses="}
		u = "postgres://postgres@/postgres?host=" + url.QueryEscape(opts.Dir) + "&sslmode=disable"
	}
	for _, kv := range opts.Settings {
		args = append(args, "-c", kv)
	}
	cmd := command(opts.Postgres, append([]string{"-D", data}, args...)...)
	cmd.SysProcAttr.Pdeathsig = opts.Pdeathsig
	cmd.SysProcAttr.Setpgid = opts.Setpgid
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s = &Server{URL: u, Dir: opts.Dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(time.Minute); err != nil {
		cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("%w\n%s", err, readLog(logPath))
	}
	return s, nil
}

// Exited is closed once postgres has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Stop stops the server with a fast shutdown (sessions end, nothing is
// waited for; SIGKILL after 30 s) and waits until it has exited.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Exec runs one statement on the maintenance database.
func (s *Server) Exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// waitReady waits until the server accepts connections.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Exec(ctx, `SELECT 1`)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return errors.New("postgres exited")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %w", timeout, err)
		}
	}
}

// postgresUser returns the credential of the postgres user, for root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses to: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// readLog returns the end of the server's log, for an error message.
func readLog(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
