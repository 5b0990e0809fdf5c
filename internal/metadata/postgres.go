package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresStore is the Store of the scale-out mode: any number of Strata
// processes share one PostgreSQL database through it.
//
// Whatever SQLite gets from its single writer, this store gets from
// PostgreSQL explicitly, because the processes sharing the database never
// see each other's memory:
//   - Seqs that promise an order to readers (ref events, repositories)
//     are assigned under a transaction-scoped advisory lock, so they
//     commit in the order they were drawn (AppendRefEvents explains why).
//   - Work handed out to one process at a time (sync jobs, the heads of
//     the webhook and mirror outboxes) carries a lease: an owner (this
//     store) and an expiry on the database's clock. A lease is renewed
//     while the store is open and released by Close, so the work of a
//     process that died is handed out again once its lease expires, and
//     a process that stops cleanly hands it back at once (postgres_lease.go).
//   - Feed cursors move by compare-and-swap under a row lock.
//
// Times are stored as Unix nanoseconds, as SQLite does: callers compare
// the times they stored for equality, which timestamptz's microseconds
// would break. Lease expiries, never returned, are timestamptz on the
// database's clock, so the nodes' clocks need not agree.
type PostgresStore struct {
	pool *pgxpool.Pool
	// owner names this store in lease_owner columns: host, pid and random
	// bits, so two stores in one process (tests) are two owners.
	owner string
	lease time.Duration
	// leased is set by the first claim; until then the heartbeat and
	// Close have no leases to renew or release.
	leased atomic.Bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*PostgresStore)(nil)

// defaultLease is how long a claim stays valid without renewal: the time
// it takes another process to take over the work of one that died.
const defaultLease = time.Minute

// Advisory lock keys, in pg_advisory_lock's bigint space of the database.
// Each serialises one thing across every process sharing the database.
// The high six bytes spell "STRATA" so that the keys do not collide with
// another application's in the same database.
const (
	lockMigrate   int64 = 0x5354_5241_5441_0001 // applying migrations
	lockRefEvents int64 = 0x5354_5241_5441_0002 // ref_events seqs (AppendRefEvents)
	lockRepoSeq   int64 = 0x5354_5241_5441_0003 // repos seqs (CreateRepo)
	lockWebhooks  int64 = 0x5354_5241_5441_0004 // webhook_deliveries ids (EnqueueDeliveries)
	lockMirror    int64 = 0x5354_5241_5441_0005 // mirror_pushes ids (EnqueueMirrorPushes)
)

// pgOptions are the knobs tests turn; OpenPostgres uses the defaults.
type pgOptions struct {
	lease time.Duration // ≤ 0: defaultLease
}

// OpenPostgres connects to the database named by dsn (a postgres:// URL
// or a libpq keyword/value string; pgxpool's pool_* parameters are
// honoured) and applies pending migrations. Several processes may open
// the same database at once: migrations run under an advisory lock.
func OpenPostgres(ctx context.Context, dsn string) (*PostgresStore, error) {
	return openPostgres(ctx, dsn, pgOptions{})
}

func openPostgres(ctx context.Context, dsn string, opt pgOptions) (*PostgresStore, error) {
	ms, err := loadMigrations(pgMigrationFS{})
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// The error of ParseConfig may quote the DSN, password included:
	// never pass it on.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("open postgres: cannot parse the connection string")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout a server that does not answer holds
		// every connection attempt for the system's TCP timeout (minutes).
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgxpool's default (4 or the CPU count) is meant for a client;
		// a server runs requests, workers and leases side by side.
		cfg.MaxConns = max(cfg.MaxConns, 16)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := migratePostgres(ctx, pool, ms); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	s := &PostgresStore{
		pool:  pool,
		owner: newOwner(),
		lease: defaultLease,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if opt.lease > 0 {
		s.lease = opt.lease
	}
	go s.heartbeat()
	return s, nil
}

// newOwner returns this store's lease owner name.
func newOwner() string {
	host, _ := os.Hostname()
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Close stops renewing leases, hands back the work this store holds (so
// another process takes it over at once rather than after the lease),
// and closes the pool. Call it after the workers using the store have
// stopped. Closing twice is harmless.
func (s *PostgresStore) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		if s.leased.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s.closeErr = s.releaseLeases(ctx)
			cancel()
		}
		s.pool.Close()
	})
	return s.closeErr
}

// SchemaVersion reports the highest applied migration, for diagnostics.
func (s *PostgresStore) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// tx runs fn in a read-committed transaction, committing if fn succeeds.
func (s *PostgresStore) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// lockXact takes the advisory lock key until tx ends.
func lockXact(ctx context.Context, tx pgx.Tx, key int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key)
	return err
}

// pgCode reports whether err is a PostgreSQL error with SQLSTATE code.
func pgCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// pgStorable reports whether PostgreSQL can hold every s as text: valid
// UTF-8 without NUL. A lookup by a value it cannot hold (an id from a
// token, a URL) finds nothing, as in SQLite, rather than failing with an
// encoding error.
func pgStorable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// nullIfEmpty maps "" to NULL for nullable text columns.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// limitArg maps limit ≤ 0 (no limit) to NULL: LIMIT NULL is LIMIT ALL.
func limitArg(limit int) *int64 {
	if limit <= 0 {
		return nil
	}
	n := int64(limit)
	return &n
}
