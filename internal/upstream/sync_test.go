package upstream_test

import (
	"bytes"
	"context"
	"crypto/rand"
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
	"github.com/strata-storage/strata/internal/metadata"
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
	down   atomic.Bool // answer 503 to everything
	// hang, when set, holds every request until it is closed or the
	// client goes away.
	hang atomic.Pointer[chan struct{}]
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
		if h := o.hang.Load(); h != nil {
			select {
			case <-*h:
			case <-r.Context().Done():
				return
			}
		}
		if o.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		// A moved repository: the upstream answers with a redirect.
		if rest, ok := strings.CutPrefix(r.URL.Path, "/moved/"); ok {
			http.Redirect(w, r, "/team/"+rest+"?"+r.URL.RawQuery, http.StatusMovedPermanently)
			return
		}
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

// startStrata runs a server that may reach the origin on loopback.
func startStrata(t *testing.T, o *origin, allowPrivate bool) *strata {
	t.Helper()
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.Outbound.AllowPrivate = allowPrivate
		c.Outbound.CAFile = o.caFile
	}))
	return &strata{Server: srv, t: t}
}

// link creates repository id linked to the origin's owner/name.
func (s *strata) link(id string, o *origin, owner, name string) {
	s.t.Helper()
	status, body := s.call("POST", "/api/repos", s.Token(id, auth.ScopeRepoWrite), map[string]any{
		"default_branch": "main",
		"base_repo":      map[string]any{"provider": "gitlab", "owner": owner, "name": name, "upstream_host": o.host()},
	})
	if status != http.StatusCreated {
		s.t.Fatalf("create %s: %d %v", id, status, body)
	}
}

func (s *strata) pull(id string, body map[string]any) {
	s.t.Helper()
	status, resp := s.call("POST", "/api/repos/"+url.PathEscape(id)+"/pull-upstream", s.Token(id, auth.ScopeGitWrite), body)
	if status != http.StatusAccepted {
		s.t.Fatalf("pull-upstream %s: %d %v", id, status, resp)
	}
}

