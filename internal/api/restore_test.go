package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
)

// restoreFixture makes three commits on main: c1 (a=1), c2 (a=2, b), c3 (+c).
func restoreFixture(t *testing.T, e *env) (r *testRepo, c1, c2, c3 string) {
	t.Helper()
	r, c1 = e.seededRepo(t, upsert("a.txt", "1\n"))
	c2 = r.commit(t, newMeta("main"), upsert("a.txt", "2\n"), upsert("b.txt", "b\n")).Commit.CommitSHA
	c3 = r.commit(t, newMeta("main"), upsert("dir/c.txt", "c\n")).Commit.CommitSHA
	return r, c1, c2, c3
}

// restoreBody is the metadata object the SDK sends (spec §5.8).
func restoreBody(kv ...any) string {
	m := map[string]any{
		"target_branch": "main",
		"author":        map[string]any{"name": "Restorer", "email": "restore@example.com"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
			continue
		}
		m[kv[i].(string)] = kv[i+1]
	}
	return string(ndjsonLine(map[string]any{"metadata": m}))
}

func (r *testRepo) restore(t testing.TB, token, body string, header ...string) *response {
	t.Helper()
	return r.e.do(t, "POST", "/api/v1/repos/restore-commit", token, strings.NewReader(body), header...)
}

