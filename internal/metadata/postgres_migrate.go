package metadata

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrationFiles holds the PostgreSQL schema history, numbered like
// migrations/ (NNNN_what.sql, from 1 without gaps) but separate from it:
// the two dialects differ, and the PostgreSQL history starts at today's
// schema. Once committed, a file never changes: a schema change is a new
// file with the next number, and both stores get one.
//
//go:embed migrations_pg/*.sql
var pgMigrationFiles embed.FS

// pgMigrationFS shows migrations_pg/ under the name loadMigrations reads
// (migrations/), so both stores share one loader and its checks.
type pgMigrationFS struct{}

func (pgMigrationFS) Open(name string) (fs.File, error) {
	switch rest, ok := strings.CutPrefix(name, "migrations"); {
	case ok && rest == "":
		return pgMigrationFiles.Open("migrations_pg")
	case ok && strings.HasPrefix(rest, "/"):
		return pgMigrationFiles.Open("migrations_pg" + rest)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// migratePostgres applies every migration not yet recorded in
// schema_migrations, each in its own transaction with its record, so a
// crash leaves all or none of a migration.
//
// It holds a session advisory lock throughout, on a connection of its
// own: N processes starting at once against one database take turns, and
// all but the first find nothing left to do. (Transactions alone would
// not do: two CREATE TABLE IF NOT EXISTS racing each other fail on
// PostgreSQL's catalog, and two processes could both read version n and
// both apply n+1.) The lock dies with the connection, so a process killed
// mid-migration does not block the others.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockMigrate); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	defer func() {
		// Unlock even when ctx is done; if that fails, the connection is
		// not fit for reuse and is closed, which unlocks as well.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, lockMigrate); err != nil {
			conn.Conn().Close(uctx)
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT  NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	// An older binary must not run against a schema it does not know.
	if current > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this binary's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx sends the file with the simple protocol,
			// which runs several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
	}
	return nil
}
