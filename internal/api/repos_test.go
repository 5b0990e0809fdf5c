package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

func TestCreateRepo(t *testing.T) {
	t.Parallel()
	e := start(t)

	for _, tc := range []struct {
		desc       string
		id         string
		body       map[string]any
		wantBranch string
	}{
		{desc: "default branch main", id: uniqueID("create"), body: map[string]any{"default_branch": "main"}, wantBranch: "main"},
		{desc: "custom default branch", id: uniqueID("create"), body: map[string]any{"default_branch": "trunk"}, wantBranch: "trunk"},
		{desc: "nested default branch", id: uniqueID("create"), body: map[string]any{"default_branch": "release/v1"}, wantBranch: "release/v1"},
		{desc: "empty body defaults to main", id: uniqueID("create"), body: nil, wantBranch: "main"},
		{desc: "id with slashes", id: "team/project/" + uniqueID("deep"), body: map[string]any{"default_branch": "main"}, wantBranch: "main"},
		{desc: "spaces and unicode in the id", id: "Team Ünïcode/" + uniqueID("x"), body: map[string]any{"default_branch": "main"}, wantBranch: "main"},
		{desc: "uuid id", id: fmt.Sprintf("6f1c2a4e-1b2c-4d5e-8f90-%012d", repoSeq.Add(1)), body: map[string]any{"default_branch": "main"}, wantBranch: "main"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := e.repoFor(tc.id)
			var resp *response
			if tc.body == nil {
				resp = e.do(t, "POST", "/api/v1/repos", r.Admin, nil)
			} else {
				resp = e.do(t, "POST", "/api/v1/repos", r.Admin, jsonBody(t, tc.body))
			}
			wantStatus(t, resp, http.StatusCreated)
			if m := object(t, resp); m["repo_id"] != tc.id {
				t.Errorf("repo_id = %#v, want %q", m["repo_id"], tc.id)
			}

			if got := r.git(t, "symbolic-ref", "HEAD"); got != "refs/heads/"+tc.wantBranch {
				t.Errorf("HEAD -> %s, want refs/heads/%s", got, tc.wantBranch)
			}
			if refs := r.refs(t); refs != "" {
				t.Errorf("new repository has refs:\n%s", refs)
			}

			get := e.do(t, "GET", "/api/v1/repo", r.Read, nil)
			wantStatus(t, get, http.StatusOK)
			m := object(t, get)
			if m["repo_id"] != tc.id || m["url"] != tc.id || m["default_branch"] != tc.wantBranch {
				t.Errorf("GET /repo = %s, want repo_id=url=%q default_branch=%q", get.Body, tc.id, tc.wantBranch)
			}
			created, _ := m["created_at"].(string)
			if ts, err := time.Parse(time.RFC3339, created); err != nil || time.Since(ts) > time.Hour || time.Until(ts) > time.Hour {
				t.Errorf("created_at = %q: not a current RFC 3339 time (%v)", created, err)
			}
			if v, ok := m["base_repo"]; ok {
				t.Errorf("base_repo = %#v on a plain repository; want it omitted", v)
			}
		})
	}
}

func TestCreateRepo_errors(t *testing.T) {
	t.Parallel()
	e := start(t)

	t.Run("duplicate", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		resp := e.do(t, "POST", "/api/v1/repos", r.Admin, jsonBody(t, map[string]any{"default_branch": "main"}))
		wantError(t, resp, http.StatusConflict)
	})
	t.Run("ids are case-sensitive", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("Case")
		e.newRepoWith(t, id, map[string]any{"default_branch": "main"})
		e.newRepoWith(t, strings.ToLower(id), map[string]any{"default_branch": "main"})
	})
	for _, tc := range []struct {
		desc   string
		body   string
		status int
	}{
		{desc: "invalid default branch", body: `{"default_branch":"a..b"}`, status: http.StatusBadRequest},
		{desc: "malformed JSON", body: `{"default_branch":`, status: http.StatusBadRequest},
		{desc: "unknown provider", body: `{"base_repo":{"provider":"svn","owner":"x","name":"y"}}`, status: http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := e.repoFor(uniqueID("bad"))
			wantError(t, e.do(t, "POST", "/api/v1/repos", r.Admin, strings.NewReader(tc.body)), tc.status)
			// Nothing was registered: the id is still free.
			wantError(t, e.do(t, "GET", "/api/v1/repo", r.Read, nil), http.StatusNotFound)
		})
	}
	// Ids that display as something else (bidi overrides, invisible marks)
	// or as nothing at all are refused.
	for _, tc := range []struct{ desc, id string }{
		{desc: "right-to-left override", id: uniqueID("rlo") + "\u202egnp.exe"},
		{desc: "left-to-right isolate", id: uniqueID("lri") + "\u2066x"},
		{desc: "pop directional isolate", id: uniqueID("pdi") + "\u2069"},
		{desc: "right-to-left mark", id: uniqueID("rlm") + "\u200f"},
		{desc: "zero width space", id: uniqueID("zw") + "\u200b"},
		{desc: "C1 control", id: uniqueID("c1") + "\u0085"},
		{desc: "only whitespace", id: "   "},
		{desc: "only ideographic space", id: "\u3000"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := e.repoFor(tc.id)
			wantError(t, e.do(t, "POST", "/api/v1/repos", r.Admin, jsonBody(t, map[string]any{"default_branch": "main"})), http.StatusBadRequest)
		})
	}
}

