package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// getFile reads a file through GET /repos/file.
func (r *testRepo) getFile(t testing.TB, path, query string) []byte {
	t.Helper()
	resp := r.e.do(t, "GET", "/api/v1/repos/file?path="+url.QueryEscape(path)+query, r.Read, nil, "Accept-Encoding", "identity")
	wantStatus(t, resp, http.StatusOK)
	return resp.Body
}

// getCommit reads GET /repos/commit as a generic object.
func (r *testRepo) getCommit(t testing.TB, sha string) map[string]any {
	t.Helper()
	resp := r.e.do(t, "GET", "/api/v1/repos/commit?sha="+url.QueryEscape(sha), r.Read, nil)
	wantStatus(t, resp, http.StatusOK)
	c, ok := object(t, resp)["commit"].(map[string]any)
	if !ok {
		t.Fatalf("no commit object in %s", resp.Body)
	}
	return c
}

func TestCommitPack_firstAndSecondCommit(t *testing.T) {
	t.Parallel()
	e := start(t)
	r := e.newRepo(t)

	first := r.commit(t, newMeta("main", "commit_message", "first"), upsert("a.txt", "one\n"))
	if first.Result.OldSHA != zeroSHA {
		t.Errorf("first commit old_sha = %s, want 40 zeros", first.Result.OldSHA)
	}
	if first.Result.Branch != "main" || first.Commit.TargetBranch != "main" {
		t.Errorf("branch = %q / target_branch = %q, want main", first.Result.Branch, first.Commit.TargetBranch)
	}
	if first.Commit.BlobCount != 1 || first.Commit.PackBytes <= 0 {
		t.Errorf("blob_count = %v, pack_bytes = %v; want 1 and > 0", first.Commit.BlobCount, first.Commit.PackBytes)
	}
	c1 := first.Commit.CommitSHA
	if got := r.tip(t, "refs/heads/main"); got != c1 {
		t.Fatalf("refs/heads/main = %s, want %s", got, c1)
	}
	if got := r.git(t, "rev-parse", c1+"^{tree}"); got != first.Commit.TreeSHA {
		t.Errorf("tree_sha = %s, git says %s", first.Commit.TreeSHA, got)
	}
	if out := r.git(t, "cat-file", "commit", c1); strings.Contains(out, "\nparent ") {
		t.Errorf("first commit has a parent:\n%s", out)
	}
	if got := r.getCommit(t, c1)["parent_shas"]; fmt.Sprint(got) != "[]" {
		t.Errorf("parent_shas = %#v, want []", got)
	}
	if got := r.git(t, "cat-file", "blob", "main:a.txt"); got != "one" {
		t.Errorf("a.txt = %q", got)
	}

	second := r.commit(t, newMeta("main", "commit_message", "second"), upsert("b.txt", "two\n"))
	c2 := second.Commit.CommitSHA
	if second.Result.OldSHA != c1 {
		t.Errorf("second old_sha = %s, want %s", second.Result.OldSHA, c1)
	}
	if got := r.git(t, "rev-parse", c2+"^"); got != c1 {
		t.Errorf("parent of second = %s, want %s", got, c1)
	}
	if got := r.getCommit(t, c2)["parent_shas"]; fmt.Sprint(got) != "["+c1+"]" {
		t.Errorf("parent_shas = %#v, want [%s]", got, c1)
	}
	if got := treePaths(t, r.Dir(t), "main"); !slices.Equal(got, []string{"a.txt", "b.txt"}) {
		t.Errorf("tree = %v, want a.txt b.txt", got)
	}
	if got := r.git(t, "log", "--format=%s", "main"); got != "second\nfirst" {
		t.Errorf("log = %q", got)
	}
	if got := r.branchHeads(t, false)["main"]; got != c2 {
		t.Errorf("GET /repos/branches main = %s, want %s", got, c2)
	}

	// A commit without changes is still a commit (Q8), on the same tree.
	empty := r.commit(t, newMeta("main", "commit_message", "empty"))
	if empty.Commit.TreeSHA != second.Commit.TreeSHA || empty.Result.OldSHA != c2 {
		t.Errorf("empty commit: tree %s old %s, want tree %s old %s", empty.Commit.TreeSHA, empty.Result.OldSHA, second.Commit.TreeSHA, c2)
	}
	// Go SDK: no "files" key at all is an empty change set.
	noFiles := newMeta("main", "commit_message", "no files")
	body := ndjsonLine(map[string]any{"metadata": noFiles})
	ack := wantAck(t, r.commitPack(t, r.Write, body))
	if ack.Result.OldSHA != empty.Commit.CommitSHA {
		t.Errorf("metadata-only commit old_sha = %s, want %s", ack.Result.OldSHA, empty.Commit.CommitSHA)
	}
}

