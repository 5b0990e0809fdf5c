package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

func TestAuth_invalidTokens(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, _ := e.seededRepo(t)

	otherKey, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := auth.Mint(otherKey, auth.Claims{Issuer: "acme", Repo: r.ID, Scopes: []auth.Scope{auth.ScopeGitWrite}})
	if err != nil {
		t.Fatal(err)
	}
	valid := e.Token(r.ID, auth.ScopeGitWrite)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]

	for _, tc := range []struct {
		desc   string
		header string // Authorization header; "" sends none
	}{
		{desc: "no token"},
		{desc: "empty bearer", header: "Bearer "},
		{desc: "wrong scheme", header: "Basic dDp4"},
		{desc: "garbage", header: "Bearer not-a-jwt"},
		{desc: "three garbage segments", header: "Bearer aaa.bbb.ccc"},
		{desc: "tampered payload", header: "Bearer " + tampered},
		{desc: "expired", header: "Bearer " + e.TokenWith(auth.Claims{Repo: r.ID, Scopes: []auth.Scope{auth.ScopeGitWrite}, IssuedAt: time.Now().Add(-2 * time.Hour), TTL: time.Hour})},
		{desc: "unknown organisation", header: "Bearer " + e.TokenWith(auth.Claims{Issuer: "globex", Repo: r.ID, Scopes: []auth.Scope{auth.ScopeGitWrite}})},
		{desc: "signed by another key", header: "Bearer " + foreign},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			for _, ep := range []struct{ method, path string }{
				{"GET", "/api/v1/repo"},
				{"GET", "/api/v1/repos/branches"},
				{"GET", "/api/v1/repos/file?path=README.md"},
				{"GET", "/api/v1/repos"},
				{"POST", "/api/v1/repos"},
				{"DELETE", "/api/v1/repos/delete"},
			} {
				resp := e.do(t, ep.method, ep.path, "", strings.NewReader("{}"), "Authorization", tc.header)
				if resp.Status != http.StatusUnauthorized {
					t.Errorf("%s %s: status %d, want 401; body %s", ep.method, ep.path, resp.Status, resp.Body)
					continue
				}
				wantError(t, resp, http.StatusUnauthorized)
			}
			before := r.refs(t)
			resp := e.do(t, "POST", "/api/v1/repos/commit-pack", "", bytes.NewReader(packBody(newMeta("main"), upsert("x.txt", "x"))),
				"Authorization", tc.header, "Content-Type", "application/x-ndjson")
			wantRefFailure(t, resp, http.StatusUnauthorized, "unauthorized")
			if after := r.refs(t); after != before {
				t.Errorf("refs changed after a rejected commit-pack:\n%s\nwas:\n%s", after, before)
			}
			// The repository still exists: a rejected delete did nothing.
			wantStatus(t, e.do(t, "GET", "/api/v1/repo", r.Read, nil), http.StatusOK)
		})
	}
}

