package server_test

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/servertest"
)

// TestMetadata_postgres: with --metadata naming a PostgreSQL database,
// the server keeps its registry there: a repository created and written
// through the REST API reads back, and the row is in PostgreSQL.
func TestMetadata_postgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	s := servertest.Start(t, servertest.WithMetadata(dsn))
	tok := s.Token("team/pg", auth.ScopeRepoWrite, auth.ScopeGitWrite)
	resp := s.Do("POST", "/api/v1/repos", tok, strings.NewReader(`{"default_branch":"main"}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create repo: %d %s", resp.StatusCode, body)
	}
	commitFile(t, s, "team/pg", "docs/hello.txt", "hello from postgres\n")

	resp = s.Do("GET", "/api/v1/repos/file?path=docs/hello.txt", tok, nil)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello from postgres\n" {
		t.Fatalf("read back: %d %q", resp.StatusCode, body)
	}

	// The registry is in PostgreSQL, not in the data dir's SQLite file.
	store, err := metadata.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r, err := store.Repo(t.Context(), s.Org, "team/pg")
	if err != nil {
		t.Fatalf("Repo in PostgreSQL: %v", err)
	}
	if r.DefaultBranch != "main" {
		t.Fatalf("Repo = %+v", r)
	}
	evs, err := store.RefEvents(t.Context(), 0, 0)
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Ref != "refs/heads/main" {
		t.Fatalf("ref events in PostgreSQL = %+v, %v; want the commit's", evs, err)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, metadata.SQLiteFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a SQLite store in the data dir: %v", err)
	}
	if len(s.RepoDirs()) != 1 {
		t.Fatalf("repositories on disk: %v", s.RepoDirs())
	}
}
