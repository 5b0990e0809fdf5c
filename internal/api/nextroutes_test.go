package api_test

// Route-contract tests for the two SDK generations (API-next.md §1): every
// call is sent as @pierre/storage 1.17.1 sends it (/api/v1/..., repository
// from the token, old field names) and as the newest SDKs send it
// (/api/repos/{escaped name}/..., standard vocabulary), and the two results
// are compared with each other and with git itself.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
)

// ---------------------------------------------------------------------------
// Route families and requests

// nxFam is one SDK generation's way of addressing the API.
type nxFam string

const (
	nxOld nxFam = "v1"   // @pierre/storage 1.17.1
	nxNew nxFam = "next" // path-scoped routes, standard vocabulary
)

var nxFams = []nxFam{nxOld, nxNew}

// nxCtx is one call's view: a repository, the family used to reach it and
// the fixture's known commits.
type nxCtx struct {
	r   *testRepo
	fam nxFam
	fx  *nxFixture
}

// p is the path of a repository route: suffix (with its query) below
// /api/v1/repos/ or /api/repos/{escaped id}/.
func (x *nxCtx) p(suffix string) string {
	if x.fam == nxOld {
		return "/api/v1/repos/" + suffix
	}
	return "/api/repos/" + url.PathEscape(x.r.ID) + "/" + suffix
}

// pick returns old or next according to the family.
func (x *nxCtx) pick(old, next string) string {
	if x.fam == nxOld {
		return old
	}
	return next
}

// nxReq is one HTTP request as an SDK generation sends it.
type nxReq struct {
	Method string
	Path   string
	Body   []byte // nil: no body
	NDJSON bool
	Token  string // "read", "write" (git:read+git:write) or "admin" (repo:write)
}

func nxJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func nxGet(path string) nxReq { return nxReq{Method: "GET", Path: path, Token: "read"} }

func nxWrite(method, path string, body any) nxReq {
	q := nxReq{Method: method, Path: path, Token: "write"}
	if body != nil {
		q.Body = nxJSON(body)
	}
	return q
}

func nxPack(path string, body []byte) nxReq {
	return nxReq{Method: "POST", Path: path, Body: body, NDJSON: true, Token: "write"}
}

// nxDo sends q on x's repository with the headers the SDK generation sends.
func nxDo(t testing.TB, x *nxCtx, q nxReq) *response {
	t.Helper()
	e := x.r.e
	var tok string
	switch q.Token {
	case "read":
		tok = x.r.Read
	case "write":
		tok = e.Token(x.r.ID, auth.ScopeGitRead, auth.ScopeGitWrite)
	case "admin":
		tok = x.r.Admin
	default:
		tok = q.Token // a literal token
	}
	agent := "code-storage-sdk/1.17.1"
	if x.fam == nxNew {
		agent = "code-storage-sdk/next"
	}
	hdr := []string{"Code-Storage-Agent", agent}
	if q.NDJSON {
		hdr = append(hdr, "Content-Type", "application/x-ndjson", "Accept", "application/json")
	}
	var body io.Reader
	if q.Body != nil {
		body = bytes.NewReader(q.Body)
	}
	return e.do(t, q.Method, q.Path, tok, body, hdr...)
}

// nxMeta is commit metadata with an author and message plus kv.
func nxMeta(branch string, kv ...any) map[string]any {
	m := newMeta(branch, kv...)
	m["commit_message"] = "commit on " + branch
	return m
}

// nxSigner is the author every write in these tests uses.
var nxSigner = map[string]any{"name": "Route Tester", "email": "routes@example.com"}

// ---------------------------------------------------------------------------
// The fixture

// nxFixture names the commits of the fixture repository:
//
//	C1 ── C2 ── C3           main
//	        └── F            feature (tags: release/v1)
//	              C3 ── E    ephemeral scratch
//
// tags v1 (lightweight, C1), v2 (annotated, C2), release/v1 (F); notes
// "note one" on C1 (refs/notes/commits), "review note" on C2
// (refs/notes/review).
type nxFixture struct {
	C1, C2, C3, F, E string
}

const nxAppGo = "package app\n\nfunc A() int { return 1 }\n\nfunc B() int { return 2 }\n"

// nxBuild writes the fixture into r through family fam.
func nxBuild(t *testing.T, r *testRepo, fam nxFam) *nxFixture {
	t.Helper()
	x := &nxCtx{r: r, fam: fam}
	commit := func(meta map[string]any, ops ...fileOp) string {
		t.Helper()
		return wantAck(t, nxDo(t, x, nxPack(x.p("commit-pack"), packBody(meta, ops...)))).Commit.CommitSHA
	}
	fx := &nxFixture{}
	fx.C1 = commit(nxMeta("main"),
		upsert("README.md", "hello\n"),
		upsert("src/app.go", nxAppGo),
		upsert("docs/guide.md", "guide\n"),
		upsertMode("bin/run.sh", "#!/bin/sh\necho run\n", "100755"))
	fx.C2 = commit(nxMeta("main", x.pick("expected_head_sha", "expected_target_sha"), fx.C1),
		upsert("src/app.go", nxAppGo+"\nfunc C() int { return 3 }\n"))
	fx.F = commit(nxMeta("feature", "base_branch", "main"),
		upsert("src/feature.go", "package app\n\nfunc Feature() string { return \"feature\" }\n"),
		upsert("README.md", "hello\nfeature\n"))
	fx.C3 = commit(nxMeta("main"), upsert("docs/guide.md", "guide\nmore guidance\n"))
	fx.E = commit(nxMeta("scratch", "base_branch", "main", x.pick("ephemeral", "target_is_ephemeral"), true),
		upsert("scratch.txt", "scratch work\n"))

	tag := func(body map[string]any) {
		t.Helper()
		resp := nxDo(t, x, nxWrite("POST", x.p("tags"), body))
		if resp.Status/100 != 2 {
			t.Fatalf("create tag %v: %s", body["name"], resp)
		}
	}
	ref := x.pick("target", "ref")
	tag(map[string]any{"name": "v1", ref: fx.C1})
	tag(map[string]any{"name": "v2", ref: fx.C2, "message": "release two", "tagger": nxSigner})
	tag(map[string]any{"name": "release/v1", ref: fx.F})

	note := func(obj, notesRef, text string) {
		t.Helper()
		body := map[string]any{x.pick("sha", "object_ref"): obj, "action": "add", "note": text}
		if notesRef != "" {
			body[x.pick("ref", "notes_ref")] = notesRef
		}
		resp := nxDo(t, x, nxWrite("POST", x.p("notes"), body))
		if resp.Status/100 != 2 {
			t.Fatalf("create note: %s", resp)
		}
	}
	note(fx.C1, "", "note one")
	note(fx.C2, "review", "review note")

	// The fixture is what the picture says, by git's account.
	for ref, want := range map[string]string{"refs/heads/main": fx.C3, "refs/heads/feature": fx.F, "refs/tags/v1": fx.C1, "v2^{commit}": fx.C2, "refs/namespaces/ephemeral/refs/heads/scratch": fx.E} {
		if got := r.tip(t, ref); got != want {
			t.Fatalf("fixture: %s = %q, want %s", ref, got, want)
		}
	}
	if got := r.git(t, "rev-parse", fx.F+"^", fx.E+"^"); got != fx.C2+"\n"+fx.C3 {
		t.Fatalf("fixture parents: %s", got)
	}
	return fx
}

// nxCreate creates repository id through family fam with body.
func nxCreate(t *testing.T, e *env, id string, fam nxFam, body map[string]any) *testRepo {
	t.Helper()
	r := e.repoFor(id)
	path := "/api/v1/repos"
	if fam == nxNew {
		path = "/api/repos"
	}
	resp := e.do(t, "POST", path, r.Admin, jsonBody(t, body))
	if resp.Status != http.StatusCreated && resp.Status != http.StatusOK {
		t.Fatalf("create %q via %s: %s", id, path, resp)
	}
	nxCheckResponse(t, "createRepo", resp)
	if m := object(t, resp); m["repo_id"] != id {
		t.Errorf("createRepo %q: repo_id = %v", id, m["repo_id"])
	}
	return r
}

// nxFork forks src into id through family fam: same objects, same SHAs.
func nxFork(t *testing.T, e *env, src *testRepo, id string, fam nxFam) *testRepo {
	t.Helper()
	r := nxCreate(t, e, id, fam, map[string]any{"base_repo": map[string]any{
		"provider": "code", "owner": e.Org, "name": src.ID, "auth": map[string]any{"token": src.Read},
	}})
	if got, want := r.tip(t, "refs/heads/main"), src.tip(t, "refs/heads/main"); got != want || got == "" {
		t.Fatalf("fork %s: main = %q, want %q", id, got, want)
	}
	return r
}

// ---------------------------------------------------------------------------
// Timestamp-free repository shapes

// nxShape describes every ref of r by content: commits by tree, parents
// (recursively), identities and message, without their dates, so two
// repositories written the same way at different times compare equal.
func nxShape(t testing.TB, r *testRepo) map[string]string {
	t.Helper()
	dir := r.Dir(t)
	memo := map[string]string{}
	var canon func(sha string) string
	canon = func(sha string) string {
		if c, ok := memo[sha]; ok {
			return c
		}
		typ := gitRun(t, dir, nil, "cat-file", "-t", sha)
		if typ != "commit" && typ != "tag" {
			memo[sha] = typ + " " + sha
			return memo[sha]
		}
		raw := string(gitRaw(t, dir, "cat-file", typ, sha))
		header, msg, _ := strings.Cut(raw, "\n\n")
		parts := []string{typ}
		for _, line := range strings.Split(header, "\n") {
			key, val, _ := strings.Cut(line, " ")
			switch key {
			case "tree", "type", "tag":
				parts = append(parts, line)
			case "parent", "object":
				parts = append(parts, key+" "+canon(val))
			case "author", "committer", "tagger":
				f := strings.Fields(val)
				if len(f) > 2 {
					f = f[:len(f)-2] // drop "<unix time> <zone>"
				}
				parts = append(parts, key+" "+strings.Join(f, " "))
			}
		}
		parts = append(parts, "message "+msg)
		sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
		memo[sha] = hex.EncodeToString(sum[:8])
		return memo[sha]
	}
	out := map[string]string{}
	for _, line := range strings.Split(r.refs(t), "\n") {
		if line == "" {
			continue
		}
		name, sha, _ := strings.Cut(line, " ")
		out[name] = canon(sha)
	}
	return out
}