func TestDeleteRepo(t *testing.T) {
	t.Parallel()
	e := start(t)

	t.Run("lifecycle", func(t *testing.T) {
		t.Parallel()
		r, _ := e.seededRepo(t)
		dir := r.Dir(t)

		resp := e.do(t, "DELETE", "/api/v1/repos/delete", r.Admin, nil)
		wantStatus(t, resp, http.StatusOK)
		m := object(t, resp)
		if m["repo_id"] != r.ID {
			t.Errorf("repo_id = %#v, want %q", m["repo_id"], r.ID)
		}
		if msg, _ := m["message"].(string); msg == "" {
			t.Errorf("message = %#v, want a string", m["message"])
		}

		// No longer served, anywhere.
		wantError(t, e.do(t, "GET", "/api/v1/repo", r.Read, nil), http.StatusNotFound)
		wantError(t, e.do(t, "GET", "/api/v1/repos/branches", r.Read, nil), http.StatusNotFound)
		wantError(t, e.do(t, "GET", "/api/v1/repos/file?path=README.md", r.Read, nil), http.StatusNotFound)
		wantRefFailure(t, r.commitPack(t, r.Write, packBody(newMeta("main"), upsert("x", "y"))), http.StatusNotFound, "not_found")
		if _, err := gitOutput(dir, nil, "rev-parse", "HEAD"); err == nil {
			t.Errorf("repository directory %s still holds a repository", dir)
		}

		// Deleted before → 409.
		wantError(t, e.do(t, "DELETE", "/api/v1/repos/delete", r.Admin, nil), http.StatusConflict)

		// Recreate: allowed, and the new repository is empty (Q29).
		resp = e.do(t, "POST", "/api/v1/repos", r.Admin, jsonBody(t, map[string]any{"default_branch": "main"}))
		wantStatus(t, resp, http.StatusCreated)
		if refs := r.refs(t); refs != "" {
			t.Errorf("recreated repository has refs:\n%s", refs)
		}
		if heads := r.branchHeads(t, false); len(heads) != 0 {
			t.Errorf("recreated repository lists branches %v", heads)
		}
		commits := e.do(t, "GET", "/api/v1/repos/commits", r.Read, nil)
		wantStatus(t, commits, http.StatusOK)
		if c := object(t, commits)["commits"].([]any); len(c) != 0 {
			t.Errorf("recreated repository lists %d commits", len(c))
		}
		wantStatus(t, e.do(t, "GET", "/api/v1/repo", r.Read, nil), http.StatusOK)
		// And it can be deleted again.
		wantStatus(t, e.do(t, "DELETE", "/api/v1/repos/delete", r.Admin, nil), http.StatusOK)
	})
	t.Run("never existed", func(t *testing.T) {
		t.Parallel()
		r := e.repoFor(uniqueID("ghost"))
		wantError(t, e.do(t, "DELETE", "/api/v1/repos/delete", r.Admin, nil), http.StatusNotFound)
	})
	t.Run("needs repo:write", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		wantError(t, e.do(t, "DELETE", "/api/v1/repos/delete", r.Write, nil), http.StatusForbidden)
		wantStatus(t, e.do(t, "GET", "/api/v1/repo", r.Read, nil), http.StatusOK)
	})
}