func TestRestoreCommit(t *testing.T) {
	t.Parallel()
	e := start(t)

	for _, tc := range []struct {
		desc    string
		body    func(c1 string) string
		header  []string
		wantMsg func(c1 string) string
	}{
		{
			desc:    "default message, JSON without trailing newline",
			body:    func(c1 string) string { return strings.TrimSuffix(restoreBody("target_commit_sha", c1), "\n") },
			wantMsg: func(c1 string) string { return "Restore main to " + c1[:7] },
		},
		{
			desc:    "NDJSON with a trailing newline",
			body:    func(c1 string) string { return restoreBody("target_commit_sha", c1, "commit_message", "Rollback") },
			header:  []string{"Content-Type", "application/x-ndjson"},
			wantMsg: func(string) string { return "Rollback" },
		},
		{
			desc:    "short sha",
			body:    func(c1 string) string { return restoreBody("target_commit_sha", c1[:10], "commit_message", "short") },
			wantMsg: func(string) string { return "short" },
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r, c1, _, c3 := restoreFixture(t, e)
			ack := wantAck(t, r.restore(t, r.Write, tc.body(c1), tc.header...))
			if ack.Result.OldSHA != c3 || ack.Result.Branch != "main" || ack.Commit.TargetBranch != "main" {
				t.Errorf("result = %+v, want branch main old %s", ack.Result, c3)
			}
			sha := ack.Commit.CommitSHA
			if got := r.tip(t, "refs/heads/main"); got != sha {
				t.Fatalf("main = %s, want the new commit %s", got, sha)
			}
			// A new commit on top: history kept, tree of c1.
			if got := r.git(t, "rev-parse", sha+"^"); got != c3 {
				t.Errorf("parent = %s, want the previous tip %s", got, c3)
			}
			if got, want := r.git(t, "rev-parse", sha+"^{tree}"), r.git(t, "rev-parse", c1+"^{tree}"); got != want || ack.Commit.TreeSHA != want {
				t.Errorf("tree = %s (tree_sha %s), want c1's %s", got, ack.Commit.TreeSHA, want)
			}
			if got := r.git(t, "rev-list", "--count", "main"); got != "4" {
				t.Errorf("main has %s commits, want 4", got)
			}
			c := r.getCommit(t, sha)
			if c["message"] != tc.wantMsg(c1) {
				t.Errorf("message = %#v, want %q", c["message"], tc.wantMsg(c1))
			}
			if c["author_name"] != "Restorer" || c["committer_name"] != "Restorer" {
				t.Errorf("author/committer = %v/%v", c["author_name"], c["committer_name"])
			}
		})
	}

	t.Run("committer and expected head", func(t *testing.T) {
		t.Parallel()
		r, c1, _, c3 := restoreFixture(t, e)
		body := restoreBody("target_commit_sha", c1, "expected_head_sha", c3,
			"committer", map[string]any{"name": "Comm", "email": "comm@example.com"})
		sha := wantAck(t, r.restore(t, r.Write, body)).Commit.CommitSHA
		c := r.getCommit(t, sha)
		if c["committer_name"] != "Comm" || c["committer_email"] != "comm@example.com" || c["author_name"] != "Restorer" {
			t.Errorf("commit = %v", c)
		}
	})
	t.Run("restore to the current tip", func(t *testing.T) {
		t.Parallel()
		r, _, _, c3 := restoreFixture(t, e)
		ack := wantAck(t, r.restore(t, r.Write, restoreBody("target_commit_sha", c3)))
		if got := r.git(t, "rev-parse", ack.Commit.CommitSHA+"^"); got != c3 {
			t.Errorf("parent = %s, want %s", got, c3)
		}
	})
	t.Run("restore another branch", func(t *testing.T) {
		t.Parallel()
		r, _, c2, _ := restoreFixture(t, e)
		feat := r.commit(t, newMeta("feature", "base_branch", "main"), upsert("f.txt", "f")).Commit.CommitSHA
		ack := wantAck(t, r.restore(t, r.Write, restoreBody("target_branch", "feature", "target_commit_sha", c2)))
		if ack.Result.Branch != "feature" || ack.Result.OldSHA != feat {
			t.Errorf("result = %+v", ack.Result)
		}
		if r.tip(t, "refs/heads/main") == ack.Commit.CommitSHA {
			t.Error("restoring feature moved main")
		}
	})

	for _, tc := range []struct {
		desc   string
		body   func(c1, c3 string) string
		status int
		label  string
	}{
		{desc: "expected head mismatch", status: http.StatusConflict, label: "precondition_failed",
			body: func(c1, _ string) string { return restoreBody("target_commit_sha", c1, "expected_head_sha", c1) }},
		{desc: "unknown commit", status: http.StatusNotFound, label: "not_found",
			body: func(_, _ string) string { return restoreBody("target_commit_sha", strings.Repeat("ab", 20)) }},
		{desc: "target is a tree, not a commit", status: http.StatusNotFound, label: "not_found",
			body: func(_, _ string) string {
				return restoreBody("target_commit_sha", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
			}},
		{desc: "unknown branch", status: http.StatusNotFound, label: "not_found",
			body: func(c1, _ string) string { return restoreBody("target_commit_sha", c1, "target_branch", "nope") }},
		{desc: "missing target_commit_sha", status: http.StatusBadRequest, label: "invalid",
			body: func(_, _ string) string { return restoreBody() }},
		{desc: "missing author", status: http.StatusBadRequest, label: "invalid",
			body: func(c1, _ string) string { return restoreBody("target_commit_sha", c1, "author", nil) }},
		{desc: "invalid branch", status: http.StatusBadRequest, label: "invalid",
			body: func(c1, _ string) string { return restoreBody("target_commit_sha", c1, "target_branch", "a..b") }},
		{desc: "option-like sha", status: http.StatusBadRequest, label: "invalid",
			body: func(_, _ string) string { return restoreBody("target_commit_sha", "--all") }},
		{desc: "malformed JSON", status: http.StatusBadRequest, label: "invalid",
			body: func(_, _ string) string { return `{"metadata":{` }},
		{desc: "empty body", status: http.StatusBadRequest, label: "invalid",
			body: func(_, _ string) string { return "" }},
		{desc: "two objects", status: http.StatusBadRequest, label: "invalid",
			body: func(c1, _ string) string {
				b := restoreBody("target_commit_sha", c1)
				return b + b
			}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r, c1, _, c3 := restoreFixture(t, e)
			before := r.refs(t)
			f := wantRefFailure(t, r.restore(t, r.Write, tc.body(c1, c3)), tc.status, tc.label)
			if tc.label == "precondition_failed" && f.Result.OldSHA != "" && f.Result.OldSHA != c3 {
				t.Errorf("result.old_sha = %s, want the current tip %s", f.Result.OldSHA, c3)
			}
			if after := r.refs(t); after != before {
				t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}

	t.Run("policy", func(t *testing.T) {
		t.Parallel()
		r, c1, _, _ := restoreFixture(t, e)
		token := e.TokenWith(auth.Claims{Repo: r.ID, Scopes: []auth.Scope{auth.ScopeGitWrite}, Refs: []auth.RawRule{{Pattern: "main", Ops: []auth.Op{auth.OpNoPush}}}})
		before := r.refs(t)
		f := wantRefFailure(t, r.restore(t, token, restoreBody("target_commit_sha", c1)), http.StatusForbidden, "forbidden")
		if !strings.Contains(f.Error, "denied by policy") {
			t.Errorf("error = %q", f.Error)
		}
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
}
