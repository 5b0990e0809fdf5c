package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/leakcheck"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/servertest"
)

// zeroSHA is what a created ref reports as its old value (spec §4.3).
var zeroSHA = strings.Repeat("0", 40)

// maxChunk is the largest decoded blob chunk the SDK sends (spec §5.6.3).
const maxChunk = 4 << 20

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

// env is a running server plus what the tests need to look behind it.
type env struct {
	*servertest.Server

	storeOnce sync.Once
	store     *metadata.SQLiteStore
	storeErr  error
}

// start runs a server for the test (and its subtests).
func start(t *testing.T, opts ...servertest.Option) *env {
	t.Helper()
	e := &env{Server: servertest.Start(t, opts...)}
	e.Client = validated(t, e.Client)
	t.Cleanup(func() {
		if e.store != nil {
			e.store.Close()
		}
	})
	return e
}

// response is a fully read HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string {
	return fmt.Sprintf("HTTP %d %s", r.Status, r.Body)
}

// send performs a request without failing the test, so goroutines other
// than the test's own can use it.
func (e *env) send(method, path, token string, body io.Reader, header ...string) (*response, error) {
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.roundTrip(req)
}

func (e *env) roundTrip(req *http.Request) (*response, error) {
	resp, err := e.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response of %s %s: %w", req.Method, req.URL.Path, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// do performs a request and reads the whole response.
func (e *env) do(t testing.TB, method, path, token string, body io.Reader, header ...string) *response {
	t.Helper()
	r, err := e.send(method, path, token, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// jsonBody encodes v for a request body.
func jsonBody(t testing.TB, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// wantStatus fails the test unless r has status want.
func wantStatus(t testing.TB, r *response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status = %d, want %d; body: %s", r.Status, want, r.Body)
	}
}

// decode unmarshals a JSON response into v after checking its content type.
func decode(t testing.TB, r *response, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json (status %d)", ct, r.Status)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// object decodes a JSON object response.
func object(t testing.TB, r *response) map[string]any {
	t.Helper()
	var m map[string]any
	decode(t, r, &m)
	return m
}

// wantError checks the error envelope of spec §4.1: JSON with a non-empty
// string "error".
func wantError(t testing.TB, r *response, status int) map[string]any {
	t.Helper()
	wantStatus(t, r, status)
	m := object(t, r)
	msg, ok := m["error"].(string)
	if !ok || strings.TrimSpace(msg) == "" {
		t.Fatalf("error envelope: %q is not a non-empty string in %s", m["error"], r.Body)
	}
	return m
}

// refResult is the result object of the commit family (spec §5.6.5/6).
type refResult struct {
	Branch  string `json:"branch"`
	OldSHA  string `json:"old_sha"`
	NewSHA  string `json:"new_sha"`
	Success bool   `json:"success"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// commitAck is the success body of commit-pack and restore-commit.
type commitAck struct {
	Commit struct {
		CommitSHA    string  `json:"commit_sha"`
		TreeSHA      string  `json:"tree_sha"`
		TargetBranch string  `json:"target_branch"`
		PackBytes    float64 `json:"pack_bytes"`
		BlobCount    float64 `json:"blob_count"`
	} `json:"commit"`
	Result refResult `json:"result"`
}

// refFailure is the failure body of the commit family (spec §5.6.6).
type refFailure struct {
	Error  string    `json:"error"`
	Result refResult `json:"result"`
}

// wantAck checks a commit-family success response against the schema of
// spec §5.6.5 and returns it.
func wantAck(t testing.TB, r *response) commitAck {
	t.Helper()
	if r.Status < 200 || r.Status > 299 {
		t.Fatalf("status = %d, want 2xx; body: %s", r.Status, r.Body)
	}
	m := object(t, r)
	c, _ := m["commit"].(map[string]any)
	res, _ := m["result"].(map[string]any)
	if c == nil || res == nil {
		t.Fatalf("ack lacks commit or result: %s", r.Body)
	}
	for _, k := range []string{"commit_sha", "tree_sha", "target_branch"} {
		if _, ok := c[k].(string); !ok {
			t.Errorf("commit.%s = %#v, want a string", k, c[k])
		}
	}
	for _, k := range []string{"pack_bytes", "blob_count"} {
		if _, ok := c[k].(float64); !ok {
			t.Errorf("commit.%s = %#v, want a number", k, c[k])
		}
	}
	for _, k := range []string{"branch", "old_sha", "new_sha", "status"} {
		if _, ok := res[k].(string); !ok {
			t.Errorf("result.%s = %#v, want a string", k, res[k])
		}
	}
	if res["success"] != true {
		t.Errorf("result.success = %#v, want true", res["success"])
	}
	if v, ok := res["message"]; ok {
		if _, isStr := v.(string); !isStr {
			t.Errorf("result.message = %#v, want a string or absent (never null)", v)
		}
	}
	var ack commitAck
	decode(t, r, &ack)
	if ack.Result.Status != "ok" {
		t.Errorf("result.status = %q, want ok", ack.Result.Status)
	}
	if ack.Result.NewSHA != ack.Commit.CommitSHA {
		t.Errorf("result.new_sha %s != commit.commit_sha %s", ack.Result.NewSHA, ack.Commit.CommitSHA)
	}
	if !isHex40(ack.Commit.CommitSHA) || !isHex40(ack.Commit.TreeSHA) || !isHex40(ack.Result.OldSHA) {
		t.Errorf("ack SHAs are not 40-hex: %s", r.Body)
	}
	return ack
}

// wantRefFailure checks a non-2xx commit-family response (spec §5.6.6):
// the error envelope plus result.status, and no null in result.
func wantRefFailure(t testing.TB, r *response, status int, label string) refFailure {
	t.Helper()
	m := wantError(t, r, status)
	res, ok := m["result"].(map[string]any)
	if !ok {
		t.Fatalf("failure body has no result object: %s", r.Body)
	}
	for k, v := range res {
		if v == nil {
			t.Errorf("result.%s is null; optional fields must be omitted (spec §5.6.6)", k)
		}
	}
	var f refFailure
	decode(t, r, &f)
	if f.Result.Status != label {
		t.Errorf("result.status = %q, want %q; body: %s", f.Result.Status, label, r.Body)
	}
	if f.Result.Success {
		t.Errorf("result.success = true on a failure")
	}
	return f
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Repositories

var repoSeq atomic.Int64

// testRepo is a repository created through the API.
type testRepo struct {
	e     *env
	ID    string
	Read  string // git:read
	Write string // git:write
	Admin string // repo:write
}

// uniqueID returns a fresh repository id containing a '/'.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s/r%d-%d", prefix, repoSeq.Add(1), time.Now().UnixNano()%1e6)
}

// repoFor returns a handle with tokens for an existing (or future) id.
func (e *env) repoFor(id string) *testRepo {
	return &testRepo{
		e:     e,
		ID:    id,
		Read:  e.Token(id, auth.ScopeGitRead),
		Write: e.Token(id, auth.ScopeGitWrite),
		Admin: e.Token(id, auth.ScopeRepoWrite),
	}
}

// newRepo creates an empty repository whose default branch is main.
func (e *env) newRepo(t testing.TB) *testRepo {
	t.Helper()
	return e.newRepoWith(t, uniqueID("t"), map[string]any{"default_branch": "main"})
}

// newRepoWith creates repository id with the given POST /repos body.
func (e *env) newRepoWith(t testing.TB, id string, body map[string]any) *testRepo {
	t.Helper()
	r := e.repoFor(id)
	resp := e.do(t, "POST", "/api/v1/repos", r.Admin, jsonBody(t, body))
	wantStatus(t, resp, http.StatusCreated)
	return r
}

// seededRepo creates a repository with one commit on main holding files.
func (e *env) seededRepo(t testing.TB, files ...fileOp) (*testRepo, string) {
	t.Helper()
	r := e.newRepo(t)
	if len(files) == 0 {
		files = []fileOp{upsert("README.md", "hello\n")}
	}
	ack := r.commit(t, newMeta("main"), files...)
	return r, ack.Commit.CommitSHA
}

// Dir is the repository's directory on disk, found through the metadata
// store the server writes (the storage key is random, spec-invisible).
func (r *testRepo) Dir(t testing.TB) string {
	t.Helper()
	e := r.e
	e.storeOnce.Do(func() {
		e.store, e.storeErr = metadata.OpenSQLite(filepath.Join(e.DataDir, "strata.db"))
	})
	if e.storeErr != nil {
		t.Fatalf("open metadata store: %v", e.storeErr)
	}
	m, err := e.store.Repo(context.Background(), e.Org, r.ID)
	if err != nil {
		t.Fatalf("look up %s: %v", r.ID, err)
	}
	dir := filepath.Join(e.DataDir, "repos", m.StorageKey[:2], m.StorageKey+".git")
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		t.Fatalf("repository %s is not at %s: %v", r.ID, dir, err)
	}
	return dir
}

// git runs git on the repository's directory and returns trimmed stdout.
func (r *testRepo) git(t testing.TB, args ...string) string {
	t.Helper()
	return gitRun(t, r.Dir(t), nil, args...)
}

// refs snapshots every ref of the repository ("<name> <sha>" lines).
func (r *testRepo) refs(t testing.TB) string {
	t.Helper()
	return r.git(t, "for-each-ref", "--format=%(refname) %(objectname)")
}

// tip returns the sha of a ref, or "" when it does not exist.
func (r *testRepo) tip(t testing.TB, ref string) string {
	t.Helper()
	out, err := gitOutput(r.Dir(t), nil, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// ---------------------------------------------------------------------------
// The git oracle

// gitEnv pins git's configuration and identity for oracle commands.
var gitEnv = []string{
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=Outside Writer", "GIT_AUTHOR_EMAIL=outside@example.com",
	"GIT_COMMITTER_NAME=Outside Writer", "GIT_COMMITTER_EMAIL=outside@example.com",
	"GIT_TERMINAL_PROMPT=0",
}

// gitOutput runs git against gitDir and returns its raw stdout.
func gitOutput(gitDir string, stdin []byte, args ...string) ([]byte, error) {
	return gitOutputEnv(gitDir, stdin, nil, args...)
}

func gitOutputEnv(gitDir string, stdin []byte, extraEnv []string, args ...string) ([]byte, error) {
	full := append([]string{"--git-dir", gitDir}, args...)
	cmd := exec.Command("git", full...)
	cmd.Env = append(append(os.Environ(), gitEnv...), extraEnv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// gitRun runs git and fails the test on error; stdout is trimmed.
func gitRun(t testing.TB, gitDir string, stdin []byte, args ...string) string {
	t.Helper()
	out, err := gitOutput(gitDir, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// gitRaw runs git and returns stdout untouched.
func gitRaw(t testing.TB, gitDir string, args ...string) []byte {
	t.Helper()
	out, err := gitOutput(gitDir, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hashObject is the blob id git computes for data.
func hashObject(t testing.TB, data []byte) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "--stdin")
	cmd.Env = append(os.Environ(), gitEnv...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// treeEntry is one line of git ls-tree.
type treeEntry struct {
	Mode, Type, OID, Path string
}

// lsTree runs git ls-tree with args (e.g. "-r", "-t", "<rev>") and parses it.
func lsTree(t testing.TB, gitDir string, args ...string) []treeEntry {
	t.Helper()
	out := gitRaw(t, gitDir, append([]string{"ls-tree", "-z"}, args...)...)
	var list []treeEntry
	for _, rec := range strings.Split(string(out), "\x00") {
		if rec == "" {
			continue
		}
		meta, path, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			t.Fatalf("ls-tree record %q", rec)
		}
		list = append(list, treeEntry{Mode: f[0], Type: f[1], OID: f[2], Path: path})
	}
	return list
}

// treePaths lists the paths of git ls-tree -r (leaves only).
func treePaths(t testing.TB, gitDir, rev string) []string {
	t.Helper()
	var paths []string
	for _, e := range lsTree(t, gitDir, "-r", rev) {
		paths = append(paths, e.Path)
	}
	return paths
}

// ---------------------------------------------------------------------------
// Commit-pack bodies

// fileOp is one entry of a commit-pack: an upsert with content, or a delete.
type fileOp struct {
	Path   string
	Data   []byte
	Mode   string // upserts; "" sends no mode (server default 100644)
	Delete bool
	CID    string // content_id; generated when empty
	// NoChunks sends no blob chunk for an upsert.
	NoChunks bool
}

func upsert(path, data string) fileOp { return fileOp{Path: path, Data: []byte(data), Mode: "100644"} }

func upsertMode(path, data, mode string) fileOp {
	return fileOp{Path: path, Data: []byte(data), Mode: mode}
}

func del(path string) fileOp { return fileOp{Path: path, Delete: true} }

// newMeta is commit-pack metadata with an author and message; kv adds or
// overrides fields (a nil value removes the key).
func newMeta(branch string, kv ...any) map[string]any {
	m := map[string]any{
		"target_branch":  branch,
		"commit_message": "test commit",
		"author":         map[string]any{"name": "Test Author", "email": "author@example.com"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(m, k)
			continue
		}
		m[k] = kv[i+1]
	}
	return m
}

var cidSeq atomic.Int64

// withIDs fills in missing content ids.
func withIDs(ops []fileOp) []fileOp {
	out := slices.Clone(ops)
	for i := range out {
		if out[i].CID == "" {
			out[i].CID = fmt.Sprintf("cid-%d", cidSeq.Add(1))
		}
	}
	return out
}

// metadataLine is the first NDJSON line: meta with files filled in from ops
// (unless meta already has "files").
func metadataLine(meta map[string]any, ops []fileOp) []byte {
	m := make(map[string]any, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	if _, ok := m["files"]; !ok {
		files := make([]map[string]any, 0, len(ops))
		for _, op := range ops {
			f := map[string]any{"path": op.Path, "content_id": op.CID}
			if op.Delete {
				f["operation"] = "delete"
			} else {
				f["operation"] = "upsert"
				if op.Mode != "" {
					f["mode"] = op.Mode
				}
			}
			files = append(files, f)
		}
		m["files"] = files
	}
	return ndjsonLine(map[string]any{"metadata": m})
}

func ndjsonLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// chunkLine is one blob_chunk line.
func chunkLine(cid string, data []byte, eof bool) []byte {
	return ndjsonLine(map[string]any{"blob_chunk": map[string]any{
		"content_id": cid, "data": base64.StdEncoding.EncodeToString(data), "eof": eof,
	}})
}

// writeChunks writes op's content as chunks of at most maxChunk bytes, the
// last one marked eof; empty content is one empty eof chunk (spec §5.6.3).
func writeChunks(w io.Writer, op fileOp) error {
	data := op.Data
	for {
		n := min(len(data), maxChunk)
		last := n == len(data)
		if _, err := w.Write(chunkLine(op.CID, data[:n], last)); err != nil {
			return err
		}
		data = data[n:]
		if last {
			return nil
		}
	}
}

// packBody builds a complete commit-pack request body.
func packBody(meta map[string]any, ops ...fileOp) []byte {
	ops = withIDs(ops)
	var b bytes.Buffer
	b.Write(metadataLine(meta, ops))
	for _, op := range ops {
		if op.Delete || op.NoChunks {
			continue
		}
		_ = writeChunks(&b, op)
	}
	return b.Bytes()
}

// commitPack posts a commit-pack body with token.
func (r *testRepo) commitPack(t testing.TB, token string, body []byte) *response {
	t.Helper()
	return r.e.do(t, "POST", "/api/v1/repos/commit-pack", token, bytes.NewReader(body),
		"Content-Type", "application/x-ndjson", "Accept", "application/json")
}

// commit makes a commit through commit-pack and returns the checked ack.
func (r *testRepo) commit(t testing.TB, meta map[string]any, ops ...fileOp) commitAck {
	t.Helper()
	return wantAck(t, r.commitPack(t, r.Write, packBody(meta, ops...)))
}

// ---------------------------------------------------------------------------
// Listings

type branchJSON struct {
	Cursor    string `json:"cursor"`
	Name      string `json:"name"`
	HeadSHA   string `json:"head_sha"`
	CreatedAt string `json:"created_at"`
}

type branchPage struct {
	Branches   []branchJSON `json:"branches"`
	NextCursor *string      `json:"next_cursor"`
	HasMore    *bool        `json:"has_more"`
}

// wantPaging checks the pagination rules of spec §4.2 on a decoded page:
// has_more is a boolean, and a next_cursor is present when it is true.
func wantPaging(t testing.TB, r *response) (hasMore bool, next string) {
	t.Helper()
	m := object(t, r)
	hm, ok := m["has_more"].(bool)
	if !ok {
		t.Fatalf("has_more = %#v, want a boolean; body %s", m["has_more"], r.Body)
	}
	switch v := m["next_cursor"].(type) {
	case nil:
	case string:
		next = v
	default:
		t.Fatalf("next_cursor = %#v, want a string, null or absent", v)
	}
	if hm && next == "" {
		t.Fatalf("has_more is true but next_cursor is missing or empty: %s", r.Body)
	}
	return hm, next
}

// listBranches fetches one page of GET /repos/branches.
func (r *testRepo) listBranches(t testing.TB, query string) branchPage {
	t.Helper()
	resp := r.e.do(t, "GET", "/api/v1/repos/branches"+query, r.Read, nil)
	wantStatus(t, resp, http.StatusOK)
	wantPaging(t, resp)
	var p branchPage
	decode(t, resp, &p)
	for _, b := range p.Branches {
		if b.Cursor == "" || b.Name == "" || b.CreatedAt == "" || !isHex40(b.HeadSHA) {
			t.Errorf("branch item lacks a required field: %+v", b)
		}
		if strings.HasPrefix(b.Name, "refs/") {
			t.Errorf("branch name %q is not a short name", b.Name)
		}
	}
	return p
}

// branchHeads maps branch name → head sha of one namespace (all pages).
func (r *testRepo) branchHeads(t testing.TB, ephemeral bool) map[string]string {
	t.Helper()
	q := "?limit=100"
	if ephemeral {
		q += "&ephemeral=true"
	}
	out := map[string]string{}
	for _, b := range r.listBranches(t, q).Branches {
		out[b.Name] = b.HeadSHA
	}
	return out
}

// firstErr keeps the first error of several goroutines.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstErr) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