func TestListRepos(t *testing.T) {
	t.Parallel()
	// A server of its own: the listing covers the whole organisation.
	e := start(t)
	orgToken := e.Token("org", auth.ScopeOrgRead)

	var ids []string
	for i := range 7 {
		kind := "alpha"
		if i%3 == 1 {
			kind = "Beta"
		}
		id := fmt.Sprintf("list/%s-%d", kind, i)
		e.newRepoWith(t, id, map[string]any{"default_branch": "main"})
		ids = append(ids, id)
	}
	// Delete one; it must vanish from listings.
	deleted := ids[2]
	wantStatus(t, e.do(t, "DELETE", "/api/v1/repos/delete", e.Token(deleted, auth.ScopeRepoWrite), nil), http.StatusOK)
	live := slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == deleted })

	type repoItem struct {
		RepoID        string `json:"repo_id"`
		URL           string `json:"url"`
		DefaultBranch string `json:"default_branch"`
		CreatedAt     string `json:"created_at"`
	}
	type page struct {
		Repos []repoItem `json:"repos"`
	}
	list := func(t *testing.T, query string) (page, bool, string) {
		t.Helper()
		resp := e.do(t, "GET", "/api/v1/repos"+query, orgToken, nil)
		wantStatus(t, resp, http.StatusOK)
		more, next := wantPaging(t, resp)
		var p page
		decode(t, resp, &p)
		for _, m := range object(t, resp)["repos"].([]any) {
			item := m.(map[string]any)
			if v, ok := item["base_repo"]; ok && v != nil {
				t.Errorf("base_repo = %#v on a plain repository", v)
			}
		}
		for _, r := range p.Repos {
			if r.URL != r.RepoID || r.DefaultBranch != "main" {
				t.Errorf("repo item %+v: want url = repo_id and default_branch main", r)
			}
			if _, err := time.Parse(time.RFC3339, r.CreatedAt); err != nil {
				t.Errorf("created_at %q: %v", r.CreatedAt, err)
			}
		}
		return p, more, next
	}
	walk := func(t *testing.T, query string) []string {
		t.Helper()
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("pagination does not end; so far %v", got)
			}
			q := query
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			p, more, next := list(t, q)
			if len(p.Repos) > 2 {
				t.Errorf("page of %d repos with limit=2", len(p.Repos))
			}
			for _, r := range p.Repos {
				got = append(got, r.RepoID)
			}
			if !more {
				return got
			}
			cursor = next
		}
	}

	t.Run("all", func(t *testing.T) {
		t.Parallel()
		p, more, _ := list(t, "")
		if more {
			t.Errorf("has_more with %d repos and the default limit", len(p.Repos))
		}
		var got []string
		for _, r := range p.Repos {
			got = append(got, r.RepoID)
		}
		if !slices.Equal(got, live) {
			t.Errorf("repos = %v, want %v (creation order, deleted excluded)", got, live)
		}
	})
	t.Run("paged", func(t *testing.T) {
		t.Parallel()
		if got := walk(t, "?limit=2"); !slices.Equal(got, live) {
			t.Errorf("paged repos = %v, want %v", got, live)
		}
	})
	t.Run("q filter is a case-insensitive substring", func(t *testing.T) {
		t.Parallel()
		var want []string
		for _, id := range live {
			if strings.Contains(strings.ToLower(id), "beta") {
				want = append(want, id)
			}
		}
		if len(want) == 0 {
			t.Fatal("fixture has no beta repo")
		}
		if got := walk(t, "?limit=2&q=bEtA"); !slices.Equal(got, want) {
			t.Errorf("q=bEtA repos = %v, want %v", got, want)
		}
		p, more, _ := list(t, "?q=no-such-repo")
		if len(p.Repos) != 0 || more {
			t.Errorf("q=no-such-repo = %+v (has_more %v), want an empty last page", p.Repos, more)
		}
	})
	t.Run("empty cursor is absent", func(t *testing.T) {
		t.Parallel()
		p, _, _ := list(t, "?cursor=&limit=100")
		if len(p.Repos) != len(live) {
			t.Errorf("cursor= gave %d repos, want %d", len(p.Repos), len(live))
		}
	})
	t.Run("org:read is required", func(t *testing.T) {
		t.Parallel()
		for _, scope := range []auth.Scope{auth.ScopeGitRead, auth.ScopeGitWrite, auth.ScopeRepoWrite} {
			wantError(t, e.do(t, "GET", "/api/v1/repos", e.Token("org", scope), nil), http.StatusForbidden)
		}
	})
}

