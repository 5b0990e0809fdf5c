package api_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pushRefuses is the oracle: whether git's receive-pack with
// receive.fsckObjects (what a push to Strata runs) refuses a commit
// holding files (path → content; a "symlink:" prefix makes a symlink).
func pushRefuses(t *testing.T, files map[string]string) bool {
	t.Helper()
	dir := t.TempDir()
	run := func(dir string, args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("git %v: %v\n%s", args, err, out)
		}
		return err
	}
	bare, work := filepath.Join(dir, "bare.git"), filepath.Join(dir, "work")
	if run(dir, "init", "-q", "--bare", bare) != nil || run(bare, "config", "receive.fsckObjects", "true") != nil ||
		run(dir, "init", "-q", work) != nil {
		t.Fatal("git init")
	}
	for path, content := range files {
		p := filepath.Join(work, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := cutPrefix(content, "symlink:"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// update-index: git add refuses some of these names itself.
	for path := range files {
		if run(work, "update-index", "--add", "--", path) != nil {
			t.Fatalf("git update-index %s", path)
		}
	}
	if run(work, "commit", "-q", "-m", "x") != nil {
		t.Fatal("git commit")
	}
	return run(work, "push", "-q", bare, "HEAD:refs/heads/main") != nil
}

func cutPrefix(s, prefix string) (string, bool) { return strings.CutPrefix(s, prefix) }

// TestCommitPack_fsckLikePush: commit-pack (and diff-commit) refuse
// exactly the objects a push refuses under receive.fsckObjects, so no
// write path can store what `git fsck` then reports.
func TestCommitPack_fsckLikePush(t *testing.T) {
	t.Parallel()
	e := start(t)
	const badURL = "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n"
	for _, tc := range []struct {
		desc  string
		files map[string]string
	}{
		{desc: "gitmodules url is an option", files: map[string]string{".gitmodules": badURL}},
		{desc: "nested gitmodules", files: map[string]string{"sub/.gitmodules": badURL}},
		{desc: "gitmodules path is an option", files: map[string]string{".gitmodules": "[submodule \"x\"]\n\tpath = -x\n\turl = https://example.com/x.git\n"}},
		{desc: "gitmodules name escapes", files: map[string]string{".gitmodules": "[submodule \"../../x\"]\n\tpath = x\n\turl = https://example.com/x.git\n"}},
		{desc: "gitmodules case variant", files: map[string]string{".GitModules": badURL}},
		{desc: "gitmodules directory", files: map[string]string{".gitmodules/x": "x\n"}},
		{desc: "gitattributes directory", files: map[string]string{"a/.gitattributes/b": "x\n"}},
		{desc: "github directory", files: map[string]string{".github/workflows/ci.yml": "on: push\n"}},
		{desc: "symlinked gitattributes", files: map[string]string{".gitattributes": "symlink:/etc/passwd"}},
		{desc: "symlinked gitignore", files: map[string]string{".gitignore": "symlink:../x"}},
		{desc: "harmless gitmodules", files: map[string]string{".gitmodules": "[submodule \"x\"]\n\tpath = x\n\turl = https://example.com/x.git\n"}},
		{desc: "harmless gitattributes", files: map[string]string{".gitattributes": "*.bin binary\n"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			refused := pushRefuses(t, tc.files)
			r, _ := e.seededRepo(t)
			var ops []fileOp
			for path, content := range tc.files {
				if target, ok := cutPrefix(content, "symlink:"); ok {
					ops = append(ops, upsertMode(path, target, "120000"))
				} else {
					ops = append(ops, upsert(path, content))
				}
			}
			resp := r.commitPack(t, r.Write, packBody(newMeta("main"), ops...))
			if refused {
				wantFsckError(t, resp)
			} else {
				wantAck(t, resp)
			}
			// The same through a patch, onto an existing and onto an
			// empty repository (a root commit).
			patch := ""
			for path, content := range tc.files {
				if _, ok := cutPrefix(content, "symlink:"); ok {
					continue // the symlink cases are covered above
				}
				patch += "diff --git a/" + path + " b/" + path + "\nnew file mode 100644\n--- /dev/null\n+++ b/" + path + "\n"
				patch += hunk(content)
			}
			if patch == "" {
				return
			}
			for _, r := range []*testRepo{r, e.newRepo(t)} {
				if !refused {
					break
				}
				meta := map[string]any{"target_branch": "main", "commit_message": "patch",
					"author": map[string]any{"name": "A", "email": "a@example.com"}}
				resp := r.e.do(t, "POST", "/api/v1/repos/diff-commit", r.Write,
					stringsReader(diffCommitBody(t, meta, patch, 1<<16)), "Content-Type", "application/x-ndjson")
				wantFsckError(t, resp)
			}
		})
	}
}

// hunk is the unified-diff hunk that creates content (ending in "\n").
func hunk(content string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(content, "\n"), "\n")
	h := fmt.Sprintf("@@ -0,0 +1,%d @@\n", len(lines))
	for _, l := range lines {
		h += "+" + strings.TrimSuffix(l, "\n") + "\n"
	}
	return h
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func wantFsckError(t testing.TB, resp *response) {
	t.Helper()
	body := wantError(t, resp, http.StatusBadRequest)
	if msg := fmt.Sprint(body); !strings.Contains(msg, "git fsck") {
		t.Fatalf("error = %s, want git fsck's refusal", msg)
	}
}

// TestCommitPack_fsckInBigCommit: a commit of many files writes most of
// its blobs into one pack (odb.Transaction); a special file among them is
// still shown to git's fsck before anything becomes visible.
func TestCommitPack_fsckInBigCommit(t *testing.T) {
	t.Parallel()
	e := start(t)
	const badURL = "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n"
	for _, tc := range []struct {
		desc    string
		content string
		refused bool
	}{
		{desc: "bad gitmodules", content: badURL, refused: true},
		{desc: "harmless gitmodules", content: "[submodule \"x\"]\n\tpath = x\n\turl = https://example.com/x.git\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r, _ := e.seededRepo(t)
			var ops []fileOp
			for i := range 600 {
				ops = append(ops, upsert(fmt.Sprintf("d/f%04d", i), fmt.Sprintf("%s file %d\n", tc.desc, i)))
			}
			ops = append(ops, upsert(".gitmodules", tc.content)) // written last: packed
			resp := r.commitPack(t, r.Write, packBody(newMeta("main"), ops...))
			if tc.refused {
				wantFsckError(t, resp)
			} else {
				wantAck(t, resp)
			}
		})
	}
}