func TestCommitPack_contentRoundTrip(t *testing.T) {
	t.Parallel()
	e := start(t)

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		desc string
		path string
		data []byte
	}{
		{desc: "text", path: "hello.txt", data: []byte("hello, world\n")},
		{desc: "binary all byte values", path: "bin/all.bin", data: bytes.Repeat(all, 3)},
		{desc: "empty file", path: "empty", data: nil},
		{desc: "crlf and no trailing newline", path: "dos.txt", data: []byte("a\r\nb\r\nc")},
		{desc: "nul bytes", path: "nul.dat", data: []byte{0, 0, 0, 1, 0}},
		{desc: "unicode path", path: "dïr/ünï cödé ✓.txt", data: []byte("ü\n")},
		{desc: "deep path", path: "a/b/c/d/e/f/g.txt", data: []byte("deep")},
		{desc: "exactly one chunk", path: "chunk.bin", data: bytes.Repeat([]byte{0xAB}, maxChunk)},
		{desc: "one chunk and a byte", path: "chunk1.bin", data: bytes.Repeat([]byte{0xCD}, maxChunk+1)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := e.newRepo(t)
			r.commit(t, newMeta("main"), fileOp{Path: tc.path, Data: tc.data, Mode: "100644"})

			want := hashObject(t, tc.data)
			entries := lsTree(t, r.Dir(t), "main", "--", tc.path)
			if len(entries) != 1 || entries[0].OID != want || entries[0].Mode != "100644" || entries[0].Type != "blob" {
				t.Fatalf("ls-tree %s = %+v, want blob %s 100644", tc.path, entries, want)
			}
			if got := gitRaw(t, r.Dir(t), "cat-file", "blob", "main:"+tc.path); !bytes.Equal(got, tc.data) {
				t.Errorf("git cat-file blob: %d bytes differ from the %d sent", len(got), len(tc.data))
			}
			if got := r.getFile(t, tc.path, ""); !bytes.Equal(got, tc.data) {
				t.Errorf("GET /repos/file: %d bytes differ from the %d sent", len(got), len(tc.data))
			}
		})
	}
}

// TestCommitPack_largeStreamed streams a 20 MiB file in 4 MiB chunks with
// chunked transfer encoding and checks the blob id against git.
func TestCommitPack_largeStreamed(t *testing.T) {
	t.Parallel()
	e := start(t)
	r := e.newRepo(t)

	const size = 20<<20 + 12345 // five full chunks and a partial one
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(data)

	pr, pw := io.Pipe()
	go func() {
		op := withIDs([]fileOp{{Path: "big/blob.bin", Data: data, Mode: "100644"}})[0]
		if _, err := pw.Write(metadataLine(newMeta("main", "commit_message", "big"), []fileOp{op})); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(writeChunks(pw, op))
	}()
	req, err := http.NewRequest("POST", e.URL+"/api/v1/repos/commit-pack", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.Write)
	req.Header.Set("Content-Type", "application/x-ndjson")
	if req.ContentLength != 0 {
		t.Fatalf("request has a Content-Length (%d); want chunked", req.ContentLength)
	}
	resp, err := e.roundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = pr.Close()
	ack := wantAck(t, resp)
	if ack.Commit.BlobCount != 1 || ack.Commit.PackBytes <= 0 {
		t.Errorf("blob_count %v, pack_bytes %v", ack.Commit.BlobCount, ack.Commit.PackBytes)
	}

	want := hashObject(t, data)
	if got := r.git(t, "rev-parse", "main:big/blob.bin"); got != want {
		t.Errorf("blob id = %s, git hash-object says %s", got, want)
	}
	if got := r.git(t, "cat-file", "-s", "main:big/blob.bin"); got != fmt.Sprint(size) {
		t.Errorf("blob size = %s, want %d", got, size)
	}
	if got := sha256.Sum256(r.getFile(t, "big/blob.bin", "")); got != sha256.Sum256(data) {
		t.Errorf("GET /repos/file returned different bytes")
	}
}

func TestCommitPack_modes(t *testing.T) {
	t.Parallel()
	e := start(t)
	submodule := strings.Repeat("5a", 20)

	for _, tc := range []struct {
		desc     string
		op       fileOp
		wantMode string
		wantType string // ls-tree type
		wantOID  string // "" = hash of the content
		apiType  string // GET /repos/files entry type
	}{
		{desc: "regular", op: upsertMode("f.txt", "x", "100644"), wantMode: "100644", wantType: "blob", apiType: "blob"},
		{desc: "default mode", op: fileOp{Path: "f.txt", Data: []byte("x")}, wantMode: "100644", wantType: "blob", apiType: "blob"},
		{desc: "executable", op: upsertMode("run.sh", "#!/bin/sh\necho hi\n", "100755"), wantMode: "100755", wantType: "blob", apiType: "blob"},
		{desc: "symlink", op: upsertMode("link", "target/file.txt", "120000"), wantMode: "120000", wantType: "blob", apiType: "symlink"},
		{desc: "gitlink", op: upsertMode("vendor/sub", submodule, "160000"), wantMode: "160000", wantType: "commit", wantOID: submodule, apiType: "submodule"},
		{desc: "gitlink with newline", op: upsertMode("vendor/sub", submodule+"\n", "160000"), wantMode: "160000", wantType: "commit", wantOID: submodule, apiType: "submodule"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := e.newRepo(t)
			r.commit(t, newMeta("main"), tc.op)
			want := tc.wantOID
			if want == "" {
				want = hashObject(t, tc.op.Data)
			}
			entries := lsTree(t, r.Dir(t), "main", "--", tc.op.Path)
			if len(entries) != 1 {
				t.Fatalf("ls-tree %s = %+v", tc.op.Path, entries)
			}
			if got := entries[0]; got.Mode != tc.wantMode || got.Type != tc.wantType || got.OID != want {
				t.Errorf("ls-tree = %+v, want %s %s %s", got, tc.wantMode, tc.wantType, want)
			}
			if tc.wantType == "blob" {
				if got := gitRaw(t, r.Dir(t), "cat-file", "blob", "main:"+tc.op.Path); !bytes.Equal(got, tc.op.Data) {
					t.Errorf("content = %q, want %q", got, tc.op.Data)
				}
			}
			resp := e.do(t, "GET", "/api/v1/repos/files", r.Read, nil)
			wantStatus(t, resp, http.StatusOK)
			found := false
			for _, it := range object(t, resp)["entries"].([]any) {
				m := it.(map[string]any)
				if m["path"] == tc.op.Path {
					found = true
					if m["type"] != tc.apiType || m["mode"] != tc.wantMode {
						t.Errorf("files entry = %v, want type %s mode %s", m, tc.apiType, tc.wantMode)
					}
				}
			}
			if !found {
				t.Errorf("GET /repos/files lacks %s: %s", tc.op.Path, resp.Body)
			}
		})
	}
}