func TestForkRepo(t *testing.T) {
	t.Parallel()
	e := start(t)

	// The source: main with two commits, a feature branch, a lightweight and
	// an annotated tag, and an ephemeral branch that must not be copied.
	src, first := e.seededRepo(t, upsert("README.md", "v1\n"))
	second := src.commit(t, newMeta("main"), upsert("README.md", "v2\n")).Commit.CommitSHA
	feature := src.commit(t, newMeta("feature", "base_branch", "main"), upsert("feature.txt", "f\n")).Commit.CommitSHA
	src.commit(t, newMeta("scratch", "base_branch", "main", "ephemeral", true), upsert("scratch.txt", "s\n"))
	srcDir := src.Dir(t)
	gitRun(t, srcDir, nil, "tag", "v1", first)
	gitRun(t, srcDir, nil, "tag", "-a", "-m", "annotated", "v2", second)
	srcRefs := src.refs(t)
	srcToken := e.Token(src.ID, auth.ScopeGitRead)

	forkBody := func(token string, extra ...string) map[string]any {
		b := map[string]any{"provider": "code", "owner": "acme", "name": src.ID, "operation": "fork", "auth": map[string]any{"token": token}}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i]] = extra[i+1]
		}
		return map[string]any{"base_repo": b}
	}
	normalRefs := func(refs string) string {
		var keep []string
		for _, l := range strings.Split(refs, "\n") {
			if strings.HasPrefix(l, "refs/heads/") || strings.HasPrefix(l, "refs/tags/") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}

	for _, tc := range []struct {
		desc     string
		extra    []string
		body     map[string]any // overrides base_repo extras when set
		wantMain string
		wantHEAD string
	}{
		{desc: "whole repository", wantMain: second, wantHEAD: "main"},
		{desc: "at sha", extra: []string{"sha", first}, wantMain: first, wantHEAD: "main"},
		{desc: "at ref", extra: []string{"ref", "feature"}, wantMain: feature, wantHEAD: "main"},
		{desc: "sha overrides ref", extra: []string{"ref", "feature", "sha", first}, wantMain: first, wantHEAD: "main"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			fork := e.repoFor(uniqueID("fork"))
			resp := e.do(t, "POST", "/api/v1/repos", fork.Admin, jsonBody(t, forkBody(srcToken, tc.extra...)))
			wantStatus(t, resp, http.StatusCreated)

			if got := fork.git(t, "symbolic-ref", "HEAD"); got != "refs/heads/"+tc.wantHEAD {
				t.Errorf("HEAD -> %s, want refs/heads/%s", got, tc.wantHEAD)
			}
			if got := fork.tip(t, "refs/heads/main"); got != tc.wantMain {
				t.Errorf("fork main = %s, want %s", got, tc.wantMain)
			}
			// Every other branch and tag is copied as is; no ephemeral refs.
			want := normalRefs(srcRefs)
			got := fork.refs(t)
			wantLines := strings.Split(want, "\n")
			for i, l := range wantLines {
				if strings.HasPrefix(l, "refs/heads/main ") {
					wantLines[i] = "refs/heads/main " + tc.wantMain
				}
			}
			if got != strings.Join(wantLines, "\n") {
				t.Errorf("fork refs:\n%s\nwant:\n%s", got, strings.Join(wantLines, "\n"))
			}
			if got := fork.tip(t, "refs/tags/v2"); got != second {
				t.Errorf("annotated tag v2 peels to %s, want %s", got, second)
			}

			get := object(t, e.do(t, "GET", "/api/v1/repo", fork.Read, nil))
			if get["default_branch"] != "main" {
				t.Errorf("fork default_branch = %#v", get["default_branch"])
			}
			base, _ := get["base_repo"].(map[string]any)
			if base["provider"] != "code" || base["owner"] != "acme" || base["name"] != src.ID {
				t.Errorf("fork base_repo = %#v, want provider code, owner acme, name %s", get["base_repo"], src.ID)
			}

			// Independent afterwards.
			fork.commit(t, newMeta("main"), upsert("fork-only.txt", "x"))
			if got := src.refs(t); got != srcRefs {
				t.Errorf("committing to the fork changed the source:\n%s\nwas:\n%s", got, srcRefs)
			}
			files := e.do(t, "GET", "/api/v1/repos/file?path=README.md", fork.Read, nil)
			wantStatus(t, files, http.StatusOK)
		})
	}

	t.Run("explicit default branch", func(t *testing.T) {
		t.Parallel()
		fork := e.repoFor(uniqueID("fork"))
		body := forkBody(srcToken, "sha", first)
		body["default_branch"] = "develop"
		wantStatus(t, e.do(t, "POST", "/api/v1/repos", fork.Admin, jsonBody(t, body)), http.StatusCreated)
		if got := fork.git(t, "symbolic-ref", "HEAD"); got != "refs/heads/develop" {
			t.Errorf("HEAD -> %s, want refs/heads/develop", got)
		}
		if got := fork.tip(t, "refs/heads/develop"); got != first {
			t.Errorf("develop = %s, want %s", got, first)
		}
		if got := fork.tip(t, "refs/heads/main"); got != second {
			t.Errorf("main = %s, want the source's %s", got, second)
		}
	})

	for _, tc := range []struct {
		desc   string
		body   func(t *testing.T) map[string]any
		status int
	}{
		{desc: "token for another repository", status: http.StatusForbidden, body: func(t *testing.T) map[string]any {
			other := e.newRepo(t)
			return forkBody(e.Token(other.ID, auth.ScopeGitRead))
		}},
		{desc: "token without git:read", status: http.StatusForbidden, body: func(t *testing.T) map[string]any {
			return forkBody(e.Token(src.ID, auth.ScopeRepoWrite))
		}},
		{desc: "cross-org owner", status: http.StatusForbidden, body: func(t *testing.T) map[string]any {
			b := forkBody(srcToken)
			b["base_repo"].(map[string]any)["owner"] = "globex"
			return b
		}},
		{desc: "token of another organisation", status: http.StatusUnauthorized, body: func(t *testing.T) map[string]any {
			return forkBody(e.TokenWith(auth.Claims{Issuer: "globex", Repo: src.ID, Scopes: []auth.Scope{auth.ScopeGitRead}}))
		}},
		{desc: "expired token", status: http.StatusUnauthorized, body: func(t *testing.T) map[string]any {
			return forkBody(e.TokenWith(auth.Claims{Repo: src.ID, Scopes: []auth.Scope{auth.ScopeGitRead}, IssuedAt: time.Now().Add(-2 * time.Hour), TTL: time.Hour}))
		}},
		{desc: "unknown source", status: http.StatusNotFound, body: func(t *testing.T) map[string]any {
			ghost := uniqueID("ghost")
			b := forkBody(e.Token(ghost, auth.ScopeGitRead))
			b["base_repo"].(map[string]any)["name"] = ghost
			return b
		}},
		{desc: "unknown sha", status: http.StatusNotFound, body: func(t *testing.T) map[string]any {
			return forkBody(srcToken, "sha", strings.Repeat("ab", 20))
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			fork := e.repoFor(uniqueID("fork"))
			wantError(t, e.do(t, "POST", "/api/v1/repos", fork.Admin, jsonBody(t, tc.body(t))), tc.status)
			// Nothing left behind.
			wantError(t, e.do(t, "GET", "/api/v1/repo", fork.Read, nil), http.StatusNotFound)
		})
	}
}