// nxSameShape fails unless a and b hold the same refs with the same content.
func nxSameShape(t testing.TB, a, b *testRepo) bool {
	t.Helper()
	sa, sb := nxShape(t, a), nxShape(t, b)
	var diffs []string
	for k, v := range sa {
		if sb[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: v1 repo %q, next repo %q", k, v, sb[k]))
		}
	}
	for k, v := range sb {
		if _, ok := sa[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: v1 repo (absent), next repo %q", k, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("the two route families left different repositories:\n  %s\nv1 refs:\n%s\nnext refs:\n%s", strings.Join(diffs, "\n  "), a.refs(t), b.refs(t))
		return false
	}
	return true
}

// ---------------------------------------------------------------------------
// The shared response check

// nxRequired lists, per SDK call, the response fields 1.17.1 requires
// (API.md §9) and those the newest SDKs require (API-next.md §1, last
// column). Syntax: dotted path, "[]" expands an array, "*" an object's
// values; after ':' the kind.
var nxRequired = map[string][]string{
	"createRepo": {"repo_id:str+", "repo_name:str+", "message:string"},
	"listRepos": {"repos:array+", "repos[].repo_id:str+", "repos[].url:str+", "repos[].repo_name:str+",
		"repos[].default_branch:str+", "repos[].created_at:str+", "has_more:bool"},
	"findOne":    {"default_branch:str+", "created_at:str+"},
	"deleteRepo": {"repo_id:str+", "message:string"},
	"listFiles":  {"paths:array", "paths[]:str+", "ref:str+", "entries[].path:str+", "entries[].mode:str+", "entries[].type:filetype"},
	"listFilesWithMetadata": {"files:array", "files[].path:str+", "files[].mode:str+", "files[].size:num",
		"files[].last_commit_sha:sha", "files[].type:filetype", "commits:object", "commits.*.author:string",
		"commits.*.date:str+", "commits.*.message:string", "ref:str+"},
	"listBranches": {"branches:array", "branches[].cursor:str+", "branches[].name:str+", "branches[].head_sha:sha",
		"branches[].created_at:str+", "has_more:bool"},
	"getBranch": {"branch:object", "branch.name:str+", "branch.head_sha:sha", "branch.created_at:str+"},
	"listTags":  {"tags:array", "tags[].cursor:str+", "tags[].name:str+", "tags[].sha:sha", "has_more:bool"},
	"getTag":    {"tag:object", "tag.name:str+", "tag.sha:sha"},
	"listCommits": {"commits:array", "commits[].sha:sha", "commits[].parent_shas:array", "commits[].parent_shas[]:sha",
		"commits[].message:string", "commits[].author_name:str+", "commits[].author_email:str+",
		"commits[].committer_name:str+", "commits[].committer_email:str+", "commits[].date:str+", "has_more:bool"},
	"getCommit": {"commit:object", "commit.sha:sha", "commit.parent_shas:array", "commit.parent_shas[]:sha",
		"commit.message:string", "commit.author_name:str+", "commit.author_email:str+",
		"commit.committer_name:str+", "commit.committer_email:str+", "commit.date:str+"},
	"getBlame": {"ref:str+", "path:str+", "commit_sha:sha", "lines:array", "lines[].line_number:num",
		"lines[].original_line_number:num", "lines[].commit_sha:sha", "lines[].original_path:str+",
		"lines[].author_name:string", "lines[].author_email:string", "lines[].author_time:str+",
		"lines[].committer_name:string", "lines[].committer_email:string", "lines[].committer_time:str+",
		"lines[].summary:string"},
	"getNote":    {"sha:sha", "note:string", "ref_sha:sha"},
	"createNote": {"sha:sha", "target_ref:str+", "notes_ref:str+", "new_ref_sha:string", "result:object", "result.success:bool", "result.status:str+"},
	"listNotesRefs": {"refs:array", "refs[].cursor:str+", "refs[].ref:str+", "refs[].sha:sha", "has_more:bool",
		"prefix:str+"},
	"getBranchDiff": {"branch:str+", "base:str+", "stats.files:num", "stats.additions:num", "stats.deletions:num",
		"stats.changes:num", "files:array", "files[].path:str+", "files[].state:str+", "files[].raw:string",
		"files[].bytes:num", "files[].is_eof:bool", "filtered_files:array", "filtered_files[].path:str+",
		"filtered_files[].state:str+", "filtered_files[].bytes:num", "filtered_files[].is_eof:bool"},
	"getCommitDiff": {"sha:sha", "stats.files:num", "stats.additions:num", "stats.deletions:num",
		"stats.changes:num", "files:array", "files[].path:str+", "files[].state:str+", "files[].raw:string",
		"files[].bytes:num", "files[].is_eof:bool", "filtered_files:array"},
	"grep": {"query.pattern:str+", "query.case_sensitive:bool", "repo.ref:str+", "repo.commit:sha", "matches:array",
		"matches[].path:str+", "matches[].lines:array", "matches[].lines[].line_number:num",
		"matches[].lines[].text:string", "matches[].lines[].type:str+", "has_more:bool"},
	"createBranch": {"message:string", "target_branch:str+", "target_is_ephemeral:bool"},
	"deleteBranch": {"message:string", "name:str+", "target_branch:str+"},
	"previewMerge": {"status:str+", "result:str+", "source_branch:str+", "target_branch:str+", "source_tip_sha:sha",
		"target_tip_sha:sha"},
	"merge": {"result:str+", "commit_sha:sha", "tree_sha:sha", "source:object", "source.ephemeral:bool",
		"source.sha:sha", "source.branch:str+", "source.ref:str+", "target.branch:str+", "target.ephemeral:bool",
		"target.old_sha:sha", "target.new_sha:sha", "promoted_commits:num"},
	"createTag": {"name:str+", "sha:sha", "message:string"},
	"deleteTag": {"name:str+", "message:string"},
	"restoreCommit": {"commit.commit_sha:sha", "commit.tree_sha:sha", "commit.target_branch:str+",
		"commit.pack_bytes:num", "result.old_sha:sha", "result.new_sha:sha", "result.success:true",
		"result.status:str+", "result.branch:str+", "result.target_branch:str+"},
	"commitPack": {"commit.commit_sha:sha", "commit.tree_sha:sha", "commit.target_branch:str+",
		"commit.pack_bytes:num", "commit.blob_count:num", "result.old_sha:sha", "result.new_sha:sha",
		"result.success:bool", "result.status:str+", "result.branch:str+", "result.target_branch:str+"},
}

// nxAliases are the response fields both generations name differently:
// a server must send both spellings with the same value.
var nxAliases = map[string][][2]string{
	"createRepo":    {{"repo_id", "repo_name"}},
	"listRepos":     {{"repos[].url", "repos[].repo_name"}},
	"createNote":    {{"target_ref", "notes_ref"}},
	"deleteBranch":  {{"target_branch", "name"}},
	"merge":         {{"source.ref", "source.branch"}},
	"restoreCommit": {{"result.target_branch", "result.branch"}, {"commit.target_branch", "result.branch"}},
	"commitPack":    {{"result.target_branch", "result.branch"}, {"commit.target_branch", "result.branch"}},
}

// nxExactStatus: the Python SDK raises unless these answer exactly 200,
// 1.17.1 unless pull-upstream answers exactly 202.
var nxExactStatus = map[string]int{
	"createBranch": http.StatusOK, "deleteBranch": http.StatusOK, "merge": http.StatusOK,
	"deleteTag": http.StatusOK, "createTag": http.StatusOK, "pullUpstream": http.StatusAccepted,
}

// nxCallKind maps SDK function names onto the response schema they share.
func nxCallKind(call string) string {
	switch call {
	case "appendNote", "deleteNote":
		return "createNote"
	case "diffCommit":
		return "commitPack"
	}
	return call
}

// nxCheckResponse asserts what both SDK generations need from a response
// to call: on success the required fields, aliases and exact statuses; on
// failure the error envelope (plus the ref-update result of the commit
// family).
func nxCheckResponse(t testing.TB, call string, resp *response) {
	t.Helper()
	kind := nxCallKind(call)
	if resp.Status >= 400 {
		var m map[string]any
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			t.Errorf("%s: error response is not JSON (%v): %s", call, err, resp)
			return
		}
		if msg, ok := m["error"].(string); !ok || strings.TrimSpace(msg) == "" {
			if kind != "createNote" { // note writes may answer with the write shape instead
				t.Errorf("%s: error response lacks the {\"error\": ...} envelope: %s", call, resp)
			}
		}
		if kind == "commitPack" || kind == "restoreCommit" {
			res, _ := m["result"].(map[string]any)
			if s, _ := res["status"].(string); s == "" {
				t.Errorf("%s: failure lacks result.status: %s", call, resp)
			}
		}
		return
	}
	if want, ok := nxExactStatus[kind]; ok && resp.Status != want {
		t.Errorf("%s: status %d, the SDKs require exactly %d; body %s", call, resp.Status, want, resp.Body)
	}
	switch kind {
	case "getFile", "headFile":
		nxCheckFileHeaders(t, call, resp)
		return
	case "archive":
		if !bytes.HasPrefix(resp.Body, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: body is not gzip: % x", call, resp.Body[:min(8, len(resp.Body))])
		}
		return
	case "pullUpstream":
		return
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", call, ct)
	}
	var root any
	if err := json.Unmarshal(resp.Body, &root); err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", call, err, resp.Body)
		return
	}
	specs, ok := nxRequired[kind]
	if !ok {
		t.Fatalf("nxCheckResponse: no schema for %s", call)
	}
	for _, spec := range specs {
		nxField(t, call, root, spec)
	}
	for _, pair := range nxAliases[kind] {
		a, b := nxValues(root, pair[0]), nxValues(root, pair[1])
		if len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: alias %s = %v but %s = %v; both spellings must carry the same value", call, pair[0], a, pair[1], b)
		}
	}
	m, _ := root.(map[string]any)
	switch kind {
	case "previewMerge":
		if s := m["status"]; s != "clean" && s != "conflicted" {
			t.Errorf("%s: status = %v", call, s)
		}
		if r := m["result"]; r != "merge_commit" && r != "fast_forward" && r != "no_op" {
			t.Errorf("%s: result = %v", call, r)
		}
		for _, k := range []string{"conflict_paths", "conflicts", "filtered_conflicts"} {
			if v, ok := m[k]; ok {
				if _, isArr := v.([]any); !isArr {
					t.Errorf("%s: %s = %#v, want an array when present (never null)", call, k, v)
				}
			}
		}
	case "merge":
		switch m["result"] {
		case "merge_commit", "fast_forward", "no_op", "squash", "unknown":
		default:
			t.Errorf("%s: result = %v, not an SDK enum value", call, m["result"])
		}
	case "createNote":
		if v, ok := m["base_commit"]; ok {
			if _, isStr := v.(string); !isStr {
				t.Errorf("%s: base_commit = %#v, want a string or absent", call, v)
			}
		}
	case "getCommit":
		c, _ := m["commit"].(map[string]any)
		for _, k := range []string{"signature", "payload"} {
			if v, ok := c[k]; ok && v == nil {
				t.Errorf("%s: commit.%s is null; omit it instead", call, k)
			}
		}
	}
}

// nxCheckFileHeaders: the raw-stream calls are read through their headers.
func nxCheckFileHeaders(t testing.TB, call string, resp *response) {
	t.Helper()
	for _, h := range []string{"X-Blob-Sha", "X-Last-Commit-Sha", "ETag", "Last-Modified", "Accept-Ranges", "Content-Type", "Content-Length"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("%s: header %s missing", call, h)
		}
	}
	if !isHex40(resp.Header.Get("X-Blob-Sha")) || !isHex40(resp.Header.Get("X-Last-Commit-Sha")) {
		t.Errorf("%s: X-Blob-Sha %q / X-Last-Commit-Sha %q are not SHAs", call, resp.Header.Get("X-Blob-Sha"), resp.Header.Get("X-Last-Commit-Sha"))
	}
	if got, want := resp.Header.Get("ETag"), `"`+resp.Header.Get("X-Blob-Sha")+`"`; got != want {
		t.Errorf("%s: ETag %s, want %s", call, got, want)
	}
}

