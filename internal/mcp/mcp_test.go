package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

// bearer adds a token to every request of the MCP client.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// connect opens a real MCP client session on the server's /mcp endpoint.
func connect(t *testing.T, srv *servertest.Server, token string) *sdk.ClientSession {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "strata-test", Version: "1"}, nil)
	tr := &sdk.StreamableClientTransport{
		Endpoint:   srv.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}},
		MaxRetries: -1,
	}
	cs, err := client.Connect(t.Context(), tr, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// call runs a tool; a protocol error fails the test, a tool error is
// returned in the result.
func call(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// ok runs a tool that must succeed and decodes its structured content.
func ok(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, out any) string {
	t.Helper()
	res := call(t, cs, name, args)
	if res.IsError {
		t.Fatalf("%s(%v): tool error: %s", name, args, textOf(res))
	}
	if out != nil {
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: structured content %s: %v", name, b, err)
		}
	}
	return textOf(res)
}

// refused runs a tool that must fail with a tool error containing want.
func refused(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, want string) {
	t.Helper()
	res := call(t, cs, name, args)
	if !res.IsError {
		t.Fatalf("%s: want a tool error, got %s", name, textOf(res))
	}
	if got := textOf(res); !strings.Contains(got, want) {
		t.Fatalf("%s: tool error %q does not contain %q", name, got, want)
	}
}

func textOf(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

const repoID = "team/app"

// setup starts a server and returns it with a session whose token may do
// everything on repoID (created through the create_repository tool).
func setup(t *testing.T) (*servertest.Server, *sdk.ClientSession) {
	t.Helper()
	srv := servertest.Start(t)
	cs := connect(t, srv, srv.Token(repoID, auth.ScopeGitWrite, auth.ScopeRepoWrite, auth.ScopeOrgRead))
	var created struct {
		RepoID string `json:"repo_id"`
	}
	ok(t, cs, "create_repository", map[string]any{"default_branch": "main"}, &created)
	if created.RepoID != repoID {
		t.Fatalf("created %q", created.RepoID)
	}
	return srv, cs
}

func TestTools_list(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	cs := connect(t, srv, srv.Token(repoID, auth.ScopeGitRead))
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" || tool.InputSchema == nil || tool.OutputSchema == nil {
			t.Errorf("%s: description, input or output schema missing", tool.Name)
		}
	}
	for _, want := range []string{"list_repositories", "create_repository", "list_branches", "list_files", "read_file", "search",
		"list_commits", "get_diff", "create_branch", "commit_files", "merge_preview", "merge"} {
		if !slices.Contains(names, want) {
			t.Errorf("tool %s missing from %v", want, names)
		}
	}
}

