package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/servertest"
)

// The PostgreSQL server of these tests stops with the test binary.
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOrg_postgres: with --metadata, `strata org` changes the server's
// PostgreSQL store, wherever its data dir is, and the server picks the
// change up.
func TestOrg_postgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	s := servertest.Start(t, servertest.WithMetadata(dsn))
	key, pub := writeKey(t, t.TempDir(), "k1")
	elsewhere := filepath.Join(t.TempDir(), "not-the-servers")
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := orgCommand(t.Context(), &out, append(args, "--data-dir", elsewhere, "--metadata", dsn)); err != nil {
			t.Fatalf("strata org %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	run("add", "globex", "--key", pub)
	if out := run("list"); !strings.Contains(out, "globex") {
		t.Fatalf("org list:\n%s", out)
	}
	tok, err := auth.Mint(key, auth.Claims{Issuer: "globex", Repo: "org", Scopes: []auth.Scope{auth.ScopeOrgRead}, TTL: time.Hour, KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, tok, http.StatusOK, "after strata org add --metadata")
}