// nxValues returns every value at a path (see nxRequired), nil when absent.
func nxValues(root any, path string) []any {
	vals := []any{root}
	for _, seg := range strings.Split(path, ".") {
		arr := strings.HasSuffix(seg, "[]")
		key := strings.TrimSuffix(seg, "[]")
		var next []any
		for _, v := range vals {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			if key == "*" {
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					next = append(next, m[k])
				}
				continue
			}
			fv, ok := m[key]
			if !ok {
				return nil
			}
			if arr {
				a, ok := fv.([]any)
				if !ok {
					return nil
				}
				next = append(next, a...)
				continue
			}
			next = append(next, fv)
		}
		vals = next
	}
	return vals
}

// nxField checks one "path:kind" spec: the field exists wherever its
// parents do, and has the kind.
func nxField(t testing.TB, call string, root any, spec string) {
	t.Helper()
	path, kind, _ := strings.Cut(spec, ":")
	vals := []any{root}
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		arr := strings.HasSuffix(seg, "[]")
		key := strings.TrimSuffix(seg, "[]")
		var next []any
		for _, v := range vals {
			m, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s: %s: parent is %T, want an object", call, path, v)
				return
			}
			if key == "*" {
				for _, fv := range m {
					next = append(next, fv)
				}
				continue
			}
			fv, ok := m[key]
			if !ok {
				t.Errorf("%s: required field %s is missing", call, strings.Join(segs[:i+1], "."))
				return
			}
			if arr {
				a, ok := fv.([]any)
				if !ok {
					t.Errorf("%s: %s = %#v, want an array", call, strings.Join(segs[:i+1], "."), fv)
					return
				}
				next = append(next, a...)
				continue
			}
			next = append(next, fv)
		}
		vals = next
	}
	for _, v := range vals {
		ok := false
		switch kind {
		case "string":
			_, ok = v.(string)
		case "str+":
			s, isStr := v.(string)
			ok = isStr && s != ""
		case "sha":
			s, _ := v.(string)
			ok = isHex40(s)
		case "num":
			_, ok = v.(float64)
		case "bool":
			_, ok = v.(bool)
		case "true":
			ok = v == true
		case "object":
			_, ok = v.(map[string]any)
		case "array":
			_, ok = v.([]any)
		case "array+":
			a, isArr := v.([]any)
			ok = isArr && len(a) > 0
		case "filetype":
			ok = v == "blob" || v == "tree" || v == "symlink" || v == "submodule"
		default:
			t.Fatalf("nxField: unknown kind %q", kind)
		}
		if !ok {
			t.Errorf("%s: %s = %#v, want %s", call, path, v, kind)
		}
	}
}

// ---------------------------------------------------------------------------
// Read calls

// nxCall is one SDK call in both generations' spelling.
type nxCall struct {
	Name, Label string
	Old         func(x *nxCtx) nxReq
	New         func(x *nxCtx) nxReq // nil: the same as Old (on the family's path)
	Status      int
	// Check is the git oracle for one response.
	Check func(t *testing.T, x *nxCtx, resp *response)
}

func (c nxCall) req(x *nxCtx) nxReq {
	if x.fam == nxNew && c.New != nil {
		return c.New(x)
	}
	return c.Old(x)
}

func nxObj(t *testing.T, resp *response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		t.Fatalf("decode %s: %v", resp, err)
	}
	return m
}

func nxStrings(root any, path string) []string {
	var out []string
	for _, v := range nxValues(root, path) {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// nxStr is the first string at path, "" when there is none.
func nxStr(root any, path string) string {
	if v := nxStrings(root, path); len(v) > 0 {
		return v[0]
	}
	return ""
}

func nxWantList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want (git) %q", what, got, want)
	}
}

func nxLines(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(strings.TrimSpace(s), "\n")
}