// syncState polls the server's metadata until the repository has
// completed at least runs sync runs.
func (s *strata) syncState(id string, runs int64) metadata.SyncState {
	s.t.Helper()
	db, err := metadata.OpenSQLite(filepath.Join(s.DataDir, "strata.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	m, err := db.Repo(ctx, s.Org, id)
	if err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := db.SyncState(ctx, m.StorageKey)
		if err != nil {
			s.t.Fatal(err)
		}
		if st.RunCount >= runs {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %d sync runs after 60 s, want %d", id, st.RunCount, runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSync_followsUpstream: a repository linked to an upstream gets its
// branches and tags on creation and follows them on pull-upstream:
// fast-forwards, deletions, new tags, one ref only; a branch changed here
// is never overwritten.
func TestSync_followsUpstream(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"README.md": "v1\n", "src/a.go": "package a\n"})
	o.commit("proj", "feature", map[string]string{"feature.txt": "f\n"})
	o.git("proj", "checkout", "-q", "main")
	o.git("proj", "tag", "-a", "-m", "one", "v1")
	o.push("proj")
	s := startStrata(t, o, true)

	const id = "mirror/proj"
	s.link(id, o, "team", "proj")
	s.waitRefs(id, o.peeled("team", "proj"))

	// Upstream moves: main advances, feature goes, v2 and dev appear.
	o.commit("proj", "main", map[string]string{"README.md": "v2\n"})
	o.git("proj", "branch", "-D", "feature")
	o.git("proj", "tag", "v2")
	o.commit("proj", "dev", map[string]string{"dev.txt": "d\n"})
	o.push("proj")
	s.pull(id, nil)
	s.waitRefs(id, o.peeled("team", "proj"))

	// The file content came along, byte for byte.
	resp := s.Do("GET", "/api/repos/"+url.PathEscape(id)+"/file?path=README.md", s.Token(id, auth.ScopeGitRead), nil)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "v2\n" {
		t.Errorf("README.md = %q after sync", got)
	}

	// A commit here makes main diverge from the upstream's next commit.
	meta := `{"metadata":{"target_branch":"main","commit_message":"local","author":{"name":"L","email":"l@example.com"},"files":[{"path":"local.txt","content_id":"c","operation":"upsert"}]}}` + "\n" +
		`{"blob_chunk":{"content_id":"c","data":"bG9jYWwK","eof":true}}` + "\n"
	resp = s.Do("POST", "/api/repos/"+url.PathEscape(id)+"/commit-pack", s.Token(id, auth.ScopeGitWrite), strings.NewReader(meta),
		"Content-Type", "application/x-ndjson")
	var ack struct {
		Commit struct {
			SHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || ack.Commit.SHA == "" {
		t.Fatalf("local commit: %d", resp.StatusCode)
	}
	before := s.syncState(id, 2)
	o.commit("proj", "main", map[string]string{"README.md": "v3\n"})
	o.commit("proj", "dev", map[string]string{"dev.txt": "d2\n"})
	o.push("proj")
	s.pull(id, nil)
	st := s.syncState(id, before.RunCount+1)
	if !strings.Contains(st.LastError, "refs/heads/main") {
		t.Errorf("sync of a diverged main: last error %q, want it named", st.LastError)
	}
	want := o.peeled("team", "proj")
	for i, l := range want {
		if strings.HasPrefix(l, "refs/heads/main ") {
			want[i] = "refs/heads/main " + ack.Commit.SHA
		}
	}
	s.waitRefs(id, want) // dev followed; main kept

	// One ref only: a new upstream tag and branch; only the branch asked
	// for comes.
	o.git("proj", "tag", "v3")
	o.commit("proj", "dev", map[string]string{"dev.txt": "d3\n"})
	o.push("proj")
	s.pull(id, map[string]any{"ref": "dev"})
	st = s.syncState(id, st.RunCount+1)
	refs := s.refs(id)
	devTip := runGit(t, filepath.Join(o.root, "team", "proj.git"), "rev-parse", "refs/heads/dev")
	if !slices.Contains(refs, "refs/heads/dev "+devTip) || slices.ContainsFunc(refs, func(l string) bool { return strings.HasPrefix(l, "refs/tags/v3 ") }) {
		t.Errorf("after a sync of dev only: %v", refs)
	}

	// Bad requests change nothing.
	for _, body := range []map[string]any{{"ref": "refs/notes/x"}, {"ref": "a..b"}, {"ref": "-x"}} {
		status, resp := s.call("POST", "/api/repos/"+url.PathEscape(id)+"/pull-upstream", s.Token(id, auth.ScopeGitWrite), body)
		if status != http.StatusBadRequest || resp["error"] == nil {
			t.Errorf("pull-upstream %v: %d %v, want 400", body, status, resp)
		}
	}
}

// TestSync_credentials: an upstream behind basic auth syncs once the
// repository has a git credential; without one the run fails cleanly.
func TestSync_credentials(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.user, o.pass = "deploy", "s3cret-Pa55"
	o.create("team", "private")
	o.commit("private", "main", map[string]string{"a.txt": "a\n"})
	s := startStrata(t, o, true)

	const id = "private-mirror"
	s.link(id, o, "team", "private")
	st := s.syncState(id, 1)
	if st.LastError == "" || strings.Contains(st.LastError, o.pass) {
		t.Fatalf("sync without a credential: last error %q", st.LastError)
	}
	if refs := s.refs(id); len(refs) != 0 {
		t.Fatalf("refs after a failed sync: %v", refs)
	}
	status, body := s.call("POST", "/api/repos/"+url.PathEscape(id)+"/git-credentials", s.Token(id, auth.ScopeRepoWrite),
		map[string]any{"username": o.user, "password": o.pass})
	if status != http.StatusCreated {
		t.Fatalf("create credential: %d %v", status, body)
	}
	s.pull(id, nil)
	s.waitRefs(id, o.peeled("team", "private"))
	if st := s.syncState(id, 2); st.LastError != "" || st.LastSuccess.IsZero() {
		t.Errorf("state after a good sync: %+v", st)
	}
}

// TestSync_refusesPrivateTargets: without --upstream-allow-private an
// upstream on loopback or at the metadata address is never contacted.
func TestSync_refusesPrivateTargets(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"a.txt": "a\n"})
	s := startStrata(t, o, false)
	_, port, _ := strings.Cut(o.host(), ":")
	for i, host := range []string{o.host(), "localhost:" + port, "169.254.169.254", "10.1.2.3:" + port} {
		id := fmt.Sprintf("refused-%d", i)
		status, body := s.call("POST", "/api/repos", s.Token(id, auth.ScopeRepoWrite), map[string]any{
			"base_repo": map[string]any{"provider": "gitea", "owner": "team", "name": "proj", "upstream_host": host},
		})
		if status != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, status, body)
		}
		st := s.syncState(id, 1)
		if !strings.Contains(st.LastError, "refused") {
			t.Errorf("upstream %s: last error %q, want a refusal", host, st.LastError)
		}
	}
	if n := o.hits.Load(); n != 0 {
		t.Errorf("the origin on loopback was contacted %d times", n)
	}
}

