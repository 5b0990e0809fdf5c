package server_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// pushServer runs a server whose maintenance only runs when a push asks:
// scheduled runs are an hour and a million ref updates away.
func pushServer(t *testing.T, edit func(*config.Config)) *servertest.Server {
	return servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.LogLevel = "info"
		c.Maintenance.Interval = time.Hour
		c.Maintenance.RefUpdates = 1 << 20
		c.Maintenance.LooseObjects = 1 << 20
		c.Maintenance.PushObjects = 0
		c.Maintenance.PushBytes = 1 << 20
		c.Maintenance.Packs = 0
		edit(c)
	}))
}

// pushRepo creates repository id and returns its push URL and directory.
func pushRepo(t *testing.T, s *servertest.Server, id string) (url, dir string) {
	t.Helper()
	before := s.RepoDirs()
	newClient(t, s, id)
	for _, d := range s.RepoDirs() {
		if !strings.Contains(strings.Join(before, "\n"), d) {
			dir = d
		}
	}
	if dir == "" {
		t.Fatalf("no directory for %s", id)
	}
	tok := s.Token(id, auth.ScopeGitRead, auth.ScopeGitWrite)
	return strings.Replace(s.URL, "http://", "http://t:"+tok+"@", 1) + "/" + id + ".git", dir
}