// TestTools_workflow is an agent's round trip: commit, read back, list,
// search, diff, branch, preview, merge.
func TestTools_workflow(t *testing.T) {
	t.Parallel()
	_, cs := setup(t)

	var c1 struct {
		CommitSHA string `json:"commit_sha"`
		OldSHA    string `json:"old_sha"`
	}
	ok(t, cs, "commit_files", map[string]any{"branch": "main", "message": "first", "files": []map[string]any{
		{"path": "README.md", "content": "# app\n"},
		{"path": "src/main.go", "content": "package main\n\n// needle: find me\nfunc main() {}\n"},
		{"path": "bin/blob", "content": "AAEC", "encoding": "base64"},
	}}, &c1)
	if len(c1.CommitSHA) != 40 || c1.OldSHA != strings.Repeat("0", 40) {
		t.Fatalf("first commit: %+v", c1)
	}

	var file struct {
		Content    string `json:"content"`
		TotalLines int    `json:"total_lines"`
		Truncated  bool   `json:"truncated"`
	}
	txt := ok(t, cs, "read_file", map[string]any{"path": "src/main.go"}, &file)
	if file.Content != "package main\n\n// needle: find me\nfunc main() {}\n" || txt != file.Content || file.TotalLines != 4 || file.Truncated {
		t.Fatalf("read_file: %+v / %q", file, txt)
	}
	var bin struct {
		Binary bool  `json:"binary"`
		Size   int64 `json:"size"`
	}
	if txt := ok(t, cs, "read_file", map[string]any{"path": "bin/blob", "ref": c1.CommitSHA}, &bin); !bin.Binary || bin.Size != 3 || !strings.Contains(txt, "binary") {
		t.Fatalf("binary read_file: %+v %q", bin, txt)
	}

	txt = ok(t, cs, "list_files", map[string]any{}, nil)
	for _, want := range []string{"README.md\n", "src/\n", "src/main.go\n", "bin/blob\n"} {
		if !strings.Contains(txt, want) {
			t.Errorf("list_files lacks %q:\n%s", want, txt)
		}
	}

	var commits struct {
		Commits []struct {
			SHA     string `json:"sha"`
			Message string `json:"message"`
		} `json:"commits"`
	}
	ok(t, cs, "list_commits", map[string]any{}, &commits)
	if len(commits.Commits) != 1 || commits.Commits[0].SHA != c1.CommitSHA || commits.Commits[0].Message != "first" {
		t.Fatalf("list_commits: %+v", commits)
	}

	if txt := ok(t, cs, "search", map[string]any{"pattern": "needle"}, nil); !strings.Contains(txt, "src/main.go:3:// needle: find me") {
		t.Fatalf("search: %q", txt)
	}
	if txt := ok(t, cs, "search", map[string]any{"pattern": "NEEDLE", "case_sensitive": false, "context_lines": 1}, nil); !strings.Contains(txt, "src/main.go-4-func main() {}") {
		t.Fatalf("search with context: %q", txt)
	}

	var br struct {
		Branch    string `json:"branch"`
		CommitSHA string `json:"commit_sha"`
	}
	ok(t, cs, "create_branch", map[string]any{"branch": "agent/change"}, &br)
	if br.Branch != "agent/change" || br.CommitSHA != c1.CommitSHA {
		t.Fatalf("create_branch: %+v", br)
	}
	refused(t, cs, "create_branch", map[string]any{"branch": "agent/change", "base": "main"}, "already exists")

	var c2 struct {
		CommitSHA string `json:"commit_sha"`
	}
	ok(t, cs, "commit_files", map[string]any{"branch": "agent/change", "message": "second", "expected_head_sha": c1.CommitSHA, "files": []map[string]any{
		{"path": "src/main.go", "content": "package main\n\n// needle: found\nfunc main() {}\n"},
		{"path": "README.md", "delete": true},
	}}, &c2)
	refused(t, cs, "commit_files", map[string]any{"branch": "agent/change", "message": "stale", "expected_head_sha": c1.CommitSHA,
		"files": []map[string]any{{"path": "x", "content": "x"}}}, "HTTP 409")

	var diff struct {
		Files []struct {
			Path  string `json:"path"`
			State string `json:"state"`
		} `json:"files"`
		Patch string `json:"patch"`
	}
	txt = ok(t, cs, "get_diff", map[string]any{"ref": "agent/change", "base": "main"}, &diff)
	if len(diff.Files) != 2 || !strings.Contains(diff.Patch, "-// needle: find me\n+// needle: found\n") || !strings.Contains(txt, "D README.md") {
		t.Fatalf("get_diff between refs: %+v\n%s", diff, txt)
	}
	if txt := ok(t, cs, "get_diff", map[string]any{"ref": c1.CommitSHA}, nil); !strings.Contains(txt, "(empty tree)") || !strings.Contains(txt, "+# app") {
		t.Fatalf("get_diff of a root commit: %s", txt)
	}

	var pv struct {
		Status string `json:"status"`
		Result string `json:"result"`
	}
	ok(t, cs, "merge_preview", map[string]any{"source": "agent/change"}, &pv)
	if pv.Status != "clean" || pv.Result != "fast_forward" {
		t.Fatalf("merge_preview: %+v", pv)
	}
	var m struct {
		Result    string `json:"result"`
		CommitSHA string `json:"commit_sha"`
	}
	ok(t, cs, "merge", map[string]any{"source": "agent/change", "target": "main"}, &m)
	if m.Result != "fast_forward" || m.CommitSHA != c2.CommitSHA {
		t.Fatalf("merge: %+v", m)
	}
	if txt := ok(t, cs, "read_file", map[string]any{"path": "src/main.go", "ref": "main"}, nil); !strings.Contains(txt, "found") {
		t.Fatalf("main after merge: %q", txt)
	}
	refused(t, cs, "read_file", map[string]any{"path": "README.md", "ref": "main"}, "HTTP 404")

	var branches struct {
		Branches []struct {
			Name string `json:"name"`
		} `json:"branches"`
	}
	ok(t, cs, "list_branches", map[string]any{}, &branches)
	if len(branches.Branches) != 2 {
		t.Fatalf("list_branches: %+v", branches)
	}
	var repos struct {
		Repos []struct {
			ID string `json:"repo_id"`
		} `json:"repos"`
	}
	ok(t, cs, "list_repositories", map[string]any{}, &repos)
	if len(repos.Repos) != 1 || repos.Repos[0].ID != repoID {
		t.Fatalf("list_repositories: %+v", repos)
	}
}