// nxReadCalls are the calls that change nothing, with their git oracles.
func nxReadCalls() []nxCall {
	file := func(method, label, query, rev, path string) nxCall {
		return nxCall{Name: map[string]string{"GET": "getFile", "HEAD": "headFile"}[method], Label: label, Status: 200,
			Old: func(x *nxCtx) nxReq { return nxReq{Method: method, Path: x.p("file?" + query), Token: "read"} },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				blob := x.r.git(t, "rev-parse", rev+":"+path)
				data := gitRaw(t, x.r.Dir(t), "cat-file", "blob", blob)
				if method == "GET" && !bytes.Equal(resp.Body, data) {
					t.Errorf("body %q, want (git) %q", resp.Body, data)
				}
				if method == "HEAD" && len(resp.Body) != 0 {
					t.Errorf("HEAD has a body: %q", resp.Body)
				}
				if got := resp.Header.Get("Content-Length"); got != fmt.Sprint(len(data)) {
					t.Errorf("Content-Length %s, want %d", got, len(data))
				}
				if got := resp.Header.Get("X-Blob-Sha"); got != blob {
					t.Errorf("X-Blob-Sha %s, want %s", got, blob)
				}
				if got, want := resp.Header.Get("X-Last-Commit-Sha"), x.r.git(t, "log", "-1", "--format=%H", rev, "--", path); got != want {
					t.Errorf("X-Last-Commit-Sha %s, want %s", got, want)
				}
			}}
	}
	commitsOracle := func(rev string, path ...string) func(t *testing.T, x *nxCtx, resp *response) {
		return func(t *testing.T, x *nxCtx, resp *response) {
			args := append([]string{"rev-list", rev, "--"}, path...)
			nxWantList(t, "commits[].sha", nxStrings(nxObj(t, resp), "commits[].sha"), nxLines(x.r.git(t, args...)))
		}
	}
	branchesOracle := func(prefix string) func(t *testing.T, x *nxCtx, resp *response) {
		return func(t *testing.T, x *nxCtx, resp *response) {
			m := nxObj(t, resp)
			var got []string
			for i, n := range nxStrings(m, "branches[].name") {
				got = append(got, n+" "+nxStrings(m, "branches[].head_sha")[i])
			}
			sort.Strings(got)
			want := nxLines(strings.ReplaceAll(x.r.git(t, "for-each-ref", "--format=%(refname) %(objectname)", prefix), prefix, ""))
			sort.Strings(want)
			nxWantList(t, "branches", got, want)
		}
	}
	diffOracle := func(from, to string) func(t *testing.T, x *nxCtx, resp *response) {
		return func(t *testing.T, x *nxCtx, resp *response) {
			got := nxStrings(nxObj(t, resp), "files[].path")
			sort.Strings(got)
			want := nxLines(x.r.git(t, "diff", "--name-only", x.rev(from), x.rev(to)))
			sort.Strings(want)
			nxWantList(t, "files[].path", got, want)
		}
	}
	return []nxCall{
		{Name: "findOne", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet("/api/v1/repo") },
			New: func(x *nxCtx) nxReq { return nxGet("/api/repos/" + url.PathEscape(x.r.ID)) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				if m["repo_id"] != x.r.ID || m["default_branch"] != "main" {
					t.Errorf("repo_id %v default_branch %v, want %q main", m["repo_id"], m["default_branch"], x.r.ID)
				}
			}},
		file("GET", "feature", "path=src%2Fapp.go&ref=feature", "feature", "src/app.go"),
		file("HEAD", "feature", "path=src%2Fapp.go&ref=feature", "feature", "src/app.go"),
		file("GET", "default", "path=README.md", "main", "README.md"),
		file("GET", "ephemeral", "path=scratch.txt&ref=scratch&ephemeral=true", "refs/namespaces/ephemeral/refs/heads/scratch", "scratch.txt"),
		{Name: "archive", Status: 200,
			Old: func(x *nxCtx) nxReq {
				q := nxWrite("POST", x.p("archive"), map[string]any{"ref": "feature", "archive": map[string]any{"prefix": "p/"}})
				q.Token = "read"
				return q
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				entries, _, _ := readArchive(t, resp.Body)
				files := 0
				for _, e := range entries {
					if e.blob != "" {
						files++
					}
				}
				tree := lsTree(t, x.r.Dir(t), "-r", "feature")
				for _, te := range tree {
					if entries["p/"+te.Path].blob != te.OID {
						t.Errorf("archive p/%s: blob %q, want %s", te.Path, entries["p/"+te.Path].blob, te.OID)
					}
				}
				if files != len(tree) {
					t.Errorf("archive has %d files, git tree %d", files, len(tree))
				}
			}},
		{Name: "listFiles", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("files?ref=feature&path=src&recursive=true")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				got := nxStrings(nxObj(t, resp), "paths[]")
				sort.Strings(got)
				var want []string
				for _, p := range treePaths(t, x.r.Dir(t), "feature") {
					if strings.HasPrefix(p, "src/") {
						want = append(want, p)
					}
				}
				nxWantList(t, "paths", got, want)
			}},
		{Name: "listFiles", Label: "all", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("files?ref=" + x.fx.C1)) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				got := nxStrings(nxObj(t, resp), "paths[]")
				sort.Strings(got)
				nxWantList(t, "paths", got, treePaths(t, x.r.Dir(t), x.fx.C1))
			}},
		{Name: "listFilesWithMetadata", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("files/metadata?ref=feature")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				paths := nxStrings(m, "files[].path")
				shas := nxStrings(m, "files[].last_commit_sha")
				sorted := slices.Clone(paths)
				sort.Strings(sorted)
				nxWantList(t, "files[].path", sorted, treePaths(t, x.r.Dir(t), "feature"))
				commits, _ := m["commits"].(map[string]any)
				for i, p := range paths {
					if want := x.r.git(t, "log", "-1", "--format=%H", "feature", "--", p); shas[i] != want {
						t.Errorf("%s: last_commit_sha %s, want %s", p, shas[i], want)
					}
					if _, ok := commits[shas[i]]; !ok {
						t.Errorf("commits lacks %s", shas[i])
					}
				}
			}},
		{Name: "listBranches", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("branches?limit=100")) },
			Check: branchesOracle("refs/heads/")},
		{Name: "listBranches", Label: "ephemeral", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("branches?limit=100&ephemeral=true")) },
			Check: branchesOracle("refs/namespaces/ephemeral/refs/heads/")},
		{Name: "getBranch", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("branch?name=feature")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				if got := nxStrings(m, "branch.head_sha"); len(got) != 1 || got[0] != x.r.tip(t, "refs/heads/feature") {
					t.Errorf("head_sha %v, want %s", got, x.r.tip(t, "refs/heads/feature"))
				}
				if got := nxStrings(m, "branch.name"); len(got) != 1 || got[0] != "feature" {
					t.Errorf("name %v", got)
				}
				// created_at agrees with listBranches.
				list := nxObj(t, nxDo(t, x, nxGet(x.p("branches?limit=100"))))
				for i, n := range nxStrings(list, "branches[].name") {
					if n == "feature" && nxStrings(list, "branches[].created_at")[i] != nxStr(m, "branch.created_at") {
						t.Errorf("created_at %v differs from listBranches' %s", nxStrings(m, "branch.created_at"), nxStrings(list, "branches[].created_at")[i])
					}
				}
			}},
		{Name: "getBranch", Label: "ephemeral", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("branch?name=scratch&ephemeral=true")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				if got := nxStrings(nxObj(t, resp), "branch.head_sha"); len(got) != 1 || got[0] != x.fx.E {
					t.Errorf("head_sha %v, want %s", got, x.fx.E)
				}
			}},
		{Name: "getBranch", Label: "explicit-false", Status: 404,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("branch?name=scratch&ephemeral=false")) }},
		{Name: "getBranch", Label: "missing", Status: 404,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("branch?name=nope")) }},
		{Name: "listTags", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("tags?limit=100")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				var got []string
				for i, n := range nxStrings(m, "tags[].name") {
					got = append(got, n+" "+nxStrings(m, "tags[].sha")[i])
				}
				var want []string
				for _, n := range nxLines(x.r.git(t, "for-each-ref", "--sort=refname", "--format=%(refname:lstrip=2)", "refs/tags/")) {
					want = append(want, n+" "+x.r.tip(t, "refs/tags/"+n))
				}
				nxWantList(t, "tags", got, want)
			}},
		{Name: "getTag", Label: "annotated", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("tag?name=v2")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				if got := nxStrings(m, "tag.sha"); len(got) != 1 || got[0] != x.r.tip(t, "refs/tags/v2") || got[0] == x.r.git(t, "rev-parse", "refs/tags/v2") {
					t.Errorf("tag.sha %v, want the peeled commit %s (not the tag object %s)", got, x.r.tip(t, "refs/tags/v2"), x.r.git(t, "rev-parse", "refs/tags/v2"))
				}
				if got := nxStrings(m, "tag.name"); len(got) != 1 || got[0] != "v2" {
					t.Errorf("tag.name %v", got)
				}
			}},
		{Name: "getTag", Label: "slash", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("tag?name=release%2Fv1")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				if got := nxStrings(nxObj(t, resp), "tag.sha"); len(got) != 1 || got[0] != x.fx.F {
					t.Errorf("tag.sha %v, want %s", got, x.fx.F)
				}
			}},
		{Name: "getTag", Label: "missing", Status: 404,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("tag?name=v9")) }},
		{Name: "listCommits", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("commits?branch=feature&limit=50")) },
			New:   func(x *nxCtx) nxReq { return nxGet(x.p("commits?ref=feature&limit=50")) },
			Check: commitsOracle("feature")},
		{Name: "listCommits", Label: "path", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("commits?branch=main&path=docs")) },
			New:   func(x *nxCtx) nxReq { return nxGet(x.p("commits?ref=main&path=docs")) },
			Check: commitsOracle("main", "docs")},
		{Name: "listCommits", Label: "ephemeral", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("commits?branch=scratch&ephemeral=true")) },
			New:   func(x *nxCtx) nxReq { return nxGet(x.p("commits?ref=scratch&ephemeral=true")) },
			Check: commitsOracle("refs/namespaces/ephemeral/refs/heads/scratch")},
		{Name: "listCommits", Label: "default", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("commits")) },
			Check: commitsOracle("main")},
		{Name: "getCommit", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("commit?sha=" + x.fx.C2)) },
			New: func(x *nxCtx) nxReq { return nxGet(x.p("commit?ref=" + x.fx.C2)) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				nxWantList(t, "commit.sha", nxStrings(m, "commit.sha"), []string{x.fx.C2})
				nxWantList(t, "commit.parent_shas", nxStrings(m, "commit.parent_shas[]"), []string{x.fx.C1})
			}},
		{Name: "getCommit", Label: "revision", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("commit?sha=feature")) },
			New: func(x *nxCtx) nxReq { return nxGet(x.p("commit?ref=feature")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				nxWantList(t, "commit.sha", nxStrings(nxObj(t, resp), "commit.sha"), []string{x.fx.F})
			}},
		{Name: "getBlame", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("blame?path=src%2Fapp.go&ref=feature")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				nxWantList(t, "commit_sha", nxStrings(m, "commit_sha"), []string{x.fx.F})
				var want []string
				for _, l := range nxLines(x.r.git(t, "blame", "--porcelain", "feature", "--", "src/app.go")) {
					if f := strings.Fields(l); len(f) >= 3 && isHex40(f[0]) {
						want = append(want, f[0])
					}
				}
				nxWantList(t, "lines[].commit_sha", nxStrings(m, "lines[].commit_sha"), want)
			}},
		{Name: "getNote", Label: "custom-ref", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("notes?sha=" + x.fx.C2 + "&ref=review")) },
			New: func(x *nxCtx) nxReq { return nxGet(x.p("notes?object_ref=" + x.fx.C2 + "&notes_ref=review")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				if got, want := strings.TrimSpace(fmt.Sprint(m["note"])), x.r.git(t, "notes", "--ref", "review", "show", x.fx.C2); got != want || m["sha"] != x.fx.C2 {
					t.Errorf("note %q on %v, want (git) %q on %s", got, m["sha"], want, x.fx.C2)
				}
				if m["ref_sha"] != x.r.git(t, "rev-parse", "refs/notes/review") {
					t.Errorf("ref_sha %v, want refs/notes/review", m["ref_sha"])
				}
			}},
		{Name: "getNote", Label: "default-ref", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("notes?sha=" + x.fx.C1)) },
			New: func(x *nxCtx) nxReq { return nxGet(x.p("notes?object_ref=" + x.fx.C1)) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				if got, want := strings.TrimSpace(fmt.Sprint(nxObj(t, resp)["note"])), x.r.git(t, "notes", "show", x.fx.C1); got != want {
					t.Errorf("note %q, want (git) %q", got, want)
				}
			}},
		{Name: "getNote", Label: "missing", Status: 404,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("notes?sha=" + x.fx.C1 + "&ref=review")) },
			New: func(x *nxCtx) nxReq { return nxGet(x.p("notes?object_ref=" + x.fx.C1 + "&notes_ref=review")) }},
		{Name: "listNotesRefs", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("notes/refs")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				var got []string
				for i, r := range nxStrings(m, "refs[].ref") {
					got = append(got, r+" "+nxStrings(m, "refs[].sha")[i])
				}
				nxWantList(t, "refs", got, nxLines(x.r.git(t, "for-each-ref", "--sort=refname", "--format=%(refname) %(objectname)", "refs/notes/")))
			}},
		{Name: "getBranchDiff", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("branches/diff?branch=feature&base=main")) },
			Check: diffOracle("merge-base:main:feature", "feature")},
		{Name: "getBranchDiff", Label: "ephemeral", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxGet(x.p("branches/diff?branch=scratch&ephemeral=true&path=scratch.txt"))
			},
			Check: diffOracle("C3", "E")},
		{Name: "getCommitDiff", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxGet(x.p("diff?sha=" + x.fx.C2)) },
			New:   func(x *nxCtx) nxReq { return nxGet(x.p("diff?ref=" + x.fx.C2)) },
			Check: diffOracle("C1", "C2")},
		{Name: "getCommitDiff", Label: "base", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxGet(x.p("diff?sha=" + x.fx.F + "&baseSha=" + x.fx.C1 + "&gitApplyCompatible=true"))
			},
			New: func(x *nxCtx) nxReq {
				return nxGet(x.p("diff?ref=" + x.fx.F + "&base_ref=" + x.fx.C1 + "&git_apply_compatible=true"))
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				diffOracle("C1", "F")(t, x, resp)
				if m := nxObj(t, resp); m["sha"] != x.fx.F || m["base_sha"] != x.fx.C1 {
					t.Errorf("sha %v base_sha %v, want %s %s", m["sha"], m["base_sha"], x.fx.F, x.fx.C1)
				}
			}},
		{Name: "getCommitDiff", Label: "ephemeral", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("diff?sha=" + x.fx.E)) },
			New: func(x *nxCtx) nxReq {
				return nxGet(x.p("diff?ref=scratch&ref_is_ephemeral=true&base_ref=main&base_is_ephemeral=false"))
			},
			Check: diffOracle("C3", "E")},
		{Name: "grep", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxReq{Method: "POST", Path: x.p("grep"), Token: "read", Body: nxJSON(map[string]any{
					"query": map[string]any{"pattern": "func [A-Z]", "case_sensitive": true}, "ref": "feature", "paths": []string{"src"},
					"context": map[string]any{"before": 0, "after": 0}, "limits": map[string]any{"max_lines": 100, "max_matches_per_file": 10},
				})}
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				got := nxStrings(m, "matches[].path")
				var want []string
				for _, l := range nxLines(x.r.git(t, "grep", "-l", "-E", "func [A-Z]", "feature", "--", "src")) {
					want = append(want, strings.TrimPrefix(l, "feature:"))
				}
				nxWantList(t, "matches[].path", got, want)
				if c := nxStrings(m, "repo.commit"); len(c) != 1 || c[0] != x.fx.F {
					t.Errorf("repo.commit %v, want %s", c, x.fx.F)
				}
			}},
		{Name: "previewMerge", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxGet(x.p("merge/preview?source_branch=feature&target_branch=main&include_content=true"))
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				if m["source_tip_sha"] != x.fx.F || m["target_tip_sha"] != x.fx.C3 || m["merge_base_sha"] != x.fx.C2 || m["status"] != "clean" {
					t.Errorf("preview %s, want source %s target %s base %s clean", resp.Body, x.fx.F, x.fx.C3, x.fx.C2)
				}
			}},
		{Name: "previewMerge", Label: "ephemeral", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxGet(x.p("merge/preview?source_branch=scratch&target_branch=feature&source_is_ephemeral=true&target_is_ephemeral=false"))
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				if m["source_tip_sha"] != x.fx.E || m["target_tip_sha"] != x.fx.F {
					t.Errorf("preview %s, want source %s target %s", resp.Body, x.fx.E, x.fx.F)
				}
			}},
		{Name: "pullUpstream", Label: "no-upstream", Status: 400,
			Old: func(x *nxCtx) nxReq { return nxWrite("POST", x.p("pull-upstream"), map[string]any{}) },
			New: func(x *nxCtx) nxReq { return nxWrite("POST", x.p("pull-upstream"), map[string]any{"ref": "main"}) }},
	}
}

// rev maps fixture names used by oracles to revisions.
func (x *nxCtx) rev(name string) string {
	switch name {
	case "C1":
		return x.fx.C1
	case "C2":
		return x.fx.C2
	case "C3":
		return x.fx.C3
	case "F":
		return x.fx.F
	case "E":
		return x.fx.E
	}
	if rest, ok := strings.CutPrefix(name, "merge-base:"); ok {
		a, b, _ := strings.Cut(rest, ":")
		return gitRun(t0(), x.r.Dir(t0()), nil, "merge-base", a, b)
	}
	if strings.HasPrefix(name, "refs/") {
		return x.r.tip(t0(), name)
	}
	return name
}

