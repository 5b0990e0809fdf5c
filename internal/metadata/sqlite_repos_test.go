package metadata

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// Before base_auth_type existed only public GitHub repositories could be
// created: the migration marks existing ones public, and no other
// repository gains an auth type.
func TestOpenSQLite_upgradeToBaseAuthType(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "strata.db")
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	before := -1
	for i, m := range ms {
		if strings.HasSuffix(m.name, "_base_auth_type.sql") {
			before = i
		}
	}
	if before < 0 {
		t.Fatal("no base_auth_type migration")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, ms[:before]); err != nil {
		t.Fatalf("migrate to version %d: %v", before, err)
	}
	for _, row := range [][3]any{{"gh", "k0000000000000001", "github"}, {"gl", "k0000000000000002", "gitlab"}, {"plain", "k0000000000000003", nil}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO repos (org, id, id_fold, storage_key, default_branch, created_at, base_provider, base_owner, base_name)
			VALUES ('acme', ?, ?, ?, 'main', 0, ?, 'o', 'n')`, row[0], row[0], row[1], row[2]); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite on a version %d database: %v", before, err)
	}
	t.Cleanup(func() { s.Close() })
	for id, want := range map[string]string{"gh": AuthPublic, "gl": ""} {
		r, err := s.Repo(ctx, "acme", id)
		if err != nil || r.BaseRepo == nil || r.BaseRepo.AuthType != want {
			t.Errorf("%s after upgrade: %+v, %v; want auth type %q", id, r.BaseRepo, err, want)
		}
	}
	if r, err := s.Repo(ctx, "acme", "plain"); err != nil || r.BaseRepo != nil {
		t.Errorf("plain after upgrade: %+v, %v", r.BaseRepo, err)
	}
}
