package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
)

type tagsResponse struct {
	Tags []struct {
		Cursor string `json:"cursor"`
		Name   string `json:"name"`
		SHA    string `json:"sha"`
	} `json:"tags"`
	NextCursor *string `json:"next_cursor"`
	HasMore    *bool   `json:"has_more"`
}

func TestTags(t *testing.T) {
	t.Parallel()
	f := newBGTFixture(t)
	f.write("a.txt", "a\n")
	c1 := f.commit("one")
	f.write("a.txt", "b\n")
	c2 := f.commit("two")
	// Tags made with git: lightweight, annotated, and a tag of a tag.
	names := []string{"v1.0.0", "v1.10.0", "v1.2.0", "release/2024", "Alpha", "zeta", "v2-rc"}
	for i, n := range names {
		target := c1
		if i%2 == 1 {
			target = c2
		}
		if i%3 == 0 {
			f.gitBare("tag", "-a", "-m", "annotated "+n, n, target)
		} else {
			f.gitBare("tag", n, target)
		}
	}
	f.gitBare("tag", "-a", "-m", "tag of a tag", "nested", "v1.0.0")
	names = append(names, "nested")
	peeled := map[string]string{}
	for _, n := range names {
		peeled[n] = strings.TrimSpace(f.gitBare("rev-parse", "refs/tags/"+n+"^{commit}"))
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted) // byte order: "Alpha" < "nested" < "release/2024" < "v1.0.0" < ...

	// Reads first: the writes below run in parallel with each other only.
	t.Run("listing", func(t *testing.T) {
		t.Run("list all", func(t *testing.T) {
			t.Parallel()
			f := f.with(t)
			var got tagsResponse
			status, data := f.call("GET", "/api/v1/repos/tags", f.tok, nil, &got)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, data)
			}
			var gotNames []string
			for _, tg := range got.Tags {
				gotNames = append(gotNames, tg.Name)
				if tg.SHA != peeled[tg.Name] || tg.Cursor == "" {
					t.Errorf("tag %s: sha %s cursor %q, want peeled %s", tg.Name, tg.SHA, tg.Cursor, peeled[tg.Name])
				}
			}
			if !slices.Equal(gotNames, sorted) || got.HasMore == nil || *got.HasMore {
				t.Errorf("tags %q has_more %v, want %q", gotNames, got.HasMore, sorted)
			}
		})

		for _, limit := range []int{1, 2, 3, 8} {
			t.Run(fmt.Sprintf("paging by %d", limit), func(t *testing.T) {
				t.Parallel()
				f := f.with(t)
				var all []string
				cursor := ""
				for page := 0; page < 20; page++ {
					q := fmt.Sprintf("/api/v1/repos/tags?limit=%d", limit)
					if cursor != "" || page == 0 {
						q += "&cursor=" + cursor // an empty cursor is "from the start"
					}
					var got tagsResponse
					status, data := f.call("GET", q, f.tok, nil, &got)
					if status != http.StatusOK {
						t.Fatalf("status %d: %s", status, data)
					}
					if len(got.Tags) > limit {
						t.Fatalf("%d tags on a page of %d", len(got.Tags), limit)
					}
					for _, tg := range got.Tags {
						all = append(all, tg.Name)
					}
					if !*got.HasMore {
						break
					}
					cursor = *got.NextCursor
					if cursor != got.Tags[len(got.Tags)-1].Cursor {
						t.Errorf("next_cursor %q is not the last tag's cursor", cursor)
					}
				}
				if !slices.Equal(all, sorted) {
					t.Errorf("pages gave %q, want %q", all, sorted)
				}
			})
		}
	})

	t.Run("create lightweight", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		var got map[string]any
		status, data := f.call("POST", "/api/v1/repos/tags", f.tok, map[string]any{"name": " light ", "target": c1}, &got)
		if status != http.StatusOK || got["name"] != "light" || got["sha"] != c1 || got["message"] != "tag created" {
			t.Fatalf("status %d: %s", status, data)
		}
		if typ := strings.TrimSpace(f.gitBare("cat-file", "-t", "refs/tags/light")); typ != "commit" {
			t.Errorf("refs/tags/light is a %s", typ)
		}
		if status, data := f.call("POST", "/api/v1/repos/tags", f.tok, map[string]any{"name": "light", "target": c2}, nil); status != http.StatusConflict {
			t.Errorf("create again: status %d: %s", status, data)
		}
		if sha := strings.TrimSpace(f.gitBare("rev-parse", "refs/tags/light")); sha != c1 {
			t.Errorf("conflicting create moved the tag to %s", sha)
		}
	})

	t.Run("create annotated", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		var got map[string]any
		status, data := f.call("POST", "/api/v1/repos/tags", f.tok, map[string]any{
			"name": "v9.0.0", "target": c2, "message": "Release 9\n\nNotes.", "tagger": map[string]any{"name": "Tess Tagger", "email": "tess@example.com"},
		}, &got)
		if status != http.StatusOK || got["sha"] != c2 || got["annotated"] != true {
			t.Fatalf("status %d: %s", status, data)
		}
		out := f.gitBare("for-each-ref", "--format=%(objecttype) %(*objectname) %(taggername) %(taggeremail) %(contents)", "refs/tags/v9.0.0")
		if want := "tag " + c2 + " Tess Tagger <tess@example.com> Release 9\n\nNotes.\n\n"; out != want {
			t.Errorf("tag object %q, want %q", out, want)
		}
		if tagSHA := strings.TrimSpace(f.gitBare("rev-parse", "refs/tags/v9.0.0")); got["tag_sha"] != tagSHA {
			t.Errorf("tag_sha %v, want %s", got["tag_sha"], tagSHA)
		}
		// Default identity.
		status, data = f.call("POST", "/api/v1/repos/tags", f.tok, map[string]any{"name": "v9.0.1", "target": "main", "message": "by default"}, nil)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, data)
		}
		if out := f.gitBare("for-each-ref", "--format=%(taggername) %(taggeremail) %(*objectname)", "refs/tags/v9.0.1"); out != "Strata <strata@localhost> "+c2+"\n" {
			t.Errorf("default tagger: %q", out)
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		for _, n := range []string{"del-light", "del-annotated"} {
			body := map[string]any{"name": n, "target": c1}
			if n == "del-annotated" {
				body["message"] = "x"
			}
			if status, data := f.call("POST", "/api/v1/repos/tags", f.tok, body, nil); status != http.StatusOK {
				t.Fatalf("create %s: %d %s", n, status, data)
			}
			var got map[string]any
			status, data := f.call("DELETE", "/api/v1/repos/tags", f.tok, map[string]any{"name": n}, &got)
			if status != http.StatusOK || got["name"] != n || got["message"] != "tag deleted" {
				t.Fatalf("delete %s: %d %s", n, status, data)
			}
			if out := f.gitBare("for-each-ref", "refs/tags/"+n); out != "" {
				t.Errorf("tag %s still there: %q", n, out)
			}
			if status, _ := f.call("DELETE", "/api/v1/repos/tags", f.tok, map[string]any{"name": n}, nil); status != http.StatusNotFound {
				t.Errorf("delete %s again: %d", n, status)
			}
		}
	})

	t.Run("policy", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		deny := f.srv.TokenWith(auth.Claims{Repo: "repo", Scopes: []auth.Scope{auth.ScopeGitRead, auth.ScopeGitWrite},
			Refs: []auth.RawRule{{Pattern: "refs/tags/*", Ops: []auth.Op{auth.OpNoPush}}}})
		status, data := f.call("POST", "/api/v1/repos/tags", deny, map[string]any{"name": "denied", "target": c1}, nil)
		if status != http.StatusForbidden || !strings.Contains(bgtError(data), "denied by policy") {
			t.Errorf("create: %d %s", status, data)
		}
		if out := f.gitBare("for-each-ref", "refs/tags/denied"); out != "" {
			t.Errorf("denied tag created: %q", out)
		}
		status, data = f.call("DELETE", "/api/v1/repos/tags", deny, map[string]any{"name": "zeta"}, nil)
		if status != http.StatusForbidden || !strings.Contains(bgtError(data), "denied by policy") {
			t.Errorf("delete: %d %s", status, data)
		}
		if out := f.gitBare("for-each-ref", "refs/tags/zeta"); out == "" {
			t.Error("denied delete removed the tag")
		}
		// Branch-only rules do not touch tags.
		branchOnly := f.srv.TokenWith(auth.Claims{Repo: "repo", Scopes: []auth.Scope{auth.ScopeGitWrite},
			Refs: []auth.RawRule{{Pattern: "main", Ops: []auth.Op{auth.OpNoPush}}}})
		if status, data := f.call("POST", "/api/v1/repos/tags", branchOnly, map[string]any{"name": "allowed", "target": c1}, nil); status != http.StatusOK {
			t.Errorf("branch-only policy: %d %s", status, data)
		}
		// Reading needs no write scope; writing needs git:write.
		ro := f.srv.Token("repo", auth.ScopeGitRead)
		if status, _ := f.call("POST", "/api/v1/repos/tags", ro, map[string]any{"name": "ro", "target": c1}, nil); status != http.StatusForbidden {
			t.Errorf("read-only token: %d", status)
		}
	})

	for _, tc := range []struct {
		desc   string
		method string
		body   any
		status int
	}{
		{"empty name", "POST", map[string]any{"name": " ", "target": c1}, http.StatusBadRequest},
		{"refs prefix", "POST", map[string]any{"name": "refs/tags/x", "target": c1}, http.StatusBadRequest},
		{"invalid name", "POST", map[string]any{"name": "bad..name", "target": c1}, http.StatusBadRequest},
		{"dash name", "POST", map[string]any{"name": "-x", "target": c1}, http.StatusBadRequest},
		{"lock name", "POST", map[string]any{"name": "x.lock", "target": c1}, http.StatusBadRequest},
		{"no target", "POST", map[string]any{"name": "x"}, http.StatusBadRequest},
		{"unknown target", "POST", map[string]any{"name": "x", "target": strings.Repeat("1", 40)}, http.StatusNotFound},
		{"unknown revision", "POST", map[string]any{"name": "x", "target": "nope"}, http.StatusNotFound},
		{"nests under existing", "POST", map[string]any{"name": "zeta/sub", "target": c1}, http.StatusConflict},
		{"existing", "POST", map[string]any{"name": "v1.0.0", "target": c1}, http.StatusConflict},
		{"delete missing", "DELETE", map[string]any{"name": "nope"}, http.StatusNotFound},
		{"delete refs prefix", "DELETE", map[string]any{"name": "refs/tags/zeta"}, http.StatusBadRequest},
		{"delete empty", "DELETE", map[string]any{}, http.StatusBadRequest},
		{"bad limit", "GET", nil, http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := f.with(t)
			path := "/api/v1/repos/tags"
			if tc.method == "GET" {
				path += "?limit=abc"
			}
			status, data := f.call(tc.method, path, f.tok, tc.body, nil)
			if status != tc.status || bgtError(data) == "" {
				t.Fatalf("status %d body %s, want %d with an error", status, data, tc.status)
			}
		})
	}
}