// TestSync_detach: detaching is idempotent, and a detached repository no
// longer syncs (400).
func TestSync_detach(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"a.txt": "a\n"})
	s := startStrata(t, o, true)
	const id = "detached"
	s.link(id, o, "team", "proj")
	s.waitRefs(id, o.peeled("team", "proj"))
	s.syncState(id, 1)
	detach := func() (int, map[string]any) {
		return s.call("DELETE", "/api/repos/"+url.PathEscape(id)+"/base", s.Token(id, auth.ScopeGitWrite), nil)
	}
	// The run that saved its state may not have left the queue yet: 409
	// until it has, as for any client.
	deadline := time.Now().Add(30 * time.Second)
	status, body := detach()
	for status == http.StatusConflict && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		status, body = detach()
	}
	for i := range 2 {
		if i > 0 {
			status, body = detach() // idempotent
		}
		if status != http.StatusOK || body["message"] != "repository detached" {
			t.Fatalf("detach: %d %v", status, body)
		}
	}
	status, body = s.call("POST", "/api/repos/"+url.PathEscape(id)+"/pull-upstream", s.Token(id, auth.ScopeGitWrite), nil)
	if status != http.StatusBadRequest {
		t.Errorf("pull-upstream after detach: %d %v, want 400", status, body)
	}
	_, repo := s.call("GET", "/api/repos/"+url.PathEscape(id), s.Token(id, auth.ScopeGitRead), nil)
	if repo["base_repo"] != nil {
		t.Errorf("base_repo after detach: %v", repo["base_repo"])
	}
}

// TestSync_limits: a fetch larger than --sync-max-bytes is aborted and a
// redirect is not followed; neither changes a ref.
func TestSync_limits(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.create("team", "big")
	big := make([]byte, 512<<10)
	rand.Read(big)
	o.commit("big", "main", map[string]string{"blob.bin": string(big)})
	o.create("team", "small")
	o.commit("small", "main", map[string]string{"a.txt": "a\n"})
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.Outbound.AllowPrivate = true
		c.Outbound.CAFile = o.caFile
		c.Sync.MaxBytes = 64 << 10
	}))
	s := &strata{Server: srv, t: t}

	s.link("too-big", o, "team", "big")
	if st := s.syncState("too-big", 1); !strings.Contains(st.LastError, "size limit") {
		t.Errorf("oversized fetch: last error %q", st.LastError)
	}
	// The small one fits, through the same server.
	s.link("fits", o, "team", "small")
	s.waitRefs("fits", o.peeled("team", "small"))

	s.link("moved", o, "moved", "small")
	if st := s.syncState("moved", 1); st.LastError == "" {
		t.Error("a redirected upstream synced")
	}
	for _, id := range []string{"too-big", "moved"} {
		if refs := s.refs(id); len(refs) != 0 {
			t.Errorf("%s has refs after a failed sync: %v", id, refs)
		}
	}
}

// TestSync_interval: with --sync-interval linked repositories follow their
// upstream with no request.
func TestSync_interval(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"a.txt": "a\n"})
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.Outbound.AllowPrivate = true
		c.Outbound.CAFile = o.caFile
		c.Sync.Interval = 200 * time.Millisecond
	}))
	s := &strata{Server: srv, t: t}
	s.link("periodic", o, "team", "proj")
	s.waitRefs("periodic", o.peeled("team", "proj"))
	o.commit("proj", "main", map[string]string{"a.txt": "b\n"})
	s.waitRefs("periodic", o.peeled("team", "proj"))
}
