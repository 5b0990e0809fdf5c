package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
)

type noteWrite struct {
	SHA        string  `json:"sha"`
	TargetRef  string  `json:"target_ref"`
	BaseCommit *string `json:"base_commit"`
	NewRefSHA  string  `json:"new_ref_sha"`
	Result     struct {
		Success bool   `json:"success"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"result"`
}

func decodeNoteWrite(t *testing.T, data []byte) noteWrite {
	t.Helper()
	var w noteWrite
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	if strings.Contains(string(data), "null") {
		t.Errorf("write response contains null: %s", data)
	}
	return w
}

func TestNotes(t *testing.T) {
	t.Parallel()
	f := newBGTFixture(t)
	f.write("a.txt", "a\n")
	c1 := f.commit("one")
	f.write("a.txt", "b\n")
	c2 := f.commit("two")
	blob := strings.TrimSpace(f.gitBare("rev-parse", c2+":a.txt"))

	note := func(t *testing.T, method string, body map[string]any) (int, noteWrite) {
		t.Helper()
		status, data := f.with(t).call(method, "/api/v1/repos/notes", f.tok, body, nil)
		if status >= 400 && status != http.StatusConflict {
			return status, noteWrite{}
		}
		return status, decodeNoteWrite(t, data)
	}

	t.Run("lifecycle on refs/notes/commits", func(t *testing.T) {
		f := f.with(t)
		// add → 201, no base_commit (the ref did not exist).
		status, w := note(t, "POST", map[string]any{"sha": c1, "action": "add", "note": "first note"})
		if status != http.StatusCreated || !w.Result.Success || w.Result.Status != "ok" || w.BaseCommit != nil || w.TargetRef != "refs/notes/commits" || w.SHA != c1 {
			t.Fatalf("add: %d %+v", status, w)
		}
		tip1 := strings.TrimSpace(f.gitBare("rev-parse", "refs/notes/commits"))
		if w.NewRefSHA != tip1 {
			t.Errorf("new_ref_sha %s, ref at %s", w.NewRefSHA, tip1)
		}
		if got := f.gitBare("notes", "show", c1); got != "first note\n" {
			t.Errorf("git notes show = %q", got)
		}
		// get
		var got map[string]string
		status, data := f.call("GET", "/api/v1/repos/notes?sha="+c1, f.tok, nil, &got)
		if status != http.StatusOK || got["sha"] != c1 || got["note"] != "first note\n" || got["ref_sha"] != tip1 {
			t.Fatalf("get: %d %s", status, data)
		}
		// add again → 409 conflict, full write shape, nothing moves.
		status, w = note(t, "POST", map[string]any{"sha": c1, "action": "add", "note": "again"})
		if status != http.StatusConflict || w.Result.Success || w.Result.Status != "conflict" || w.BaseCommit == nil || *w.BaseCommit != tip1 || w.NewRefSHA != tip1 {
			t.Fatalf("add twice: %d %+v", status, w)
		}
		// append: Q13 separator.
		status, w = note(t, "POST", map[string]any{"sha": c1, "action": "append", "note": "second note", "expected_ref_sha": tip1,
			"author": map[string]any{"name": "Nell", "email": "nell@example.com"}})
		if status != http.StatusOK || !w.Result.Success || w.BaseCommit == nil || *w.BaseCommit != tip1 {
			t.Fatalf("append: %d %+v", status, w)
		}
		tip2 := w.NewRefSHA
		if got := f.gitBare("notes", "show", c1); got != "first note\n\nsecond note\n" {
			t.Errorf("after append: %q", got)
		}
		if got := f.gitBare("log", "-1", "--format=%an <%ae> %P", "refs/notes/commits"); got != "Nell <nell@example.com> "+tip1+"\n" {
			t.Errorf("notes commit: %q", got)
		}
		// Append with a stale expected_ref_sha → 409 precondition_failed.
		status, w = note(t, "POST", map[string]any{"sha": c1, "action": "append", "note": "stale", "expected_ref_sha": tip1})
		if status != http.StatusConflict || w.Result.Success || w.Result.Status != "precondition_failed" || w.BaseCommit == nil || *w.BaseCommit != tip2 || w.TargetRef != "refs/notes/commits" || w.SHA != c1 {
			t.Fatalf("stale append: %d %+v", status, w)
		}
		if got := f.gitBare("notes", "show", c1); got != "first note\n\nsecond note\n" {
			t.Errorf("stale append changed the note: %q", got)
		}
		// append to a note-less object creates it; notes on blobs work.
		status, w = note(t, "POST", map[string]any{"sha": blob, "action": "append", "note": "on a blob"})
		if status != http.StatusOK || !w.Result.Success {
			t.Fatalf("append new: %d %+v", status, w)
		}
		if got := f.gitBare("notes", "show", blob); got != "on a blob\n" {
			t.Errorf("blob note %q", got)
		}
		// delete
		status, w = note(t, "DELETE", map[string]any{"sha": c1})
		if status != http.StatusOK || !w.Result.Success || w.BaseCommit == nil {
			t.Fatalf("delete: %d %+v", status, w)
		}
		if w.NewRefSHA != strings.TrimSpace(f.gitBare("rev-parse", "refs/notes/commits")) {
			t.Errorf("delete new_ref_sha %s", w.NewRefSHA)
		}
		if status, data := f.call("GET", "/api/v1/repos/notes?sha="+c1, f.tok, nil, nil); status != http.StatusNotFound {
			t.Errorf("get deleted: %d %s", status, data)
		}
		if status, data := f.call("DELETE", "/api/v1/repos/notes", f.tok, map[string]any{"sha": c1}, nil); status != http.StatusNotFound || bgtError(data) == "" {
			t.Errorf("delete again: %d %s", status, data)
		}
		// A note by revision name resolves to the commit.
		status, w = note(t, "POST", map[string]any{"sha": "main", "action": "add", "note": "on main"})
		if status != http.StatusCreated || w.SHA != c2 {
			t.Fatalf("add by revision: %d %+v", status, w)
		}
		f.gitBare("fsck", "--strict", "--no-progress")
	})

	t.Run("named notes refs", func(t *testing.T) {
		f := f.with(t)
		for _, tc := range []struct{ ref, full string }{
			{"review", "refs/notes/review"},
			{"notes/reviews/alice", "refs/notes/reviews/alice"},
			{"refs/notes/reviews/bob", "refs/notes/reviews/bob"},
			{"ci", "refs/notes/ci"},
		} {
			status, w := note(t, "POST", map[string]any{"sha": c2, "action": "add", "note": "by " + tc.ref, "ref": tc.ref})
			if status != http.StatusCreated || w.TargetRef != tc.full {
				t.Fatalf("add on %s: %d %+v", tc.ref, status, w)
			}
			if got := f.gitBare("notes", "--ref="+tc.full, "show", c2); got != "by "+tc.ref+"\n" {
				t.Errorf("%s: %q", tc.full, got)
			}
			var got map[string]string
			if status, data := f.call("GET", "/api/v1/repos/notes?sha="+c2+"&ref="+tc.ref, f.tok, nil, &got); status != http.StatusOK || got["note"] != "by "+tc.ref+"\n" {
				t.Errorf("get %s: %d %s", tc.ref, status, data)
			}
		}
		// expected_ref_sha on a missing ref → precondition failed, no base.
		status, w := note(t, "POST", map[string]any{"sha": c2, "action": "add", "note": "x", "ref": "fresh", "expected_ref_sha": c1})
		if status != http.StatusConflict || w.Result.Status != "precondition_failed" || w.BaseCommit != nil || w.TargetRef != "refs/notes/fresh" {
			t.Fatalf("expected on missing ref: %d %+v", status, w)
		}

		type refsResponse struct {
			Refs []struct {
				Cursor, Ref, SHA string
			} `json:"refs"`
			NextCursor *string `json:"next_cursor"`
			HasMore    bool    `json:"has_more"`
			Prefix     string  `json:"prefix"`
		}
		for _, tc := range []struct {
			query  string
			prefix string
			want   []string
		}{
			{"", "refs/notes/", []string{"refs/notes/ci", "refs/notes/commits", "refs/notes/review", "refs/notes/reviews/alice", "refs/notes/reviews/bob"}},
			{"prefix=review", "refs/notes/review", []string{"refs/notes/review", "refs/notes/reviews/alice", "refs/notes/reviews/bob"}},
			{"prefix=reviews/", "refs/notes/reviews/", []string{"refs/notes/reviews/alice", "refs/notes/reviews/bob"}},
			{"prefix=refs/notes/reviews/", "refs/notes/reviews/", []string{"refs/notes/reviews/alice", "refs/notes/reviews/bob"}},
			{"prefix=notes/c", "refs/notes/c", []string{"refs/notes/ci", "refs/notes/commits"}},
			{"prefix=nothing/", "refs/notes/nothing/", nil},
		} {
			for _, limit := range []int{0, 1, 2} {
				var all []string
				cursor := ""
				for page := 0; page < 10; page++ {
					q := "/api/v1/repos/notes/refs?" + tc.query
					if limit > 0 {
						q += fmt.Sprintf("&limit=%d", limit)
					}
					q += "&cursor=" + cursor
					var got refsResponse
					status, data := f.call("GET", q, f.tok, nil, &got)
					if status != http.StatusOK || got.Prefix != tc.prefix {
						t.Fatalf("%s: %d %s", q, status, data)
					}
					for _, r := range got.Refs {
						all = append(all, r.Ref)
						if sha := strings.TrimSpace(f.gitBare("rev-parse", r.Ref)); r.SHA != sha || r.Cursor == "" {
							t.Errorf("%s: sha %s cursor %q, git says %s", r.Ref, r.SHA, r.Cursor, sha)
						}
					}
					if !got.HasMore {
						break
					}
					cursor = *got.NextCursor
				}
				if fmt.Sprint(all) != fmt.Sprint(tc.want) {
					t.Errorf("%s limit %d: %q, want %q", tc.query, limit, all, tc.want)
				}
			}
		}
	})

	t.Run("policy", func(t *testing.T) {
		f := f.with(t)
		deny := f.srv.TokenWith(auth.Claims{Repo: "repo", Scopes: []auth.Scope{auth.ScopeGitRead, auth.ScopeGitWrite},
			Refs: []auth.RawRule{{Pattern: "refs/notes/locked", Ops: []auth.Op{auth.OpNoPush}}}})
		status, data := f.call("POST", "/api/v1/repos/notes", deny, map[string]any{"sha": c1, "action": "add", "note": "x", "ref": "locked"}, nil)
		if status != http.StatusForbidden || !strings.Contains(bgtError(data), "denied by policy") {
			t.Errorf("denied add: %d %s", status, data)
		}
		if out := f.gitBare("for-each-ref", "refs/notes/locked"); out != "" {
			t.Errorf("denied write created %q", out)
		}
		if status, data := f.call("POST", "/api/v1/repos/notes", deny, map[string]any{"sha": c1, "action": "add", "note": "x", "ref": "open"}, nil); status != http.StatusCreated {
			t.Errorf("other notes ref: %d %s", status, data)
		}
	})

	for _, tc := range []struct {
		desc   string
		method string
		path   string
		body   any
		status int
	}{
		{"get without sha", "GET", "/api/v1/repos/notes", nil, http.StatusBadRequest},
		{"get outside refs/notes", "GET", "/api/v1/repos/notes?sha=" + c1 + "&ref=refs/heads/main", nil, http.StatusBadRequest},
		{"get missing ref", "GET", "/api/v1/repos/notes?sha=" + c1 + "&ref=none", nil, http.StatusNotFound},
		{"get unknown revision", "GET", "/api/v1/repos/notes?sha=nope", nil, http.StatusNotFound},
		{"bad action", "POST", "", map[string]any{"sha": c1, "action": "replace", "note": "x"}, http.StatusBadRequest},
		{"no note", "POST", "", map[string]any{"sha": c1, "action": "add", "note": "  "}, http.StatusBadRequest},
		{"no sha", "POST", "", map[string]any{"action": "add", "note": "x"}, http.StatusBadRequest},
		{"unknown object", "POST", "", map[string]any{"sha": strings.Repeat("ab", 20), "action": "add", "note": "x"}, http.StatusNotFound},
		{"ref outside notes", "POST", "", map[string]any{"sha": c1, "action": "add", "note": "x", "ref": "refs/heads/main"}, http.StatusBadRequest},
		{"ref nested in a ref", "POST", "", map[string]any{"sha": c1, "action": "add", "note": "x", "ref": "ci/nested"}, http.StatusBadRequest},
		{"invalid ref", "POST", "", map[string]any{"sha": c1, "action": "add", "note": "x", "ref": "a..b"}, http.StatusBadRequest},
		{"bad expected", "POST", "", map[string]any{"sha": c1, "action": "add", "note": "x", "expected_ref_sha": "abc"}, http.StatusBadRequest},
		{"half author", "POST", "", map[string]any{"sha": c1, "action": "add", "note": "x", "author": map[string]any{"name": "x"}}, http.StatusBadRequest},
		{"delete unknown object", "DELETE", "", map[string]any{"sha": strings.Repeat("cd", 20)}, http.StatusNotFound},
		{"refs outside notes", "GET", "/api/v1/repos/notes/refs?prefix=refs/heads/", nil, http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			f := f.with(t)
			path := tc.path
			if path == "" {
				path = "/api/v1/repos/notes"
			}
			status, data := f.call(tc.method, path, f.tok, tc.body, nil)
			if status != tc.status || bgtError(data) == "" {
				t.Fatalf("status %d body %s, want %d with an error", status, data, tc.status)
			}
		})
	}
}
