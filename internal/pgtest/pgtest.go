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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strata-storage/strata/internal/pgserver"
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
	// local is set when this package started the server.
	local *pgserver.Server
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
	if srv == nil || srv.local == nil {
		return nil
	}
	srv.local.Stop()
	return os.RemoveAll(srv.local.Dir)
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
	initdb, postgres, ok := pgserver.FindBinaries()
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

// dirPrefix names the directories of servers this package starts.
const dirPrefix = "strata-pgtest-"

// ownerFile holds the pid of the test binary that owns a directory.
const ownerFile = "owner.pid"

// startLocal runs initdb and postgres in a new temporary directory.
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
	local, err := pgserver.Start(pgserver.Options{
		Initdb:   initdb,
		Postgres: postgres,
		Dir:      dir,
		// A test database need not survive a crash.
		Settings: []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off",
			"max_connections=300", "shared_buffers=32MB"},
		// The kernel stops the server if the test binary dies without
		// stopping it (a panic, a timeout, a TestMain without Run).
		// SIGQUIT is PostgreSQL's immediate shutdown.
		Pdeathsig: syscall.SIGQUIT,
	})
	if err != nil {
		return nil, err
	}
	return &server{admin: local.URL, local: local}, nil
}

// tempRoot is where server directories go: os.TempDir(), unless its path
// is too long for the unix socket inside (108 bytes on Linux).
func tempRoot() string {
	if d := os.TempDir(); len(d) < 60 {
		return d
	}
	return "/tmp"
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
