package interop

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/gittest"
	"github.com/strata-storage/strata/internal/servertest"
	"github.com/strata-storage/strata/vfs"
)

// TestThreeDoors_raceOnOneBranch: the library (in this process, on the
// server's repository directory), `git push` through the server and REST
// commit-packs all commit to main at once. Each door's acknowledged commits
// must all be in main's history at the end — none silently overwritten —
// and the repository must pass git fsck --full.
func TestThreeDoors_raceOnOneBranch(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	token, dir := createRepo(t, srv, "race")
	if _, err := commitPack(srv, token, "seed.txt", "seed\n"); err != nil {
		t.Fatal(err)
	}

	store, err := vfs.Open(dir, vfs.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	const rounds = 15
	var (
		mu    sync.Mutex
		acked = map[string]string{} // commit → door
		wg    sync.WaitGroup
	)
	ack := func(sha, door string) {
		mu.Lock()
		acked[sha] = door
		mu.Unlock()
	}

	wg.Go(func() { // the library, retrying stale snapshots
		for i := range rounds {
			snap, err := vfs.RetryWrite(store, "main", fmt.Sprintf("lib/%d.txt", i), []byte(fmt.Sprintf("lib %d\n", i)), vfs.WriteOptions{}, 50)
			if err != nil {
				t.Errorf("library write %d: %v", i, err)
				return
			}
			ack(snap.Hash(), "library")
		}
	})
	wg.Go(func() { // REST: commit-pack rebases onto whatever main is
		for i := range rounds {
			sha, err := commitPack(srv, token, fmt.Sprintf("rest/%d.txt", i), fmt.Sprintf("rest %d\n", i))
			if err != nil {
				t.Errorf("commit-pack %d: %v", i, err)
				return
			}
			ack(sha, "rest")
		}
	})
	wg.Go(func() { // git: commit, push, and on a non-fast-forward fetch, rebase and try again
		remote := strings.Replace(srv.URL, "http://", "http://t:"+token+"@", 1) + "/race.git"
		work := t.TempDir()
		if out, err := git(work, "clone", "-q", remote, "."); err != nil {
			t.Errorf("clone: %v\n%s", err, out)
			return
		}
		for i := range rounds {
			if err := os.WriteFile(filepath.Join(work, fmt.Sprintf("git-%d.txt", i)), []byte(fmt.Sprintf("git %d\n", i)), 0o644); err != nil {
				t.Error(err)
				return
			}
			if out, err := git(work, "add", "-A"); err != nil {
				t.Errorf("add: %v\n%s", err, out)
				return
			}
			if out, err := git(work, "commit", "-q", "-m", fmt.Sprintf("git %d", i)); err != nil {
				t.Errorf("commit: %v\n%s", err, out)
				return
			}
			for attempt := 0; ; attempt++ {
				if _, err := git(work, "push", "-q", "origin", "HEAD:main"); err == nil {
					break
				}
				if attempt == 50 {
					t.Errorf("push %d never got through", i)
					return
				}
				if out, err := git(work, "pull", "-q", "--rebase", "origin", "main"); err != nil {
					t.Errorf("pull --rebase: %v\n%s", err, out)
					return
				}
			}
			head, _ := git(work, "rev-parse", "HEAD")
			ack(head, "git")
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	history, err := git("", "--git-dir", dir, "rev-list", "refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	onMain := map[string]bool{}
	for _, c := range strings.Fields(history) {
		onMain[c] = true
	}
	doors := map[string]int{}
	for sha, door := range acked {
		if !onMain[sha] {
			t.Errorf("%s's acknowledged commit %s is not in main's history: lost", door, sha)
		}
		doors[door]++
	}
	for _, door := range []string{"library", "rest", "git"} {
		if doors[door] != rounds {
			t.Errorf("%s: %d acknowledged commits, want %d", door, doors[door], rounds)
		}
	}
	// Every file every door wrote is in main's tree.
	snap, err := store.Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rounds {
		for _, p := range []string{fmt.Sprintf("lib/%d.txt", i), fmt.Sprintf("rest/%d.txt", i), fmt.Sprintf("git-%d.txt", i)} {
			if ok, err := snap.Exists(p); err != nil || !ok {
				t.Errorf("%s missing from main (%v)", p, err)
			}
		}
	}
	if out, err := git("", "--git-dir", dir, "fsck", "--full", "--no-progress"); err != nil {
		t.Fatalf("fsck: %v\n%s", err, out)
	}
}

// TestLibraryReadsWhatGitPushed: a repository filled by plain git through
// the server reads correctly through the library, byte for byte, with
// modes and symlinks.
func TestLibraryReadsWhatGitPushed(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	token, dir := createRepo(t, srv, "pushed")
	work := t.TempDir()
	must := func(out string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	must(git(work, "init", "-q", "-b", "main"))
	binary := []byte{0, 1, 2, 255, '\n', 0}
	if err := os.MkdirAll(filepath.Join(work, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"a/b/c.txt": []byte("deep\n"), "bin.dat": binary, "run.sh": []byte("#!/bin/sh\n")} {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(work, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b/c.txt", filepath.Join(work, "link")); err != nil {
		t.Fatal(err)
	}
	must(git(work, "add", "-A"))
	must(git(work, "commit", "-q", "-m", "from git"))
	remote := strings.Replace(srv.URL, "http://", "http://t:"+token+"@", 1) + "/pushed.git"
	must(git(work, "push", "-q", remote, "main"))
	head, _ := git(work, "rev-parse", "HEAD")

	store, err := vfs.Open(dir, vfs.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	snap, err := store.Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Hash() != head || snap.Message() != "from git" {
		t.Fatalf("main is %s %q, want %s %q", snap.Hash(), snap.Message(), head, "from git")
	}
	if got, err := snap.Read("bin.dat"); err != nil || string(got) != string(binary) {
		t.Fatalf("bin.dat: %q %v", got, err)
	}
	if got, err := snap.Read("a/b/c.txt"); err != nil || string(got) != "deep\n" {
		t.Fatalf("a/b/c.txt: %q %v", got, err)
	}
	if ft, err := snap.FileType("run.sh"); err != nil || ft != vfs.Executable {
		t.Fatalf("run.sh: %v %v", ft, err)
	}
	if target, err := snap.Readlink("link"); err != nil || target != "a/b/c.txt" {
		t.Fatalf("link: %q %v", target, err)
	}
	names, err := snap.Ls("")
	if err != nil || strings.Join(names, ",") != "a,bin.dat,link,run.sh" {
		t.Fatalf("ls: %v %v", names, err)
	}
	if _, err := snap.Read("nope"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func commitPack(srv *servertest.Server, token, path, content string) (string, error) {
	meta, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"target_branch":  "main",
		"commit_message": "rest " + path,
		"author":         map[string]string{"name": "Rest", "email": "rest@example.com"},
		"files":          []map[string]string{{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}})
	chunk, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1", "data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}})
	resp := srv.Do("POST", "/api/v1/repos/commit-pack", token, strings.NewReader(string(meta)+"\n"+string(chunk)+"\n"), "Content-Type", "application/x-ndjson")
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	var ack struct {
		Commit struct {
			CommitSHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	if err := json.Unmarshal(data, &ack); err != nil || len(ack.Commit.CommitSHA) != 40 {
		return "", fmt.Errorf("no commit sha in %s", data)
	}
	return ack.Commit.CommitSHA, nil
}

// createRepo creates repository id (default branch main) through REST
// and returns a token for REST and git writes and its directory on disk,
// where the library opens it.
func createRepo(t *testing.T, srv *servertest.Server, id string) (token, dir string) {
	t.Helper()
	token = srv.Token(id, auth.ScopeRepoWrite, auth.ScopeGitRead, auth.ScopeGitWrite)
	before := srv.RepoDirs()
	resp := srv.Do("POST", "/api/v1/repos", token, strings.NewReader(`{"default_branch":"main"}`))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("create %s: status %d: %s", id, resp.StatusCode, body)
	}
	for _, d := range srv.RepoDirs() {
		if !slices.Contains(before, d) {
			return token, d
		}
	}
	t.Fatalf("create %s: no repository directory appeared", id)
	return "", ""
}

// git runs git in dir and returns its trimmed output.
func git(dir string, args ...string) (string, error) { return gittest.Run(dir, args...) }
