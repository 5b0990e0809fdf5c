package api_test

import (
	"bytes"
	"encoding/json"

	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

// bgtFixture is a server with one repository ("repo", default branch main)
// whose content tests build with real git in a scratch work tree and push
// straight into the bare repository. Shared by the blame, grep, archive,
// tags and notes tests.
type bgtFixture struct {
	t    *testing.T
	srv  *servertest.Server
	tok  string // git:read + git:write
	bare string
	work string
	n    int // commits made, for distinct dates
}

func newBGTFixture(t *testing.T) *bgtFixture {
	t.Helper()
	srv := servertest.Start(t)
	srv.Client = validated(t, srv.Client)
	f := &bgtFixture{t: t, srv: srv, tok: srv.Token("repo", auth.ScopeGitRead, auth.ScopeGitWrite)}
	resp := srv.Do("POST", "/api/v1/repos", srv.Token("repo", auth.ScopeRepoWrite), strings.NewReader(`{"default_branch":"main"}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create repo: %d %s", resp.StatusCode, body)
	}
	dirs := srv.RepoDirs()
	if len(dirs) != 1 {
		t.Fatalf("repository directories: %v", dirs)
	}
	f.bare = dirs[0]
	f.work = t.TempDir()
	f.git("init", "-q", "-b", "main")
	return f
}

// with returns f for use in (parallel) subtest t: failures are reported
// on t, never on the parent.
func (f *bgtFixture) with(t *testing.T) *bgtFixture {
	c := *f
	c.t = t
	return &c
}

// gitIn runs git in dir with a clean environment and a fixed identity;
// commit dates advance by an hour per commit.
func (f *bgtFixture) gitIn(dir, stdin string, args ...string) string {
	f.t.Helper()
	date := strconv.Itoa(1700000000+3600*f.n) + " +0200"
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Ann Author", "GIT_AUTHOR_EMAIL=ann@example.com", "GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_NAME=Cy Committer", "GIT_COMMITTER_EMAIL=cy@example.com", "GIT_COMMITTER_DATE="+date,
	)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		f.t.Fatalf("git %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func (f *bgtFixture) git(args ...string) string { f.t.Helper(); return f.gitIn(f.work, "", args...) }
func (f *bgtFixture) gitBare(args ...string) string {
	f.t.Helper()
	return f.gitIn(f.bare, "", args...)
}

func (f *bgtFixture) write(path, content string) {
	f.t.Helper()
	full := filepath.Join(f.work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// commit commits everything in the work tree as author (name <email>)
// and pushes main; it returns the commit id.
func (f *bgtFixture) commit(msg string, author ...string) string {
	f.t.Helper()
	f.n++
	f.git("add", "-A")
	args := []string{"commit", "-q", "--allow-empty", "-m", msg}
	if len(author) > 0 {
		args = append(args, "--author="+author[0])
	}
	f.git(args...)
	f.git("push", "-q", "--force", f.bare, "HEAD:refs/heads/main")
	return strings.TrimSpace(f.git("rev-parse", "HEAD"))
}

// call sends a request and decodes a JSON answer into out (if non-nil).
func (f *bgtFixture) call(method, path, token string, body any, out any) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	resp := f.do(method, path, token, rd)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			f.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, data
}

// do sends one request; unlike servertest.Server.Do it reports failures
// on the fixture's (sub)test.
func (f *bgtFixture) do(method, path, token string, body io.Reader) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// bgtError returns the error envelope's message.
func bgtError(data []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	return e.Error
}

type blameLine struct {
	LineNumber         int     `json:"line_number"`
	CommitSHA          string  `json:"commit_sha"`
	OriginalLineNumber int     `json:"original_line_number"`
	OriginalPath       string  `json:"original_path"`
	PreviousCommitSHA  *string `json:"previous_commit_sha"`
	AuthorName         string  `json:"author_name"`
	AuthorEmail        string  `json:"author_email"`
	AuthorTime         string  `json:"author_time"`
	CommitterName      string  `json:"committer_name"`
	CommitterEmail     string  `json:"committer_email"`
	CommitterTime      string  `json:"committer_time"`
	Summary            string  `json:"summary"`
}

type blameResponse struct {
	Ref       string      `json:"ref"`
	Path      string      `json:"path"`
	CommitSHA string      `json:"commit_sha"`
	Lines     []blameLine `json:"lines"`
}

// gitBlame is the oracle: `git blame --line-porcelain`, every field on
// every line, turned into the wire shape.
func (f *bgtFixture) gitBlame(commit, path string, opts ...string) []blameLine {
	f.t.Helper()
	args := append(append([]string{"blame", "--line-porcelain"}, opts...), commit, "--", path)
	out := f.gitBare(args...)
	var lines []blameLine
	var cur *blameLine
	var aTime, cTime int64
	rfc := func(sec int64, tz string) string {
		sign := 1
		if tz[0] == '-' {
			sign = -1
		}
		h, _ := strconv.Atoi(tz[1:3])
		m, _ := strconv.Atoi(tz[3:5])
		off := sign * (h*3600 + m*60)
		loc := time.UTC
		if off != 0 {
			loc = time.FixedZone(tz, off)
		}
		return time.Unix(sec, 0).In(loc).Format(time.RFC3339)
	}
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "\t"):
			lines = append(lines, *cur)
			cur = nil
		case cur == nil:
			fl := strings.Fields(l)
			orig, _ := strconv.Atoi(fl[1])
			final, _ := strconv.Atoi(fl[2])
			cur = &blameLine{CommitSHA: fl[0], OriginalLineNumber: orig, LineNumber: final}
		default:
			k, v, _ := strings.Cut(l, " ")
			switch k {
			case "author":
				cur.AuthorName = v
			case "author-mail":
				cur.AuthorEmail = strings.Trim(v, "<>")
			case "author-time":
				aTime, _ = strconv.ParseInt(v, 10, 64)
			case "author-tz":
				cur.AuthorTime = rfc(aTime, v)
			case "committer":
				cur.CommitterName = v
			case "committer-mail":
				cur.CommitterEmail = strings.Trim(v, "<>")
			case "committer-time":
				cTime, _ = strconv.ParseInt(v, 10, 64)
			case "committer-tz":
				cur.CommitterTime = rfc(cTime, v)
			case "summary":
				cur.Summary = v
			case "previous":
				sha, _, _ := strings.Cut(v, " ")
				cur.PreviousCommitSHA = &sha
			case "filename":
				cur.OriginalPath = v
			}
		}
	}
	return lines
}

func TestBlame(t *testing.T) {
	t.Parallel()
	f := newBGTFixture(t)
	f.write("src/main.go", "package main\n\nfunc Foo() {\n\treturn\n}\n")
	f.write("lib/util.go", "package lib\n\nfunc Helper() {\n\tprintln(\"a helper line that is long enough to be tracked\")\n\tprintln(\"another helper line that is long enough to move\")\n\tprintln(\"a third helper line so git sees a block of text\")\n}\n")
	c1 := f.commit("first commit", "Alice <alice@example.com>")
	f.write("src/main.go", "package main\n\nimport \"fmt\"\n\nfunc Foo() {\n\tfmt.Println(\"foo\")\n}\n\nfunc Bar() {\n\tfmt.Println(\"bar\")\n}\n")
	c2 := f.commit("second commit\n\nwith a body", "Bob <bob@example.com>")
	f.write("src/main.go", "package main\n\nimport \"fmt\"\n\nfunc Foo() {\n\tfmt.Println(\"foo!\")\n}\n\nfunc Bar() {\n\tfmt.Println(\"bar\")\n}\n\nfunc Helper() {\n\tprintln(\"a helper line that is long enough to be tracked\")\n\tprintln(\"another helper line that is long enough to move\")\n\tprintln(\"a third helper line so git sees a block of text\")\n}\n")
	f.write("lib/util.go", "package lib\n")
	c3 := f.commit("third commit", "Carol <carol@example.com>")
	_, _ = c1, c2

	type rangeCase struct {
		desc   string
		query  string
		gitOpt []string
	}
	for _, tc := range []rangeCase{
		{"whole file", "", nil},
		{"numeric", "range=2,4", []string{"-L2,4"}},
		{"single line start", "range=12", []string{"-L12"}},
		{"plus offset", "range=3,%2B2", []string{"-L3,+2"}},
		{"minus offset", "range=6,-3", []string{"-L6,-3"}},
		{"open end", "range=14,", []string{"-L14,"}},
		{"open start", "range=,3", []string{"-L,3"}},
		{"regex", "range=" + url.QueryEscape("/Bar/"), []string{"-L/Bar/"}},
		{"regex pair", "range=" + url.QueryEscape("/func Foo/,/^}/"), []string{"-L/func Foo/,/^}/"}},
		{"regex plus", "range=" + url.QueryEscape("/import/,+3"), []string{"-L/import/,+3"}},
		{"funcname", "range=" + url.QueryEscape(":Bar"), []string{"-L:Bar"}},
		{"funcname regex", "range=" + url.QueryEscape(":^func .*oo"), []string{"-L:^func .*oo"}},
		{"anchored funcname", "range=" + url.QueryEscape("^:Foo"), []string{"-L^:Foo"}},
		{"several", "range=1,2&range=" + url.QueryEscape("/Bar/,+1") + "&range=" + url.QueryEscape("^:Foo"), []string{"-L1,2", "-L/Bar/,+1", "-L^:Foo"}},
		{"detect moves", "detect_moves=true", []string{"-M", "-C", "-C"}},
		{"ref by sha", "ref=" + c3, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := f.with(t)
			q := "path=src/main.go"
			if tc.query != "" {
				q += "&" + tc.query
			}
			var got blameResponse
			status, body := f.call("GET", "/api/v1/repos/blame?"+q, f.tok, nil, &got)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if bytes.Contains(body, []byte("null")) {
				t.Errorf("response contains null: %s", body)
			}
			wantRef := "main"
			if strings.HasPrefix(tc.query, "ref=") {
				wantRef = c3
			}
			if got.Ref != wantRef || got.Path != "src/main.go" || got.CommitSHA != c3 {
				t.Errorf("header ref=%q path=%q commit=%q", got.Ref, got.Path, got.CommitSHA)
			}
			want := f.gitBlame(c3, "src/main.go", tc.gitOpt...)
			if len(want) == 0 || len(got.Lines) != len(want) {
				t.Fatalf("%d lines, git says %d", len(got.Lines), len(want))
			}
			for i := range want {
				g, w := got.Lines[i], want[i]
				gp, wp := g.PreviousCommitSHA, w.PreviousCommitSHA
				g.PreviousCommitSHA, w.PreviousCommitSHA = nil, nil
				if g != w || (gp == nil) != (wp == nil) || gp != nil && *gp != *wp {
					t.Errorf("line %d:\n got %+v (previous %v)\nwant %+v (previous %v)", i+1, g, gp, w, wp)
				}
			}
			if tc.desc == "detect moves" && got.Lines[len(got.Lines)-2].OriginalPath != "lib/util.go" {
				t.Errorf("moved line attributed to %q", got.Lines[len(got.Lines)-2].OriginalPath)
			}
		})
	}

	many := strings.Repeat("range=1&", 17)
	for _, tc := range []struct {
		desc   string
		query  string
		status int
	}{
		{"17 ranges", "path=src/main.go&" + many, http.StatusBadRequest},
		{"malformed range", "path=src/main.go&range=abc", http.StatusBadRequest},
		{"zero", "path=src/main.go&range=0", http.StatusBadRequest},
		{"unterminated regex", "path=src/main.go&range=" + url.QueryEscape("/abc"), http.StatusBadRequest},
		{"option-like range", "path=src/main.go&range=" + url.QueryEscape("--output=x"), http.StatusBadRequest},
		{"past the end", "path=src/main.go&range=500", http.StatusBadRequest},
		{"regex without match", "path=src/main.go&range=" + url.QueryEscape("/zzz/"), http.StatusBadRequest},
		{"no such function", "path=src/main.go&range=" + url.QueryEscape(":Nope"), http.StatusBadRequest},
		{"missing path", "ref=main", http.StatusBadRequest},
		{"bad path", "path=../etc/passwd", http.StatusBadRequest},
		{"unknown path", "path=src/nope.go", http.StatusNotFound},
		{"directory", "path=src", http.StatusNotFound},
		{"unknown ref", "path=src/main.go&ref=nope", http.StatusNotFound},
		{"option-like ref", "path=src/main.go&ref=--help", http.StatusNotFound},
		{"ephemeral branch missing", "path=src/main.go&ephemeral=true", http.StatusNotFound},
		{"bad detect_moves", "path=src/main.go&detect_moves=maybe", http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := f.with(t)
			status, body := f.call("GET", "/api/v1/repos/blame?"+tc.query, f.tok, nil, nil)
			if status != tc.status || bgtError(body) == "" {
				t.Fatalf("status %d body %s, want %d with an error", status, body, tc.status)
			}
		})
	}

	t.Run("ephemeral", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		f.gitBare("update-ref", "refs/namespaces/ephemeral/refs/heads/scratch", c1)
		var got blameResponse
		status, body := f.call("GET", "/api/v1/repos/blame?path=src/main.go&ref=scratch&ephemeral=true", f.tok, nil, &got)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		if got.CommitSHA != c1 || got.Ref != "scratch" || len(got.Lines) != 5 {
			t.Fatalf("ephemeral blame: %+v", got)
		}
		for _, l := range got.Lines {
			if l.CommitSHA != c1 || l.AuthorName != "Alice" || l.PreviousCommitSHA != nil {
				t.Errorf("line %+v", l)
			}
		}
	})
}