// TestTools_conflict: a conflicted preview lists the paths and the merge
// is refused with them.
func TestTools_conflict(t *testing.T) {
	t.Parallel()
	_, cs := setup(t)
	ok(t, cs, "commit_files", map[string]any{"branch": "main", "message": "base", "files": []map[string]any{{"path": "a.txt", "content": "one\n"}}}, nil)
	ok(t, cs, "commit_files", map[string]any{"branch": "side", "base_branch": "main", "message": "side", "files": []map[string]any{{"path": "a.txt", "content": "side\n"}}}, nil)
	ok(t, cs, "commit_files", map[string]any{"branch": "main", "message": "main", "files": []map[string]any{{"path": "a.txt", "content": "main\n"}}}, nil)
	var pv struct {
		Status        string   `json:"status"`
		ConflictPaths []string `json:"conflict_paths"`
	}
	txt := ok(t, cs, "merge_preview", map[string]any{"source": "side", "target": "main", "include_content": true}, &pv)
	if pv.Status != "conflicted" || !slices.Equal(pv.ConflictPaths, []string{"a.txt"}) || !strings.Contains(txt, "<<<<<<<") {
		t.Fatalf("merge_preview: %+v\n%s", pv, txt)
	}
	refused(t, cs, "merge", map[string]any{"source": "side", "target": "main"}, `conflict_paths: ["a.txt"]`)
}

// TestTools_scopes: each tool call carries the caller's own token, so the
// API's scope and ref-policy refusals come back as tool errors.
func TestTools_scopes(t *testing.T) {
	t.Parallel()
	srv, admin := setup(t)
	ok(t, admin, "commit_files", map[string]any{"branch": "main", "message": "first", "files": []map[string]any{{"path": "a.txt", "content": "a\n"}}}, nil)

	read := connect(t, srv, srv.Token(repoID, auth.ScopeGitRead))
	ok(t, read, "read_file", map[string]any{"path": "a.txt"}, nil)
	refused(t, read, "commit_files", map[string]any{"branch": "main", "message": "no", "files": []map[string]any{{"path": "b.txt", "content": "b"}}}, "token lacks the git:write scope")
	refused(t, read, "create_branch", map[string]any{"branch": "x", "base": "main"}, "HTTP 403")
	refused(t, read, "merge", map[string]any{"source": "main", "target": "main"}, "git:write")
	refused(t, read, "list_repositories", map[string]any{}, "token lacks the org:read scope")

	writer := connect(t, srv, srv.Token("team/other", auth.ScopeGitWrite))
	refused(t, writer, "create_repository", map[string]any{}, "token lacks the repo:write scope")

	// The repo claim decides the repository: another repository's token
	// never sees this one.
	other := connect(t, srv, srv.Token("team/missing", auth.ScopeGitRead))
	refused(t, other, "read_file", map[string]any{"path": "a.txt"}, "repository not found")

	policy := connect(t, srv, srv.TokenWith(auth.Claims{Repo: repoID, Scopes: []auth.Scope{auth.ScopeGitWrite},
		Refs: []auth.RawRule{{Pattern: "main", Ops: []auth.Op{"no-push"}}}}))
	refused(t, policy, "commit_files", map[string]any{"branch": "main", "message": "no", "files": []map[string]any{{"path": "b.txt", "content": "b"}}}, "denied by policy")
	ok(t, policy, "commit_files", map[string]any{"branch": "agent/x", "base_branch": "main", "message": "yes", "files": []map[string]any{{"path": "b.txt", "content": "b"}}}, nil)
	refused(t, policy, "merge", map[string]any{"source": "agent/x", "target": "main"}, "denied by policy")
}

