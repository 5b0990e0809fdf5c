package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
)

// mergeFixture: feature and clash both leave base; main moves on.
type mergeFixture struct {
	base, main, feat1, feat2, clash, lone string
}

func newMergeFixture(ds *dmServer) mergeFixture {
	var m mergeFixture
	m.base = ds.commit("base", map[string]string{"shared.txt": "1\n2\n3\n4\n5\n", "bin": "\x00base"})
	m.main = ds.commit("main", map[string]string{"shared.txt": "1\nMAIN\n3\n4\n5\n", "bin": "\x00main", "both.txt": "main side\n"}, m.base)
	m.feat1 = ds.commit("feat1", map[string]string{"shared.txt": "1\n2\n3\n4\nFEAT\n", "bin": "\x00base", "f.txt": "f\n"}, m.base)
	m.feat2 = ds.commit("feat2", map[string]string{"shared.txt": "1\n2\n3\n4\nFEAT\n", "bin": "\x00base", "f.txt": "f2\n"}, m.feat1)
	m.clash = ds.commit("clash", map[string]string{"shared.txt": "1\nCLASH\n3\n4\n5\n", "bin": "\x00clash", "both.txt": "clash side\n"}, m.base)
	m.lone = ds.commit("lone", map[string]string{"lone.txt": "l\n"})
	ds.branch(false, "feature", m.feat2)
	ds.branch(false, "clash", m.clash)
	ds.branch(false, "lone", m.lone)
	return m
}

func (ds *dmServer) merge(token string, body map[string]any) (int, map[string]any) {
	ds.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		ds.t.Fatal(err)
	}
	return ds.call("POST", "/api/v1/repos/merge", token, strings.NewReader(string(b)))
}

