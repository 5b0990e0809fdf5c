package api_test

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// TestVerifySig_rest is the regression test for issue 10 finding 1: every
// REST path that moves a verify-sig-protected ref checks the commits the
// ref gains (or, where Strata writes the commit itself, refuses).
func TestVerifySig_rest(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	keys := t.TempDir()
	key := filepath.Join(keys, "registered")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "registered", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(keys, "allowed_signers")
	if err := os.WriteFile(signers, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, servertest.WithConfig(func(c *config.Config) {
		c.OrgSigningKeys = map[string][]string{"acme": {signers}}
	}))
	r, base := e.seededRepo(t)
	dir := r.Dir(t)
	tree := r.git(t, "rev-parse", base+"^{tree}")
	unsigned := r.git(t, "commit-tree", tree, "-p", base, "-m", "unsigned")
	signed := gitRun(t, dir, nil, "-c", "gpg.format=ssh", "-c", "user.signingkey="+key, "commit-tree", "-S", tree, "-p", base, "-m", "signed")
	r.git(t, "update-ref", "refs/heads/scratch", unsigned)
	r.git(t, "update-ref", "refs/heads/signed", signed)
	r.git(t, "update-ref", "refs/heads/release", base)

	tok := e.TokenWith(auth.Claims{Repo: r.ID, Scopes: []auth.Scope{auth.ScopeGitRead, auth.ScopeGitWrite}, Refs: []auth.RawRule{
		{Pattern: "release", Ops: []auth.Op{auth.OpVerifySig}},
		{Pattern: "protected/*", Ops: []auth.Op{auth.OpVerifySig}},
		{Pattern: "refs/tags/*", Ops: []auth.Op{auth.OpVerifySig}},
		{Pattern: "refs/notes/*", Ops: []auth.Op{auth.OpVerifySig}},
		{Pattern: "*"},
	}})
	post := func(t *testing.T, path string, body map[string]any) *response {
		t.Helper()
		return e.do(t, "POST", path, tok, jsonBody(t, body))
	}
	denied := func(t *testing.T, resp *response) {
		t.Helper()
		msg, _ := wantError(t, resp, http.StatusForbidden)["error"].(string)
		if !strings.Contains(msg, "denied by policy: verify-sig") {
			t.Fatalf("error = %q", msg)
		}
	}

	t.Run("force onto an unsigned commit", func(t *testing.T) {
		denied(t, post(t, "/api/v1/repos/branches/create", map[string]any{"target_branch": "release", "base_ref": "scratch", "force": true}))
		denied(t, post(t, "/api/v1/repos/branches/create", map[string]any{"target_branch": "release", "base_ref": "scratch", "target_is_ephemeral": true}))
		if got := r.tip(t, "refs/heads/release"); got != base {
			t.Fatalf("release = %s, want %s", got, base)
		}
	})
	t.Run("create on a protected pattern", func(t *testing.T) {
		denied(t, post(t, "/api/v1/repos/branches/create", map[string]any{"target_branch": "protected/a", "base_ref": "scratch"}))
		if got := r.tip(t, "refs/heads/protected/a"); got != "" {
			t.Fatalf("protected/a created at %s", got)
		}
	})
	t.Run("tag on an unsigned commit", func(t *testing.T) {
		denied(t, post(t, "/api/v1/repos/tags", map[string]any{"name": "v1", "target": unsigned}))
	})
	t.Run("notes are unsigned Strata commits", func(t *testing.T) {
		denied(t, post(t, "/api/v1/repos/notes", map[string]any{"sha": base, "action": "add", "note": "n"}))
	})
	t.Run("signed commits pass", func(t *testing.T) {
		wantStatus(t, post(t, "/api/v1/repos/branches/create", map[string]any{"target_branch": "release", "base_ref": "signed", "force": true}), http.StatusOK)
		// Everything release holds is verified already.
		wantStatus(t, post(t, "/api/v1/repos/branches/create", map[string]any{"target_branch": "protected/b", "base_ref": "release"}), http.StatusOK)
		wantStatus(t, post(t, "/api/v1/repos/tags", map[string]any{"name": "v2", "target": signed}), http.StatusOK)
		if got := r.tip(t, "refs/heads/release"); got != signed {
			t.Fatalf("release = %s, want %s", got, signed)
		}
	})
}

// TestBranchNames_roundTrip is the regression test for issue 10 findings
// 12 and 13 over REST: every branch name create accepts reads back as that
// branch, names that cannot (refs/…) or that make clones ambiguous (HEAD,
// @) are refused.
func TestBranchNames_roundTrip(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, base := e.seededRepo(t)
	r.git(t, "tag", "v9", base)
	r.commit(t, newMeta("other", "base_branch", "main"), upsert("b.txt", "b\n"))

	for _, name := range []string{"refs/tags/v9", "refs/heads/refs/tags/v9", "@", "HEAD", "refs/heads/@"} {
		resp := e.do(t, "POST", "/api/v1/repos/branches/create", r.Write, jsonBody(t, map[string]any{"target_branch": name, "base_ref": "other"}))
		wantError(t, resp, http.StatusBadRequest)
	}
	for _, name := range []string{"HEAD", "@"} {
		wantError(t, e.do(t, "POST", "/api/v1/repos/tags", r.Write, jsonBody(t, map[string]any{"name": name, "target": "main"})), http.StatusBadRequest)
	}

	for _, name := range []string{"namespaces/x", "a/namespaces/y", "tags/v9"} {
		resp := e.do(t, "POST", "/api/v1/repos/branches/create", r.Write, jsonBody(t, map[string]any{"target_branch": name, "base_ref": "other"}))
		wantStatus(t, resp, http.StatusOK)
		other := r.tip(t, "refs/heads/other")
		wantStatus(t, e.do(t, "GET", "/api/v1/repos/branch?name="+url.QueryEscape(name), r.Read, nil), http.StatusOK)
		wantStatus(t, e.do(t, "GET", "/api/v1/repos/commits?branch="+url.QueryEscape(name), r.Read, nil), http.StatusOK)
		if got := string(r.getFile(t, "b.txt", "&ref="+url.QueryEscape(name))); got != "b\n" {
			t.Fatalf("file at %s = %q", name, got)
		}
		commit := r.getCommit(t, name)
		if commit["sha"] != other {
			t.Fatalf("commit at %s = %v, want %s", name, commit["sha"], other)
		}
	}
	// The hidden namespace stays out of reach.
	wantError(t, e.do(t, "GET", "/api/v1/repos/commits?branch="+url.QueryEscape("namespaces/ephemeral/refs/heads/main"), r.Read, nil), http.StatusNotFound)
	wantError(t, e.do(t, "GET", "/api/v1/repos/file?path=README.md&ref="+url.QueryEscape("refs/namespaces/ephemeral/refs/heads/main"), r.Read, nil), http.StatusNotFound)
}
