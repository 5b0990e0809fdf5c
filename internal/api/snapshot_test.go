package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
)

// TestSnapshotRepo: base_repo with operation "snapshot" creates a
// repository whose only commit has the source's tree at ref, authored as
// initial_commit says, with none of the source's history or other refs.
func TestSnapshotRepo(t *testing.T) {
	t.Parallel()
	e := start(t)
	src, first := e.seededRepo(t, upsert("README.md", "v1\n"), upsert("dir/a.txt", "a\n"))
	second := src.commit(t, newMeta("main"), upsert("README.md", "v2\n"), upsert("dir/b.txt", "b\n")).Commit.CommitSHA
	src.commit(t, newMeta("feature", "base_branch", "main"), upsert("feature.txt", "f\n"))
	srcRefs := src.refs(t)
	srcToken := e.Token(src.ID, auth.ScopeGitRead)

	snapshotBody := func(ref string, extra map[string]any) map[string]any {
		b := map[string]any{
			"base_repo": map[string]any{"provider": "code.storage", "owner": "acme", "name": src.ID,
				"operation": "snapshot", "ref": ref, "auth": map[string]any{"token": srcToken}},
			"initial_commit": map[string]any{"message": "Snapshot of " + ref, "author": map[string]any{"name": "Snap", "email": "snap@example.com"}},
		}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}

	for _, tc := range []struct {
		desc, ref, wantTreeOf, branch string
		extra                         map[string]any
	}{
		{desc: "branch", ref: "main", wantTreeOf: second, branch: "main"},
		{desc: "sha", ref: first, wantTreeOf: first, branch: "main"},
		{desc: "explicit default branch", ref: "main", wantTreeOf: second, branch: "trunk", extra: map[string]any{"default_branch": "trunk"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			snap := e.repoFor(uniqueID("snap"))
			// The newer SDKs create through the path-less POST /api/repos.
			resp := e.do(t, "POST", "/api/repos", snap.Admin, jsonBody(t, snapshotBody(tc.ref, tc.extra)))
			wantStatus(t, resp, http.StatusCreated)
			if got := object(t, resp)["repo_name"]; got != snap.ID {
				t.Errorf("repo_name = %#v, want %s", got, snap.ID)
			}
			if got := snap.git(t, "symbolic-ref", "HEAD"); got != "refs/heads/"+tc.branch {
				t.Errorf("HEAD -> %s, want refs/heads/%s", got, tc.branch)
			}
			tip := snap.tip(t, "refs/heads/"+tc.branch)
			if got, want := snap.git(t, "rev-parse", tip+"^{tree}"), src.git(t, "rev-parse", tc.wantTreeOf+"^{tree}"); got != want {
				t.Errorf("snapshot tree = %s, want the source's %s", got, want)
			}
			if got := snap.git(t, "rev-list", "--count", tip); got != "1" {
				t.Errorf("snapshot history has %s commits, want 1", got)
			}
			if got := snap.git(t, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", tip); got != "Snap <snap@example.com>|Snap <snap@example.com>|Snapshot of "+tc.ref {
				t.Errorf("snapshot commit = %q", got)
			}
			if got := snap.refs(t); got != "refs/heads/"+tc.branch+" "+tip {
				t.Errorf("snapshot refs = %q, want only its branch", got)
			}
			// Nothing of the source's history came along.
			if _, err := gitOutput(snap.Dir(t), nil, "cat-file", "-e", first); err == nil {
				t.Errorf("source commit %s is in the snapshot", first)
			}
			snap.git(t, "fsck", "--full", "--strict")
			if got := src.refs(t); got != srcRefs {
				t.Errorf("source refs changed:\n%s\nwas:\n%s", got, srcRefs)
			}
			get := object(t, e.do(t, "GET", "/api/repos/"+url.PathEscape(snap.ID), snap.Read, nil))
			if base, _ := get["base_repo"].(map[string]any); base["name"] != src.ID || get["default_branch"] != tc.branch {
				t.Errorf("GET repo = %#v", get)
			}
			// A read through the API sees the files.
			file := e.do(t, "GET", "/api/v1/repos/file?path=dir/a.txt", snap.Read, nil)
			wantStatus(t, file, http.StatusOK)
			if string(file.Body) != "a\n" {
				t.Errorf("dir/a.txt = %q", file.Body)
			}
		})
	}

	for _, tc := range []struct {
		desc   string
		body   func() map[string]any
		status int
		want   string
	}{
		{"no initial_commit", func() map[string]any {
			b := snapshotBody("main", nil)
			delete(b, "initial_commit")
			return b
		}, http.StatusBadRequest, "initial_commit is required"},
		{"blank message", func() map[string]any {
			return snapshotBody("main", map[string]any{"initial_commit": map[string]any{"message": " ", "author": map[string]any{"name": "a", "email": "a@x"}}})
		}, http.StatusBadRequest, "initial_commit.message is required"},
		{"no author", func() map[string]any {
			return snapshotBody("main", map[string]any{"initial_commit": map[string]any{"message": "m"}})
		}, http.StatusBadRequest, "initial_commit.author is required"},
		{"half author", func() map[string]any {
			return snapshotBody("main", map[string]any{"initial_commit": map[string]any{"message": "m", "author": map[string]any{"name": "a"}}})
		}, http.StatusBadRequest, "initial_commit.author name and email are required"},
		{"no ref", func() map[string]any { return snapshotBody("", nil) }, http.StatusBadRequest, "base_repo.ref is required"},
		{"unknown ref", func() map[string]any { return snapshotBody("nope", nil) }, http.StatusNotFound, "not found"},
		{"github provider", func() map[string]any {
			b := snapshotBody("main", nil)
			b["base_repo"].(map[string]any)["provider"] = "github"
			return b
		}, http.StatusBadRequest, `provider must be "code.storage"`},
		{"unknown operation", func() map[string]any {
			b := snapshotBody("main", nil)
			delete(b, "initial_commit")
			b["base_repo"].(map[string]any)["operation"] = "clone"
			return b
		}, http.StatusBadRequest, `operation must be "fork" or "snapshot"`},
		{"initial_commit without snapshot", func() map[string]any {
			b := snapshotBody("main", nil)
			b["base_repo"].(map[string]any)["operation"] = "fork"
			return b
		}, http.StatusBadRequest, "initial_commit is only accepted"},
		{"token for another repository", func() map[string]any {
			b := snapshotBody("main", nil)
			b["base_repo"].(map[string]any)["auth"] = map[string]any{"token": e.Token("other", auth.ScopeGitRead)}
			return b
		}, http.StatusForbidden, "does not grant git:read"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			snap := e.repoFor(uniqueID("snap"))
			resp := e.do(t, "POST", "/api/repos", snap.Admin, jsonBody(t, tc.body()))
			wantError(t, resp, tc.status)
			if msg, _ := object(t, resp)["error"].(string); !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q, want it to mention %q", msg, tc.want)
			}
			// Nothing left behind.
			wantError(t, e.do(t, "GET", "/api/v1/repo", snap.Read, nil), http.StatusNotFound)
		})
	}
}
