// Package pgtest gives tests a real PostgreSQL database: New returns the
// connection URL of a fresh, empty database of its own. The server is
// started on first use, once per test binary, from the PostgreSQL
// installed on the machine (initdb and postgres under
// /usr/lib/postgresql/*/bin, else on PATH), in a temporary directory,
// listening on a unix socket only, fsync off. When the environment
// variable STRATA_TEST_POSTGRES_DSN names a server, the databases are
// created there instead and nothing is started. Without either, New skips
// the test.
//
// The server stops when the test binary exits: at once through Main (or
// Run) in TestMain, which also removes its directory; otherwise the kernel
// stops it when the binary exits (Pdeathsig), and the next start removes
// the directory left behind. Only _test.go files import this package.
package pgtest

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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names an existing server to use instead of starting one: a
// postgres:// URL (or libpq keyword/value string) of a role that may
// create databases.
const EnvDSN = "STRATA_TEST_POSTGRES_DSN"

var (
	once    sync.Once
	srv     *server
	srvErr  error
	skipMsg string
	dbCount atomic.Int64
)

// server is the PostgreSQL the databases are created on.
type server struct {
	admin string // URL of its maintenance database
	// The rest is set when this package started the server.
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// New creates an empty database for t and returns its connection URL (a
// postgres:// URL when the server is local or EnvDSN is a URL). The
// database is dropped when t ends, after the cleanups t registers later
// (close stores first).
func New(t testing.TB) string {
	t.Helper()
	once.Do(func() { srv, srvErr = start() })
	if skipMsg != "" {
		t.Skip(skipMsg)
	}
	if srvErr != nil {
		t.Fatalf("pgtest: %v", srvErr)
	}
	name := fmt.Sprintf("strata_test_%d_%d", os.Getpid(), dbCount.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends the sessions a failed test left open.
		if err := srv.exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	dsn, err := withDatabase(srv.admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// Main is a TestMain that stops the server after the tests: func
// TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests, stops the server if New started one, and returns
// the exit code, for a TestMain that does more.
func Run(m *testing.M) int {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Stop stops the server New started, if any, and removes its directory.
// New must not be called afterwards.
func Stop() error {
	if srv == nil || srv.cmd == nil {
		return nil
	}
	s := srv
	// SIGINT is PostgreSQL's fast shutdown: sessions end, no waiting.
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	return os.RemoveAll(s.dir)
}

// exec runs one statement on the maintenance database.
func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn naming database name instead of its own.
func withDatabase(dsn, name string) (string, error) {
	if !strings.Contains(dsn, "://") {
		return dsn + " dbname=" + name, nil // keyword/value: the last one wins
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL", EnvDSN)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// start returns the server to use: EnvDSN's, or one started here. It sets
// skipMsg when there is neither.
func start() (*server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return &server{admin: dsn}, nil
	}
	initdb, postgres, ok := findBinaries()
	if !ok {
		skipMsg = "PostgreSQL is not installed (no initdb and postgres under /usr/lib/postgresql/*/bin or on PATH; " +
			"Debian: apt-get install postgresql), and " + EnvDSN + " is not set"
		return nil, nil
	}
	sweep()
	s, err := startLocal(initdb, postgres)
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL (%s): %w", filepath.Dir(postgres), err)
	}
	return s, nil
}

// findBinaries returns initdb and postgres of the newest PostgreSQL under
// /usr/lib/postgresql (Debian's layout), else those on PATH.
func findBinaries() (initdb, postgres string, ok bool) {
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

// dirPrefix names the directories of servers this package starts.
const dirPrefix = "strata-pgtest-"

// ownerFile holds the pid of the test binary that owns a directory.
const ownerFile = "owner.pid"

// startLocal runs initdb and postgres in a new temporary directory. As
// root, they run as the postgres user: initdb refuses to run as root.
func startLocal(initdb, postgres string) (s *server, err error) {
	dir, err := os.MkdirTemp(tempRoot(), dirPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = postgresUser(); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir // initdb needs a working directory the user may read
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}

	data := filepath.Join(dir, "data")
	// --no-sync and fsync=off: a test database need not survive a crash.
	if err := command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync").Run(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, readLog(logPath))
	}
	cmd := command(postgres, "-D", data,
		"-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	// The kernel stops the server if the test binary dies without
	// stopping it (a panic, a timeout, a TestMain without Run). SIGQUIT
	// is PostgreSQL's immediate shutdown.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s = &server{
		admin:  "postgres://postgres@/postgres?host=" + url.QueryEscape(dir) + "&sslmode=disable",
		dir:    dir,
		cmd:    cmd,
		exited: make(chan struct{}),
	}
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

// waitReady waits until the server accepts connections.
func (s *server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.exec(ctx, `SELECT 1`)
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

// tempRoot is where server directories go: os.TempDir(), unless its path
// is too long for the unix socket inside (108 bytes on Linux).
func tempRoot() string {
	if d := os.TempDir(); len(d) < 60 {
		return d
	}
	return "/tmp"
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

// sweep removes the directories of servers whose test binary is gone (it
// died, or had no TestMain to stop its server).
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(tempRoot(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		// The server dies with its owner; if it is still shutting down,
		// leave the directory to the next sweep.
		if pm, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(pm), "\n")
			if p, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && alive(p) {
				continue
			}
		}
		os.RemoveAll(d)
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// readLog returns the end of the server's log, for an error message.
func readLog(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