func TestMergeAPI(t *testing.T) {
	t.Parallel()
	ds := newDMServer(t)
	m := newMergeFixture(ds)
	for i, tc := range []struct {
		desc     string
		start    string // target's tip before
		body     map[string]any
		result   string
		parents  []string // of the new tip; nil: not checked
		newTip   string   // "" = a new commit
		promoted int
	}{
		{desc: "merge commit", start: m.main, body: map[string]any{"source_branch": "feature", "strategy": "merge"},
			result: "merge_commit", parents: []string{m.main, m.feat2}, promoted: 3},
		{desc: "ff_prefer fast-forwards", start: m.base, body: map[string]any{"source_branch": "feature", "strategy": "ff_prefer"},
			result: "fast_forward", newTip: m.feat2, promoted: 2},
		{desc: "ff_only fast-forwards", start: m.feat1, body: map[string]any{"source_branch": "feature", "strategy": "ff_only"},
			result: "fast_forward", newTip: m.feat2, promoted: 1},
		{desc: "merge strategy never fast-forwards", start: m.base, body: map[string]any{"source_branch": "feature", "strategy": "merge"},
			result: "merge_commit", parents: []string{m.base, m.feat2}, promoted: 3},
		{desc: "squash", start: m.main, body: map[string]any{"source_branch": "feature", "strategy": "merge", "squash": true,
			"commit_message": "squashed!", "author": map[string]string{"name": "Sam", "email": "sam@example.com"}},
			result: "squash", parents: []string{m.main}, promoted: 1},
		{desc: "no_op", start: m.feat2, body: map[string]any{"source_branch": m.feat1, "strategy": "ff_prefer"},
			result: "no_op", newTip: m.feat2, promoted: 0},
		{desc: "unrelated allowed", start: m.main, body: map[string]any{"source_branch": "lone", "strategy": "merge", "allow_unrelated_histories": true},
			result: "merge_commit", parents: []string{m.main, m.lone}, promoted: 2},
		{desc: "expected target matches", start: m.main, body: map[string]any{"source_branch": "feature", "strategy": "ff_prefer", "expected_target_sha": m.main},
			result: "merge_commit", parents: []string{m.main, m.feat2}, promoted: 3},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			ds := ds.on(t)
			target := fmt.Sprintf("target-%d", i)
			ds.branch(false, target, tc.start)
			tc.body["target_branch"] = target
			status, body := ds.merge(ds.token, tc.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, body)
			}
			tip := ds.tip(false, target)
			src, _ := body["source"].(map[string]any)
			tgt, _ := body["target"].(map[string]any)
			if body["result"] != tc.result || body["commit_sha"] != tip || body["tree_sha"] != ds.rev(tip+"^{tree}") ||
				body["promoted_commits"] != float64(tc.promoted) || src == nil || tgt == nil {
				t.Fatalf("body %v (tip %s)", body, tip)
			}
			if src["branch"] != tc.body["source_branch"] || src["ephemeral"] != false || src["sha"] != ds.rev(tc.body["source_branch"].(string)) {
				t.Errorf("source %v", src)
			}
			if tgt["branch"] != target || tgt["ephemeral"] != false || tgt["old_sha"] != tc.start || tgt["new_sha"] != tip {
				t.Errorf("target %v", tgt)
			}
			if tc.newTip != "" && tip != tc.newTip {
				t.Errorf("target at %s, want %s", tip, tc.newTip)
			}
			if tc.parents != nil {
				if got := strings.Fields(ds.run(gitCmd("rev-list", "--parents", "-n1", tip)))[1:]; fmt.Sprint(got) != fmt.Sprint(tc.parents) {
					t.Errorf("parents %v, want %v", got, tc.parents)
				}
			}
			if tc.result == "squash" {
				// The squash commit holds the merged tree with a single parent.
				if want := mergeTreeOracle(ds, tc.start, m.feat2); body["tree_sha"] != want {
					t.Errorf("squash tree %v, git merges to %s", body["tree_sha"], want)
				}
				if msg := ds.run(gitCmd("log", "-1", "--format=%an|%s", tip)); msg != "Sam|squashed!" {
					t.Errorf("squash commit %q", msg)
				}
			}
		})
	}

	t.Run("conflict", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		ds.branch(false, "conflict-target", m.main)
		status, body := ds.merge(ds.token, map[string]any{"source_branch": "clash", "target_branch": "conflict-target", "strategy": "merge"})
		if status != http.StatusConflict || body["error"] != "merge conflict" || body["merge_base_sha"] != m.base {
			t.Errorf("%d %v", status, body)
		}
		paths, _ := body["conflict_paths"].([]any)
		if fmt.Sprint(paths) != "[bin both.txt shared.txt]" {
			t.Errorf("conflict_paths %v", body["conflict_paths"])
		}
		if ds.tip(false, "conflict-target") != m.main {
			t.Error("a conflicted merge moved the target")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		ds.branch(false, "refuse", m.main)
		protected := ds.s.TokenWith(auth.Claims{Repo: ds.repo, Scopes: []auth.Scope{auth.ScopeGitWrite},
			Refs: []auth.RawRule{{Pattern: "refuse", Ops: []auth.Op{auth.OpNoPush}}}})
		for _, tc := range []struct {
			desc   string
			token  string
			body   map[string]any
			status int
		}{
			{"ff_only impossible", "", map[string]any{"source_branch": "feature", "strategy": "ff_only"}, http.StatusConflict},
			{"unrelated histories", "", map[string]any{"source_branch": "lone", "strategy": "merge"}, http.StatusBadRequest},
			{"expected target stale", "", map[string]any{"source_branch": "feature", "strategy": "merge", "expected_target_sha": m.base}, http.StatusConflict},
			{"expected target malformed", "", map[string]any{"source_branch": "feature", "strategy": "merge", "expected_target_sha": "abc"}, http.StatusBadRequest},
			{"invalid strategy", "", map[string]any{"source_branch": "feature", "strategy": "rebase"}, http.StatusBadRequest},
			{"squash with ff_only", "", map[string]any{"source_branch": "feature", "strategy": "ff_only", "squash": true}, http.StatusBadRequest},
			{"empty author", "", map[string]any{"source_branch": "feature", "strategy": "merge", "author": map[string]string{"name": " ", "email": "x@y"}}, http.StatusBadRequest},
			{"unknown source", "", map[string]any{"source_branch": "nope", "strategy": "merge"}, http.StatusNotFound},
			{"unknown target", "", map[string]any{"source_branch": "feature", "target_branch": "nope", "strategy": "merge"}, http.StatusNotFound},
			{"invalid target", "", map[string]any{"source_branch": "feature", "target_branch": "../x", "strategy": "merge"}, http.StatusBadRequest},
			{"policy", protected, map[string]any{"source_branch": "feature", "strategy": "merge"}, http.StatusForbidden},
			{"read-only token", ds.s.Token(ds.repo, auth.ScopeGitRead), map[string]any{"source_branch": "feature", "strategy": "merge"}, http.StatusForbidden},
		} {
			if _, ok := tc.body["target_branch"]; !ok {
				tc.body["target_branch"] = "refuse"
			}
			token := tc.token
			if token == "" {
				token = ds.token
			}
			status, body := ds.merge(token, tc.body)
			if msg, _ := body["error"].(string); status != tc.status || msg == "" {
				t.Errorf("%s: %d %v, want %d", tc.desc, status, body, tc.status)
			}
			if tc.desc == "policy" && !strings.Contains(body["error"].(string), "denied by policy") {
				t.Errorf("policy error %q", body["error"])
			}
		}
		if ds.tip(false, "refuse") != m.main {
			t.Error("a refused merge moved the target")
		}
	})

	t.Run("ephemeral", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		ds.branch(true, "eph-target", m.main)
		ds.branch(true, "eph-source", m.feat1)
		ds.branch(false, "eph-target", m.base) // same name, other namespace: untouched
		status, body := ds.merge(ds.token, map[string]any{"source_branch": "eph-source", "source_is_ephemeral": true,
			"target_branch": "eph-target", "target_is_ephemeral": true, "strategy": "merge"})
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		if ds.tip(true, "eph-target") != body["commit_sha"] || ds.tip(false, "eph-target") != m.base {
			t.Error("the wrong namespace moved")
		}
		if src := body["source"].(map[string]any); src["ephemeral"] != true || src["sha"] != m.feat1 {
			t.Errorf("source %v", src)
		}
		if tgt := body["target"].(map[string]any); tgt["ephemeral"] != true {
			t.Errorf("target %v", tgt)
		}
	})
}

