package githttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/signing"
)

// fakeVerifier accepts the tokens it knows.
type fakeVerifier map[string]*auth.Principal

func (v fakeVerifier) Verify(token string) (*auth.Principal, error) {
	if p, ok := v[token]; ok {
		c := *p
		return &c, nil
	}
	return nil, auth.ErrInvalidToken
}

// handlerEnv is a Handler over plain HTTP with one empty repository,
// "app" of org "acme", and a git:write token "write".
type handlerEnv struct {
	h    *Handler
	srv  *httptest.Server
	meta metadata.Repo
	repo *repo.Repo
}

// newHandlerEnv builds the Handler; edit may change its Config (the pack
// cache is off unless an edit sets one).
func newHandlerEnv(t *testing.T, limits Limits, edit ...func(*Config)) *handlerEnv {
	t.Helper()
	dir := t.TempDir()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := metadata.OpenSQLite(filepath.Join(dir, "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	repos, err := repo.NewManager(filepath.Join(dir, "repos"), f, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repos.Close)
	ctx := context.Background()
	meta, err := store.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "app", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := repos.Create(ctx, meta.StorageKey, "main")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.Prepare(filepath.Join(dir, "signing"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Verifier: fakeVerifier{
			"write": {Org: "acme", Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite}},
		},
		Store: store, Repos: repos, Git: f, Limits: limits, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HooksDir: filepath.Join(dir, "hooks"), Signing: keys,
	}
	for _, e := range edit {
		e(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &handlerEnv{h: h, srv: srv, meta: meta, repo: rp}
}

// git runs the git CLI with no configuration.
func runGit(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com", "LANG=C")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustRunGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(t, dir, args...)
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return out
}

func (e *handlerEnv) url() string {
	return strings.Replace(e.srv.URL, "http://", "http://t:write@", 1) + "/app.git"
}

func TestMaxPushBytes(t *testing.T) {
	t.Parallel()
	e := newHandlerEnv(t, Limits{MaxPushBytes: 4 << 10})
	dir := t.TempDir()
	mustRunGit(t, dir, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "big"), []byte(strings.Repeat("incompressible? no, but big enough ", 1)+randomish(64<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRunGit(t, dir, "add", ".")
	mustRunGit(t, dir, "commit", "-q", "-m", "big")
	out, err := runGit(t, dir, "push", e.url(), "main")
	if err == nil {
		t.Fatalf("push of a 64 KiB file with a 4 KiB limit succeeded:\n%s", out)
	}
	if !strings.Contains(out, "pack exceeds maximum allowed size") {
		t.Fatalf("no clear error:\n%s", out)
	}
	if _, err := e.repo.ReadRef("refs/heads/main"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("main exists after a refused push: %v", err)
	}
}

func TestPackQueue(t *testing.T) {
	t.Parallel()
	e := newHandlerEnv(t, Limits{MaxConcurrentPacks: 1, PackQueueTimeout: 50 * time.Millisecond})
	release, err := e.h.packs.Acquire(context.Background(), "other", time.Minute) // the one slot is busy
	if err != nil {
		t.Fatal(err)
	}
	post := func() *http.Response {
		req, _ := http.NewRequest("POST", e.srv.URL+"/app.git/git-upload-pack", strings.NewReader("0000"))
		req.SetBasicAuth("t", "write")
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := post()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// A waiter gets the slot once it is released.
	go func() {
		time.Sleep(10 * time.Millisecond)
		release()
	}()
	e.h.limits.PackQueueTimeout = 5 * time.Second
	if resp := post(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d after the slot was released", resp.StatusCode)
	}
	if n := e.h.packs.InUse(); n != 0 {
		t.Fatalf("%d slots still held", n)
	}
}

// The server's compare-and-swap refuses a command whose old value is no
// longer the ref's value, whatever the client believed.
func TestPushSession_staleOld(t *testing.T) {
	t.Parallel()
	e := newHandlerEnv(t, Limits{})
	ctx := context.Background()
	tree := mustRunGit(t, e.repo.Path(), "mktree")
	a := git.ObjectID(mustRunGit(t, e.repo.Path(), "commit-tree", "-m", "a", tree))
	b := git.ObjectID(mustRunGit(t, e.repo.Path(), "commit-tree", "-m", "b", "-p", string(a), tree))
	c := git.ObjectID(mustRunGit(t, e.repo.Path(), "commit-tree", "-m", "c", "-p", string(b), tree))
	if err := e.repo.UpdateRefs(ctx, refs.Update{Ref: "refs/heads/main", Old: git.ZeroOID, New: b}); err != nil {
		t.Fatal(err)
	}
	s := &pushSession{h: e.h, req: &request{
		route: route{repoID: "app"}, service: serviceReceivePack, meta: e.meta, repo: e.repo,
		principal: &auth.Principal{Org: "acme", Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite}},
	}}
	out := &bandWriter{w: io.Discard}
	got := s.process(ctx, []pushCommand{
		{Old: a, New: c, Ref: "refs/heads/main"},            // stale: main moved a -> b
		{Old: git.ZeroOID, New: c, Ref: "refs/heads/main2"}, // fine
	}, false, out)
	if !strings.Contains(got[0], "changed concurrently") || got[1] != "" {
		t.Fatalf("reasons = %q", got)
	}
	if oid, _ := e.repo.ReadRef("refs/heads/main"); oid != b {
		t.Fatalf("main = %s, want %s", oid, b)
	}
	// Atomic: the stale command fails the whole push.
	got = s.process(ctx, []pushCommand{
		{Old: a, New: c, Ref: "refs/heads/main"},
		{Old: git.ZeroOID, New: c, Ref: "refs/heads/main3"},
	}, true, out)
	if !strings.Contains(got[0], "changed concurrently") || !strings.Contains(got[1], "changed concurrently") {
		t.Fatalf("atomic reasons = %q", got)
	}
	if _, err := e.repo.ReadRef("refs/heads/main3"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("main3 was created by a failed atomic push: %v", err)
	}
	// Atomic: a command receive-pack refused itself (never sent to the
	// hook) fails the rest too.
	s.sent = pushRequest{atomic: true, commands: []pushCommand{
		{Old: git.ZeroOID, New: c, Ref: "refs/heads/main4"},
		{Old: git.ZeroOID, New: c, Ref: "refs/heads/hidden"},
	}}
	got = s.process(ctx, []pushCommand{{Old: git.ZeroOID, New: c, Ref: "refs/heads/main4"}}, true, out)
	if got[0] != "atomic push failure" {
		t.Fatalf("atomic reasons = %q", got)
	}
}

func randomish(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return string(b)
}

func TestGzipRequest(t *testing.T) {
	t.Parallel()
	e := newHandlerEnv(t, Limits{MaxRequestBytes: 1 << 10})
	post := func(body []byte) (int, string) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/app.git/git-upload-pack", strings.NewReader(string(body)))
		req.SetBasicAuth("t", "write")
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Git-Protocol", "version=2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	lsRefs := pkts("command=ls-refs\n", "object-format=sha1\n") + "0001" + pkts("symrefs\n", "")
	if status, body := post(gzipped(lsRefs)); status != 200 || body != "0000" {
		t.Fatalf("ls-refs: %d %q", status, body)
	}
	if status, _ := post([]byte("not gzip")); status != http.StatusBadRequest {
		t.Fatalf("bad gzip: %d", status)
	}
	// A small body that inflates past MaxRequestBytes is cut off.
	bomb := pkts("command=ls-refs\n") + "0001" + strings.Repeat(pkts("peel\n"), 1000) + "0000"
	if status, body := post(gzipped(bomb)); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("gzip bomb: %d %q", status, body)
	}
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestPushSession_refNames(t *testing.T) {
	t.Parallel()
	e := newHandlerEnv(t, Limits{})
	ctx := context.Background()
	tree := mustRunGit(t, e.repo.Path(), "mktree")
	c := git.ObjectID(mustRunGit(t, e.repo.Path(), "commit-tree", "-m", "c", tree))
	for _, tc := range []struct {
		ns     remote
		ref    string
		reason string
	}{
		{remoteNormal, "refs/heads/ok", ""},
		{remoteNormal, "refs/tags/v1", ""},
		{remoteNormal, "refs/notes/commits", ""},
		{remoteNormal, "HEAD", "funny refname"},
		{remoteNormal, "refs/heads/a..b", "funny refname"},
		{remoteNormal, "refs/heads/-x", "invalid branch name"},
		{remoteNormal, "refs/heads/HEAD", "invalid branch name"},
		{remoteNormal, "refs/heads/@", "invalid branch name"},
		{remoteNormal, "refs/heads/refs/tags/v9", "invalid branch name"},
		{remoteNormal, "refs/tags/-v", "invalid tag name"},
		{remoteNormal, "refs/tags/HEAD", "invalid tag name"},
		{remoteNormal, "refs/pull/1/head", "refs outside refs/heads/, refs/tags/ and refs/notes/"},
		{remoteNormal, "refs/stash", "refs outside refs/heads/, refs/tags/ and refs/notes/"},
		{remoteNormal, "refs/namespaces/ephemeral/refs/heads/x", "reserved"},
		{remoteEphemeral, "refs/heads/ok", ""},
		{remoteEphemeral, "refs/tags/v1", "tags cannot be pushed to the ephemeral remote"},
		{remoteEphemeral, "refs/notes/commits", "branches (refs/heads/*) only"},
	} {
		s := &pushSession{h: e.h, req: &request{
			route: route{repoID: "app", remote: tc.ns}, service: serviceReceivePack, meta: e.meta, repo: e.repo,
			principal: &auth.Principal{Org: "acme", Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite}},
		}}
		got := s.process(ctx, []pushCommand{{Old: git.ZeroOID, New: c, Ref: tc.ref}}, false, &bandWriter{w: io.Discard})[0]
		if tc.reason == "" && got != "" || !strings.Contains(got, tc.reason) {
			t.Errorf("%v %s: reason %q, want %q", tc.ns, tc.ref, got, tc.reason)
		}
	}
}

// availableReader takes what a pipe holds without waiting for more, and
// only from a non-blocking pipe.
func TestAvailableReader(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	more := availableReader(r)
	if more == nil {
		t.Fatal("no availableReader for an os.Pipe")
	}
	if availableReader(strings.NewReader("x")) != nil {
		t.Error("availableReader for a strings.Reader")
	}
	done := make(chan int, 1)
	buf := make([]byte, 64)
	go func() { done <- more(buf) }()
	select {
	case n := <-done:
		if n != 0 {
			t.Fatalf("read %d bytes from an empty pipe", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("availableReader waited on an empty pipe")
	}
	for _, s := range []string{"first ", "second ", "third"} {
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	n, err := r.Read(buf[:6])
	if err != nil || string(buf[:n]) != "first " {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	n += more(buf[n:])
	if string(buf[:n]) != "first second third" {
		t.Errorf("with what was available: %q", buf[:n])
	}
	// A full buffer stops it; the rest stays for the next read.
	w.WriteString("0123456789")
	small := make([]byte, 4)
	if got := more(small); got != 4 || string(small) != "0123" {
		t.Errorf("into 4 bytes: %d, %q", got, small)
	}
	w.Close()
	rest, _ := io.ReadAll(r)
	if string(rest) != "456789" {
		t.Errorf("left for the next read: %q", rest)
	}
}