// fixture is the tree TestCommitPack_tree starts from.
var fixture = []fileOp{
	upsert("a.txt", "a\n"),
	upsert("dir/x.txt", "x\n"),
	upsert("dir/sub/y.txt", "y\n"),
	upsert("keep/z.txt", "z\n"),
	upsert("only/deep/file.txt", "deep\n"),
}

func TestCommitPack_tree(t *testing.T) {
	t.Parallel()
	e := start(t)

	for _, tc := range []struct {
		desc  string
		ops   []fileOp
		want  []string          // ls-tree -r paths afterwards
		files map[string]string // contents to check
		trees []string          // paths that must be trees
	}{
		{desc: "delete a file", ops: []fileOp{del("a.txt")},
			want: []string{"dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"}},
		{desc: "delete a directory", ops: []fileOp{del("dir")},
			want: []string{"a.txt", "keep/z.txt", "only/deep/file.txt"}},
		{desc: "delete a directory with a trailing slash", ops: []fileOp{del("dir/")},
			want: []string{"a.txt", "keep/z.txt", "only/deep/file.txt"}},
		{desc: "delete a nested directory", ops: []fileOp{del("dir/sub")},
			want: []string{"a.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"}},
		{desc: "emptied parent directories vanish", ops: []fileOp{del("only/deep/file.txt")},
			want: []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt"}},
		{desc: "deleting a missing path is a no-op", ops: []fileOp{del("nope.txt"), del("dir/nope/deeper")},
			want: []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"}},
		{desc: "replace a directory with a file", ops: []fileOp{upsert("dir", "now a file\n")},
			want:  []string{"a.txt", "dir", "keep/z.txt", "only/deep/file.txt"},
			files: map[string]string{"dir": "now a file\n"}},
		{desc: "replace a file with a directory", ops: []fileOp{upsert("a.txt/inner.txt", "inner\n")},
			want:  []string{"a.txt/inner.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"},
			files: map[string]string{"a.txt/inner.txt": "inner\n"}, trees: []string{"a.txt"}},
		{desc: "duplicate upserts: last wins", ops: []fileOp{upsert("keep/z.txt", "first\n"), upsert("keep/z.txt", "second\n")},
			want:  []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"},
			files: map[string]string{"keep/z.txt": "second\n"}},
		{desc: "upsert then delete: deleted", ops: []fileOp{upsert("new.txt", "n\n"), del("new.txt")},
			want: []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"}},
		{desc: "delete then upsert: present", ops: []fileOp{del("a.txt"), upsert("a.txt", "again\n")},
			want:  []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"},
			files: map[string]string{"a.txt": "again\n"}},
		{desc: "delete a directory and refill it", ops: []fileOp{del("dir"), upsert("dir/new.txt", "new\n")},
			want:  []string{"a.txt", "dir/new.txt", "keep/z.txt", "only/deep/file.txt"},
			files: map[string]string{"dir/new.txt": "new\n"}},
		{desc: "repeated slashes collapse", ops: []fileOp{upsert("keep//w.txt", "w\n")},
			want:  []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/w.txt", "keep/z.txt", "only/deep/file.txt"},
			files: map[string]string{"keep/w.txt": "w\n"}},
		{desc: "file then a path below it: a directory wins", ops: []fileOp{upsert("n", "file\n"), upsert("n/m.txt", "m\n")},
			want:  []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "n/m.txt", "only/deep/file.txt"},
			files: map[string]string{"n/m.txt": "m\n"}, trees: []string{"n"}},
		{desc: "path below then the file: the file wins", ops: []fileOp{upsert("n/m.txt", "m\n"), upsert("n", "file\n")},
			want:  []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "n", "only/deep/file.txt"},
			files: map[string]string{"n": "file\n"}},
		{desc: "delete below a file is a no-op", ops: []fileOp{del("a.txt/x")},
			want: []string{"a.txt", "dir/sub/y.txt", "dir/x.txt", "keep/z.txt", "only/deep/file.txt"}},
		{desc: "delete everything", ops: []fileOp{del("a.txt"), del("dir"), del("keep"), del("only")}, want: nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r, base := e.seededRepo(t, fixture...)
			ack := r.commit(t, newMeta("main"), tc.ops...)
			if ack.Result.OldSHA != base {
				t.Errorf("old_sha = %s, want %s", ack.Result.OldSHA, base)
			}
			dir := r.Dir(t)
			if got := treePaths(t, dir, "main"); !slices.Equal(got, tc.want) {
				t.Errorf("tree after %s:\n got %v\nwant %v", tc.desc, got, tc.want)
			}
			for p, want := range tc.files {
				if got := string(gitRaw(t, dir, "cat-file", "blob", "main:"+p)); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			for _, p := range tc.trees {
				if got := r.git(t, "cat-file", "-t", "main:"+p); got != "tree" {
					t.Errorf("%s is a %s, want a tree", p, got)
				}
			}
			// No empty trees anywhere.
			for _, en := range lsTree(t, dir, "-r", "-t", "main") {
				if en.Type == "tree" && len(lsTree(t, dir, en.OID)) == 0 {
					t.Errorf("empty tree left at %s", en.Path)
				}
			}
			if ack.Commit.TreeSHA != r.git(t, "rev-parse", "main^{tree}") {
				t.Errorf("tree_sha %s is not main's tree", ack.Commit.TreeSHA)
			}
		})
	}
}

func TestCommitPack_expectedHeadSHA(t *testing.T) {
	t.Parallel()
	e := start(t)

	t.Run("match", func(t *testing.T) {
		t.Parallel()
		r, c1 := e.seededRepo(t)
		ack := r.commit(t, newMeta("main", "expected_head_sha", c1), upsert("b.txt", "b"))
		if ack.Result.OldSHA != c1 {
			t.Errorf("old_sha = %s, want %s", ack.Result.OldSHA, c1)
		}
	})
	t.Run("match in upper case", func(t *testing.T) {
		t.Parallel()
		r, c1 := e.seededRepo(t)
		r.commit(t, newMeta("main", "expected_head_sha", strings.ToUpper(c1)), upsert("b.txt", "b"))
	})
	t.Run("mismatch", func(t *testing.T) {
		t.Parallel()
		r, c1 := e.seededRepo(t)
		c2 := r.commit(t, newMeta("main"), upsert("b.txt", "b")).Commit.CommitSHA
		before := r.refs(t)
		resp := r.commitPack(t, r.Write, packBody(newMeta("main", "expected_head_sha", c1), upsert("c.txt", "c")))
		f := wantRefFailure(t, resp, http.StatusConflict, "precondition_failed")
		if f.Result.Branch != "" && f.Result.Branch != "main" {
			t.Errorf("result.branch = %q", f.Result.Branch)
		}
		if f.Result.OldSHA != "" && f.Result.OldSHA != c2 {
			t.Errorf("result.old_sha = %q, want the current tip %s (or absent)", f.Result.OldSHA, c2)
		}
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
	t.Run("unknown sha", func(t *testing.T) {
		t.Parallel()
		r, _ := e.seededRepo(t)
		before := r.refs(t)
		resp := r.commitPack(t, r.Write, packBody(newMeta("main", "expected_head_sha", strings.Repeat("1", 40)), upsert("c.txt", "c")))
		wantRefFailure(t, resp, http.StatusConflict, "precondition_failed")
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
	t.Run("with base branch", func(t *testing.T) {
		t.Parallel()
		r, c1 := e.seededRepo(t)
		r.commit(t, newMeta("feature", "base_branch", "main", "expected_head_sha", c1), upsert("f.txt", "f"))
		before := r.refs(t)
		resp := r.commitPack(t, r.Write, packBody(newMeta("other", "base_branch", "main", "expected_head_sha", strings.Repeat("2", 40)), upsert("f.txt", "f")))
		wantRefFailure(t, resp, http.StatusConflict, "precondition_failed")
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
}

func TestCommitPack_branches(t *testing.T) {
	t.Parallel()
	e := start(t)

	t.Run("base_branch creates a branch", func(t *testing.T) {
		t.Parallel()
		r, c1 := e.seededRepo(t, upsert("main.txt", "m"))
		ack := r.commit(t, newMeta("feature/x", "base_branch", "main"), upsert("f.txt", "f"))
		if ack.Result.OldSHA != zeroSHA || ack.Result.Branch != "feature/x" || ack.Commit.TargetBranch != "feature/x" {
			t.Errorf("ack result %+v target %q", ack.Result, ack.Commit.TargetBranch)
		}
		if got := r.git(t, "rev-parse", "refs/heads/feature/x^"); got != c1 {
			t.Errorf("parent = %s, want main's %s", got, c1)
		}
		if got := treePaths(t, r.Dir(t), "feature/x"); !slices.Equal(got, []string{"f.txt", "main.txt"}) {
			t.Errorf("tree = %v", got)
		}
		if got := r.tip(t, "refs/heads/main"); got != c1 {
			t.Errorf("main moved to %s", got)
		}
		// Once the branch exists, base_branch is ignored: parent = its tip.
		next := r.commit(t, newMeta("feature/x", "base_branch", "main"), upsert("g.txt", "g"))
		if next.Result.OldSHA != ack.Commit.CommitSHA {
			t.Errorf("second commit old_sha = %s, want %s", next.Result.OldSHA, ack.Commit.CommitSHA)
		}
	})
	t.Run("refs/heads/ prefix is stripped", func(t *testing.T) {
		t.Parallel()
		r, c1 := e.seededRepo(t)
		ack := r.commit(t, newMeta("refs/heads/main"), upsert("b.txt", "b"))
		if ack.Result.OldSHA != c1 || ack.Result.Branch != "main" {
			t.Errorf("result = %+v, want branch main old %s", ack.Result, c1)
		}
	})
	t.Run("missing target without base", func(t *testing.T) {
		t.Parallel()
		r, _ := e.seededRepo(t)
		before := r.refs(t)
		resp := r.commitPack(t, r.Write, packBody(newMeta("nope"), upsert("b.txt", "b")))
		wantRefFailure(t, resp, http.StatusNotFound, "not_found")
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
	t.Run("unknown base branch", func(t *testing.T) {
		t.Parallel()
		r, _ := e.seededRepo(t)
		before := r.refs(t)
		resp := r.commitPack(t, r.Write, packBody(newMeta("new", "base_branch", "nope"), upsert("b.txt", "b")))
		wantRefFailure(t, resp, http.StatusNotFound, "not_found")
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
	t.Run("first commit on a custom default branch", func(t *testing.T) {
		t.Parallel()
		r := e.newRepoWith(t, uniqueID("trunk"), map[string]any{"default_branch": "trunk"})
		ack := r.commit(t, newMeta("trunk"), upsert("a", "a"))
		if got := r.tip(t, "HEAD"); got != ack.Commit.CommitSHA {
			t.Errorf("HEAD = %q, want %s", got, ack.Commit.CommitSHA)
		}
	})
	t.Run("ephemeral target and ephemeral base", func(t *testing.T) {
		t.Parallel()
		r, c1 := e.seededRepo(t, upsert("main.txt", "m"))
		eph := r.commit(t, newMeta("scratch", "base_branch", "main", "ephemeral", true), upsert("s.txt", "s"))
		if eph.Result.Branch != "scratch" || eph.Commit.TargetBranch != "scratch" || eph.Result.OldSHA != zeroSHA {
			t.Errorf("ephemeral ack = %+v target %q", eph.Result, eph.Commit.TargetBranch)
		}
		refs := r.refs(t)
		if !strings.Contains(refs, "refs/namespaces/ephemeral/refs/heads/scratch "+eph.Commit.CommitSHA) {
			t.Errorf("for-each-ref lacks the ephemeral ref:\n%s", refs)
		}
		if r.tip(t, "refs/heads/scratch") != "" {
			t.Errorf("ephemeral commit created refs/heads/scratch:\n%s", refs)
		}
		if got := r.git(t, "rev-parse", eph.Commit.CommitSHA+"^"); got != c1 {
			t.Errorf("ephemeral parent = %s, want %s", got, c1)
		}
		if heads := r.branchHeads(t, true); heads["scratch"] != eph.Commit.CommitSHA || len(heads) != 1 {
			t.Errorf("ephemeral listing = %v, want only scratch at %s", heads, eph.Commit.CommitSHA)
		}
		if heads := r.branchHeads(t, false); len(heads) != 1 || heads["main"] != c1 {
			t.Errorf("normal listing = %v, want only main", heads)
		}

		// A second ephemeral commit builds on the ephemeral tip.
		eph2 := r.commit(t, newMeta("scratch", "ephemeral", true), upsert("s2.txt", "s2"))
		if eph2.Result.OldSHA != eph.Commit.CommitSHA {
			t.Errorf("second ephemeral old_sha = %s, want %s", eph2.Result.OldSHA, eph.Commit.CommitSHA)
		}

		// Promote: a normal branch seeded from the ephemeral one.
		prom := r.commit(t, newMeta("promoted", "base_branch", "scratch", "ephemeral_base", true), upsert("p.txt", "p"))
		if got := r.git(t, "rev-parse", prom.Commit.CommitSHA+"^"); got != eph2.Commit.CommitSHA {
			t.Errorf("promoted parent = %s, want %s", got, eph2.Commit.CommitSHA)
		}
		if got := r.tip(t, "refs/heads/promoted"); got != prom.Commit.CommitSHA {
			t.Errorf("refs/heads/promoted = %s", got)
		}
		// Without ephemeral_base the base is looked up in the normal namespace.
		resp := r.commitPack(t, r.Write, packBody(newMeta("other", "base_branch", "scratch"), upsert("o", "o")))
		wantRefFailure(t, resp, http.StatusNotFound, "not_found")

		// The same name may exist in both namespaces independently.
		ephMain := r.commit(t, newMeta("main", "base_branch", "main", "ephemeral", true), upsert("em.txt", "em"))
		if got := r.tip(t, "refs/heads/main"); got != c1 {
			t.Errorf("normal main moved to %s by an ephemeral commit", got)
		}
		if got := r.tip(t, "refs/namespaces/ephemeral/refs/heads/main"); got != ephMain.Commit.CommitSHA {
			t.Errorf("ephemeral main = %s, want %s", got, ephMain.Commit.CommitSHA)
		}
		// Reads with ephemeral=true see the ephemeral namespace.
		if got := string(r.getFile(t, "s2.txt", "&ref=scratch&ephemeral=true")); got != "s2" {
			t.Errorf("ephemeral file = %q", got)
		}
		commits := e.do(t, "GET", "/api/v1/repos/commits?branch=scratch&ephemeral=true", r.Read, nil)
		wantStatus(t, commits, http.StatusOK)
		if list := object(t, commits)["commits"].([]any); len(list) != 3 || list[0].(map[string]any)["sha"] != eph2.Commit.CommitSHA {
			t.Errorf("ephemeral history = %s", commits.Body)
		}
	})
	t.Run("ephemeral_base without base_branch", func(t *testing.T) {
		t.Parallel()
		r, _ := e.seededRepo(t)
		before := r.refs(t)
		resp := r.commitPack(t, r.Write, packBody(newMeta("x", "ephemeral_base", true), upsert("o", "o")))
		wantRefFailure(t, resp, http.StatusBadRequest, "invalid")
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
}

func TestCommitPack_committer(t *testing.T) {
	t.Parallel()
	e := start(t)

	for _, tc := range []struct {
		desc       string
		meta       map[string]any
		wantAuthor [2]string
		wantComm   [2]string
	}{
		{
			desc: "committer differs from author",
			meta: newMeta("main",
				"author", map[string]any{"name": "Ada Author", "email": "ada@example.com"},
				"committer", map[string]any{"name": "Cy Committer", "email": "cy@example.com"}),
			wantAuthor: [2]string{"Ada Author", "ada@example.com"},
			wantComm:   [2]string{"Cy Committer", "cy@example.com"},
		},
		{
			desc:       "committer defaults to author",
			meta:       newMeta("main", "author", map[string]any{"name": "Solo", "email": "solo@example.com"}),
			wantAuthor: [2]string{"Solo", "solo@example.com"},
			wantComm:   [2]string{"Solo", "solo@example.com"},
		},
		{
			desc:       "names and emails are trimmed",
			meta:       newMeta("main", "author", map[string]any{"name": "  Spacey  ", "email": " s@example.com "}),
			wantAuthor: [2]string{"Spacey", "s@example.com"},
			wantComm:   [2]string{"Spacey", "s@example.com"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r, _ := e.seededRepo(t)
			sha := r.commit(t, tc.meta, upsert("c.txt", "c")).Commit.CommitSHA
			c := r.getCommit(t, sha)
			if c["author_name"] != tc.wantAuthor[0] || c["author_email"] != tc.wantAuthor[1] ||
				c["committer_name"] != tc.wantComm[0] || c["committer_email"] != tc.wantComm[1] {
				t.Errorf("GET /repos/commit = %v, want author %v committer %v", c, tc.wantAuthor, tc.wantComm)
			}
			raw := r.git(t, "cat-file", "commit", sha)
			if !strings.Contains(raw, "\nauthor "+tc.wantAuthor[0]+" <"+tc.wantAuthor[1]+"> ") ||
				!strings.Contains(raw, "\ncommitter "+tc.wantComm[0]+" <"+tc.wantComm[1]+"> ") {
				t.Errorf("commit object:\n%s", raw)
			}
			if c["message"] != "test commit" {
				t.Errorf("message = %#v", c["message"])
			}
		})
	}
}

func TestCommitPack_policy(t *testing.T) {
	t.Parallel()
	e := start(t)

	rules := func(rs ...auth.RawRule) []auth.RawRule { return rs }
	rule := func(pattern string, ops ...auth.Op) auth.RawRule { return auth.RawRule{Pattern: pattern, Ops: ops} }
	for _, tc := range []struct {
		desc      string
		refs      []auth.RawRule
		ops       []auth.Op // legacy ops claim
		meta      map[string]any
		wantError bool
	}{
		{desc: "no-push on main denies main", refs: rules(rule("main", auth.OpNoPush)), meta: newMeta("main"), wantError: true},
		{desc: "no-push on main allows another branch", refs: rules(rule("main", auth.OpNoPush)), meta: newMeta("other", "base_branch", "main")},
		{desc: "fully qualified pattern", refs: rules(rule("refs/heads/main", auth.OpNoPush)), meta: newMeta("main"), wantError: true},
		{desc: "prefix glob", refs: rules(rule("release/*", auth.OpNoPush)), meta: newMeta("release/v1/hotfix", "base_branch", "main"), wantError: true},
		{desc: "first match wins: allow before deny", refs: rules(rule("*"), rule("main", auth.OpNoPush)), meta: newMeta("main")},
		{desc: "first match wins: deny before allow", refs: rules(rule("main", auth.OpNoPush), rule("*")), meta: newMeta("main"), wantError: true},
		{desc: "no-force-push allows a fast-forward", refs: rules(rule("main", auth.OpNoForcePush)), meta: newMeta("main")},
		{desc: "verify-sig denies unsigned server commits", refs: rules(rule("main", auth.OpVerifySig)), meta: newMeta("main"), wantError: true},
		{desc: "verify-sig on a new branch", refs: rules(rule("*", auth.OpVerifySig)), meta: newMeta("new", "base_branch", "main"), wantError: true},
		{desc: "legacy ops claim", ops: []auth.Op{auth.OpNoPush}, meta: newMeta("main"), wantError: true},
		{desc: "unknown ops are ignored", refs: rules(rule("main", "no-such-op")), meta: newMeta("main")},
		{desc: "ephemeral branches match as refs/heads/<name>", refs: rules(rule("scratch", auth.OpNoPush)),
			meta: newMeta("scratch", "base_branch", "main", "ephemeral", true), wantError: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r, _ := e.seededRepo(t)
			token := e.TokenWith(auth.Claims{Repo: r.ID, Scopes: []auth.Scope{auth.ScopeGitWrite}, Refs: tc.refs, Ops: tc.ops})
			before := r.refs(t)
			resp := r.commitPack(t, token, packBody(tc.meta, upsert("p.txt", "p")))
			if !tc.wantError {
				wantAck(t, resp)
				return
			}
			f := wantRefFailure(t, resp, http.StatusForbidden, "forbidden")
			if !strings.Contains(f.Error, "denied by policy") {
				t.Errorf("error = %q, want it to contain \"denied by policy\"", f.Error)
			}
			if after := r.refs(t); after != before {
				t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// lines joins raw NDJSON lines into a body.
func lines(ls ...[]byte) []byte { return bytes.Join(ls, nil) }

func TestCommitPack_badInput(t *testing.T) {
	t.Parallel()
	e := start(t)

	meta := func(ops ...fileOp) []byte { return metadataLine(newMeta("main"), ops) }
	one := fileOp{Path: "f.txt", CID: "c1", Mode: "100644"}
	path := func(p string) []byte { return packBody(newMeta("main"), upsert(p, "x")) }
	deletePath := func(p string) []byte { return packBody(newMeta("main"), fileOp{Path: p, Delete: true}) }
	branch := func(b string) []byte { return packBody(newMeta(b), upsert("f.txt", "x")) }
	baseBranch := func(b string) []byte { return packBody(newMeta("new", "base_branch", b), upsert("f.txt", "x")) }
	oversized := base64.StdEncoding.EncodeToString(make([]byte, maxChunk+1))

	for _, tc := range []struct {
		desc   string
		body   []byte
		status int
		label  string
	}{
		// Framing.
		{desc: "empty body", body: nil},
		{desc: "blank lines only", body: []byte("\n\n\n")},
		{desc: "not JSON", body: []byte("hello\n")},
		{desc: "first line is a blob_chunk", body: lines(chunkLine("c1", []byte("x"), true), meta(one))},
		{desc: "unknown envelope", body: lines(meta(one), []byte(`{"mystery":{"content_id":"c1"}}`+"\n"), chunkLine("c1", []byte("x"), true))},
		{desc: "unknown envelope first", body: []byte(`{"mystery":{}}` + "\n")},
		{desc: "second metadata line", body: lines(meta(one), meta(one), chunkLine("c1", []byte("x"), true))},
		{desc: "diff_chunk in a commit-pack", body: lines(meta(one), []byte(`{"diff_chunk":{"data":"","eof":true}}`+"\n"), chunkLine("c1", []byte("x"), true))},
		{desc: "metadata is not an object", body: []byte(`{"metadata":"main"}` + "\n")},
		{desc: "truncated JSON", body: lines(meta(one), []byte(`{"blob_chunk":{"content_id":"c1","data":"eA==","eof":tr`+"\n"))},

		// Chunks.
		{desc: "invalid base64", body: lines(meta(one), []byte(`{"blob_chunk":{"content_id":"c1","data":"!!!not base64!!!","eof":true}}`+"\n"))},
		{desc: "base64 without padding", body: lines(meta(one), []byte(`{"blob_chunk":{"content_id":"c1","data":"eA","eof":true}}`+"\n"))},
		{desc: "url-safe base64", body: lines(meta(one), []byte(`{"blob_chunk":{"content_id":"c1","data":"-_-_","eof":true}}`+"\n"))},
		{desc: "decoded chunk of 4 MiB + 1", body: lines(meta(one), []byte(`{"blob_chunk":{"content_id":"c1","data":"`+oversized+`","eof":true}}`+"\n"))},
		{desc: "unknown content_id", body: lines(meta(one), chunkLine("c1", []byte("x"), true), chunkLine("other", []byte("y"), true))},
		{desc: "missing eof", body: lines(meta(one), chunkLine("c1", []byte("x"), false))},
		{desc: "no chunk for an upsert", body: lines(meta(one))},
		{desc: "chunk after eof", body: lines(meta(one), chunkLine("c1", []byte("x"), true), chunkLine("c1", []byte("y"), true))},
		{desc: "empty chunk after eof", body: lines(meta(one), chunkLine("c1", []byte("x"), true), chunkLine("c1", nil, true))},
		{desc: "duplicate content_id", body: packBody(newMeta("main"), fileOp{Path: "a", CID: "same", Data: []byte("a")}, fileOp{Path: "b", CID: "same", Data: []byte("b")})},
		{desc: "upsert without content_id", body: lines(metadataLine(newMeta("main", "files", []any{map[string]any{"path": "a", "operation": "upsert"}}), nil))},
		{desc: "unknown operation", body: lines(metadataLine(newMeta("main", "files", []any{map[string]any{"path": "a", "content_id": "c1", "operation": "rename"}}), nil), chunkLine("c1", []byte("x"), true))},
		{desc: "invalid mode", body: packBody(newMeta("main"), upsertMode("a", "x", "100600"))},
		{desc: "tree mode", body: packBody(newMeta("main"), upsertMode("a", "x", "040000"))},
		{desc: "gitlink that is not a sha", body: packBody(newMeta("main"), upsertMode("sub", "not a sha", "160000"))},
		{desc: "gitlink with a short sha", body: packBody(newMeta("main"), upsertMode("sub", "abc1234", "160000"))},
		{desc: "files is not an array", body: lines(metadataLine(newMeta("main", "files", "a.txt"), nil))},

		// Paths.
		{desc: "path ../x", body: path("../x")},
		{desc: "path a/../b", body: path("a/../b")},
		{desc: "path a/./b", body: path("a/./b")},
		{desc: "path .", body: path(".")},
		{desc: "path ..", body: path("..")},
		{desc: "path .git/config", body: path(".git/config")},
		{desc: "path A/.GIT/x", body: path("A/.GIT/x")},
		{desc: "path x/.git", body: path("x/.git")},
		{desc: "path with NUL", body: path("a\x00b")},
		{desc: "path //abs", body: path("//abs")},
		{desc: "path /abs", body: path("/abs")},
		{desc: "empty path", body: path("")},
		{desc: "path of slashes", body: path("///")},
		{desc: "missing path", body: lines(metadataLine(newMeta("main", "files", []any{map[string]any{"content_id": "c1", "operation": "upsert"}}), nil), chunkLine("c1", []byte("x"), true))},
		{desc: "delete ../x", body: deletePath("../x")},
		{desc: "delete .git", body: deletePath(".git")},
		{desc: "delete empty path", body: deletePath("")},

		// Branches.
		{desc: "branch a..b", body: branch("a..b")},
		{desc: "branch x.lock", body: branch("x.lock")},
		{desc: "branch -x", body: branch("-x")},
		{desc: "branch a b", body: branch("a b")},
		{desc: "branch a~1", body: branch("a~1")},
		{desc: "branch a^", body: branch("a^")},
		{desc: "branch a:b", body: branch("a:b")},
		{desc: "branch HEAD", body: branch("HEAD")},
		{desc: "branch trailing slash", body: branch("a/")},
		{desc: "branch refs/tags/x", body: branch("refs/tags/x")},
		{desc: "empty branch", body: branch("")},
		{desc: "missing target_branch", body: packBody(newMeta("main", "target_branch", nil), upsert("f", "x"))},
		{desc: "base branch a..b", body: baseBranch("a..b")},
		{desc: "base branch refs/tags/v1", body: baseBranch("refs/tags/v1")},
		{desc: "unknown base branch", body: baseBranch("nope"), status: http.StatusNotFound, label: "not_found"},

		// Metadata fields.
		{desc: "empty commit message", body: packBody(newMeta("main", "commit_message", ""), upsert("f", "x"))},
		{desc: "blank commit message", body: packBody(newMeta("main", "commit_message", " \n\t"), upsert("f", "x"))},
		{desc: "missing commit message", body: packBody(newMeta("main", "commit_message", nil), upsert("f", "x"))},
		{desc: "commit message with NUL", body: packBody(newMeta("main", "commit_message", "a\x00b"), upsert("f", "x"))},
		{desc: "missing author", body: packBody(newMeta("main", "author", nil), upsert("f", "x"))},
		{desc: "author without email", body: packBody(newMeta("main", "author", map[string]any{"name": "A"}), upsert("f", "x"))},
		{desc: "author with blank name", body: packBody(newMeta("main", "author", map[string]any{"name": "  ", "email": "a@example.com"}), upsert("f", "x"))},
		{desc: "author name with angle brackets", body: packBody(newMeta("main", "author", map[string]any{"name": "A <b>", "email": "a@example.com"}), upsert("f", "x"))},
		{desc: "author email with newline", body: packBody(newMeta("main", "author", map[string]any{"name": "A", "email": "a@example.com\ncommitter x"}), upsert("f", "x"))},
		{desc: "committer with empty name", body: packBody(newMeta("main", "committer", map[string]any{"name": "", "email": "c@example.com"}), upsert("f", "x"))},
		{desc: "committer with empty email", body: packBody(newMeta("main", "committer", map[string]any{"name": "C", "email": ""}), upsert("f", "x"))},
		{desc: "expected_head_sha not hex", body: packBody(newMeta("main", "expected_head_sha", "main"), upsert("f", "x"))},
		{desc: "expected_head_sha short", body: packBody(newMeta("main", "expected_head_sha", "abc1234"), upsert("f", "x"))},
		{desc: "ephemeral is a string", body: packBody(newMeta("main", "ephemeral", "yes"), upsert("f", "x"))},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r, _ := e.seededRepo(t)
			before := r.refs(t)
			objects := r.git(t, "count-objects", "-v")
			resp := r.commitPack(t, r.Write, tc.body)
			status, label := tc.status, tc.label
			if status == 0 {
				status, label = http.StatusBadRequest, "invalid"
			}
			wantRefFailure(t, resp, status, label)
			if after := r.refs(t); after != before {
				t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
			}
			// Rejected uploads leave no objects behind.
			if after := r.git(t, "count-objects", "-v"); after != objects {
				t.Errorf("objects changed after a rejected commit-pack:\n%s\nwas:\n%s", after, objects)
			}
		})
	}
}

func TestCommitPack_uploadLimit(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.WithConfig(func(c *config.Config) { c.MaxUploadBytes = 1 << 20 }))
	r, _ := e.seededRepo(t)

	t.Run("over the limit", func(t *testing.T) {
		before := r.refs(t)
		body := packBody(newMeta("main"), fileOp{Path: "big.bin", Data: bytes.Repeat([]byte("x"), 3<<19), Mode: "100644"})
		resp := r.commitPack(t, r.Write, body)
		wantRefFailure(t, resp, http.StatusRequestEntityTooLarge, "invalid")
		if after := r.refs(t); after != before {
			t.Errorf("refs changed:\n%s\nwas:\n%s", after, before)
		}
	})
	t.Run("under the limit", func(t *testing.T) {
		body := packBody(newMeta("main"), fileOp{Path: "small.bin", Data: bytes.Repeat([]byte("x"), 1<<19), Mode: "100644"})
		wantAck(t, r.commitPack(t, r.Write, body))
	})
}

// TestCommitPack_interleavedChunks: chunks of different blobs may alternate,
// and chunks addressed to delete entries are ignored (spec §5.6.3).
func TestCommitPack_interleavedChunks(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, _ := e.seededRepo(t, upsert("gone.txt", "bye"))

	files := []any{
		map[string]any{"path": "a.txt", "content_id": "A", "operation": "upsert", "mode": "100644"},
		map[string]any{"path": "b.txt", "content_id": "B", "operation": "upsert", "mode": "100755"},
		map[string]any{"path": "gone.txt", "content_id": "D", "operation": "delete"},
		map[string]any{"path": "c.txt", "content_id": "C"}, // no operation: upsert, default mode
	}
	body := lines(
		metadataLine(newMeta("main", "files", files), nil),
		[]byte("\n"), // empty lines are ignored
		chunkLine("A", []byte("a1-"), false),
		chunkLine("B", []byte("b1-"), false),
		chunkLine("D", nil, true),
		chunkLine("A", []byte("a2"), false),
		chunkLine("C", nil, false),
		chunkLine("B", []byte("b2"), true),
		chunkLine("A", nil, true),
		chunkLine("C", []byte("c"), true),
	)
	ack := wantAck(t, r.commitPack(t, r.Write, body))
	if ack.Commit.BlobCount != 3 {
		t.Errorf("blob_count = %v, want 3", ack.Commit.BlobCount)
	}
	for p, want := range map[string]string{"a.txt": "a1-a2", "b.txt": "b1-b2", "c.txt": "c"} {
		if got := r.git(t, "cat-file", "blob", "main:"+p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	modes := map[string]string{}
	for _, en := range lsTree(t, r.Dir(t), "main") {
		modes[en.Path] = en.Mode
	}
	if want := map[string]string{"a.txt": "100644", "b.txt": "100755", "c.txt": "100644"}; fmt.Sprint(modes) != fmt.Sprint(want) {
		t.Errorf("tree modes = %v, want %v", modes, want)
	}
}