// gitCLI runs the git CLI with no user or system configuration.
func gitCLI(t testing.TB, dir string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com")
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// sourceRepo returns a bare repository whose main holds about size bytes
// of random (incompressible) blobs in commits of 8 files.
func sourceRepo(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src.git")
	gitCLI(t, "", nil, "init", "--bare", "--quiet", dir)
	rng := rand.New(rand.NewPCG(1, 2))
	var in bytes.Buffer
	for c, written := 1, 0; written < size; c++ {
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter T <t@example.com> %d +0000\ndata 2\nc\n", 1700000000+c)
		for i := range 8 {
			blob := make([]byte, 16<<10)
			for j := range blob {
				blob[j] = byte(rng.Uint32())
			}
			fmt.Fprintf(&in, "M 100644 inline c%d/f%d\ndata %d\n", c, i, len(blob))
			in.Write(blob)
			in.WriteString("\n")
			written += len(blob)
		}
	}
	gitCLI(t, "", in.Bytes(), "--git-dir", dir, "fast-import", "--quiet")
	return dir
}

// smallCommit adds an empty commit on branch of src (a new branch starts
// at main) and returns it.
func smallCommit(t testing.TB, src, branch string, n int) string {
	t.Helper()
	parent := gitCLI(t, "", nil, "--git-dir", src, "rev-parse", "--verify", "--quiet", "refs/heads/main")
	if p, err := exec.Command("git", "--git-dir", src, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch).Output(); err == nil {
		parent = strings.TrimSpace(string(p))
	}
	tree := gitCLI(t, "", nil, "--git-dir", src, "rev-parse", parent+"^{tree}")
	c := gitCLI(t, "", nil, "--git-dir", src, "commit-tree", "-p", parent, "-m", fmt.Sprintf("%s %d", branch, n), tree)
	gitCLI(t, "", nil, "--git-dir", src, "update-ref", "refs/heads/"+branch, c)
	return c
}

// midxBitmap is the multi-pack-index bitmap of a repository, or "".
func midxBitmap(dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "multi-pack-index-*.bitmap"))
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// waitLog waits (bounded) until the server has logged want n times.
func waitLog(t *testing.T, s *servertest.Server, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(s.Logs(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (%d times) in the log", want, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func packCount(dir string) int {
	p, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*.pack"))
	return len(p)
}

func fsckFull(t *testing.T, dir string) {
	t.Helper()
	gitCLI(t, "", nil, "--git-dir", dir, "fsck", "--full", "--strict", "--no-progress")
}

// A push over --maintenance-push-bytes gets a geometric repack with a
// multi-pack-index bitmap right away, ahead of the hour-long interval; a
// smaller one, queued before it on the one worker, gets nothing.
func TestMaintenance_largePush(t *testing.T) {
	t.Parallel()
	s := pushServer(t, func(*config.Config) {})
	big := sourceRepo(t, 2<<20)
	small := filepath.Join(t.TempDir(), "small.git")
	gitCLI(t, "", nil, "clone", "--bare", "--quiet", big, small)
	gitCLI(t, "", nil, "--git-dir", small, "update-ref", "refs/heads/main", "refs/heads/main~12")

	smallURL, smallDir := pushRepo(t, s, "small")
	gitCLI(t, "", nil, "--git-dir", small, "push", "--quiet", smallURL, "main")
	bigURL, bigDir := pushRepo(t, s, "big")
	gitCLI(t, "", nil, "--git-dir", big, "push", "--quiet", bigURL, "main")

	waitLog(t, s, "trigger=large-write", 1)
	waitLog(t, s, `msg="maintenance run"`, 1)
	if midxBitmap(bigDir) == "" {
		t.Fatalf("no multi-pack-index bitmap after the large push:\n%s", s.Logs())
	}
	if !strings.Contains(s.Logs(), "midx-bitmap pack-refs repack-geometric") {
		t.Fatalf("the run after a large push did not write the bitmap before repacking:\n%s", s.Logs())
	}
	// The small repository was queued first if at all, and there is one
	// worker: it is settled.
	if n := strings.Count(s.Logs(), `msg="maintenance run"`); n != 1 || midxBitmap(smallDir) != "" {
		t.Fatalf("%d runs, small repository's bitmap %q: below the threshold nothing may run\n%s", n, midxBitmap(smallDir), s.Logs())
	}
	if !strings.Contains(s.Logs(), "msg=push") || !strings.Contains(s.Logs(), "packs=1") {
		t.Fatalf("push not logged with its size:\n%s", s.Logs())
	}
	fsckFull(t, bigDir)
	dst := filepath.Join(t.TempDir(), "clone.git")
	gitCLI(t, "", nil, "clone", "--bare", "--quiet", bigURL, dst)
	if got, want := gitCLI(t, "", nil, "--git-dir", dst, "rev-parse", "main"), gitCLI(t, "", nil, "--git-dir", big, "rev-parse", "main"); got != want {
		t.Fatalf("clone has main at %s, want %s", got, want)
	}
	fsckFull(t, dst)
}

// Small pushes (one pack each) past --maintenance-packs get a geometric
// repack that brings the pack count down.
func TestMaintenance_packCount(t *testing.T) {
	t.Parallel()
	s := pushServer(t, func(c *config.Config) { c.Maintenance.PushBytes = 0; c.Maintenance.Packs = 4 })
	src := sourceRepo(t, 64<<10)
	url, dir := pushRepo(t, s, "many")
	gitCLI(t, "", nil, "--git-dir", src, "push", "--quiet", url, "main")
	for i := range 8 {
		smallCommit(t, src, "main", i)
		gitCLI(t, "", nil, "--git-dir", src, "push", "--quiet", url, "main")
		if strings.Contains(s.Logs(), "trigger=packs") {
			break
		}
	}
	waitLog(t, s, "trigger=packs", 1)
	waitLog(t, s, `msg="maintenance run"`, 1)
	if midxBitmap(dir) == "" || packCount(dir) > 4 {
		t.Fatalf("after the pack-count run: %d packs, midx bitmap %q\n%s", packCount(dir), midxBitmap(dir), s.Logs())
	}
	fsckFull(t, dir)
}

// Pushes that land while a large push's repack runs lose nothing: every
// acknowledged branch tip is in the repository afterwards, and fsck is
// clean (servertest also runs fsck --strict when the test ends).
func TestMaintenance_pushesDuringRepack(t *testing.T) {
	t.Parallel()
	// Checked once the server has stopped, so no run races fsck: the data
	// directory is made (and so removed) before the server's cleanup.
	data := t.TempDir()
	var dir string
	tips := make([]string, 3)
	t.Cleanup(func() {
		for p, tip := range tips {
			if got := gitCLI(t, "", nil, "--git-dir", dir, "rev-parse", fmt.Sprintf("refs/heads/p%d", p)); got != tip {
				t.Errorf("branch p%d at %s, want the acknowledged %s", p, got, tip)
			}
		}
		fsckFull(t, dir)
	})
	s := pushServer(t, func(c *config.Config) { c.DataDir = data; c.Maintenance.Packs = 3 })
	big := sourceRepo(t, 4<<20)
	var url string
	url, dir = pushRepo(t, s, "busy")
	gitCLI(t, "", nil, "--git-dir", big, "push", "--quiet", url, "main")

	const perPusher = 6
	var wg sync.WaitGroup
	for p := range tips {
		src := filepath.Join(t.TempDir(), "src.git")
		gitCLI(t, "", nil, "clone", "--bare", "--quiet", big, src)
		wg.Go(func() {
			for i := range perPusher {
				tip := smallCommit(t, src, fmt.Sprintf("p%d", p), i)
				gitCLI(t, "", nil, "--git-dir", src, "push", "--quiet", url, fmt.Sprintf("p%d", p))
				tips[p] = tip
			}
		})
	}
	wg.Wait()
	waitLog(t, s, "trigger=large-write", 1)
	waitLog(t, s, "trigger=packs", 1)
	if strings.Contains(s.Logs(), "result=failed") {
		t.Fatalf("a maintenance run failed:\n%s", s.Logs())
	}
}
