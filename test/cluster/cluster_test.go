package cluster_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/strata-storage/strata/internal/servertest"
)

// REST and git, each request on another node: every node serves what any
// node wrote, at once.
func TestCluster_restAndGitAcrossNodes(t *testing.T) {
	c := servertest.StartCluster(t, 3)
	token := createRepo(t, c.Node(0), "r")
	var head string
	for i := range 3 {
		sha, _, err := commitPack(c.Node(i+1), token, "main", fmt.Sprintf("f%d.txt", i), fmt.Sprintf("v%d\n", i), head)
		if err != nil {
			t.Fatalf("commit %d on node %d: %v", i, (i+1)%3, err)
		}
		head = sha
	}
	for i := range 3 {
		if got, status := readFile(t, c.Node(i), token, "f2.txt", "main"); status != http.StatusOK || got != "v2\n" {
			t.Fatalf("node %d reads %d %q", i, status, got)
		}
	}

	// git: clone from one node, push to another, read through a third.
	work := t.TempDir()
	gitOK(t, work, "clone", "-q", remote(c.Node(2), token, "r"), "w")
	w := filepath.Join(work, "w")
	if got := gitOK(t, w, "rev-parse", "HEAD"); got != head {
		t.Fatalf("clone from node 2 at %s, want %s", got, head)
	}
	if err := os.WriteFile(filepath.Join(w, "pushed.txt"), []byte("by git\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitOK(t, w, "add", "pushed.txt")
	gitOK(t, w, "commit", "-q", "-m", "push")
	gitOK(t, w, "push", "-q", remote(c.Node(1), token, "r"), "main", "main:refs/heads/side")
	pushed := gitOK(t, w, "rev-parse", "HEAD")
	if got, status := readFile(t, c.Node(0), token, "pushed.txt", "side"); status != http.StatusOK || got != "by git\n" {
		t.Fatalf("node 0 reads the push: %d %q", status, got)
	}
	for i := range 3 {
		out := gitOK(t, work, "ls-remote", remote(c.Node(i), token, "r"))
		if !strings.Contains(out, pushed+"\trefs/heads/main") || !strings.Contains(out, pushed+"\trefs/heads/side") {
			t.Fatalf("node %d advertises\n%s", i, out)
		}
	}
	// Each node counts what it did for the operator.
	if v := metric(t, c.Node(1), "strata_cluster_publishes_total"); v < 1 {
		t.Errorf("node 1 published %v times", v)
	}
	if v := metric(t, c.Node(0), "strata_cluster_packs_fetched_total"); v < 1 {
		t.Errorf("node 0 fetched %v packs", v)
	}
	// A stale expected head is the usual conflict, whichever node.
	if _, status, _ := commitPack(c.Node(2), token, "main", "x.txt", "x", head); status != http.StatusConflict {
		t.Fatalf("stale expected head on node 2: %d, want 409", status)
	}
	// Deleting on one node is not found on the others.
	resp := c.Node(1).Do("DELETE", "/api/v1/repos/delete", token, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, status := readFile(t, c.Node(2), token, "f0.txt", "main"); status != http.StatusNotFound {
		t.Fatalf("read after delete on another node: %d", status)
	}
}

// Two nodes race pushes and REST commits on one branch; every acknowledged
// commit is in the final history, cloned from a third node and fscked.
func TestCluster_racingWritesLoseNothing(t *testing.T) {
	c := servertest.StartCluster(t, 3)
	token := createRepo(t, c.Node(0), "race")
	if _, _, err := commitPack(c.Node(0), token, "main", "seed.txt", "seed\n", ""); err != nil {
		t.Fatal(err)
	}
	const rounds = 10
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ack := func(sha string) {
		mu.Lock()
		acked = append(acked, sha)
		mu.Unlock()
	}
	wg.Go(func() { // REST on node 1: commit-pack rebases onto whatever main is
		for i := range rounds {
			sha, _, err := commitPack(c.Node(1), token, "main", fmt.Sprintf("rest/%d.txt", i), "rest\n", "")
			if err != nil {
				t.Errorf("commit-pack %d: %v", i, err)
				return
			}
			ack(sha)
		}
	})
	wg.Go(func() { // git on node 2: fetch, commit, push; a rejected push retries
		work := t.TempDir()
		url := remote(c.Node(2), token, "race")
		if out, err := git(work, "clone", "-q", url, "w"); err != nil {
			t.Errorf("clone: %v\n%s", err, out)
			return
		}
		w := filepath.Join(work, "w")
		for i := range rounds {
			if err := os.WriteFile(filepath.Join(w, fmt.Sprintf("git-%d.txt", i)), []byte("git\n"), 0o644); err != nil {
				t.Error(err)
				return
			}
			git(w, "add", "-A")
			git(w, "commit", "-q", "-m", fmt.Sprintf("git %d", i))
			for attempt := 0; ; attempt++ {
				if _, err := git(w, "push", "-q", url, "HEAD:main"); err == nil {
					break
				}
				if attempt == 20 {
					t.Errorf("push %d never landed", i)
					return
				}
				if out, err := git(w, "pull", "-q", "--rebase", url, "main"); err != nil {
					t.Errorf("pull: %v\n%s", err, out)
					return
				}
			}
			sha, _ := git(w, "rev-parse", "HEAD")
			ack(sha)
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}
	clone := fsckClone(t, c.Node(0), token, "race", true)
	log := gitOK(t, clone, "rev-list", "HEAD")
	for _, sha := range acked {
		if !strings.Contains(log, sha) {
			t.Errorf("acknowledged commit %s is not in main", sha)
		}
	}
}

// fsckClone clones id from srv into a new directory, runs git fsck on it
// and returns its path (a bare clone when bare).
func fsckClone(t *testing.T, srv *servertest.Server, token, id string, bare bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	args := []string{"clone", "-q"}
	if bare {
		args = append(args, "--bare")
	}
	gitOK(t, t.TempDir(), append(args, remote(srv, token, id), dir)...)
	gitOK(t, dir, "fsck", "--strict", "--no-progress")
	return dir
}