// TestEndpoint_auth: /mcp itself refuses a request without a valid token,
// like the API.
func TestEndpoint_auth(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for _, tok := range []string{"", "not-a-jwt"} {
		resp := srv.Do("POST", "/mcp", tok, strings.NewReader(body), "Accept", "application/json, text/event-stream")
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", tok, resp.StatusCode)
		}
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "strata-test", Version: "1"}, nil)
	_, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp", MaxRetries: -1}, nil)
	if err == nil {
		t.Fatal("a session without a token connected")
	}
}

// TestTools_truncation: long files, patches and listings end with a
// marker naming the argument that continues them, and continuing works.
func TestTools_truncation(t *testing.T) {
	t.Parallel()
	_, cs := setup(t)
	var big strings.Builder
	for i := 1; i <= 3000; i++ {
		fmt.Fprintf(&big, "line %d\n", i)
	}
	files := []map[string]any{{"path": "big.txt", "content": big.String()},
		{"path": "long.txt", "content": strings.Repeat("x", 10000) + "\nshort\n"}, {"path": "empty.txt", "content": ""}}
	for i := range 5 {
		files = append(files, map[string]any{"path": fmt.Sprintf("dir/f%d", i), "content": "f\n"})
	}
	ok(t, cs, "commit_files", map[string]any{"branch": "main", "message": "big", "files": files}, nil)

	var w struct {
		EndLine       int  `json:"end_line"`
		TotalLines    int  `json:"total_lines"`
		Truncated     bool `json:"truncated"`
		NextStartLine int  `json:"next_start_line"`
	}
	txt := ok(t, cs, "read_file", map[string]any{"path": "big.txt"}, &w)
	if !strings.HasSuffix(txt, "line 500\n… [truncated: 2500 more lines; call again with start_line=501]") || w.EndLine != 500 || w.TotalLines != 3000 || !w.Truncated || w.NextStartLine != 501 {
		t.Fatalf("read_file window: %+v, ends %q", w, txt[max(len(txt)-80, 0):])
	}
	txt = ok(t, cs, "read_file", map[string]any{"path": "big.txt", "start_line": 2999}, &w)
	if txt != "line 2999\nline 3000\n" || w.Truncated {
		t.Fatalf("read_file tail: %+v %q", w, txt)
	}
	if txt := ok(t, cs, "read_file", map[string]any{"path": "big.txt", "start_line": 3001}, nil); txt != "[big.txt has 3000 lines; nothing from start_line=3001]" {
		t.Fatalf("read_file past the end: %q", txt)
	}
	if txt := ok(t, cs, "read_file", map[string]any{"path": "empty.txt"}, nil); txt != "[empty.txt is empty]" {
		t.Fatalf("empty file: %q", txt)
	}
	txt = ok(t, cs, "read_file", map[string]any{"path": "long.txt"}, nil)
	if !strings.Contains(txt, "… [line truncated: 8000 more bytes]\nshort\n") {
		t.Fatalf("long line: %q", txt[len(txt)-80:])
	}

	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	txt = ok(t, cs, "list_files", map[string]any{"path": "dir", "limit": 2}, &page)
	if !strings.HasSuffix(txt, "… [more: call again with cursor="+page.NextCursor+"]") || page.NextCursor == "" {
		t.Fatalf("list_files page: %q", txt)
	}
	txt = ok(t, cs, "list_files", map[string]any{"path": "dir", "limit": 10, "cursor": page.NextCursor}, nil)
	if strings.Contains(txt, "dir/f0") || !strings.Contains(txt, "dir/f4") || strings.Contains(txt, "[more") {
		t.Fatalf("list_files second page: %q", txt)
	}

	txt = ok(t, cs, "get_diff", map[string]any{"ref": "main", "max_lines": 10}, nil)
	if !strings.Contains(txt, "; call again with start_line=11]") {
		t.Fatalf("get_diff window: %q", txt)
	}
}
