package upstream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/secretbox"
	"github.com/strata-storage/strata/internal/servertest"
	"github.com/strata-storage/strata/internal/upstream"
)

// writable lets the origin's owner/name.git take pushes (git
// http-backend refuses them to anonymous requests by default).
func (o *origin) writable(owner, name string) {
	o.t.Helper()
	runGit(o.t, filepath.Join(o.root, owner, name+".git"), "config", "http.receivepack", "true")
}

// ref is the origin's value of ref, "" when it lacks it.
func (o *origin) ref(owner, name, ref string) string {
	o.t.Helper()
	cmd := exec.Command("git", "rev-parse", "--verify", "-q", ref)
	cmd.Dir = filepath.Join(o.root, owner, name+".git")
	cmd.Env = gitEnv()
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

// waitRef polls until the origin's ref is want ("": absent).
func (o *origin) waitRef(owner, name, ref, want string) {
	o.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for got := o.ref(owner, name, ref); got != want; got = o.ref(owner, name, ref) {
		if time.Now().After(deadline) {
			o.t.Fatalf("origin %s/%s %s = %q, want %q", owner, name, ref, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fsck checks the origin's repository.
func (o *origin) fsck(owner, name string) {
	o.t.Helper()
	runGit(o.t, filepath.Join(o.root, owner, name+".git"), "fsck", "--full", "--strict")
}

// startMirroring runs a server that may reach the origin and retries
// push-backs quickly.
func startMirroring(t *testing.T, o *origin) *strata {
	t.Helper()
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.Outbound.AllowPrivate = true
		c.Outbound.CAFile = o.caFile
		c.Sync.MirrorBackoff = 100 * time.Millisecond
	}))
	return &strata{Server: srv, t: t}
}

// linkWritable links id to the origin's owner/name with the origin's
// credential, and waits until the first sync brought its refs.
func (s *strata) linkWritable(id string, o *origin, owner, name string) {
	s.t.Helper()
	s.link(id, o, owner, name)
	if o.user != "" {
		status, body := s.call("POST", "/api/repos/"+url.PathEscape(id)+"/git-credentials", s.Token(id, auth.ScopeRepoWrite),
			map[string]any{"username": o.user, "password": o.pass})
		if status != http.StatusCreated {
			s.t.Fatalf("create credential: %d %v", status, body)
		}
	}
	s.pull(id, nil)
	s.waitRefs(id, o.peeled(owner, name))
	s.syncState(id, 2)
}

// commit commits one file to branch through commit-pack and returns the
// commit's id.
func (s *strata) commit(id, branch, path, content string) string {
	s.t.Helper()
	meta, _ := json.Marshal(map[string]any{"metadata": map[string]any{"target_branch": branch, "commit_message": "edit " + path,
		"author": map[string]any{"name": "L", "email": "l@example.com"},
		"files":  []any{map[string]any{"path": path, "content_id": "c", "operation": "upsert"}}}})
	chunk, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c", "data": []byte(content), "eof": true}})
	resp := s.Do("POST", "/api/repos/"+url.PathEscape(id)+"/commit-pack", s.Token(id, auth.ScopeGitWrite),
		bytes.NewReader(append(append(meta, '\n'), append(chunk, '\n')...)), "Content-Type", "application/x-ndjson")
	defer resp.Body.Close()
	var ack struct {
		Commit struct {
			SHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	json.NewDecoder(resp.Body).Decode(&ack)
	if resp.StatusCode != http.StatusCreated || ack.Commit.SHA == "" {
		s.t.Fatalf("commit to %s: %d", branch, resp.StatusCode)
	}
	return ack.Commit.SHA
}

// mirrorPushes reads the repository's push-back queue from the server's
// metadata, newest first.
func (s *strata) mirrorPushes(id string) []metadata.MirrorPush {
	s.t.Helper()
	db, err := metadata.OpenSQLite(filepath.Join(s.DataDir, "strata.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	m, err := db.Repo(context.Background(), s.Org, id)
	if err != nil {
		s.t.Fatal(err)
	}
	ps, err := db.MirrorPushes(context.Background(), m.StorageKey, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return ps
}

// waitPushes polls until the newest push-back of the repository
// satisfies ok, and returns it.
func (s *strata) waitPushes(id string, ok func(newest metadata.MirrorPush) bool) metadata.MirrorPush {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ps := s.mirrorPushes(id)
		if len(ps) > 0 && ok(ps[0]) {
			return ps[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("push-backs of %s: %+v", id, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settledPushes waits until none of the repository's push-backs is
// pending (the origin can have a value before its push is recorded) and
// returns them.
func (s *strata) settledPushes(id string) []metadata.MirrorPush {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ps := s.mirrorPushes(id)
		if !slices.ContainsFunc(ps, func(p metadata.MirrorPush) bool { return p.Status == metadata.MirrorPending }) {
			return ps
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("push-backs of %s still pending: %+v", id, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the value of the sample line that starts with name.
func (s *strata) metric(name string) string {
	s.t.Helper()
	resp := s.Do("GET", "/metrics", "", nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestMirror_pushesBack: REST writes and git pushes to a linked
// repository with a credential reach the upstream, in order: commits,
// a new branch, a branch deletion, a tag; the ephemeral namespace never
// does.
func TestMirror_pushesBack(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.user, o.pass = "deploy", "s3cret-Pa55"
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"README.md": "v1\n"})
	o.commit("proj", "old", map[string]string{"old.txt": "o\n"})
	o.writable("team", "proj")
	s := startMirroring(t, o)
	const id = "mirror/proj"
	s.linkWritable(id, o, "team", "proj")

	// A REST commit.
	sha := s.commit(id, "main", "docs/a.md", "from the API\n")
	o.waitRef("team", "proj", "refs/heads/main", sha)

	// An ephemeral branch, then a real git push of main and a new branch.
	status, body := s.call("POST", "/api/repos/"+url.PathEscape(id)+"/branches/create", s.Token(id, auth.ScopeGitWrite),
		map[string]any{"target_branch": "scratch", "base_ref": "main", "target_is_ephemeral": true})
	if status != http.StatusOK {
		t.Fatalf("create ephemeral branch: %d %v", status, body)
	}
	work := t.TempDir()
	remote := strings.Replace(s.URL, "://", "://t:"+s.Token(id, auth.ScopeGitWrite)+"@", 1) + "/" + id + ".git"
	runGit(t, "", "clone", "-q", remote, work)
	if err := os.WriteFile(filepath.Join(work, "pushed.txt"), []byte("by git push\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, work, "add", "-A")
	runGit(t, work, "commit", "-q", "-m", "pushed")
	pushed := runGit(t, work, "rev-parse", "HEAD")
	runGit(t, work, "push", "-q", "origin", "HEAD:refs/heads/main", "HEAD:refs/heads/feature")
	o.waitRef("team", "proj", "refs/heads/main", pushed)
	o.waitRef("team", "proj", "refs/heads/feature", pushed)

	// A branch deleted and a tag created through the API; then one more
	// commit, so that everything before it was handled when it arrives.
	status, body = s.call("DELETE", "/api/repos/"+url.PathEscape(id)+"/branches", s.Token(id, auth.ScopeGitWrite),
		map[string]any{"target_branch": "old"})
	if status != http.StatusOK {
		t.Fatalf("delete branch: %d %v", status, body)
	}
	status, body = s.call("POST", "/api/repos/"+url.PathEscape(id)+"/tags", s.Token(id, auth.ScopeGitWrite),
		map[string]any{"name": "v2", "ref": "main"})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("create tag: %d %v", status, body)
	}
	last := s.commit(id, "feature", "f.txt", "last\n")
	o.waitRef("team", "proj", "refs/heads/feature", last)
	if got := o.ref("team", "proj", "refs/heads/old"); got != "" {
		t.Errorf("origin still has the deleted branch at %s", got)
	}
	if got := o.ref("team", "proj", "refs/tags/v2^{commit}"); got != pushed {
		t.Errorf("origin tag v2 = %q, want %s", got, pushed)
	}
	for _, l := range o.refs("team", "proj") {
		if strings.Contains(l, "scratch") {
			t.Errorf("an ephemeral branch reached the origin: %s", l)
		}
	}
	// The repository and the upstream agree, and the origin is sound.
	s.waitRefs(id, o.peeled("team", "proj"))
	o.fsck("team", "proj")
	for _, p := range s.settledPushes(id) {
		if p.Status == metadata.MirrorFailed {
			t.Errorf("push-back %+v", p)
		}
	}
	if v := s.metric("strata_mirror_pushes_failed_total"); v != "0" {
		t.Errorf("strata_mirror_pushes_failed_total = %q", v)
	}
}

// hookReceiver is a webhook receiver on loopback (TLS, the origin's
// certificate): it records every body.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{}
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, m)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

// wait polls until a body satisfies ok.
func (rc *hookReceiver) wait(t *testing.T, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		rc.mu.Lock()
		for _, b := range rc.bodies {
			if ok(b) {
				rc.mu.Unlock()
				return b
			}
		}
		rc.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no such webhook delivery; got %v", rc.bodies)
	return nil
}

// TestMirror_divergedUpstream: an upstream branch that changed there is
// never overwritten; the push-back fails visibly (state, metric,
// repo.sync.failed) and other refs are still pushed.
func TestMirror_divergedUpstream(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.user, o.pass = "deploy", "s3cret-Pa55"
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"README.md": "v1\n"})
	o.writable("team", "proj")
	s := startMirroring(t, o)
	rc := newHookReceiver(t)
	status, body := s.call("POST", "/api/v1/webhooks", s.Token("org", auth.ScopeRepoWrite),
		map[string]any{"url": rc.URL, "events": []string{"repo.sync.failed"}})
	if status != http.StatusCreated {
		t.Fatalf("create webhook: %d %v", status, body)
	}
	const id = "diverged"
	s.linkWritable(id, o, "team", "proj")

	theirs := o.commit("proj", "main", map[string]string{"README.md": "changed upstream\n"})
	ours := s.commit(id, "main", "local.txt", "changed here\n")
	p := s.waitPushes(id, func(p metadata.MirrorPush) bool { return p.Status != metadata.MirrorPending })
	if p.Status != metadata.MirrorFailed || !strings.Contains(p.LastError, "not overwritten") {
		t.Fatalf("push-back of a diverged branch: %+v", p)
	}
	if got := o.ref("team", "proj", "refs/heads/main"); got != theirs {
		t.Fatalf("origin main = %s, want the upstream's own %s", got, theirs)
	}
	ev := rc.wait(t, func(b map[string]any) bool {
		msg, _ := b["error"].(string)
		return b["type"] == "repo.sync.failed" && strings.Contains(msg, "push-back")
	})
	if msg, _ := ev["error"].(string); !strings.Contains(msg, "refs/heads/main") || !strings.Contains(msg, "not overwritten") {
		t.Errorf("repo.sync.failed error = %q", msg)
	}
	if repoObj, _ := ev["repository"].(map[string]any); repoObj["id"] != id {
		t.Errorf("repo.sync.failed repository = %v", ev["repository"])
	}
	if v := s.metric("strata_mirror_pushes_failed_total"); v != "1" {
		t.Errorf("strata_mirror_pushes_failed_total = %q, want 1", v)
	}
	if v := s.metric(`strata_mirror_push_attempts_total{outcome="rejected"}`); v != "1" {
		t.Errorf(`strata_mirror_push_attempts_total{outcome="rejected"} = %q, want 1`, v)
	}
	// Another branch is still pushed.
	status, body = s.call("POST", "/api/repos/"+url.PathEscape(id)+"/branches/create", s.Token(id, auth.ScopeGitWrite),
		map[string]any{"target_branch": "side", "base_ref": "main"})
	if status != http.StatusOK {
		t.Fatalf("create branch: %d %v", status, body)
	}
	o.waitRef("team", "proj", "refs/heads/side", ours)
	o.fsck("team", "proj")
}

// TestMirror_deadUpstream: an unreachable upstream is retried with
// backoff; the pushes arrive, in order, once it is back.
func TestMirror_deadUpstream(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.user, o.pass = "deploy", "s3cret-Pa55"
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"README.md": "v1\n"})
	o.writable("team", "proj")
	s := startMirroring(t, o)
	const id = "dead"
	s.linkWritable(id, o, "team", "proj")

	o.down.Store(true)
	first := s.commit(id, "main", "a.txt", "1\n")
	s.waitPushes(id, func(p metadata.MirrorPush) bool { return p.Attempts >= 2 })
	second := s.commit(id, "main", "a.txt", "2\n")
	if got := o.ref("team", "proj", "refs/heads/main"); got == first || got == second {
		t.Fatal("pushed while the origin was down")
	}
	if v := s.metric(`strata_mirror_push_attempts_total{outcome="error"}`); v == "" || v == "0" {
		t.Errorf(`strata_mirror_push_attempts_total{outcome="error"} = %q`, v)
	}
	o.down.Store(false)
	o.waitRef("team", "proj", "refs/heads/main", second)
	o.fsck("team", "proj")
	for _, p := range s.settledPushes(id) {
		if p.Status != metadata.MirrorPushed {
			t.Errorf("push-back after recovery: %+v", p)
		}
	}
}

// TestMirror_noCredential: a linked repository without a credential is
// never pushed from.
func TestMirror_noCredential(t *testing.T) {
	t.Parallel()
	o := newOrigin(t) // no authentication: pushes would be accepted
	o.create("team", "proj")
	tip := o.commit("proj", "main", map[string]string{"README.md": "v1\n"})
	o.writable("team", "proj")
	s := startMirroring(t, o)
	const id = "readonly"
	s.linkWritable(id, o, "team", "proj")
	s.commit(id, "main", "local.txt", "here only\n")
	p := s.waitPushes(id, func(p metadata.MirrorPush) bool { return p.Status != metadata.MirrorPending })
	if p.Status != metadata.MirrorSkipped || p.Attempts != 0 {
		t.Fatalf("push-back without a credential: %+v", p)
	}
	if got := o.ref("team", "proj", "refs/heads/main"); got != tip {
		t.Fatalf("origin main moved to %s without a credential", got)
	}
}

// eventRecorder is a repo.RefObserver that appends ref events, as the
// server's does.
type eventRecorder struct{ log *events.Log }

func (e eventRecorder) RefsUpdated(ctx context.Context, key string, updates []refs.Update) {
	if _, err := e.log.Record(ctx, key, updates, time.Now()); err != nil {
		panic(err)
	}
}

// syncedBuffer is a log destination safe for concurrent writes.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestMirror_resumesAfterRestart: push-backs are durable. Updates queued
// while the upstream is down, by a mirror that is then stopped, are
// pushed by a new mirror on a newly opened store; the credential's
// password appears in no log line.
func TestMirror_resumesAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOrigin(t)
	o.user, o.pass = "deploy", "s3cret-Pa55-do-not-log"
	o.create("team", "proj")
	base := o.commit("proj", "main", map[string]string{"a.txt": "a\n"})
	o.writable("team", "proj")

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "strata.db")
	store, err := metadata.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	defer cache.Stop()
	repos, err := repo.NewManager(filepath.Join(dir, "repos"), f, cache, eventRecorder{events.NewLog(store)})
	if err != nil {
		t.Fatal(err)
	}
	defer repos.Close()
	key := make([]byte, 32)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	client := outbound.New(outbound.Options{AllowPrivate: true})
	defer client.Close()
	bundle := filepath.Join(dir, "ca.pem")
	if err := upstream.WriteCABundle(bundle, o.caFile); err != nil {
		t.Fatal(err)
	}
	var logs syncedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	m, err := store.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "durable", DefaultBranch: "main",
		BaseRepo: &metadata.BaseRepo{Provider: "gitlab", Owner: "team", Name: "proj", UpstreamHost: o.host()}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repos.Create(ctx, m.StorageKey, "main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gitcred.New(store, box).Create(ctx, "acme", "durable", o.user, gitcred.Password(o.pass)); err != nil {
		t.Fatal(err)
	}
	// The repository starts as a synced copy of the origin.
	runGit(t, r.Path(), "fetch", "-q", filepath.Join(o.root, "team", "proj.git"), "refs/heads/main:refs/heads/main")
	if err := store.SaveSyncState(ctx, metadata.SyncState{StorageKey: m.StorageKey, RunCount: 1, LastSuccess: time.Now(),
		SyncedRefs: map[string]string{"refs/heads/main": base}}); err != nil {
		t.Fatal(err)
	}

	start := func(store metadata.Store) *upstream.Mirror {
		vault := gitcred.New(store, box)
		syncer := upstream.New(store, repos, f, vault, client, nil, log, upstream.Options{CABundle: bundle})
		mirror := upstream.NewMirror(store, repos, f, syncer, client, nil, log,
			upstream.MirrorOptions{CABundle: bundle, Backoff: 50 * time.Millisecond, Poll: 20 * time.Millisecond})
		mirror.Start()
		return mirror
	}
	// A commit made here, with git plumbing, moved by the one ref path.
	commitHere := func(parent, msg string) string {
		tree := runGit(t, r.Path(), "rev-parse", parent+"^{tree}")
		sha := runGit(t, r.Path(), "commit-tree", "-p", parent, "-m", msg, tree)
		if err := r.UpdateRefs(ctx, refs.Update{Ref: "refs/heads/main", Old: git.ObjectID(parent), New: git.ObjectID(sha)}); err != nil {
			t.Fatal(err)
		}
		return sha
	}

	o.down.Store(true)
	mirror := start(store)
	one := commitHere(base, "one")
	waitFor(t, func() bool {
		ps, err := store.MirrorPushes(ctx, m.StorageKey, 0)
		return err == nil && len(ps) == 1 && ps[0].Attempts >= 1
	})
	mirror.Stop()
	two := commitHere(one, "two") // queued by nobody yet: the feed keeps it
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	o.down.Store(false)
	store, err = metadata.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mirror = start(store)
	defer mirror.Stop()
	o.waitRef("team", "proj", "refs/heads/main", two)
	o.fsck("team", "proj")
	waitFor(t, func() bool {
		n, err := store.PendingMirrorPushes(ctx)
		return err == nil && n == 0
	})
	ps, err := store.MirrorPushes(ctx, m.StorageKey, 0)
	if err != nil || len(ps) != 2 || ps[0].Status != metadata.MirrorPushed || ps[1].Status != metadata.MirrorPushed {
		t.Fatalf("push-backs after restart: %+v, %v", ps, err)
	}
	if strings.Contains(logs.String(), o.pass) {
		t.Fatal("the credential's password was logged")
	}
	if !strings.Contains(logs.String(), "will retry") {
		t.Errorf("no retry was logged:\n%s", logs.String())
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
