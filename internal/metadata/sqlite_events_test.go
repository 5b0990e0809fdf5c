package metadata

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A database created before ref events existed (schema version 1) gains
// the table on open, and its repositories can record events at once.
func TestOpenSQLite_upgradeToRefEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "strata.db")
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, ms[:1]); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO repos (org, id, id_fold, storage_key, default_branch, created_at)
		VALUES ('acme', 'old', 'old', 'k0123456789abcdef', 'main', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite on a version 1 database: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(ms) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(ms))
	}
	zero := strings.Repeat("0", 40)
	got, err := s.AppendRefEvents(ctx, []RefEvent{{StorageKey: "k0123456789abcdef", Ref: "refs/heads/main", Before: zero, After: strings.Repeat("1", 40)}})
	if err != nil {
		t.Fatalf("AppendRefEvents after upgrade: %v", err)
	}
	if got[0].Org != "acme" || got[0].RepoID != "old" || got[0].Seq != 1 {
		t.Fatalf("event = %+v", got[0])
	}
}

// LastRefStates finds each ref's newest event in the ref_events_last index
// alone (migration 0003): a busy repository's history is never scanned
// row by row.
func TestLastRefStates_usesIndex(t *testing.T) {
	t.Parallel()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rows, err := s.r.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+lastRefSeqs, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "COVERING INDEX ref_events_last") {
		t.Fatalf("query plan %q does not read the ref_events_last index", got)
	}
}

// Ref events are committed without a sync, and the writer goes back to
// synchronous=FULL for everything else, error or not.
func TestSQLiteStore_unsyncedEventsOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	repo, err := s.CreateRepo(ctx, Repo{Org: "acme", ID: "r", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	level := func() int {
		t.Helper()
		var n int
		if err := s.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var during int
	err = s.unsyncedWriteTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&during)
	})
	if err != nil || during != 1 {
		t.Errorf("synchronous inside unsyncedWriteTx = %d, %v; want 1 (NORMAL)", during, err)
	}
	if got := level(); got != 2 {
		t.Errorf("synchronous after it = %d, want 2 (FULL)", got)
	}
	oid := strings.Repeat("a", 40)
	if _, err := s.AppendRefEvents(ctx, []RefEvent{{StorageKey: repo.StorageKey, Ref: "refs/heads/main", After: oid}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendRefEvents(ctx, []RefEvent{{StorageKey: "unknown-key", Ref: "refs/heads/main", After: oid}}); err == nil {
		t.Fatal("AppendRefEvents for an unknown repository succeeded")
	}
	if got := level(); got != 2 {
		t.Errorf("synchronous after AppendRefEvents, one failed = %d, want 2 (FULL)", got)
	}
	evs, err := s.RefEvents(ctx, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].After != oid {
		t.Errorf("RefEvents = %v, %v; want the one appended", evs, err)
	}
}

// BenchmarkSQLiteAppendRefEvents is the metadata write every ref update
// makes: one event, appended without a sync.
func BenchmarkSQLiteAppendRefEvents(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "strata.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	r, err := s.CreateRepo(ctx, Repo{Org: "acme", ID: "r", DefaultBranch: "main"})
	if err != nil {
		b.Fatal(err)
	}
	before := strings.Repeat("1", 40)
	b.ResetTimer()
	for i := range b.N {
		after := fmt.Sprintf("%040x", i+1)
		if _, err := s.AppendRefEvents(ctx, []RefEvent{{StorageKey: r.StorageKey, Ref: "refs/heads/main", Before: before, After: after, At: time.Now()}}); err != nil {
			b.Fatal(err)
		}
		before = after
	}
}