// gitCmd splits args into flags and arguments (test input only).
func gitCmd(name string, args ...string) git.Command {
	c := git.Command{Name: name}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			c.Flags = append(c.Flags, a)
		} else {
			c.Args = append(c.Args, a)
		}
	}
	return c
}

// mergeTreeOracle is the tree git's own merge of a and b produces.
func mergeTreeOracle(ds *dmServer, a, b string) string {
	ds.t.Helper()
	out := ds.run(gitCmd("merge-tree", "--write-tree", a, b))
	return strings.SplitN(out, "\n", 2)[0]
}

func TestMergePreview(t *testing.T) {
	t.Parallel()
	ds := newDMServer(t)
	m := newMergeFixture(ds)
	ds.branch(false, "main", m.main)
	ds.branch(false, "old", m.base)
	// 56 conflicts, one of them a big file: past the preview's bounds.
	big := strings.Repeat("é line\n", 12000) // 96 000 bytes, two-byte runes
	baseFiles, ours, theirs := map[string]string{"big.txt": big}, map[string]string{"big.txt": "ours\n" + big}, map[string]string{"big.txt": "theirs\n" + big}
	for i := range 55 {
		p := fmt.Sprintf("f%02d.txt", i)
		baseFiles[p], ours[p], theirs[p] = "base\n", "ours\n", "theirs\n"
	}
	b := ds.commit("many base", baseFiles)
	ds.branch(false, "many-ours", ds.commit("many ours", ours, b))
	ds.branch(false, "many-theirs", ds.commit("many theirs", theirs, b))
	refsBefore := ds.run(gitCmd("for-each-ref"))

	for _, tc := range []struct {
		desc, source, target string
		status, result       string
	}{
		{"clean", "feature", "main", "clean", "merge_commit"},
		{"fast-forward", "feature", "old", "clean", "fast_forward"},
		{"no-op", "old", "feature", "clean", "no_op"},
	} {
		status, body := ds.get("/api/v1/repos/merge/preview", url.Values{"source_branch": {tc.source}, "target_branch": {tc.target}})
		if status != http.StatusOK || body["status"] != tc.status || body["result"] != tc.result {
			t.Errorf("%s: %d %v", tc.desc, status, body)
			continue
		}
		if body["source_tip_sha"] != ds.tip(false, tc.source) || body["target_tip_sha"] != ds.tip(false, tc.target) || body["merge_base_sha"] == nil {
			t.Errorf("%s: tips/base %v", tc.desc, body)
		}
		for _, k := range []string{"conflict_paths", "conflicts", "filtered_conflicts"} {
			if arr, ok := body[k].([]any); !ok || len(arr) != 0 {
				t.Errorf("%s: %s = %v, want []", tc.desc, k, body[k])
			}
		}
	}

	for _, include := range []bool{true, false} {
		t.Run(fmt.Sprint("conflicted, include_content=", include), func(t *testing.T) {
			ds := ds.on(t)
			status, body := ds.get("/api/v1/repos/merge/preview", url.Values{"source_branch": {"clash"}, "target_branch": {"main"}, "include_content": {fmt.Sprint(include)}})
			if status != http.StatusOK || body["status"] != "conflicted" || body["result"] != "merge_commit" || body["merge_base_sha"] != m.base {
				t.Fatalf("%d %v", status, body)
			}
			if fmt.Sprint(body["conflict_paths"]) != "[bin both.txt shared.txt]" {
				t.Errorf("conflict_paths %v", body["conflict_paths"])
			}
			conflicts := map[string]map[string]any{}
			for _, c := range body["conflicts"].([]any) {
				cm := c.(map[string]any)
				for _, k := range []string{"result", "base", "ours", "theirs"} {
					blob, ok := cm[k].(map[string]any)
					if !ok {
						t.Fatalf("%v: %s missing", cm["path"], k)
					}
					_, tb := blob["truncated"].(bool)
					_, bb := blob["binary"].(bool)
					if !tb || !bb {
						t.Errorf("%v.%s: %v lacks truncated/binary booleans", cm["path"], k, blob)
					}
					if _, has := blob["content"]; has != (include && blob["oid"] != nil && blob["binary"] == false) {
						t.Errorf("%v.%s: content present=%v with include_content=%v: %v", cm["path"], k, has, include, blob)
					}
				}
				conflicts[cm["path"].(string)] = cm
			}
			shared := conflicts["shared.txt"]
			if shared == nil {
				t.Fatalf("no details for shared.txt: %v", body["conflicts"])
			}
			if ours := shared["ours"].(map[string]any); ours["oid"] != ds.rev(m.main+":shared.txt") {
				t.Errorf("ours %v", ours)
			}
			if theirs := shared["theirs"].(map[string]any); theirs["oid"] != ds.rev(m.clash+":shared.txt") {
				t.Errorf("theirs %v", theirs)
			}
			if base := shared["base"].(map[string]any); base["oid"] != ds.rev(m.base+":shared.txt") {
				t.Errorf("base %v", base)
			}
			if include {
				content, _ := shared["result"].(map[string]any)["content"].(string)
				if !strings.Contains(content, "<<<<<<<") || !strings.Contains(content, "CLASH") || !strings.Contains(content, "MAIN") {
					t.Errorf("result content %q", content)
				}
				if c := shared["base"].(map[string]any)["content"]; c != "1\n2\n3\n4\n5\n" {
					t.Errorf("base content %q", c)
				}
			}
			// Added on both sides: no base stage, so no base oid or content.
			if both := conflicts["both.txt"]; both == nil {
				t.Error("no details for both.txt")
			} else if base := both["base"].(map[string]any); base["oid"] != nil || base["content"] != nil || base["binary"] != false {
				t.Errorf("add/add base %v", base)
			}
			if bin := conflicts["bin"]; bin == nil || bin["ours"].(map[string]any)["binary"] != true {
				t.Errorf("binary conflict %v", bin)
			}
		})
	}

	t.Run("bounds", func(t *testing.T) {
		ds := ds.on(t)
		status, body := ds.get("/api/v1/repos/merge/preview", url.Values{"source_branch": {"many-theirs"}, "target_branch": {"many-ours"}, "include_content": {"true"}})
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		conflicts, filtered := body["conflicts"].([]any), body["filtered_conflicts"].([]any)
		if len(body["conflict_paths"].([]any)) != 56 || len(conflicts) != 50 || len(filtered) != 6 {
			t.Fatalf("%d paths, %d conflicts, %d filtered", len(body["conflict_paths"].([]any)), len(conflicts), len(filtered))
		}
		for _, f := range filtered {
			if f.(map[string]any)["reason"] != "max_conflict_files_exceeded" {
				t.Errorf("filtered %v", f)
			}
		}
		first := conflicts[0].(map[string]any)
		res := first["result"].(map[string]any)
		content, _ := res["content"].(string)
		if first["path"] != "big.txt" || res["truncated"] != true || len(content) > 64<<10 || len(content) < 60<<10 || !utf8.ValidString(content) {
			t.Errorf("big conflict: path %v truncated %v, %d bytes of content", first["path"], res["truncated"], len(content))
		}
	})

	t.Run("errors", func(t *testing.T) {
		ds := ds.on(t)
		for _, q := range []url.Values{
			{"source_branch": {"nope"}, "target_branch": {"main"}},
			{"source_branch": {"feature"}, "target_branch": {"nope"}},
		} {
			if status, body := ds.get("/api/v1/repos/merge/preview", q); status != http.StatusNotFound {
				t.Errorf("%v: %d %v", q, status, body)
			}
		}
		if status, _ := ds.get("/api/v1/repos/merge/preview", url.Values{"source_branch": {"feature"}}); status != http.StatusBadRequest {
			t.Errorf("missing target: %d", status)
		}
		if status, _ := ds.get("/api/v1/repos/merge/preview", url.Values{"source_branch": {"feature"}, "target_branch": {"main"}, "include_content": {"perhaps"}}); status != http.StatusBadRequest {
			t.Errorf("bad include_content: %d", status)
		}
	})

	if after := ds.run(gitCmd("for-each-ref")); after != refsBefore {
		t.Errorf("previews changed refs:\n%s\nwas\n%s", after, refsBefore)
	}
}