// nxRunReads sends every read call in both spellings to r and compares.
func nxRunReads(t *testing.T, r *testRepo, fx *nxFixture) {
	for _, c := range nxReadCalls() {
		name := c.Name
		if c.Label != "" {
			name += "/" + c.Label
		}
		t.Run(name, func(t *testing.T) {
			var resps []*response
			before := r.refs(t)
			for _, fam := range nxFams {
				x := &nxCtx{r: r, fam: fam, fx: fx}
				resp := nxDo(t, x, c.req(x))
				resps = append(resps, resp)
				if c.Name == "grep" && resp.Status == http.StatusNotImplemented && strings.Contains(string(resp.Body), "PCRE") {
					t.Skipf("the server's git lacks PCRE2: %s", resp)
				}
				if resp.Status != c.Status {
					t.Errorf("%s: %s %s: status %d, want %d; body %s", fam, c.req(x).Method, c.req(x).Path, resp.Status, c.Status, resp.Body)
					continue
				}
				nxCheckResponse(t, c.Name, resp)
				if c.Check != nil {
					c.Check(t, x, resp)
				}
			}
			if a, b := resps[0], resps[1]; a.Status != b.Status || !bytes.Equal(a.Body, b.Body) {
				t.Errorf("the two generations disagree:\n  v1:   %s\n  next: %s", a, b)
			}
			if c.Name == "getFile" || c.Name == "headFile" {
				for _, h := range []string{"X-Blob-Sha", "X-Last-Commit-Sha", "ETag", "Last-Modified", "Content-Length", "Content-Type", "Accept-Ranges"} {
					if a, b := resps[0].Header.Get(h), resps[1].Header.Get(h); a != b {
						t.Errorf("header %s: v1 %q, next %q", h, a, b)
					}
				}
			}
			if after := r.refs(t); after != before {
				t.Errorf("a read changed refs:\nbefore %s\nafter %s", before, after)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Write calls

// nxWriteSteps run in order on two forks of one fixture: Old on the first
// through /api/v1, New on the second through /api/repos/{name}.
func nxWriteSteps() []nxCall {
	tipIs := func(ref, want string) func(t *testing.T, x *nxCtx, resp *response) {
		return func(t *testing.T, x *nxCtx, resp *response) {
			if got := x.r.tip(t, ref); got != x.rev(want) {
				t.Errorf("%s = %q, want %s", ref, got, x.rev(want))
			}
		}
	}
	gone := func(ref string) func(t *testing.T, x *nxCtx, resp *response) {
		return func(t *testing.T, x *nxCtx, resp *response) {
			if got := x.r.tip(t, ref); got != "" {
				t.Errorf("%s still exists at %s", ref, got)
			}
		}
	}
	ackIsTip := func(ref string, parents ...string) func(t *testing.T, x *nxCtx, resp *response) {
		return func(t *testing.T, x *nxCtx, resp *response) {
			m := nxObj(t, resp)
			sha := nxStrings(m, "commit.commit_sha")
			if len(sha) != 1 || x.r.tip(t, ref) != sha[0] {
				t.Fatalf("%s = %q, ack says %v", ref, x.r.tip(t, ref), sha)
			}
			var want []string
			for _, p := range parents {
				want = append(want, x.rev(p))
			}
			nxWantList(t, "parents", strings.Fields(x.r.git(t, "log", "-1", "--format=%P", sha[0])), want)
			if tree := x.r.git(t, "rev-parse", sha[0]+"^{tree}"); nxStr(m, "commit.tree_sha") != tree {
				t.Errorf("tree_sha %v, git %s", nxStrings(m, "commit.tree_sha"), tree)
			}
		}
	}
	const eph = "refs/namespaces/ephemeral/refs/heads/"
	patch := "diff --git a/patched.txt b/patched.txt\nnew file mode 100644\n--- /dev/null\n+++ b/patched.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n"
	return []nxCall{
		{Name: "createBranch", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("branches/create"), map[string]any{"target_branch": "nb", "base_branch": "feature"})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("branches/create"), map[string]any{"target_branch": "nb", "base_ref": "feature", "base_is_ephemeral": false, "target_is_ephemeral": false})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				tipIs("refs/heads/nb", "F")(t, x, resp)
				if m := nxObj(t, resp); m["target_is_ephemeral"] != false || m["target_branch"] != "nb" {
					t.Errorf("response %s", resp.Body)
				}
			}},
		{Name: "createBranch", Label: "ephemeral", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("branches/create"), map[string]any{"target_branch": "scratch", "base_ref": "main", "target_is_ephemeral": true})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("branches/create"), map[string]any{"target_branch": "scratch", "base_ref": "main", "base_is_ephemeral": false, "target_is_ephemeral": true})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				tipIs(eph+"scratch", "C3")(t, x, resp)
				gone("refs/heads/scratch")(t, x, resp)
				if m := nxObj(t, resp); m["target_is_ephemeral"] != true {
					t.Errorf("target_is_ephemeral %v", m["target_is_ephemeral"])
				}
			}},
		{Name: "getBranch", Label: "created", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("branch?name=scratch&ephemeral=true")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				nxWantList(t, "branch.head_sha", nxStrings(nxObj(t, resp), "branch.head_sha"), []string{x.fx.C3})
			}},
		{Name: "commitPack", Label: "expected-head", Status: 201,
			Old: func(x *nxCtx) nxReq {
				return nxPack(x.p("commit-pack"), packBody(nxMeta("main", "expected_head_sha", x.fx.C3), upsert("src/app.go", "package app\n"), del("docs/guide.md")))
			},
			New: func(x *nxCtx) nxReq {
				return nxPack(x.p("commit-pack"), packBody(nxMeta("main", "expected_target_sha", x.fx.C3, "target_is_ephemeral", false, "base_is_ephemeral", false),
					upsert("src/app.go", "package app\n"), del("docs/guide.md")))
			},
			Check: ackIsTip("refs/heads/main", "C3")},
		{Name: "commitPack", Label: "ephemeral", Status: 201,
			Old: func(x *nxCtx) nxReq {
				return nxPack(x.p("commit-pack"), packBody(nxMeta("scratch", "ephemeral", true, "expected_head_sha", x.fx.C3), upsert("scratch.txt", "again\n")))
			},
			New: func(x *nxCtx) nxReq {
				return nxPack(x.p("commit-pack"), packBody(nxMeta("scratch", "target_is_ephemeral", true, "expected_target_sha", x.fx.C3), upsert("scratch.txt", "again\n")))
			},
			Check: ackIsTip(eph+"scratch", "C3")},
		{Name: "commitPack", Label: "ephemeral-base", Status: 201,
			Old: func(x *nxCtx) nxReq {
				return nxPack(x.p("commit-pack"), packBody(nxMeta("eph2", "ephemeral", true, "ephemeral_base", true, "base_branch", "scratch"), upsert("eph2.txt", "2\n")))
			},
			New: func(x *nxCtx) nxReq {
				return nxPack(x.p("commit-pack"), packBody(nxMeta("eph2", "target_is_ephemeral", true, "base_is_ephemeral", true, "base_branch", "scratch"), upsert("eph2.txt", "2\n")))
			},
			Check: ackIsTip(eph+"eph2", eph+"scratch")},
		{Name: "diffCommit", Status: 201,
			Old: func(x *nxCtx) nxReq {
				return nxPack(x.p("diff-commit"), []byte(diffCommitBody(t0(), nxMeta("feature", "expected_head_sha", x.fx.F), patch, 1<<20)))
			},
			New: func(x *nxCtx) nxReq {
				return nxPack(x.p("diff-commit"), []byte(diffCommitBody(t0(), nxMeta("feature", "expected_target_sha", x.fx.F, "target_is_ephemeral", false, "base_is_ephemeral", false), patch, 1<<20)))
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				ackIsTip("refs/heads/feature", "F")(t, x, resp)
				if got := x.r.git(t, "show", "feature:patched.txt"); got != "one\ntwo" {
					t.Errorf("patched.txt = %q", got)
				}
			}},
		{Name: "merge", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("merge"), map[string]any{"source_branch": "feature", "target_branch": "main", "strategy": "merge", "commit_message": "merge feature", "author": nxSigner})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("merge"), map[string]any{"source_ref": "feature", "target_branch": "main", "strategy": "merge", "commit_message": "merge feature", "author": nxSigner})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				m := nxObj(t, resp)
				main := x.r.tip(t, "refs/heads/main")
				if m["commit_sha"] != main || m["result"] != "merge_commit" {
					t.Fatalf("merge %s; main is %s", resp.Body, main)
				}
				parents := strings.Fields(x.r.git(t, "log", "-1", "--format=%P", main))
				if len(parents) != 2 || parents[1] != x.r.tip(t, "refs/heads/feature") || nxStr(m, "source.sha") != parents[1] || nxStr(m, "target.old_sha") != parents[0] {
					t.Errorf("merge parents %v; response %s", parents, resp.Body)
				}
			}},
		{Name: "merge", Label: "ephemeral-ff", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("merge"), map[string]any{"source_branch": "eph2", "source_is_ephemeral": true, "target_branch": "scratch", "target_is_ephemeral": true, "strategy": "ff_only"})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("merge"), map[string]any{"source_ref": "eph2", "source_is_ephemeral": true, "target_branch": "scratch", "target_is_ephemeral": true, "strategy": "ff_only"})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				tipIs(eph+"scratch", eph+"eph2")(t, x, resp)
				if m := nxObj(t, resp); m["result"] != "fast_forward" || fmt.Sprint(nxValues(m, "source.ephemeral")) != "[true]" {
					t.Errorf("merge %s", resp.Body)
				}
			}},
		{Name: "createTag", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("tags"), map[string]any{"name": "v3", "target": x.fx.F})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("tags"), map[string]any{"name": "v3", "ref": x.fx.F})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				tipIs("refs/tags/v3", "F")(t, x, resp)
				if m := nxObj(t, resp); m["sha"] != x.fx.F || m["name"] != "v3" {
					t.Errorf("createTag %s", resp.Body)
				}
			}},
		{Name: "getTag", Label: "created", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxGet(x.p("tag?name=v3")) },
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				nxWantList(t, "tag.sha", nxStrings(nxObj(t, resp), "tag.sha"), []string{x.fx.F})
			}},
		{Name: "deleteTag", Status: 200,
			Old: func(x *nxCtx) nxReq { return nxWrite("DELETE", x.p("tags"), map[string]any{"name": "release/v1"}) },
			New: func(x *nxCtx) nxReq {
				return nxReq{Method: "DELETE", Path: x.p("tags/" + url.PathEscape("release/v1")), Token: "write"}
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				gone("refs/tags/release/v1")(t, x, resp)
				tipIs("refs/tags/v3", "F")(t, x, resp)
				if m := nxObj(t, resp); m["name"] != "release/v1" {
					t.Errorf("deleteTag name %v", m["name"])
				}
			}},
		{Name: "deleteTag", Label: "annotated", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxWrite("DELETE", x.p("tags"), map[string]any{"name": "v2"}) },
			New:   func(x *nxCtx) nxReq { return nxReq{Method: "DELETE", Path: x.p("tags/v2"), Token: "write"} },
			Check: gone("refs/tags/v2")},
		{Name: "deleteTag", Label: "missing", Status: 404,
			Old: func(x *nxCtx) nxReq { return nxWrite("DELETE", x.p("tags"), map[string]any{"name": "v2"}) },
			New: func(x *nxCtx) nxReq { return nxReq{Method: "DELETE", Path: x.p("tags/v2"), Token: "write"} }},
		{Name: "createNote", Status: 201,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("notes"), map[string]any{"sha": x.fx.C1, "action": "add", "note": "first", "ref": "review", "author": nxSigner})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("notes"), map[string]any{"object_ref": x.fx.C1, "action": "add", "note": "first", "notes_ref": "review", "author": nxSigner})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				if got := x.r.git(t, "notes", "--ref", "review", "show", x.fx.C1); got != "first" {
					t.Errorf("note = %q", got)
				}
				if m := nxObj(t, resp); m["notes_ref"] != "refs/notes/review" || m["new_ref_sha"] != x.r.git(t, "rev-parse", "refs/notes/review") {
					t.Errorf("note write %s", resp.Body)
				}
			}},
		{Name: "appendNote", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("notes"), map[string]any{"sha": x.fx.C1, "action": "append", "note": "second", "ref": "review",
					"expected_ref_sha": x.r.git(t0(), "rev-parse", "refs/notes/review"), "author": nxSigner})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("notes"), map[string]any{"object_ref": x.fx.C1, "action": "append", "note": "second", "notes_ref": "review",
					"expected_notes_ref_sha": x.r.git(t0(), "rev-parse", "refs/notes/review"), "author": nxSigner})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				if got := x.r.git(t, "notes", "--ref", "review", "show", x.fx.C1); !strings.HasPrefix(got, "first") || !strings.HasSuffix(got, "second") {
					t.Errorf("note = %q", got)
				}
			}},
		{Name: "appendNote", Label: "stale-expected", Status: 409,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("notes"), map[string]any{"sha": x.fx.C1, "action": "append", "note": "third", "ref": "review", "expected_ref_sha": x.fx.C1})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("POST", x.p("notes"), map[string]any{"object_ref": x.fx.C1, "action": "append", "note": "third", "notes_ref": "review", "expected_notes_ref_sha": x.fx.C1})
			}},
		{Name: "deleteNote", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("DELETE", x.p("notes"), map[string]any{"sha": x.fx.C1, "ref": "review", "expected_ref_sha": x.r.git(t0(), "rev-parse", "refs/notes/review"), "author": nxSigner})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("DELETE", x.p("notes"), map[string]any{"object_ref": x.fx.C1, "notes_ref": "review", "expected_notes_ref_sha": x.r.git(t0(), "rev-parse", "refs/notes/review"), "author": nxSigner})
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				if out, err := gitOutput(x.r.Dir(t), nil, "notes", "--ref", "review", "show", x.fx.C1); err == nil {
					t.Errorf("note still there: %q", out)
				}
			}},
		{Name: "restoreCommit", Status: 201,
			Old: func(x *nxCtx) nxReq {
				return nxPack(x.p("restore-commit"), ndjsonLine(map[string]any{"metadata": map[string]any{
					"target_branch": "main", "target_commit_sha": x.fx.C1, "author": nxSigner, "commit_message": "restore C1",
					"expected_head_sha": x.r.tip(t0(), "refs/heads/main")}}))
			},
			New: func(x *nxCtx) nxReq {
				return nxPack(x.p("restore-commit"), ndjsonLine(map[string]any{"metadata": map[string]any{
					"target_branch": "main", "base_ref": x.fx.C1, "author": nxSigner, "commit_message": "restore C1",
					"expected_target_sha": x.r.tip(t0(), "refs/heads/main")}}))
			},
			Check: func(t *testing.T, x *nxCtx, resp *response) {
				main := x.r.tip(t, "refs/heads/main")
				if got, want := x.r.git(t, "rev-parse", main+"^{tree}"), x.r.git(t, "rev-parse", x.fx.C1+"^{tree}"); got != want {
					t.Errorf("restored tree %s, want C1's %s", got, want)
				}
				if nxStr(nxObj(t, resp), "commit.commit_sha") != main {
					t.Errorf("ack %s, main %s", resp.Body, main)
				}
			}},
		{Name: "restoreCommit", Label: "stale-expected", Status: 409,
			Old: func(x *nxCtx) nxReq {
				return nxPack(x.p("restore-commit"), ndjsonLine(map[string]any{"metadata": map[string]any{
					"target_branch": "main", "target_commit_sha": x.fx.C2, "author": nxSigner, "expected_head_sha": x.fx.C1}}))
			},
			New: func(x *nxCtx) nxReq {
				return nxPack(x.p("restore-commit"), ndjsonLine(map[string]any{"metadata": map[string]any{
					"target_branch": "main", "base_ref": x.fx.C2, "author": nxSigner, "expected_target_sha": x.fx.C1}}))
			}},
		{Name: "deleteBranch", Status: 200,
			Old:   func(x *nxCtx) nxReq { return nxWrite("DELETE", x.p("branches"), map[string]any{"name": "nb"}) },
			New:   func(x *nxCtx) nxReq { return nxWrite("DELETE", x.p("branches"), map[string]any{"target_branch": "nb"}) },
			Check: gone("refs/heads/nb")},
		{Name: "deleteBranch", Label: "ephemeral", Status: 200,
			Old: func(x *nxCtx) nxReq {
				return nxWrite("DELETE", x.p("branches"), map[string]any{"name": "eph2", "ephemeral": true})
			},
			New: func(x *nxCtx) nxReq {
				return nxWrite("DELETE", x.p("branches"), map[string]any{"target_branch": "eph2", "ephemeral": true})
			},
			Check: gone(eph + "eph2")},
		{Name: "deleteBranch", Label: "missing", Status: 404,
			Old: func(x *nxCtx) nxReq { return nxWrite("DELETE", x.p("branches"), map[string]any{"name": "nb"}) },
			New: func(x *nxCtx) nxReq { return nxWrite("DELETE", x.p("branches"), map[string]any{"target_branch": "nb"}) }},
		{Name: "pullUpstream", Label: "no-upstream", Status: 400,
			Old: func(x *nxCtx) nxReq { return nxWrite("POST", x.p("pull-upstream"), map[string]any{}) }},
	}
}

