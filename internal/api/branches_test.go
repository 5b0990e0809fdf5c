package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

// createBranch posts to /repos/branches/create.
func (r *testRepo) createBranch(t testing.TB, token string, body map[string]any) *response {
	t.Helper()
	return r.e.do(t, "POST", "/api/v1/repos/branches/create", token, jsonBody(t, body))
}

// deleteBranch sends DELETE /repos/branches.
func (r *testRepo) deleteBranch(t testing.TB, token string, body map[string]any) *response {
	t.Helper()
	return r.e.do(t, "DELETE", "/api/v1/repos/branches", token, jsonBody(t, body))
}

func names(bs []branchJSON) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func TestListBranches(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, c1 := e.seededRepo(t)

	// Created in an order that is neither alphabetical nor reversed.
	order := []string{"main", "zeta", "alpha", "mid/one", "beta", "omega"}
	for _, b := range order[1:] {
		resp := r.createBranch(t, r.Write, map[string]any{"target_branch": b, "base_ref": "main"})
		wantStatus(t, resp, http.StatusOK)
	}
	// A commit-pack created branch and an update are listed too.
	r.commit(t, newMeta("via-commit", "base_branch", "main"), upsert("v", "v"))
	order = append(order, "via-commit")
	c2 := r.commit(t, newMeta("alpha"), upsert("a", "a")).Commit.CommitSHA
	r.commit(t, newMeta("eph", "base_branch", "main", "ephemeral", true), upsert("e", "e"))

	t.Run("creation order", func(t *testing.T) {
		t.Parallel()
		p := r.listBranches(t, "")
		if got := names(p.Branches); !slices.Equal(got, order) {
			t.Errorf("branches = %v, want creation order %v", got, order)
		}
		if p.HasMore == nil || *p.HasMore {
			t.Errorf("has_more = %v, want false", p.HasMore)
		}
		for _, b := range p.Branches {
			want := c1
			switch b.Name {
			case "alpha":
				want = c2
			case "via-commit":
				want = r.tip(t, "refs/heads/via-commit")
			}
			if b.HeadSHA != want {
				t.Errorf("%s head_sha = %s, want %s", b.Name, b.HeadSHA, want)
			}
			ts, err := time.Parse(time.RFC3339, b.CreatedAt)
			if err != nil || time.Since(ts) > time.Hour {
				t.Errorf("%s created_at = %q (%v)", b.Name, b.CreatedAt, err)
			}
		}
	})
	t.Run("per-item cursor resumes after the item", func(t *testing.T) {
		t.Parallel()
		all := r.listBranches(t, "").Branches
		for i, b := range all {
			rest := r.listBranches(t, "?cursor="+url.QueryEscape(b.Cursor)).Branches
			if got, want := names(rest), order[i+1:]; !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("after %s: %v, want %v", b.Name, got, want)
			}
		}
	})
	t.Run("limit and cursor", func(t *testing.T) {
		t.Parallel()
		for _, limit := range []string{"1", "2", "4", "7"} {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(order)+1 {
					t.Fatalf("limit %s: pagination does not end", limit)
				}
				q := "?limit=" + limit
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				resp := e.do(t, "GET", "/api/v1/repos/branches"+q, r.Read, nil)
				wantStatus(t, resp, http.StatusOK)
				more, next := wantPaging(t, resp)
				var p branchPage
				decode(t, resp, &p)
				got = append(got, names(p.Branches)...)
				if !more {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, order) {
				t.Errorf("limit %s: %v, want %v", limit, got, order)
			}
		}
	})
	t.Run("empty cursor is absent", func(t *testing.T) {
		t.Parallel()
		if got := names(r.listBranches(t, "?cursor=").Branches); !slices.Equal(got, order) {
			t.Errorf("cursor= gave %v", got)
		}
	})
	t.Run("ephemeral namespace instead of normal", func(t *testing.T) {
		t.Parallel()
		p := r.listBranches(t, "?ephemeral=true")
		if got := names(p.Branches); !slices.Equal(got, []string{"eph"}) {
			t.Errorf("ephemeral branches = %v, want [eph]", got)
		}
		if got := names(r.listBranches(t, "?ephemeral=false").Branches); !slices.Equal(got, order) {
			t.Errorf("ephemeral=false branches = %v", got)
		}
	})
	t.Run("branch created outside Strata", func(t *testing.T) {
		t.Parallel()
		own, tip := e.seededRepo(t)
		gitRun(t, own.Dir(t), nil, "update-ref", "refs/heads/outside", tip)
		p := own.listBranches(t, "")
		if got := names(p.Branches); len(got) != 2 || !slices.Contains(got, "outside") {
			t.Errorf("branches = %v, want main and outside", got)
		}
	})
	t.Run("empty repository", func(t *testing.T) {
		t.Parallel()
		empty := e.newRepo(t)
		p := empty.listBranches(t, "")
		if len(p.Branches) != 0 || p.HasMore == nil || *p.HasMore {
			t.Errorf("empty repository: %+v", p)
		}
	})
	t.Run("garbage cursor", func(t *testing.T) {
		t.Parallel()
		wantError(t, e.do(t, "GET", "/api/v1/repos/branches?cursor=%25%25", r.Read, nil), http.StatusBadRequest)
	})
}

