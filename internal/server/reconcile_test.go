package server_test

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/servertest"
)

// runMarker is the file a running server keeps in its data dir.
func runMarker(dataDir string) string { return filepath.Join(dataDir, "strata.running") }

func markerExists(t *testing.T, dataDir string) bool {
	t.Helper()
	_, err := os.Stat(runMarker(dataDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// simulateCrash puts back the marker a killed server would have left.
func simulateCrash(t *testing.T, dataDir string) {
	t.Helper()
	if err := os.WriteFile(runMarker(dataDir), []byte("pid 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// repoDir is the bare repository of (acme, id).
func repoDir(t *testing.T, dataDir, id string) string {
	t.Helper()
	st := openStore(t, dataDir)
	defer st.Close()
	r, err := st.Repo(t.Context(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dataDir, "repos", r.StorageKey[:2], r.StorageKey+".git")
}

// A clean restart synthesizes nothing. After a crash that moved refs with
// their events lost, the next start appends exactly the missing events,
// before serving; the start after that appends nothing.
func TestCrashReconciliation(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	onDir := servertest.WithConfig(func(c *config.Config) { c.DataDir = dataDir })
	start := time.Now()
	var c1, c2, e1 string
	t.Run("first run", func(t *testing.T) {
		s := servertest.Start(t, onDir)
		if !markerExists(t, dataDir) {
			t.Fatal("no run marker while serving")
		}
		c := newClient(t, s, "crashy")
		c1 = c.commitPack("main", false, "a", "1\n")
		c2 = c.commitPack("main", false, "a", "2\n")
		if code, out := c.call("POST", "/api/v1/repos/branches/create", map[string]any{"target_branch": "feature", "base_branch": "main"}); code != http.StatusOK {
			t.Fatalf("create branch: %d %v", code, out)
		}
		e1 = c.commitPack("scratch", true, "t", "e\n")
	})
	if markerExists(t, dataDir) {
		t.Fatal("run marker left after a clean shutdown")
	}
	recorded := []wantEvent{
		{git.NormalNamespace, "refs/heads/main", zero, c1},
		{git.NormalNamespace, "refs/heads/main", c1, c2},
		{git.NormalNamespace, "refs/heads/feature", zero, c2},
		{git.EphemeralNamespace, "refs/heads/scratch", zero, e1},
	}
	check := func(want []wantEvent) {
		t.Helper()
		st := openStore(t, dataDir)
		defer st.Close()
		checkEvents(t, repoEvents(t, st, "acme", "crashy"), "acme", "crashy", start, want)
	}
	check(recorded)

	t.Run("clean restart", func(t *testing.T) { servertest.Start(t, onDir) })
	check(recorded)

	// The crash: refs moved (as if by writes whose events were lost) and
	// the marker left behind.
	dir := repoDir(t, dataDir, "crashy")
	runGit(t, dir, "update-ref", "refs/heads/main", c1, c2)
	runGit(t, dir, "update-ref", "-d", "refs/heads/feature", c2)
	runGit(t, dir, "update-ref", "refs/namespaces/ephemeral/refs/heads/scratch", c2, e1)
	runGit(t, dir, "update-ref", "refs/tags/v1", c1)
	// A git killed mid-transaction left its lock on main.
	lock := filepath.Join(dir, "refs", "heads", "main.lock")
	if err := os.WriteFile(lock, []byte(c2+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	simulateCrash(t, dataDir)
	var c3 string
	t.Run("restart after crash", func(t *testing.T) {
		s := servertest.Start(t, onDir) // its cleanup runs git fsck --strict
		if _, err := os.Stat(lock); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the dead run's lock on main is still there: %v", err)
		}
		c := &client{t: t, s: s, id: "crashy", token: s.Token("crashy", auth.ScopeGitRead, auth.ScopeGitWrite)}
		c3 = c.commitPack("main", false, "a", "3\n")
	})
	reconciled := slices.Concat(recorded, []wantEvent{
		{git.NormalNamespace, "refs/heads/feature", c2, zero},
		{git.NormalNamespace, "refs/heads/main", c2, c1},
		{git.NormalNamespace, "refs/tags/v1", zero, c1},
		{git.EphemeralNamespace, "refs/heads/scratch", e1, c2},
		{git.NormalNamespace, "refs/heads/main", c1, c3},
	})
	check(reconciled)
	if markerExists(t, dataDir) {
		t.Fatal("run marker left after a clean shutdown")
	}
	if out := runGit(t, dir, "fsck", "--strict", "--no-dangling", "--no-progress"); out != "" {
		t.Fatalf("git fsck: %s", out)
	}

	simulateCrash(t, dataDir) // a crash that moved nothing
	t.Run("restart after idle crash", func(t *testing.T) { servertest.Start(t, onDir) })
	check(reconciled)
}

// A start whose reconciliation fails for a repository still serves, but
// keeps the marker: the next start reconciles again, and catches up.
func TestCrashReconciliation_failureKeepsMarker(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	onDir := servertest.WithConfig(func(c *config.Config) { c.DataDir = dataDir })
	start := time.Now()
	var c1 string
	t.Run("first run", func(t *testing.T) {
		s := servertest.Start(t, onDir)
		c1 = newClient(t, s, "fragile").commitPack("main", false, "a", "1\n")
	})
	dir := repoDir(t, dataDir, "fragile")
	runGit(t, dir, "update-ref", "refs/heads/lost", c1)
	simulateCrash(t, dataDir)
	t.Run("restart with an unreadable repository", func(t *testing.T) {
		// Not a repository while the server starts: for-each-ref fails.
		hidden := dir + ".hidden"
		if err := os.Rename(dir, hidden); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := servertest.Start(t, onDir)
		// Registered after Start's, so it runs first: the repository is
		// whole again for the shutdown's fsck.
		t.Cleanup(func() {
			if err := os.Remove(dir); err != nil {
				t.Error(err)
			}
			if err := os.Rename(hidden, dir); err != nil {
				t.Error(err)
			}
		})
		resp := s.Do("GET", "/healthz", "", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %s", resp.Status)
		}
	})
	if !markerExists(t, dataDir) {
		t.Fatal("run marker removed although the reconciliation failed")
	}
	t.Run("restart", func(t *testing.T) { servertest.Start(t, onDir) })
	if markerExists(t, dataDir) {
		t.Fatal("run marker left after a reconciled run's clean shutdown")
	}
	st := openStore(t, dataDir)
	checkEvents(t, repoEvents(t, st, "acme", "fragile"), "acme", "fragile", start, []wantEvent{
		{git.NormalNamespace, "refs/heads/main", zero, c1},
		{git.NormalNamespace, "refs/heads/lost", zero, c1},
	})
}
