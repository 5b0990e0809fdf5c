package metadata

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLiteStore is the embedded Store: one SQLite file in WAL mode.
//
// It holds two pools on the same file. All writes go through w, which has a
// single connection: database/sql queues writers in-process, so goroutines
// never contend for SQLite's write lock and never see SQLITE_BUSY. Reads go
// through r, several connections that WAL lets run beside the writer, so a
// slow write never stalls GET requests. busy_timeout still covers other
// processes (an admin CLI) opening the same file.
type SQLiteStore struct {
	w *sql.DB
	r *sql.DB
	// appendEvent is AppendRefEvents' insert, prepared once: it runs on
	// every ref update, and parsing it each time was most of that write's
	// CPU (docs/benchmarks.md, finding 5, round 5).
	appendEvent *sql.Stmt
}

var _ Store = (*SQLiteStore)(nil)

const busyTimeoutMillis = 5000

// SQLiteFileName is the database's file in a data dir: the server and the
// `strata org` commands open the same one, the latter while the former
// runs (busy_timeout makes them take turns at writing).
const SQLiteFileName = "strata.db"

// OpenSQLite opens the database at path, creating the file if needed (not
// its directory), and applies pending migrations. path must name a file;
// ":memory:" would give each pool its own database.
func OpenSQLite(path string) (*SQLiteStore, error) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// A file: URI, so a path holding '?', '#' or '%' is escaped rather than
	// read as query parameters.
	file := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	if !strings.HasPrefix(file.Path, "/") {
		file.Path = "/" + file.Path // file:///C:/… on Windows
	}

	// synchronous=FULL: a commit is on disk before the API acknowledges it.
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// so one that started by reading cannot fail upgrading to a writer.
	w, err := sql.Open("sqlite", dsn(file,
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)

	ctx := context.Background()
	if err := migrate(ctx, w, ms); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	// The reader opens only after the writer has switched the file to WAL
	// (a persistent setting); query_only keeps a stray write off this pool.
	r, err := sql.Open("sqlite", dsn(file, "_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	appendEvent, err := w.PrepareContext(ctx, appendRefEventSQL)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &SQLiteStore{w: w, r: r, appendEvent: appendEvent}, nil
}

// dsn returns the connection string for file with the settings every
// connection needs plus extra.
func dsn(file url.URL, extra ...string) string {
	params := append([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMillis),
		"_pragma=foreign_keys(1)",
	}, extra...)
	file.RawQuery = strings.Join(params, "&")
	return file.String()
}

// Close closes both pools. Closing the last connection checkpoints the WAL.
func (s *SQLiteStore) Close() error {
	return errors.Join(s.appendEvent.Close(), s.r.Close(), s.w.Close())
}

// SchemaVersion reports the highest applied migration, for diagnostics.
func (s *SQLiteStore) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// writeTx runs fn in a transaction on the writer, committing if fn succeeds.
func (s *SQLiteStore) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	return inTx(tx, err, fn)
}

// inTx runs fn in tx, just begun (with err), committing if fn succeeds.
func inTx(tx *sql.Tx, err error, fn func(tx *sql.Tx) error) error {
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// unsyncedWriteTx is writeTx with synchronous=NORMAL for this one
// commit: it reaches the WAL file (and survives the process) but is not
// fsynced; the next synced commit, or a checkpoint, makes it durable with
// everything before it. Only for what can be rebuilt after a power loss.
func (s *SQLiteStore) unsyncedWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return err
	}
	defer func() {
		// Back to FULL whatever happened; a connection that cannot be
		// set back is thrown away rather than left relaxed.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	return inTx(tx, err, fn)
}

// constraint reports whether err is the SQLite constraint violation code
// (an extended code such as SQLITE_CONSTRAINT_UNIQUE).
func constraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

func isUniqueViolation(err error) bool {
	return constraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) ||
		constraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func isForeignKeyViolation(err error) bool {
	return constraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY)
}