func TestAuth_scopes(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, tip := e.seededRepo(t, upsert("README.md", "hello\n"))

	tok := func(scopes ...auth.Scope) string { return e.Token(r.ID, scopes...) }
	restoreBody := `{"metadata":{"target_branch":"main","target_commit_sha":"` + tip + `","author":{"name":"A","email":"a@example.com"}}}`
	commitBody := func() *bytes.Reader {
		return bytes.NewReader(packBody(newMeta("main"), upsert("new.txt", "new")))
	}

	for _, tc := range []struct {
		desc   string
		method string
		path   string
		token  string
		body   func() *bytes.Reader
		status int
		label  string // result.status for the commit family
	}{
		{desc: "git:read cannot commit-pack", method: "POST", path: "/api/v1/repos/commit-pack", token: tok(auth.ScopeGitRead), body: commitBody, status: 403, label: "forbidden"},
		{desc: "repo:write cannot commit-pack", method: "POST", path: "/api/v1/repos/commit-pack", token: tok(auth.ScopeRepoWrite), body: commitBody, status: 403, label: "forbidden"},
		{desc: "git:read cannot restore", method: "POST", path: "/api/v1/repos/restore-commit", token: tok(auth.ScopeGitRead), body: func() *bytes.Reader { return bytes.NewReader([]byte(restoreBody)) }, status: 403, label: "forbidden"},
		{desc: "git:read cannot create a branch", method: "POST", path: "/api/v1/repos/branches/create", token: tok(auth.ScopeGitRead), body: func() *bytes.Reader {
			return bytes.NewReader([]byte(`{"target_branch":"x","base_ref":"main"}`))
		}, status: 403},
		{desc: "git:read cannot delete a branch", method: "DELETE", path: "/api/v1/repos/branches", token: tok(auth.ScopeGitRead), body: func() *bytes.Reader {
			return bytes.NewReader([]byte(`{"name":"main"}`))
		}, status: 403},
		{desc: "repo:write cannot read files", method: "GET", path: "/api/v1/repos/file?path=README.md", token: tok(auth.ScopeRepoWrite), status: 403},
		{desc: "repo:write cannot list files", method: "GET", path: "/api/v1/repos/files", token: tok(auth.ScopeRepoWrite), status: 403},
		{desc: "repo:write cannot list branches", method: "GET", path: "/api/v1/repos/branches", token: tok(auth.ScopeRepoWrite), status: 403},
		{desc: "repo:write cannot list commits", method: "GET", path: "/api/v1/repos/commits", token: tok(auth.ScopeRepoWrite), status: 403},
		{desc: "org:read cannot get the repo", method: "GET", path: "/api/v1/repo", token: tok(auth.ScopeOrgRead), status: 403},
		{desc: "no scopes at all", method: "GET", path: "/api/v1/repo", token: tok(), status: 403},
		{desc: "unknown scopes are ignored", method: "GET", path: "/api/v1/repo", token: tok("git:admin", "*"), status: 403},
		{desc: "git:read cannot delete the repo", method: "DELETE", path: "/api/v1/repos/delete", token: tok(auth.ScopeGitRead), status: 403},
		{desc: "git:write cannot delete the repo", method: "DELETE", path: "/api/v1/repos/delete", token: tok(auth.ScopeGitWrite), status: 403},
		{desc: "git:write cannot create a repo", method: "POST", path: "/api/v1/repos", token: e.Token(uniqueID("nope"), auth.ScopeGitWrite), body: func() *bytes.Reader {
			return bytes.NewReader([]byte(`{"default_branch":"main"}`))
		}, status: 403},
		{desc: "git:read cannot list the org", method: "GET", path: "/api/v1/repos", token: e.Token("org", auth.ScopeGitRead), status: 403},
		{desc: "repo:write cannot list the org", method: "GET", path: "/api/v1/repos", token: e.Token("org", auth.ScopeRepoWrite), status: 403},

		{desc: "git:write implies git:read", method: "GET", path: "/api/v1/repos/branches", token: tok(auth.ScopeGitWrite), status: 200},
		{desc: "git:write reads files", method: "GET", path: "/api/v1/repos/file?path=README.md", token: tok(auth.ScopeGitWrite), status: 200},
		{desc: "scopes in any order", method: "GET", path: "/api/v1/repo", token: tok(auth.ScopeOrgRead, auth.ScopeGitRead), status: 200},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			before := r.refs(t)
			var resp *response
			if tc.body != nil {
				resp = e.do(t, tc.method, tc.path, tc.token, tc.body())
			} else {
				resp = e.do(t, tc.method, tc.path, tc.token, nil)
			}
			switch {
			case tc.label != "":
				wantRefFailure(t, resp, tc.status, tc.label)
			case tc.status >= 400:
				wantError(t, resp, tc.status)
			default:
				wantStatus(t, resp, tc.status)
			}
			if tc.status >= 400 {
				if after := r.refs(t); after != before {
					t.Errorf("refs changed after a rejected request:\n%s\nwas:\n%s", after, before)
				}
			}
		})
	}
	// Nothing rejected above deleted the repository.
	t.Cleanup(func() {
		if resp := e.do(t, "GET", "/api/v1/repo", r.Read, nil); resp.Status != http.StatusOK {
			t.Errorf("repository gone after rejected requests: %s", resp)
		}
	})
}

func TestAuth_unknownRepository(t *testing.T) {
	t.Parallel()
	e := start(t)
	ghost := e.repoFor(uniqueID("ghost"))

	for _, tc := range []struct {
		desc, method, path, token string
	}{
		{"get repo", "GET", "/api/v1/repo", ghost.Read},
		{"branches", "GET", "/api/v1/repos/branches", ghost.Read},
		{"commits", "GET", "/api/v1/repos/commits", ghost.Read},
		{"files", "GET", "/api/v1/repos/files", ghost.Read},
		{"file", "GET", "/api/v1/repos/file?path=a", ghost.Read},
		{"delete", "DELETE", "/api/v1/repos/delete", ghost.Admin},
		{"create branch", "POST", "/api/v1/repos/branches/create", ghost.Write},
		// "org" is not a repository name for repository endpoints.
		{"org claim on a repo endpoint", "GET", "/api/v1/repo", e.Token("org", auth.ScopeGitRead)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			wantError(t, e.do(t, tc.method, tc.path, tc.token, strings.NewReader(`{"target_branch":"x","base_ref":"main"}`)), http.StatusNotFound)
		})
	}
	t.Run("commit-pack", func(t *testing.T) {
		t.Parallel()
		wantRefFailure(t, ghost.commitPack(t, ghost.Write, packBody(newMeta("main"), upsert("a", "b"))), http.StatusNotFound, "not_found")
	})
	t.Run("restore", func(t *testing.T) {
		t.Parallel()
		body := `{"metadata":{"target_branch":"main","target_commit_sha":"` + strings.Repeat("a", 40) + `","author":{"name":"A","email":"a@example.com"}}}`
		wantRefFailure(t, e.do(t, "POST", "/api/v1/repos/restore-commit", ghost.Write, strings.NewReader(body)), http.StatusNotFound, "not_found")
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		t.Parallel()
		wantError(t, e.do(t, "GET", "/api/v1/repos/no-such-thing", ghost.Read, nil), http.StatusNotFound)
	})
}