// TestCreateRepo_concurrentSameID: racing creates and deletes of one id
// have exactly one winner, and no second directory is left behind.
func TestCreateRepo_concurrentSameID(t *testing.T) {
	t.Parallel()
	e := start(t) // its own server, so RepoDirs sees only this repository
	r := e.repoFor(uniqueID("race"))

	race := func(method, path, body string) map[int]int {
		t.Helper()
		const n = 8
		statuses := make(chan int, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := e.send(method, path, r.Admin, strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				statuses <- resp.Status
			}()
		}
		wg.Wait()
		close(statuses)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		return count
	}

	if got := race("POST", "/api/v1/repos", `{"default_branch":"main"}`); got[http.StatusCreated] != 1 || got[http.StatusConflict] != 7 {
		t.Errorf("concurrent creates: statuses %v, want one 201 and seven 409", got)
	}
	if dirs := e.RepoDirs(); len(dirs) != 1 {
		t.Errorf("%d repository directories after concurrent creates: %v", len(dirs), dirs)
	}
	r.commit(t, newMeta("main"), upsert("a", "a"))

	if got := race("DELETE", "/api/v1/repos/delete", ""); got[http.StatusOK] != 1 || got[http.StatusConflict] != 7 {
		t.Errorf("concurrent deletes: statuses %v, want one 200 and seven 409", got)
	}
	if dirs := e.RepoDirs(); len(dirs) != 0 {
		t.Errorf("repository directories left after delete: %v", dirs)
	}
}