// t0 is for request builders that run git before a test is at hand; a
// failure there panics, which fails the running test anyway.
func t0() testing.TB { return nxPanicTB{} }

type nxPanicTB struct{ testing.TB }

func (nxPanicTB) Helper()                   {}
func (nxPanicTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (nxPanicTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// nxRunWrites runs every write step on a (v1) and b (next), two forks of
// one fixture, and compares what each step left behind.
func nxRunWrites(t *testing.T, a, b *testRepo, fx *nxFixture) {
	if !nxSameShape(t, a, b) {
		t.Fatal("the forks differ before any write")
	}
	for _, s := range nxWriteSteps() {
		name := s.Name
		if s.Label != "" {
			name += "/" + s.Label
		}
		diverged := false
		t.Run(name, func(t *testing.T) {
			var resps []*response
			for i, fam := range nxFams {
				r := []*testRepo{a, b}[i]
				x := &nxCtx{r: r, fam: fam, fx: fx}
				before := nxShape(t, r)
				q := s.req(x)
				resp := nxDo(t, x, q)
				resps = append(resps, resp)
				if resp.Status != s.Status {
					t.Errorf("%s: %s %s: status %d, want %d; body %s", fam, q.Method, q.Path, resp.Status, s.Status, resp.Body)
				}
				nxCheckResponse(t, s.Name, resp)
				if resp.Status >= 400 {
					if after := nxShape(t, r); fmt.Sprint(after) != fmt.Sprint(before) {
						t.Errorf("%s: a failed call changed the repository", fam)
					}
					continue
				}
				if s.Check != nil {
					s.Check(t, x, resp)
				}
			}
			if resps[0].Status != resps[1].Status {
				t.Errorf("statuses differ: v1 %s, next %s", resps[0], resps[1])
			}
			if !nxSameShape(t, a, b) {
				diverged = true
			}
		})
		if diverged {
			t.Fatalf("stopping after %s: the repositories diverged", name)
		}
	}
	if out, err := gitOutput(a.Dir(t), nil, "fsck", "--strict", "--no-progress"); err != nil {
		t.Errorf("fsck %s: %v %s", a.ID, err, out)
	}
	if out, err := gitOutput(b.Dir(t), nil, "fsck", "--strict", "--no-progress"); err != nil {
		t.Errorf("fsck %s: %v %s", b.ID, err, out)
	}
}

// ---------------------------------------------------------------------------
// Tests

// TestNextRoutes_parity sends every SDK call of API-next.md §1 as 1.17.1
// and as the newest SDKs send it and compares the results: reads on one
// repository (identical bodies, checked against git), writes on two forks
// of it (identical refs and content, checked against git).
func TestNextRoutes_parity(t *testing.T) {
	t.Parallel()
	e := start(t)
	src := nxCreate(t, e, uniqueID("parity"), nxOld, map[string]any{"default_branch": "main"})
	fx := nxBuild(t, src, nxOld)
	t.Run("reads", func(t *testing.T) { nxRunReads(t, src, fx) })
	a := nxFork(t, e, src, src.ID+"-v1", nxOld)
	b := nxFork(t, e, src, src.ID+"-next", nxNew)
	t.Run("writes", func(t *testing.T) { nxRunWrites(t, a, b, fx) })
}

// TestNextRoutes_repoLifecycle: createRepo, findOne, listRepos and
// deleteRepo in both spellings.
func TestNextRoutes_repoLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t)
	ids := map[nxFam]string{nxOld: "life/old repo", nxNew: "life/new repo"}
	repos := map[nxFam]*testRepo{}
	for _, fam := range nxFams {
		r := nxCreate(t, e, ids[fam], fam, map[string]any{"default_branch": "trunk"})
		repos[fam] = r
		if got := r.git(t, "symbolic-ref", "HEAD"); got != "refs/heads/trunk" {
			t.Errorf("%s: HEAD = %s", fam, got)
		}
		// A second create is a 409 in both spellings.
		path := map[nxFam]string{nxOld: "/api/v1/repos", nxNew: "/api/repos"}[fam]
		resp := e.do(t, "POST", path, r.Admin, jsonBody(t, map[string]any{"default_branch": "trunk"}))
		wantError(t, resp, http.StatusConflict)
	}
	// findOne: both spellings agree on each repository.
	for _, r := range repos {
		var bodies []string
		for _, fam := range nxFams {
			x := &nxCtx{r: r, fam: fam}
			q := nxGet("/api/v1/repo")
			if fam == nxNew {
				q = nxGet("/api/repos/" + url.PathEscape(r.ID))
			}
			resp := nxDo(t, x, q)
			wantStatus(t, resp, http.StatusOK)
			nxCheckResponse(t, "findOne", resp)
			if m := nxObj(t, resp); m["repo_id"] != r.ID || m["default_branch"] != "trunk" {
				t.Errorf("findOne %s: %s", r.ID, resp.Body)
			}
			bodies = append(bodies, string(resp.Body))
		}
		if bodies[0] != bodies[1] {
			t.Errorf("findOne %s: v1 %s, next %s", r.ID, bodies[0], bodies[1])
		}
	}
	// listRepos.
	org := e.Token("org", auth.ScopeOrgRead)
	for _, q := range []string{"?limit=100", "?q=new", "?limit=1"} {
		v1 := e.do(t, "GET", "/api/v1/repos"+q, org, nil)
		next := e.do(t, "GET", "/api/repos"+q, org, nil)
		wantStatus(t, v1, http.StatusOK)
		wantStatus(t, next, http.StatusOK)
		nxCheckResponse(t, "listRepos", v1)
		nxCheckResponse(t, "listRepos", next)
		if !bytes.Equal(v1.Body, next.Body) {
			t.Errorf("listRepos%s: v1 %s, next %s", q, v1.Body, next.Body)
		}
		got := nxStrings(nxObj(t, next), "repos[].repo_id")
		want := map[string][]string{"?limit=100": {ids[nxOld], ids[nxNew]}, "?q=new": {ids[nxNew]}, "?limit=1": {ids[nxOld]}}[q]
		nxWantList(t, "listRepos"+q, got, want)
	}
	// deleteRepo, then findOne is a 404 and a second delete a 409, in both
	// spellings.
	for _, fam := range nxFams {
		r := repos[fam]
		dir := r.Dir(t)
		x := &nxCtx{r: r, fam: fam}
		del := nxReq{Method: "DELETE", Path: "/api/v1/repos/delete", Token: "admin"}
		find := nxGet("/api/v1/repo")
		if fam == nxNew {
			del.Path = "/api/repos/" + url.PathEscape(r.ID)
			find.Path = del.Path
		}
		resp := nxDo(t, x, del)
		wantStatus(t, resp, http.StatusOK)
		nxCheckResponse(t, "deleteRepo", resp)
		if m := nxObj(t, resp); m["repo_id"] != r.ID {
			t.Errorf("deleteRepo: %s", resp.Body)
		}
		if _, err := gitOutput(dir, nil, "rev-parse", "--git-dir"); err == nil {
			t.Errorf("%s: the repository directory %s is still there", fam, dir)
		}
		for _, f := range nxFams {
			y := &nxCtx{r: r, fam: f}
			q := nxGet("/api/v1/repo")
			dq := nxReq{Method: "DELETE", Path: "/api/v1/repos/delete", Token: "admin"}
			if f == nxNew {
				q.Path = "/api/repos/" + url.PathEscape(r.ID)
				dq.Path = q.Path
			}
			wantError(t, nxDo(t, y, q), http.StatusNotFound)
			wantError(t, nxDo(t, y, dq), http.StatusConflict)
		}
	}
	// The deleted repositories are gone from the listing.
	if got := nxStrings(nxObj(t, e.do(t, "GET", "/api/repos", org, nil)), "repos[].repo_id"); len(got) != 0 {
		t.Errorf("listRepos after delete: %v", got)
	}
}

