package main

import (
	"bytes"
	"crypto"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// org runs `strata org ARGS` in-process against dataDir and returns its
// output.
func org(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := orgCommand(t.Context(), &out, append(args, "--data-dir", dataDir)); err != nil {
		t.Fatalf("strata org %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// writeKey writes a key pair named kid and returns its signer and the
// public key's path.
func writeKey(t *testing.T, dir, kid string) (crypto.Signer, string) {
	t.Helper()
	signer, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := auth.WriteKeyPair(dir, kid, signer)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pub
}

// waitStatus polls GET /api/v1/repos with tok until it answers want,
// and returns how long that took.
func waitStatus(t *testing.T, s *servertest.Server, tok string, want int, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		resp := s.Do("GET", "/api/v1/repos", tok, nil)
		resp.Body.Close()
		if resp.StatusCode == want {
			return time.Since(start)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: still %d after %s, want %d", what, resp.StatusCode, time.Since(start), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOrg_live: on a running server, `strata org add` makes a new
// organisation's tokens work within seconds, a second key verifies beside
// the first during a rotation, and `strata org key remove` makes the old
// key's tokens fail, all without a restart. Refusals are logged with
// their reason and the organisation's kids, never the token.
func TestOrg_live(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) { c.LogLevel = "info" }))
	keys := t.TempDir()
	oldKey, oldPub := writeKey(t, keys, "2025")
	newKey, newPub := writeKey(t, keys, "2026")
	mint := func(k crypto.Signer, kid string) string {
		tok, err := auth.Mint(k, auth.Claims{Issuer: "globex", Repo: "org", Scopes: []auth.Scope{auth.ScopeOrgRead}, TTL: time.Hour, KeyID: kid})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	oldTok, newTok := mint(oldKey, "2025"), mint(newKey, "2026")

	waitStatus(t, s, oldTok, http.StatusUnauthorized, "before strata org add")
	out := org(t, s.DataDir, "add", "globex", "--key", oldPub)
	if !strings.Contains(out, `added organisation "globex" with key "2025"`) {
		t.Fatalf("org add said %q", out)
	}
	took := waitStatus(t, s, oldTok, http.StatusOK, "after strata org add")
	t.Logf("org add took effect after %s", took)
	// The --org organisation is untouched.
	waitStatus(t, s, s.TokenWith(auth.Claims{Repo: "org", Scopes: []auth.Scope{auth.ScopeOrgRead}}), http.StatusOK, "the --org organisation")

	// Rotation: both keys verify.
	org(t, s.DataDir, "key", "add", "globex", "--key", newPub)
	waitStatus(t, s, newTok, http.StatusOK, "the new key")
	waitStatus(t, s, oldTok, http.StatusOK, "the old key during the rotation")
	if out := org(t, s.DataDir, "key", "list", "globex"); !strings.Contains(out, "2025") || !strings.Contains(out, "2026") {
		t.Fatalf("org key list:\n%s", out)
	}

	// The old key goes; its token (verified and cached by now) is refused.
	org(t, s.DataDir, "key", "remove", "globex", "2025")
	took = waitStatus(t, s, oldTok, http.StatusUnauthorized, "the old key after its removal")
	t.Logf("org key remove took effect after %s", took)
	waitStatus(t, s, newTok, http.StatusOK, "the new key after the rotation")

	logs := s.Logs()
	var line string
	for l := range strings.Lines(logs) {
		if strings.Contains(l, "token.reason=unknown_kid") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no log line for the removed kid:\n%s", logs)
	}
	for _, want := range []string{"token.org=globex", "token.kid=2025", "token.known_kids=2026", "status=401"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
	for _, tok := range []string{oldTok, newTok} {
		if strings.Contains(logs, strings.Split(tok, ".")[2]) {
			t.Errorf("the logs contain a token's signature")
		}
	}

	org(t, s.DataDir, "remove", "globex")
	waitStatus(t, s, newTok, http.StatusUnauthorized, "after strata org remove")
}

// TestOrg_cli: the commands' checks and messages, on a store without a
// server.
func TestOrg_cli(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	keys := t.TempDir()
	_, pub := writeKey(t, keys, "k1")
	fail := func(want string, args ...string) {
		t.Helper()
		var out bytes.Buffer
		err := orgCommand(t.Context(), &out, append(args, "--data-dir", data))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("strata org %s: error %v, want one mentioning %q", strings.Join(args, " "), err, want)
		}
	}
	fail("no metadata store", "list")
	fail("give --key, --jwks-url or both", "add", "acme")
	fail("want an absolute https:// URL", "add", "acme", "--jwks-url", "ftp://x.example/jwks")
	fail("credentials", "add", "acme", "--jwks-url", "https://u:p@x.example/jwks")
	fail("spaces", "add", "ac me", "--key", pub)
	fail("no such file", "add", "acme", "--key", filepath.Join(keys, "missing.pem"))

	// Flags may come before or after the name; --kid overrides the file name.
	org(t, data, "add", "--kid", "first", "acme", "--key", pub)
	fail("exists", "add", "acme", "--key", pub)
	fail("already has a key", "key", "add", "acme", "--key", pub, "--kid", "first")
	fail(`no organisation "globex"`, "key", "add", "globex", "--key", pub)
	org(t, data, "key", "add", "acme", "--key", pub) // kid k1
	fail(`has no key "nope"`, "key", "remove", "acme", "nope")
	org(t, data, "set", "acme", "--jwks-url", "https://id.example.com/jwks.json")
	out := org(t, data, "list")
	if !strings.Contains(out, "acme") || !strings.Contains(out, "first,k1") || !strings.Contains(out, "https://id.example.com/jwks.json") {
		t.Fatalf("org list:\n%s", out)
	}
	org(t, data, "set", "acme", "--jwks-url", "")
	org(t, data, "key", "remove", "acme", "first")
	if out := org(t, data, "key", "remove", "acme", "k1"); !strings.Contains(out, "no keys left") {
		t.Fatalf("removing the last key did not warn:\n%s", out)
	}
	org(t, data, "remove", "acme")
	fail(`no organisation "acme"`, "remove", "acme")
}