func TestCreateBranch(t *testing.T) {
	t.Parallel()
	e := start(t)

	type fixture struct {
		r              *testRepo
		c1, c2, eph    string
		tag, annotated string
	}
	setup := func(t *testing.T) fixture {
		t.Helper()
		r, c1 := e.seededRepo(t, upsert("a", "1"))
		c2 := r.commit(t, newMeta("main"), upsert("a", "2")).Commit.CommitSHA
		eph := r.commit(t, newMeta("scratch", "base_branch", "main", "ephemeral", true), upsert("s", "s")).Commit.CommitSHA
		gitRun(t, r.Dir(t), nil, "tag", "v1", c1)
		gitRun(t, r.Dir(t), nil, "tag", "-a", "-m", "annotated", "v2", c1)
		return fixture{r: r, c1: c1, c2: c2, eph: eph, tag: "v1", annotated: "v2"}
	}

	for _, tc := range []struct {
		desc      string
		body      func(f fixture) map[string]any
		wantRef   string
		wantSHA   func(f fixture) string
		ephemeral bool
	}{
		{desc: "from a branch", wantRef: "refs/heads/feature",
			body:    func(f fixture) map[string]any { return map[string]any{"target_branch": "feature", "base_ref": "main"} },
			wantSHA: func(f fixture) string { return f.c2 }},
		{desc: "from a full ref", wantRef: "refs/heads/feature",
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "feature", "base_ref": "refs/heads/main"}
			},
			wantSHA: func(f fixture) string { return f.c2 }},
		{desc: "from the deprecated base_branch", wantRef: "refs/heads/feature",
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "feature", "base_branch": "main"}
			},
			wantSHA: func(f fixture) string { return f.c2 }},
		{desc: "from a tag", wantRef: "refs/heads/feature",
			body:    func(f fixture) map[string]any { return map[string]any{"target_branch": "feature", "base_ref": f.tag} },
			wantSHA: func(f fixture) string { return f.c1 }},
		{desc: "from an annotated tag (peeled)", wantRef: "refs/heads/feature",
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "feature", "base_ref": "refs/tags/" + f.annotated}
			},
			wantSHA: func(f fixture) string { return f.c1 }},
		{desc: "from a sha", wantRef: "refs/heads/feature",
			body:    func(f fixture) map[string]any { return map[string]any{"target_branch": "feature", "base_ref": f.c1} },
			wantSHA: func(f fixture) string { return f.c1 }},
		{desc: "from a short sha", wantRef: "refs/heads/feature",
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "feature", "base_ref": f.c1[:9]}
			},
			wantSHA: func(f fixture) string { return f.c1 }},
		{desc: "nested name", wantRef: "refs/heads/team/a/feature",
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "team/a/feature", "base_ref": "main"}
			},
			wantSHA: func(f fixture) string { return f.c2 }},
		{desc: "promote an ephemeral branch", wantRef: "refs/heads/promoted",
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "promoted", "base_ref": "scratch", "base_is_ephemeral": true}
			},
			wantSHA: func(f fixture) string { return f.eph }},
		{desc: "promote under the same name", wantRef: "refs/heads/scratch",
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "scratch", "base_ref": "scratch", "base_is_ephemeral": true}
			},
			wantSHA: func(f fixture) string { return f.eph }},
		{desc: "ephemeral target", wantRef: "refs/namespaces/ephemeral/refs/heads/copy", ephemeral: true,
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "copy", "base_ref": "main", "target_is_ephemeral": true}
			},
			wantSHA: func(f fixture) string { return f.c2 }},
		{desc: "ephemeral to ephemeral", wantRef: "refs/namespaces/ephemeral/refs/heads/copy", ephemeral: true,
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "copy", "base_ref": "scratch", "base_is_ephemeral": true, "target_is_ephemeral": true}
			},
			wantSHA: func(f fixture) string { return f.eph }},
		{desc: "ephemeral main beside normal main", wantRef: "refs/namespaces/ephemeral/refs/heads/main", ephemeral: true,
			body: func(f fixture) map[string]any {
				return map[string]any{"target_branch": "main", "base_ref": f.c1, "target_is_ephemeral": true}
			},
			wantSHA: func(f fixture) string { return f.c1 }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			before := f.r.refs(t)
			resp := f.r.createBranch(t, f.r.Write, tc.body(f))
			if resp.Status < 200 || resp.Status > 299 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			m := object(t, resp)
			target := tc.body(f)["target_branch"].(string)
			if msg, _ := m["message"].(string); msg == "" || m["target_branch"] != target || m["target_is_ephemeral"] != tc.ephemeral {
				t.Errorf("response = %s, want message, target_branch %q, target_is_ephemeral %v", resp.Body, target, tc.ephemeral)
			}
			want := tc.wantSHA(f)
			if m["commit_sha"] != nil && m["commit_sha"] != want {
				t.Errorf("commit_sha = %v, want %s", m["commit_sha"], want)
			}
			if got := f.r.tip(t, tc.wantRef); got != want {
				t.Errorf("%s = %q, want %s", tc.wantRef, got, want)
			}
			// Only the target ref was added.
			after := f.r.refs(t)
			added := strings.TrimSpace(strings.Replace(after, before, "", 1))
			for _, l := range strings.Split(before, "\n") {
				if !strings.Contains(after, l) {
					t.Errorf("ref %s changed", l)
				}
			}
			if strings.Count(after, "\n") != strings.Count(before, "\n")+1 {
				t.Errorf("refs before:\n%s\nafter:\n%s (added %q)", before, after, added)
			}
			heads := f.r.branchHeads(t, tc.ephemeral)
			if heads[target] != want {
				t.Errorf("listing (ephemeral=%v) has %s at %q, want %s", tc.ephemeral, target, heads[target], want)
			}
			if !tc.ephemeral && f.r.tip(t, "refs/namespaces/ephemeral/refs/heads/"+target) != "" && target != "scratch" {
				t.Errorf("normal create touched the ephemeral namespace")
			}
		})
	}

	for _, tc := range []struct {
		desc   string
		body   map[string]any
		status int
	}{
		{desc: "existing target", body: map[string]any{"target_branch": "main", "base_ref": "main"}, status: http.StatusConflict},
		{desc: "existing ephemeral target", body: map[string]any{"target_branch": "scratch", "base_ref": "main", "target_is_ephemeral": true}, status: http.StatusConflict},
		{desc: "unknown base", body: map[string]any{"target_branch": "x", "base_ref": "nope"}, status: http.StatusNotFound},
		{desc: "unknown sha", body: map[string]any{"target_branch": "x", "base_ref": strings.Repeat("f", 40)}, status: http.StatusNotFound},
		{desc: "ephemeral base in the normal namespace", body: map[string]any{"target_branch": "x", "base_ref": "scratch"}, status: http.StatusNotFound},
		{desc: "normal base in the ephemeral namespace", body: map[string]any{"target_branch": "x", "base_ref": "main", "base_is_ephemeral": true}, status: http.StatusNotFound},
		{desc: "invalid name a..b", body: map[string]any{"target_branch": "a..b", "base_ref": "main"}, status: http.StatusBadRequest},
		{desc: "invalid name -x", body: map[string]any{"target_branch": "-x", "base_ref": "main"}, status: http.StatusBadRequest},
		{desc: "invalid name x.lock", body: map[string]any{"target_branch": "x.lock", "base_ref": "main"}, status: http.StatusBadRequest},
		{desc: "invalid name with space", body: map[string]any{"target_branch": "a b", "base_ref": "main"}, status: http.StatusBadRequest},
		{desc: "invalid name a~1", body: map[string]any{"target_branch": "a~1", "base_ref": "main"}, status: http.StatusBadRequest},
		{desc: "missing target", body: map[string]any{"base_ref": "main"}, status: http.StatusBadRequest},
		{desc: "missing base", body: map[string]any{"target_branch": "x"}, status: http.StatusBadRequest},
		{desc: "base with tree syntax", body: map[string]any{"target_branch": "x", "base_ref": "main:a"}, status: http.StatusNotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			before := f.r.refs(t)
			wantError(t, f.r.createBranch(t, f.r.Write, tc.body), tc.status)
			if after := f.r.refs(t); after != before {
				t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}

	t.Run("body over the JSON limit", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		before := f.r.refs(t)
		body := `{"target_branch":"big","base_ref":"main","pad":"` + strings.Repeat("x", 2<<20) + `"}`
		wantError(t, e.do(t, "POST", "/api/v1/repos/branches/create", f.r.Write, strings.NewReader(body)), http.StatusRequestEntityTooLarge)
		if after := f.r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
	t.Run("policy", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		token := e.TokenWith(auth.Claims{Repo: f.r.ID, Scopes: []auth.Scope{auth.ScopeGitWrite},
			Refs: []auth.RawRule{{Pattern: "locked/*", Ops: []auth.Op{auth.OpNoPush}}}})
		before := f.r.refs(t)
		m := wantError(t, f.r.createBranch(t, token, map[string]any{"target_branch": "locked/x", "base_ref": "main"}), http.StatusForbidden)
		if msg, _ := m["error"].(string); !strings.Contains(msg, "denied by policy") {
			t.Errorf("error = %q", msg)
		}
		if after := f.r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
		wantStatus(t, f.r.createBranch(t, token, map[string]any{"target_branch": "open/x", "base_ref": "main"}), http.StatusOK)
	})
}

func TestDeleteBranch(t *testing.T) {
	t.Parallel()
	e := start(t)

	setup := func(t *testing.T) *testRepo {
		t.Helper()
		r, _ := e.seededRepo(t)
		wantStatus(t, r.createBranch(t, r.Write, map[string]any{"target_branch": "feature", "base_ref": "main"}), http.StatusOK)
		r.commit(t, newMeta("scratch", "base_branch", "main", "ephemeral", true), upsert("s", "s"))
		r.commit(t, newMeta("main", "base_branch", "main", "ephemeral", true), upsert("m", "m"))
		return r
	}

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		r := setup(t)
		resp := r.deleteBranch(t, r.Write, map[string]any{"name": "feature"})
		wantStatus(t, resp, http.StatusOK)
		m := object(t, resp)
		if m["name"] != "feature" || m["message"] == nil || m["message"] == "" {
			t.Errorf("response = %s", resp.Body)
		}
		if v, ok := m["ephemeral"]; ok && v != false {
			t.Errorf("ephemeral = %#v, want false or absent", v)
		}
		if got := r.tip(t, "refs/heads/feature"); got != "" {
			t.Errorf("refs/heads/feature still at %s", got)
		}
		if _, ok := r.branchHeads(t, false)["feature"]; ok {
			t.Error("deleted branch still listed")
		}
		// Gone, so deleting again is 404.
		wantError(t, r.deleteBranch(t, r.Write, map[string]any{"name": "feature"}), http.StatusNotFound)
		// And it can be recreated.
		wantStatus(t, r.createBranch(t, r.Write, map[string]any{"target_branch": "feature", "base_ref": "main"}), http.StatusOK)
	})
	t.Run("delete ephemeral", func(t *testing.T) {
		t.Parallel()
		r := setup(t)
		normalMain := r.tip(t, "refs/heads/main")
		for _, name := range []string{"scratch", "main"} { // the default-branch rule does not apply
			resp := r.deleteBranch(t, r.Write, map[string]any{"name": name, "ephemeral": true})
			wantStatus(t, resp, http.StatusOK)
			if m := object(t, resp); m["name"] != name || m["ephemeral"] != true {
				t.Errorf("response = %s, want name %s ephemeral true", resp.Body, name)
			}
			if got := r.tip(t, "refs/namespaces/ephemeral/refs/heads/"+name); got != "" {
				t.Errorf("ephemeral %s still at %s", name, got)
			}
		}
		if got := r.tip(t, "refs/heads/main"); got != normalMain {
			t.Errorf("normal main moved: %s, was %s", got, normalMain)
		}
		if heads := r.branchHeads(t, true); len(heads) != 0 {
			t.Errorf("ephemeral branches left: %v", heads)
		}
	})

	for _, tc := range []struct {
		desc   string
		body   map[string]any
		status int
	}{
		{desc: "default branch", body: map[string]any{"name": "main"}, status: http.StatusBadRequest},
		{desc: "default branch with ephemeral false", body: map[string]any{"name": "main", "ephemeral": false}, status: http.StatusBadRequest},
		{desc: "missing branch", body: map[string]any{"name": "nope"}, status: http.StatusNotFound},
		{desc: "ephemeral branch in the normal namespace", body: map[string]any{"name": "scratch"}, status: http.StatusNotFound},
		{desc: "normal branch in the ephemeral namespace", body: map[string]any{"name": "feature", "ephemeral": true}, status: http.StatusNotFound},
		{desc: "missing name", body: map[string]any{}, status: http.StatusBadRequest},
		{desc: "invalid name", body: map[string]any{"name": "a..b"}, status: http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			before := r.refs(t)
			wantError(t, r.deleteBranch(t, r.Write, tc.body), tc.status)
			if after := r.refs(t); after != before {
				t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}

	for _, tc := range []struct {
		desc string
		rule auth.RawRule
	}{
		{"no-push", auth.RawRule{Pattern: "feature", Ops: []auth.Op{auth.OpNoPush}}},
		{"no-force-push denies deletion (Q5)", auth.RawRule{Pattern: "refs/heads/*", Ops: []auth.Op{auth.OpNoForcePush}}},
	} {
		t.Run("policy "+tc.desc, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			token := e.TokenWith(auth.Claims{Repo: r.ID, Scopes: []auth.Scope{auth.ScopeGitWrite}, Refs: []auth.RawRule{tc.rule}})
			before := r.refs(t)
			m := wantError(t, r.deleteBranch(t, token, map[string]any{"name": "feature"}), http.StatusForbidden)
			if msg, _ := m["error"].(string); !strings.Contains(msg, "denied by policy") {
				t.Errorf("error = %q", msg)
			}
			if after := r.refs(t); after != before {
				t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// TestCreateBranch_concurrent: racing creates of one branch have exactly
// one winner.
func TestCreateBranch_concurrent(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, tip := e.seededRepo(t)
	second := r.commit(t, newMeta("main"), upsert("b", "b")).Commit.CommitSHA

	const n = 8
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := tip
			if i%2 == 1 {
				base = second
			}
			resp, err := e.send("POST", "/api/v1/repos/branches/create", r.Write,
				strings.NewReader(`{"target_branch":"race","base_ref":"`+base+`"}`))
			if err != nil {
				errs[i] = err
				return
			}
			statuses[i] = resp.Status
		}()
	}
	wg.Wait()
	won := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch statuses[i] {
		case http.StatusOK, http.StatusCreated:
			if won >= 0 {
				t.Errorf("requests %d and %d both created the branch", won, i)
			}
			won = i
		case http.StatusConflict:
		default:
			t.Errorf("request %d: status %d", i, statuses[i])
		}
	}
	if won < 0 {
		t.Fatal("nobody created the branch")
	}
	want := tip
	if won%2 == 1 {
		want = second
	}
	if got := r.tip(t, "refs/heads/race"); got != want {
		t.Errorf("race = %s, want the winner's base %s", got, want)
	}
	if got := r.branchHeads(t, false); got["race"] != want || len(got) != 2 {
		t.Errorf("listing = %v", got)
	}
}