// TestNextRoutes_escapedNames: repositories whose names need escaping work
// on every route of the path-scoped family; a path naming another
// repository than the token is a 403 that changes nothing; an unescaped
// '/' never reaches the repository.
func TestNextRoutes_escapedNames(t *testing.T) {
	t.Parallel()
	e := start(t)
	names := []string{"team/app", "with space", "100%real", "a%2Fb"}
	repos := map[string]*testRepo{}
	for _, name := range names {
		t.Run(url.PathEscape(name), func(t *testing.T) {
			r := nxCreate(t, e, name, nxNew, map[string]any{"default_branch": "main"})
			repos[name] = r
			fx := nxBuild(t, r, nxNew)
			t.Run("reads", func(t *testing.T) { nxRunReads(t, r, fx) })
			a := nxFork(t, e, r, name+" v1", nxOld)
			b := nxFork(t, e, r, name+"/next%", nxNew)
			t.Run("writes", func(t *testing.T) { nxRunWrites(t, a, b, fx) })
		})
	}
	for _, n := range names {
		if repos[n] == nil {
			t.Fatalf("repository %q was not set up", n)
		}
	}

	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, n := range names {
			out[n] = repos[n].refs(t)
		}
		return out
	}
	unchanged := func(t *testing.T, before map[string]string) {
		t.Helper()
		for n, refs := range snapshot() {
			if refs != before[n] {
				t.Errorf("%s changed:\nbefore %s\nafter %s", n, before[n], refs)
			}
		}
		for _, n := range names {
			x := &nxCtx{r: repos[n], fam: nxNew}
			wantStatus(t, nxDo(t, x, nxGet("/api/repos/"+url.PathEscape(n))), http.StatusOK)
		}
	}

	// The token's repository and the path's disagree: 403, nothing changes.
	t.Run("mismatch", func(t *testing.T) {
		before := snapshot()
		owner := repos["team/app"]
		other := "with space"
		for _, c := range []struct {
			label, method, path string
			body                []byte
			ndjson              bool
		}{
			{"other-repo-read", "GET", "/api/repos/" + url.PathEscape(other) + "/branches", nil, false},
			{"other-repo-findOne", "GET", "/api/repos/" + url.PathEscape(other), nil, false},
			{"other-repo-createBranch", "POST", "/api/repos/" + url.PathEscape(other) + "/branches/create", nxJSON(map[string]any{"target_branch": "intruder", "base_ref": "main"}), false},
			{"other-repo-deleteBranch", "DELETE", "/api/repos/" + url.PathEscape(other) + "/branches", nxJSON(map[string]any{"target_branch": "feature"}), false},
			{"other-repo-commitPack", "POST", "/api/repos/" + url.PathEscape(other) + "/commit-pack", packBody(nxMeta("intruder"), upsert("x", "x")), true},
			{"other-repo-deleteTag", "DELETE", "/api/repos/" + url.PathEscape(other) + "/tags/v1", nil, false},
			{"other-repo-deleteRepo", "DELETE", "/api/repos/" + url.PathEscape(other), nil, false},
			{"other-repo-merge", "POST", "/api/repos/" + url.PathEscape(other) + "/merge", nxJSON(map[string]any{"source_ref": "feature", "target_branch": "main"}), false},
			{"double-escaped", "GET", "/api/repos/team%252Fapp/branches", nil, false},
		} {
			t.Run(c.label, func(t *testing.T) {
				x := &nxCtx{r: owner, fam: nxNew}
				tok := e.TokenWith(auth.Claims{Repo: owner.ID, Scopes: []auth.Scope{auth.ScopeGitRead, auth.ScopeGitWrite, auth.ScopeRepoWrite}})
				resp := nxDo(t, x, nxReq{Method: c.method, Path: c.path, Body: c.body, NDJSON: c.ndjson, Token: tok})
				wantError(t, resp, http.StatusForbidden)
			})
		}
		// A literal "%2F" in a name: the path must carry it escaped.
		t.Run("literal-percent", func(t *testing.T) {
			lit := repos["a%2Fb"]
			x := &nxCtx{r: lit, fam: nxNew}
			wantError(t, nxDo(t, x, nxGet("/api/repos/a%2Fb/branches")), http.StatusForbidden) // decodes to a/b
			resp := nxDo(t, x, nxGet("/api/repos/a%252Fb/branches"))
			wantStatus(t, resp, http.StatusOK)
			nxCheckResponse(t, "listBranches", resp)
			pct := repos["100%real"]
			y := &nxCtx{r: pct, fam: nxNew}
			wantStatus(t, nxDo(t, y, nxGet("/api/repos/100%25real/branches")), http.StatusOK)
		})
		// "team/app/" is not the claim "team/app": a 403 like any other
		// mismatch (API-next.md §1, SKILL.md: the path name must match
		// the claim).
		t.Run("trailing-escaped-slash", func(t *testing.T) {
			x := &nxCtx{r: owner, fam: nxNew}
			resp := nxDo(t, x, nxGet("/api/repos/team%2Fapp%2F/branches"))
			if resp.Status != http.StatusForbidden {
				t.Errorf("GET /api/repos/team%%2Fapp%%2F/branches with a token for team/app: %s; want 403 (the path names \"team/app/\", not the claim). "+
					"The server's middleware collapses \"//\" in the decoded path and drops RawPath, so escaped slashes next to a '/' are lost", resp)
			}
		})
		unchanged(t, before)
	})

	// Names whose escaped form decodes to adjacent slashes still name one
	// repository on the path-scoped family.
	t.Run("double-slash-name", func(t *testing.T) {
		for _, name := range []string{"dbl//slash", "trail/"} {
			r := nxCreate(t, e, name, nxNew, map[string]any{"default_branch": "main"})
			r.commit(t, newMeta("main"), upsert("a.txt", "a\n"))
			want := r.tip(t, "refs/heads/main")
			for _, fam := range nxFams {
				x := &nxCtx{r: r, fam: fam}
				resp := nxDo(t, x, nxGet(x.p("branch?name=main")))
				if resp.Status != http.StatusOK || nxStr(nxObj(t, resp), "branch.head_sha") != want {
					t.Errorf("%s: GET %s (repository %q): %s; want 200 with head_sha %s. "+
						"The server's middleware collapses \"//\" in the decoded path and drops RawPath, so the escaped name is lost",
						fam, x.p("branch?name=main"), name, resp, want)
				}
			}
		}
	})

	// An unescaped '/' splits the name: never team/app.
	t.Run("unescaped-slash", func(t *testing.T) {
		before := snapshot()
		owner := repos["team/app"]
		x := &nxCtx{r: owner, fam: nxNew}
		tok := e.TokenWith(auth.Claims{Repo: owner.ID, Scopes: []auth.Scope{auth.ScopeGitRead, auth.ScopeGitWrite, auth.ScopeRepoWrite}})
		for _, c := range []struct {
			method, path string
			body         []byte
		}{
			{"GET", "/api/repos/team/app/branches", nil},
			{"GET", "/api/repos/team/app", nil},
			{"GET", "/api/repos/team/app/commits", nil},
			{"DELETE", "/api/repos/team/app", nil},
			{"POST", "/api/repos/team/app/branches/create", nxJSON(map[string]any{"target_branch": "intruder", "base_ref": "main"})},
			{"DELETE", "/api/repos/team/app/branches", nxJSON(map[string]any{"target_branch": "feature"})},
			{"DELETE", "/api/repos/team/tags/app", nil},
		} {
			resp := nxDo(t, x, nxReq{Method: c.method, Path: c.path, Body: c.body, Token: tok})
			if resp.Status < 400 {
				t.Errorf("%s %s reached a handler: %s", c.method, c.path, resp)
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(resp.Body, &m); err != nil || m["error"] == nil {
				t.Errorf("%s %s: no error envelope: %s", c.method, c.path, resp)
			}
		}
		unchanged(t, before)
	})
}

