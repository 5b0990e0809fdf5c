package upstream_test

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// origin is an upstream on loopback: plain git repositories served by
// git http-backend behind a Go TLS server, optionally behind basic auth.
type origin struct {
	t      *testing.T
	root   string
	srv    *httptest.Server
	caFile string
	user   string
	pass   string
	hits   atomic.Int64
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{t: t, root: t.TempDir()}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + o.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	o.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		if o.user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != o.user || p != o.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="origin"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(o.srv.Close)
	o.caFile = filepath.Join(t.TempDir(), "origin-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.srv.Certificate().Raw})
	if err := os.WriteFile(o.caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return o
}

// host is the origin's host:port, the base_repo upstream_host.
func (o *origin) host() string { return strings.TrimPrefix(o.srv.URL, "https://") }

// git runs git in the origin's work tree for repository name.
func (o *origin) git(name string, args ...string) string {
	o.t.Helper()
	return runGit(o.t, filepath.Join(o.root, "work", name), args...)
}

// create makes owner/name.git with a work tree that pushes to it.
func (o *origin) create(owner, name string) {
	o.t.Helper()
	bare := filepath.Join(o.root, owner, name+".git")
	runGit(o.t, "", "init", "-q", "--bare", "-b", "main", bare)
	work := filepath.Join(o.root, "work", name)
	runGit(o.t, "", "init", "-q", "-b", "main", work)
	runGit(o.t, work, "remote", "add", "origin", bare)
}

// commit writes files in the work tree, commits and pushes every branch
// and tag (with deletions) to the bare repository.
func (o *origin) commit(name, branch string, files map[string]string) string {
	o.t.Helper()
	work := filepath.Join(o.root, "work", name)
	if cur := runGit(o.t, work, "branch", "--show-current"); cur != branch {
		if runGitOK(work, "rev-parse", "--verify", "-q", "refs/heads/"+branch) {
			runGit(o.t, work, "checkout", "-q", branch)
		} else {
			runGit(o.t, work, "checkout", "-q", "-b", branch)
		}
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755); err != nil {
			o.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, p), []byte(content), 0o644); err != nil {
			o.t.Fatal(err)
		}
	}
	runGit(o.t, work, "add", "-A")
	runGit(o.t, work, "commit", "-q", "-m", "change "+branch)
	o.push(name)
	return runGit(o.t, work, "rev-parse", "HEAD")
}

func (o *origin) push(name string) {
	o.t.Helper()
	runGit(o.t, filepath.Join(o.root, "work", name), "push", "-q", "--mirror", "origin")
}

// refs is the bare repository's branches and tags, "name sha" per line.
func (o *origin) refs(owner, name string) []string {
	o.t.Helper()
	out := runGit(o.t, filepath.Join(o.root, owner, name+".git"), "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags")
	return strings.Split(out, "\n")
}

func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Up", "GIT_AUTHOR_EMAIL=up@example.com", "GIT_COMMITTER_NAME=Up", "GIT_COMMITTER_EMAIL=up@example.com")
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func runGitOK(dir string, args ...string) bool {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	return cmd.Run() == nil
}

// strata is a server under test and helpers to call it.
type strata struct {
	*servertest.Server
	t *testing.T
}

func (s *strata) call(method, path, token string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	resp := s.Do(method, path, token, rd)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

// refs lists the repository's branches and tags through the REST API, in
// for-each-ref's order and format.
func (s *strata) refs(id string) []string {
	s.t.Helper()
	tok := s.Token(id, auth.ScopeGitRead)
	var lines []string
	_, branches := s.call("GET", "/api/repos/"+url.PathEscape(id)+"/branches?limit=1000", tok, nil)
	for _, b := range branches["branches"].([]any) {
		b := b.(map[string]any)
		lines = append(lines, fmt.Sprintf("refs/heads/%s %s", b["name"], b["head_sha"]))
	}
	_, tags := s.call("GET", "/api/repos/"+url.PathEscape(id)+"/tags?limit=1000", tok, nil)
	for _, tg := range tags["tags"].([]any) {
		tg := tg.(map[string]any)
		lines = append(lines, fmt.Sprintf("refs/tags/%s %s", tg["name"], tg["sha"]))
	}
	slices.Sort(lines)
	return lines
}

// waitRefs polls until the repository's refs equal want.
func (s *strata) waitRefs(id string, want []string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		if got = s.refs(id); slices.Equal(got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("refs of %s:\n%s\nwant:\n%s", id, strings.Join(got, "\n"), strings.Join(want, "\n"))
}

// peeled turns an origin ref listing into what the REST API shows: tags
// peeled to their commits.
func (o *origin) peeled(owner, name string) []string {
	o.t.Helper()
	bare := filepath.Join(o.root, owner, name+".git")
	out := runGit(o.t, bare, "for-each-ref", "--format=%(refname) %(if)%(*objectname)%(then)%(*objectname)%(else)%(objectname)%(end)", "refs/heads", "refs/tags")
	lines := strings.Split(out, "\n")
	slices.Sort(lines)
	return lines
}

var _ = config.Default
