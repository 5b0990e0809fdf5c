package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/maintenance"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/servertest"
)

// client drives the REST API for one repository.
type client struct {
	t     testing.TB
	s     *servertest.Server
	id    string
	token string
}

func newClient(t testing.TB, s *servertest.Server, id string) *client {
	t.Helper()
	resp := s.Do("POST", "/api/v1/repos", s.Token(id, auth.ScopeRepoWrite), strings.NewReader(`{"default_branch":"main"}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create repository %s: %s %s", id, resp.Status, body)
	}
	return &client{t: t, s: s, id: id, token: s.Token(id, auth.ScopeGitRead, auth.ScopeGitWrite)}
}

// call sends a JSON request and decodes the JSON answer.
func (c *client) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	resp := c.s.Do(method, path, c.token, strings.NewReader(string(b)))
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		c.t.Fatalf("%s %s: %s: %v\n%s", method, path, resp.Status, err, data)
	}
	return resp.StatusCode, out
}

// tryCommitPack sends a one-file commit-pack (NDJSON: metadata, then the
// blob in one chunk) and returns the new commit, or the failure.
func (c *client) tryCommitPack(branch string, ephemeral bool, path, content string) (string, error) {
	meta := map[string]any{
		"target_branch":  branch,
		"commit_message": "write " + path,
		"author":         map[string]string{"name": "Tester", "email": "tester@example.com"},
		"files":          []map[string]string{{"path": path, "content_id": "c1"}},
	}
	if ephemeral {
		meta["ephemeral"] = true
	}
	if branch != "main" {
		meta["base_branch"] = "main" // used only when the branch is new
	}
	var body strings.Builder
	enc := json.NewEncoder(&body)
	if err := enc.Encode(map[string]any{"metadata": meta}); err != nil {
		return "", err
	}
	if err := enc.Encode(map[string]any{"blob_chunk": map[string]any{
		"content_id": "c1", "data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}}); err != nil {
		return "", err
	}
	resp := c.s.Do("POST", "/api/v1/repos/commit-pack", c.token, strings.NewReader(body.String()), "Content-Type", "application/x-ndjson")
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("commit-pack on %s: %s %s", branch, resp.Status, data)
	}
	var out struct {
		Commit struct {
			SHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	if err := json.Unmarshal(data, &out); err != nil || !git.IsFullHex(out.Commit.SHA) {
		return "", fmt.Errorf("commit-pack on %s: bad answer %s (%v)", branch, data, err)
	}
	return out.Commit.SHA, nil
}

func (c *client) commitPack(branch string, ephemeral bool, path, content string) string {
	c.t.Helper()
	sha, err := c.tryCommitPack(branch, ephemeral, path, content)
	if err != nil {
		c.t.Fatal(err)
	}
	return sha
}

// openStore opens the server's metadata database beside it (WAL lets a
// second connection read while the server writes).
func openStore(t testing.TB, dataDir string) *metadata.SQLiteStore {
	t.Helper()
	st, err := metadata.OpenSQLite(filepath.Join(dataDir, "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// repoEvents reads the ref-update feed of one repository.
func repoEvents(t testing.TB, st metadata.Store, org, id string) []events.RefUpdate {
	t.Helper()
	r, err := st.Repo(t.Context(), org, id)
	if err != nil {
		t.Fatal(err)
	}
	all, err := events.NewLog(st).Since(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.RefUpdate
	for _, e := range all {
		if e.StorageKey == r.StorageKey {
			out = append(out, e)
		}
	}
	return out
}

type wantEvent struct {
	ns            git.Namespace
	ref           string
	before, after string
}

func checkEvents(t testing.TB, got []events.RefUpdate, org, id string, since time.Time, want []wantEvent) {
	t.Helper()
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("event %+v", e)
		}
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Org != org || e.RepoID != id || e.Namespace != w.ns || string(e.Ref) != w.ref ||
			string(e.Before) != w.before || string(e.After) != w.after {
			t.Fatalf("event %d = %+v\nwant org %s repo %s %+v", i, e, org, id, w)
		}
		if i > 0 && (e.Seq <= got[i-1].Seq || e.At.Before(got[i-1].At)) {
			t.Fatalf("event %d (seq %d, %s) not after event %d (seq %d, %s)", i, e.Seq, e.At, i-1, got[i-1].Seq, got[i-1].At)
		}
		if e.At.Before(since.Add(-time.Second)) || e.At.After(time.Now().Add(time.Second)) || e.At.Location() != time.UTC {
			t.Fatalf("event %d at %s, want between %s and now, UTC", i, e.At, since)
		}
	}
}

const zero = string(git.ZeroOID)

// Every REST write that moves a ref leaves one durable event per ref, with
// the namespace split off the ref name.
func TestRefEvents_restWrites(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	start := time.Now()
	c := newClient(t, s, "team/events")
	other := newClient(t, s, "team/other") // its events must not mix in

	c1 := c.commitPack("main", false, "README.md", "one\n")
	other.commitPack("main", false, "x", "x\n")
	c2 := c.commitPack("main", false, "README.md", "two\n")
	if code, out := c.call("POST", "/api/v1/repos/branches/create", map[string]any{"target_branch": "feature", "base_branch": "main"}); code != http.StatusOK {
		t.Fatalf("create branch: %d %v", code, out)
	}
	e1 := c.commitPack("scratch", true, "tmp.txt", "ephemeral\n")
	e2 := c.commitPack("scratch", true, "tmp.txt", "ephemeral again\n")
	if code, out := c.call("DELETE", "/api/v1/repos/branches", map[string]any{"name": "feature"}); code != http.StatusOK {
		t.Fatalf("delete branch: %d %v", code, out)
	}
	if code, out := c.call("DELETE", "/api/v1/repos/branches", map[string]any{"name": "scratch", "ephemeral": true}); code != http.StatusOK {
		t.Fatalf("delete ephemeral branch: %d %v", code, out)
	}

	st := openStore(t, s.DataDir)
	checkEvents(t, repoEvents(t, st, s.Org, "team/events"), s.Org, "team/events", start, []wantEvent{
		{git.NormalNamespace, "refs/heads/main", zero, c1},
		{git.NormalNamespace, "refs/heads/main", c1, c2},
		{git.NormalNamespace, "refs/heads/feature", zero, c2},
		{git.EphemeralNamespace, "refs/heads/scratch", zero, e1},
		{git.EphemeralNamespace, "refs/heads/scratch", e1, e2},
		{git.NormalNamespace, "refs/heads/feature", c2, zero},
		{git.EphemeralNamespace, "refs/heads/scratch", e2, zero},
	})
	if got := repoEvents(t, st, s.Org, "team/other"); len(got) != 1 || got[0].RepoID != "team/other" {
		t.Fatalf("other repository's events = %+v", got)
	}
	// A failed write moves nothing and records nothing.
	if code, _ := c.call("DELETE", "/api/v1/repos/branches", map[string]any{"name": "feature"}); code != http.StatusNotFound {
		t.Fatalf("deleting a missing branch: %d", code)
	}
	if got := repoEvents(t, st, s.Org, "team/events"); len(got) != 7 {
		t.Fatalf("%d events after a failed write, want 7", len(got))
	}
}

// Events are on disk when the write is acknowledged and survive a restart;
// the feed continues after it.
func TestRefEvents_surviveRestart(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	onDir := servertest.WithConfig(func(c *config.Config) { c.DataDir = dataDir })
	start := time.Now()
	var c1, c2 string
	t.Run("before", func(t *testing.T) {
		s := servertest.Start(t, onDir)
		c := newClient(t, s, "durable")
		c1 = c.commitPack("main", false, "a", "a\n")
	}) // the server shuts down here
	t.Run("after", func(t *testing.T) {
		st := openStore(t, dataDir) // nothing serving: straight from the file
		if got := repoEvents(t, st, "acme", "durable"); len(got) != 1 || string(got[0].After) != c1 {
			t.Fatalf("events after shutdown = %+v", got)
		}
		st.Close()
		s := servertest.Start(t, onDir)
		c := &client{t: t, s: s, id: "durable", token: s.Token("durable", auth.ScopeGitRead, auth.ScopeGitWrite)}
		c2 = c.commitPack("main", false, "a", "b\n")
	})
	st := openStore(t, dataDir)
	checkEvents(t, repoEvents(t, st, "acme", "durable"), "acme", "durable", start, []wantEvent{
		{git.NormalNamespace, "refs/heads/main", zero, c1},
		{git.NormalNamespace, "refs/heads/main", c1, c2},
	})
}

// Maintenance runs in the server after writes (commit-packs racing it) and
// loses nothing: every acknowledged commit stays on its branch; servertest
// runs git fsck --strict on every repository when the test ends.
func TestMaintenance_duringCommitPacks(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.Maintenance.Interval = 0
		c.Maintenance.RefUpdates = 1
		c.Maintenance.FullInterval = 500 * time.Millisecond
	}))
	c := newClient(t, s, "busy")
	c.commitPack("main", false, "README", "base\n")
	dirs := s.RepoDirs()
	if len(dirs) != 1 {
		t.Fatalf("repositories: %v", dirs)
	}
	dir := dirs[0]

	const writers, perWriter = 3, 15
	acked := make([][]string, writers)
	failed := make([][]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				sha, err := c.tryCommitPack(fmt.Sprintf("w%d", w), false, fmt.Sprintf("w%d/f%d.txt", w, i%5), fmt.Sprintf("%d %d\n", w, i))
				if err != nil {
					failed[w] = append(failed[w], err)
					continue
				}
				acked[w] = append(acked[w], sha)
			}
		})
	}
	wg.Wait()
	// The last writes triggered a run; wait for its results on disk.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errGraph := os.Stat(filepath.Join(dir, "objects", "info", "commit-graphs", "commit-graph-chain"))
		bitmaps, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.bitmap"))
		if errGraph == nil && len(bitmaps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no commit-graph or bitmap after the writes: maintenance did not run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	nfailed := 0
	for w := range writers {
		for _, err := range failed[w] {
			// Maintenance must never make a write fail (regression: odb
			// once failed when repack removed an emptied fan-out dir).
			t.Errorf("writer %d: %v", w, err)
			nfailed++
		}
		out := runGit(t, dir, "rev-list", "refs/heads/w"+fmt.Sprint(w))
		for _, sha := range acked[w] {
			if !strings.Contains(out, sha) {
				t.Fatalf("acknowledged commit %s of writer %d is not on its branch", sha, w)
			}
		}
	}
	if nfailed > 0 {
		t.Fatalf("%d of %d commit-packs failed during maintenance", nfailed, writers*perWriter)
	}
}

// The server's maintenance flags default to the worker's own defaults.
func TestMaintenanceDefaults(t *testing.T) {
	t.Parallel()
	c, o := config.Default().Maintenance, maintenance.DefaultOptions()
	if !c.Enabled || c.Workers != o.Workers || c.Interval != o.Interval || c.RefUpdates != o.RefUpdates ||
		c.LooseObjects != o.LooseObjects || c.FullInterval != o.FullInterval || c.PruneGrace != o.PruneGrace ||
		c.PushObjects != o.PushObjects || c.PushBytes != o.PushBytes || c.Packs != o.MaxPacks {
		t.Fatalf("config defaults %+v differ from maintenance defaults %+v", c, o)
	}
}

func runGit(t testing.TB, gitDir string, args ...string) string {
	t.Helper()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Output(t.Context(), gitDir, git.Command{Name: args[0], Flags: args[1:]})
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}