// TestNextRoutes_vocabularyPrecedence: when a request carries both the
// 1.17.1 and the standard name of a field with different values, the
// standard name wins, on both route families.
func TestNextRoutes_vocabularyPrecedence(t *testing.T) {
	t.Parallel()
	e := start(t)
	r := nxCreate(t, e, uniqueID("vocab"), nxOld, map[string]any{"default_branch": "main"})
	fx := nxBuild(t, r, nxOld)
	const eph = "refs/namespaces/ephemeral/refs/heads/"
	for _, fam := range nxFams {
		x := &nxCtx{r: r, fam: fam, fx: fx}
		br := func(name string) string { return name + "-" + string(fam) }
		mk := func(t *testing.T, name, base string) string {
			t.Helper()
			resp := nxDo(t, x, nxWrite("POST", x.p("branches/create"), map[string]any{"target_branch": name, "base_ref": base}))
			wantStatus(t, resp, http.StatusOK)
			return r.tip(t, "refs/heads/"+name)
		}
		t.Run(string(fam), func(t *testing.T) {
			t.Run("getCommit", func(t *testing.T) {
				resp := nxDo(t, x, nxGet(x.p("commit?ref="+fx.C1+"&sha="+fx.C2)))
				wantStatus(t, resp, http.StatusOK)
				nxCheckResponse(t, "getCommit", resp)
				nxWantList(t, "commit.sha", nxStrings(nxObj(t, resp), "commit.sha"), []string{fx.C1})
			})
			t.Run("listCommits", func(t *testing.T) {
				resp := nxDo(t, x, nxGet(x.p("commits?ref=feature&branch=main")))
				wantStatus(t, resp, http.StatusOK)
				nxCheckResponse(t, "listCommits", resp)
				nxWantList(t, "commits[].sha", nxStrings(nxObj(t, resp), "commits[].sha"), nxLines(r.git(t, "rev-list", "feature")))
			})
			t.Run("getNote", func(t *testing.T) {
				resp := nxDo(t, x, nxGet(x.p("notes?object_ref="+fx.C2+"&sha="+fx.C1+"&notes_ref=review&ref=commits")))
				wantStatus(t, resp, http.StatusOK)
				nxCheckResponse(t, "getNote", resp)
				if m := nxObj(t, resp); m["sha"] != fx.C2 || strings.TrimSpace(fmt.Sprint(m["note"])) != "review note" {
					t.Errorf("getNote %s, want the review note on C2", resp.Body)
				}
			})
			t.Run("getCommitDiff", func(t *testing.T) {
				resp := nxDo(t, x, nxGet(x.p("diff?ref="+fx.F+"&sha="+fx.C1+"&base_ref="+fx.C1+"&baseSha="+fx.F+"&git_apply_compatible=false&gitApplyCompatible=bogus")))
				wantStatus(t, resp, http.StatusOK)
				nxCheckResponse(t, "getCommitDiff", resp)
				if m := nxObj(t, resp); m["sha"] != fx.F || m["base_sha"] != fx.C1 {
					t.Errorf("diff sha %v base %v, want %s %s", m["sha"], m["base_sha"], fx.F, fx.C1)
				}
			})
			t.Run("createTag", func(t *testing.T) {
				resp := nxDo(t, x, nxWrite("POST", x.p("tags"), map[string]any{"name": br("prec"), "ref": fx.C1, "target": fx.C2}))
				nxCheckResponse(t, "createTag", resp)
				if got := r.tip(t, "refs/tags/"+br("prec")); got != fx.C1 {
					t.Errorf("tag at %q, want ref's %s (target was %s); %s", got, fx.C1, fx.C2, resp)
				}
			})
			t.Run("createBranch", func(t *testing.T) {
				resp := nxDo(t, x, nxWrite("POST", x.p("branches/create"), map[string]any{"target_branch": br("cb"), "base_ref": fx.C1, "base_branch": "feature"}))
				wantStatus(t, resp, http.StatusOK)
				nxCheckResponse(t, "createBranch", resp)
				if got := r.tip(t, "refs/heads/"+br("cb")); got != fx.C1 {
					t.Errorf("branch at %q, want base_ref's %s", got, fx.C1)
				}
			})
			t.Run("deleteBranch", func(t *testing.T) {
				keep, drop := br("keep"), br("drop")
				mk(t, keep, "main")
				mk(t, drop, "main")
				resp := nxDo(t, x, nxWrite("DELETE", x.p("branches"), map[string]any{"target_branch": drop, "name": keep}))
				wantStatus(t, resp, http.StatusOK)
				nxCheckResponse(t, "deleteBranch", resp)
				if r.tip(t, "refs/heads/"+drop) != "" || r.tip(t, "refs/heads/"+keep) != fx.C3 {
					t.Errorf("after delete: %s=%q %s=%q; want only %s deleted", drop, r.tip(t, "refs/heads/"+drop), keep, r.tip(t, "refs/heads/"+keep), drop)
				}
				if m := nxObj(t, resp); m["target_branch"] != drop || m["name"] != drop {
					t.Errorf("deleteBranch response %s, want both aliases = %s", resp.Body, drop)
				}
			})
			t.Run("merge", func(t *testing.T) {
				target := br("mt")
				mk(t, target, fx.C3)
				decoy := br("decoy")
				mk(t, decoy, fx.C1)
				resp := nxDo(t, x, nxWrite("POST", x.p("merge"), map[string]any{"source_ref": "feature", "source_branch": decoy, "target_branch": target, "strategy": "merge", "author": nxSigner}))
				wantStatus(t, resp, http.StatusOK)
				nxCheckResponse(t, "merge", resp)
				m := nxObj(t, resp)
				if nxStr(m, "source.sha") != fx.F || nxStr(m, "source.ref") != "feature" || nxStr(m, "source.branch") != "feature" {
					t.Errorf("merge source %v, want feature at %s", m["source"], fx.F)
				}
				parents := strings.Fields(r.git(t, "log", "-1", "--format=%P", "refs/heads/"+target))
				nxWantList(t, "merge parents", parents, []string{fx.C3, fx.F})
			})
			t.Run("commitPack/expected-sha", func(t *testing.T) {
				b := br("cp")
				tip := mk(t, b, "main")
				ok := nxDo(t, x, nxPack(x.p("commit-pack"), packBody(nxMeta(b, "expected_target_sha", tip, "expected_head_sha", fx.C1), upsert("p.txt", "1\n"))))
				nxCheckResponse(t, "commitPack", ok)
				ack := wantAck(t, ok)
				if r.tip(t, "refs/heads/"+b) != ack.Commit.CommitSHA || r.git(t, "rev-parse", ack.Commit.CommitSHA+"^") != tip {
					t.Errorf("commit-pack with the right expected_target_sha: %s", ok)
				}
				before := r.refs(t)
				bad := nxDo(t, x, nxPack(x.p("commit-pack"), packBody(nxMeta(b, "expected_target_sha", tip, "expected_head_sha", ack.Commit.CommitSHA), upsert("p.txt", "2\n"))))
				nxCheckResponse(t, "commitPack", bad)
				wantRefFailure(t, bad, http.StatusConflict, "precondition_failed")
				if r.refs(t) != before {
					t.Errorf("a refused commit-pack changed refs")
				}
			})
			t.Run("commitPack/ephemeral-false", func(t *testing.T) {
				b := br("normal")
				resp := nxDo(t, x, nxPack(x.p("commit-pack"), packBody(nxMeta(b, "target_is_ephemeral", false, "ephemeral", true, "base_branch", "main"), upsert("n.txt", "n\n"))))
				nxCheckResponse(t, "commitPack", resp)
				ack := wantAck(t, resp)
				if r.tip(t, "refs/heads/"+b) != ack.Commit.CommitSHA || r.tip(t, eph+b) != "" {
					t.Errorf("target_is_ephemeral:false + ephemeral:true: normal %q ephemeral %q, want a normal branch at %s", r.tip(t, "refs/heads/"+b), r.tip(t, eph+b), ack.Commit.CommitSHA)
				}
				e2 := br("eph")
				resp = nxDo(t, x, nxPack(x.p("commit-pack"), packBody(nxMeta(e2, "target_is_ephemeral", true, "ephemeral", false, "base_branch", "main"), upsert("n.txt", "n\n"))))
				ack = wantAck(t, resp)
				if r.tip(t, eph+e2) != ack.Commit.CommitSHA || r.tip(t, "refs/heads/"+e2) != "" {
					t.Errorf("target_is_ephemeral:true + ephemeral:false: want an ephemeral branch")
				}
			})
			t.Run("commitPack/base-ephemeral-false", func(t *testing.T) {
				b := br("nb")
				resp := nxDo(t, x, nxPack(x.p("commit-pack"), packBody(nxMeta(b, "base_is_ephemeral", false, "ephemeral_base", true, "base_branch", "feature"), upsert("n.txt", "n\n"))))
				nxCheckResponse(t, "commitPack", resp)
				ack := wantAck(t, resp)
				if got := r.git(t, "rev-parse", ack.Commit.CommitSHA+"^"); got != fx.F {
					t.Errorf("base resolved to %s, want the normal feature %s", got, fx.F)
				}
			})
			t.Run("diffCommit", func(t *testing.T) {
				b := br("dc")
				tip := mk(t, b, "main")
				patch := "diff --git a/d.txt b/d.txt\nnew file mode 100644\n--- /dev/null\n+++ b/d.txt\n@@ -0,0 +1 @@\n+d\n"
				resp := nxDo(t, x, nxPack(x.p("diff-commit"), []byte(diffCommitBody(t, nxMeta(b, "expected_target_sha", tip, "expected_head_sha", fx.C1, "target_is_ephemeral", false, "ephemeral", true), patch, 1<<20))))
				nxCheckResponse(t, "diffCommit", resp)
				ack := wantAck(t, resp)
				if r.tip(t, "refs/heads/"+b) != ack.Commit.CommitSHA || r.tip(t, eph+b) != "" {
					t.Errorf("diff-commit wrote normal %q ephemeral %q", r.tip(t, "refs/heads/"+b), r.tip(t, eph+b))
				}
			})
			t.Run("restoreCommit", func(t *testing.T) {
				b := br("rs")
				tip := mk(t, b, "main")
				resp := nxDo(t, x, nxPack(x.p("restore-commit"), ndjsonLine(map[string]any{"metadata": map[string]any{
					"target_branch": b, "base_ref": fx.C1, "target_commit_sha": fx.C2, "author": nxSigner,
					"expected_target_sha": tip, "expected_head_sha": fx.C1}})))
				nxCheckResponse(t, "restoreCommit", resp)
				ack := wantAck(t, resp)
				if got, want := r.git(t, "rev-parse", ack.Commit.CommitSHA+"^{tree}"), r.git(t, "rev-parse", fx.C1+"^{tree}"); got != want {
					t.Errorf("restored tree %s, want base_ref's (C1) %s", got, want)
				}
			})
			t.Run("writeNote", func(t *testing.T) {
				nref := br("prec")
				resp := nxDo(t, x, nxWrite("POST", x.p("notes"), map[string]any{"object_ref": fx.C3, "sha": fx.C1, "action": "add", "note": "precedence",
					"notes_ref": nref, "ref": "commits"}))
				nxCheckResponse(t, "createNote", resp)
				if resp.Status/100 != 2 {
					t.Fatalf("note write: %s", resp)
				}
				if got := r.git(t, "notes", "--ref", nref, "show", fx.C3); got != "precedence" {
					t.Errorf("note on C3 in %s = %q", nref, got)
				}
				if got := r.git(t, "notes", "show", fx.C1); got != "note one" {
					t.Errorf("the default ref's note on C1 changed: %q", got)
				}
				// expected_notes_ref_sha right, expected_ref_sha wrong: accepted.
				cur := r.git(t, "rev-parse", "refs/notes/"+nref)
				resp = nxDo(t, x, nxWrite("POST", x.p("notes"), map[string]any{"object_ref": fx.C3, "sha": fx.C1, "action": "append", "note": "more",
					"notes_ref": nref, "ref": "commits", "expected_notes_ref_sha": cur, "expected_ref_sha": fx.C1}))
				nxCheckResponse(t, "appendNote", resp)
				wantStatus(t, resp, http.StatusOK)
				if got := r.git(t, "notes", "--ref", nref, "show", fx.C3); !strings.HasPrefix(got, "precedence") || !strings.HasSuffix(got, "more") {
					t.Errorf("appended note on C3 = %q", got)
				}
				// expected_notes_ref_sha wrong, expected_ref_sha right: refused.
				cur = r.git(t, "rev-parse", "refs/notes/"+nref)
				resp = nxDo(t, x, nxWrite("POST", x.p("notes"), map[string]any{"object_ref": fx.C3, "action": "append", "note": "refused",
					"notes_ref": nref, "expected_notes_ref_sha": fx.C1, "expected_ref_sha": cur}))
				nxCheckResponse(t, "appendNote", resp)
				if resp.Status != http.StatusConflict || r.git(t, "rev-parse", "refs/notes/"+nref) != cur {
					t.Errorf("append with a stale expected_notes_ref_sha: %s; notes ref moved: %v", resp, r.git(t, "rev-parse", "refs/notes/"+nref) != cur)
				}
				resp = nxDo(t, x, nxWrite("DELETE", x.p("notes"), map[string]any{"object_ref": fx.C3, "sha": fx.C1, "notes_ref": nref, "ref": "commits",
					"expected_notes_ref_sha": cur, "expected_ref_sha": fx.C1}))
				nxCheckResponse(t, "deleteNote", resp)
				wantStatus(t, resp, http.StatusOK)
				if _, err := gitOutput(r.Dir(t), nil, "notes", "--ref", nref, "show", fx.C3); err == nil {
					t.Errorf("note on C3 not deleted")
				}
				if got := r.git(t, "notes", "show", fx.C1); got != "note one" {
					t.Errorf("the default ref's note on C1 changed: %q", got)
				}
			})
		})
	}
}
