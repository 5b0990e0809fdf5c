package metadata_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/metadata/storetest"
)

func openSQLite(t *testing.T, path string) *metadata.SQLiteStore {
	t.Helper()
	s, err := metadata.OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	return s
}

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) metadata.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "strata.db"))
	})
}

type migrationRow struct {
	version   int
	appliedAt int64
}

func migrationRows(t *testing.T, s *metadata.SQLiteStore) []migrationRow {
	t.Helper()
	_, r := metadata.Pools(s)
	rows, err := r.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var m migrationRow
		if err := rows.Scan(&m.version, &m.appliedAt); err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return out
}

func TestOpenSQLite_reopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "strata.db")

	s := openSQLite(t, path)
	r, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "team/keep", DefaultBranch: "main"})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	if err := s.RecordBranch(ctx, r.StorageKey, "", "main", r.CreatedAt); err != nil {
		t.Fatalf("RecordBranch: %v", err)
	}
	if _, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "gone"}); err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	if _, err := s.DeleteRepo(ctx, "acme", "gone"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	applied := migrationRows(t, s)
	version, err := s.SchemaVersion(ctx)
	if err != nil || version < 1 || len(applied) != version {
		t.Fatalf("SchemaVersion = %d, %v; %d migrations recorded", version, err, len(applied))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openSQLite(t, path)
	t.Cleanup(func() { s.Close() })
	got, err := s.Repo(ctx, "acme", "team/keep")
	if err != nil {
		t.Fatalf("Repo after reopen: %v", err)
	}
	if got.StorageKey != r.StorageKey || got.Seq != r.Seq || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("Repo after reopen = %+v, want %+v", got, r)
	}
	if bs, err := s.Branches(ctx, r.StorageKey, ""); err != nil || len(bs) != 1 || !bs[0].CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("Branches after reopen = %+v, %v", bs, err)
	}
	if _, err := s.Repo(ctx, "acme", "gone"); !errors.Is(err, metadata.ErrDeleted) {
		t.Fatalf("tombstone after reopen: %v, want ErrDeleted", err)
	}
	// Same rows, same applied_at: nothing was applied again.
	again := migrationRows(t, s)
	if len(again) != len(applied) {
		t.Fatalf("migrations after reopen = %v, want %v", again, applied)
	}
	for i := range again {
		if again[i] != applied[i] {
			t.Fatalf("migration %d reapplied: %v, was %v", again[i].version, again[i], applied[i])
		}
	}
	// Seq keeps increasing across restarts.
	n, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "new"})
	if err != nil || n.Seq <= r.Seq {
		t.Fatalf("CreateRepo after reopen: Seq %d (after %d), %v", n.Seq, r.Seq, err)
	}
}

func TestOpenSQLite_newerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "strata.db")
	s := openSQLite(t, path)
	w, _ := metadata.Pools(s)
	if _, err := w.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	s.Close()
	if s, err := metadata.OpenSQLite(path); err == nil {
		s.Close()
		t.Fatal("OpenSQLite accepted a schema newer than the binary")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenSQLite: %v, want a newer-schema error", err)
	}
}

func TestOpenSQLite_pragmas(t *testing.T) {
	t.Parallel()
	s := openSQLite(t, filepath.Join(t.TempDir(), "strata.db"))
	t.Cleanup(func() { s.Close() })
	w, r := metadata.Pools(s)
	for _, tc := range []struct {
		desc, pragma, want string
		pool               string
	}{
		{"WAL", "journal_mode", "wal", "writer"},
		{"durable commits", "synchronous", "2", "writer"}, // FULL
		{"foreign keys", "foreign_keys", "1", "writer"},
		{"busy timeout", "busy_timeout", "5000", "writer"},
		{"reader WAL", "journal_mode", "wal", "reader"},
		{"reader busy timeout", "busy_timeout", "5000", "reader"},
		{"reader read-only", "query_only", "1", "reader"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			db := w
			if tc.pool == "reader" {
				db = r
			}
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s on %s = %q, want %q", tc.pragma, tc.pool, got, tc.want)
			}
		})
	}
}

// A path with URI-special characters must name that exact file.
func TestOpenSQLite_awkwardPath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a b?c#d%20e")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "strata.db")
	s := openSQLite(t, path)
	defer s.Close()
	if _, err := s.CreateRepo(t.Context(), metadata.Repo{Org: "acme", ID: "r"}); err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
}

func TestOpenSQLite_missingDir(t *testing.T) {
	t.Parallel()
	if s, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "nope", "strata.db")); err == nil {
		s.Close()
		t.Fatal("OpenSQLite succeeded in a missing directory")
	}
}

// Reads must not wait for a writer holding the write lock (WAL plus a
// separate reader pool).
func TestSQLiteStore_readDuringWrite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openSQLite(t, filepath.Join(t.TempDir(), "strata.db"))
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "r"}); err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	w, _ := metadata.Pools(s)
	tx, err := w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE repos SET default_branch = 'x'`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Repo(ctx, "acme", "r")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Repo during write: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Repo blocked behind an open write transaction")
	}
	if got, _ := s.Repo(ctx, "acme", "r"); got.DefaultBranch == "x" {
		t.Fatal("reader saw an uncommitted write")
	}
}
