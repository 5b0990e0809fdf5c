package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
)

// diffCommitBody is a diff-commit NDJSON stream: the metadata line, then the
// patch in diff_chunk lines of at most chunk bytes (the last one eof).
func diffCommitBody(t testing.TB, meta map[string]any, patch string, chunk int) string {
	t.Helper()
	line, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(line)
	b.WriteByte('\n')
	for first := true; first || patch != ""; first = false {
		n := min(chunk, len(patch))
		data := patch[:n]
		patch = patch[n:]
		l, _ := json.Marshal(map[string]any{"diff_chunk": map[string]any{"data": base64.StdEncoding.EncodeToString([]byte(data)), "eof": patch == ""}})
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// gitPatch is git's own patch between two commits (binary hunks included).
func (ds *dmServer) gitPatch(a, b string) string {
	ds.t.Helper()
	out, err := ds.git.Output(ds.ctx, ds.dir, git.Command{Name: "diff-tree", Flags: []string{"-p", "-M", "--full-index", "--binary"}, Args: []string{a, b}})
	if err != nil {
		ds.t.Fatal(err)
	}
	return string(out)
}

// appliedTree is what real git makes of patch on commit: the oracle.
func (ds *dmServer) appliedTree(commit, patch string) string {
	ds.t.Helper()
	dir := ds.t.TempDir()
	pf := filepath.Join(dir, "p")
	if err := os.WriteFile(pf, []byte(patch), 0o600); err != nil {
		ds.t.Fatal(err)
	}
	env := git.WithEnv("GIT_INDEX_FILE=" + filepath.Join(dir, "index"))
	ds.run(git.Command{Name: "read-tree", Args: []string{commit}}, env)
	ds.run(git.Command{Name: "apply", Flags: []string{"--cached"}, Args: []string{pf}}, env)
	return ds.run(git.Command{Name: "write-tree"}, env)
}

func TestDiffCommit(t *testing.T) {
	t.Parallel()
	ds := newDMServer(t)
	base := ds.commit("base", map[string]string{"a.txt": "1\n2\n3\n", "old.txt": "move me\n", "bin": "\x00\x01"})
	want := ds.commit("want", map[string]string{"a.txt": "1\ntwo\n3\n", "new.txt": "move me\n", "bin": "\x00\x02", "added/x": "x\n"}, base)
	other := ds.commit("other", map[string]string{"a.txt": "uno\ndos\ntres\n"}, base)
	patch := ds.gitPatch(base, want)
	edit := ds.commit("edit", map[string]string{"a.txt": "1\n2\n3\n4\n", "old.txt": "move me\n", "bin": "\x00\x01"}, base)
	noop := ds.gitPatch(base, edit) + ds.gitPatch(edit, base)
	meta := func(branch string, extra ...any) map[string]any {
		m := map[string]any{"target_branch": branch, "commit_message": "apply it", "author": map[string]string{"name": "Dee", "email": "dee@example.com"}}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}

	t.Run("success", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		ds.branch(false, "ok", base)
		status, body := ds.call("POST", "/api/v1/repos/diff-commit", ds.token, strings.NewReader(diffCommitBody(t, meta("ok"), patch, 100)))
		if status != http.StatusCreated {
			t.Fatalf("status %d: %v", status, body)
		}
		commit, _ := body["commit"].(map[string]any)
		result, _ := body["result"].(map[string]any)
		if commit == nil || result == nil {
			t.Fatalf("body %v", body)
		}
		sha, _ := commit["commit_sha"].(string)
		if ds.tip(false, "ok") != sha || result["new_sha"] != sha || result["old_sha"] != base || result["success"] != true || result["status"] != "ok" {
			t.Errorf("result %v, branch at %s", body, ds.tip(false, "ok"))
		}
		if wantTree := ds.appliedTree(base, patch); commit["tree_sha"] != wantTree || ds.rev(sha+"^{tree}") != wantTree {
			t.Errorf("tree %v, git apply gives %s", commit["tree_sha"], wantTree)
		}
		if ds.rev(sha+"^") != base || commit["blob_count"] != 3.0 || commit["target_branch"] != "ok" {
			t.Errorf("commit %v, parent %s", commit, ds.rev(sha+"^"))
		}
		if _, ok := commit["pack_bytes"].(float64); !ok {
			t.Errorf("pack_bytes %v", commit["pack_bytes"])
		}
	})

	t.Run("new branch from base", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		ds.branch(true, "seed", base)
		status, body := ds.call("POST", "/api/v1/repos/diff-commit", ds.token,
			strings.NewReader(diffCommitBody(t, meta("fresh", "ephemeral", true, "base_branch", "seed", "ephemeral_base", true), patch, 1<<20)))
		if status != http.StatusCreated {
			t.Fatalf("status %d: %v", status, body)
		}
		result := body["result"].(map[string]any)
		if result["old_sha"] != string(git.ZeroOID) || ds.tip(true, "fresh") != result["new_sha"] {
			t.Errorf("result %v", result)
		}
	})

	for _, tc := range []struct {
		desc   string
		meta   map[string]any
		patch  string
		status int
		label  string
	}{
		{desc: "does not apply", meta: meta("f1"), patch: ds.gitPatch(other, ds.commit("o", map[string]string{"a.txt": "uno\nDOS\ntres\n"}, other)), status: http.StatusConflict, label: "conflict"},
		{desc: "empty patch", meta: meta("f2"), patch: "", status: http.StatusBadRequest, label: "invalid"},
		{desc: "not a patch", meta: meta("f3"), patch: "just words\n", status: http.StatusBadRequest, label: "invalid"},
		{desc: "no-op patch", meta: meta("f4"), patch: noop, status: http.StatusBadRequest, label: "invalid"},
		{desc: "stale expected head", meta: meta("f5", "expected_head_sha", other), patch: patch, status: http.StatusConflict, label: "precondition_failed"},
		{desc: "missing branch", meta: meta("missing"), patch: patch, status: http.StatusNotFound, label: "not_found"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			ds := ds.on(t)
			branch, _ := tc.meta["target_branch"].(string)
			if branch != "missing" {
				ds.branch(false, branch, base)
			}
			status, body := ds.call("POST", "/api/v1/repos/diff-commit", ds.token, strings.NewReader(diffCommitBody(t, tc.meta, tc.patch, 64)))
			result, _ := body["result"].(map[string]any)
			if status != tc.status || result == nil || result["status"] != tc.label || result["success"] != false || body["error"] == "" {
				t.Errorf("%d %v, want %d with result.status %s", status, body, tc.status, tc.label)
			}
			if branch != "missing" {
				if tip := ds.tip(false, branch); tip != base {
					t.Errorf("failed diff-commit moved %s to %s", branch, tip)
				}
			}
		})
	}

	t.Run("policy denial", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		ds.branch(false, "protected", base)
		tok := ds.s.TokenWith(auth.Claims{Repo: ds.repo, Scopes: []auth.Scope{auth.ScopeGitWrite},
			Refs: []auth.RawRule{{Pattern: "protected", Ops: []auth.Op{auth.OpNoPush}}}})
		status, body := ds.call("POST", "/api/v1/repos/diff-commit", tok, strings.NewReader(diffCommitBody(t, meta("protected"), patch, 1<<20)))
		result, _ := body["result"].(map[string]any)
		if status != http.StatusForbidden || result == nil || result["status"] != "forbidden" || !strings.Contains(body["error"].(string), "denied by policy") {
			t.Errorf("%d %v, want 403 forbidden", status, body)
		}
		if ds.tip(false, "protected") != base {
			t.Error("denied diff-commit moved the branch")
		}
	})

	t.Run("malformed stream", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		ds.branch(false, "m", base)
		for _, body := range []string{
			`{"diff_chunk":{"data":"","eof":true}}` + "\n",
			diffCommitBody(t, meta("m"), patch, 1<<20) + `{"blob_chunk":{"content_id":"x","data":"","eof":true}}` + "\n",
			strings.TrimSuffix(diffCommitBody(t, meta("m"), patch, 1<<20), `"eof":true}}`+"\n") + `"eof":false}}` + "\n",
		} {
			status, resp := ds.call("POST", "/api/v1/repos/diff-commit", ds.token, strings.NewReader(body))
			if result, _ := resp["result"].(map[string]any); status != http.StatusBadRequest || result["status"] != "invalid" {
				t.Errorf("%d %v, want 400 invalid", status, resp)
			}
		}
		if ds.tip(false, "m") != base {
			t.Error("malformed stream moved the branch")
		}
	})
}
