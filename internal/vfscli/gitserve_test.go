package vfscli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// runGit runs the git CLI as a client would, with no user or system
// configuration.
func runGit(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRunGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func startGitServe(t *testing.T, repo string) *httptest.Server {
	t.Helper()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&gitHandler{git: f, dir: repo})
	t.Cleanup(srv.Close)
	return srv
}

func TestGitServe_cloneAndRefusePush(t *testing.T) {
	t.Parallel()
	repo := gitServeFixture(t)
	srv := startGitServe(t, repo)
	before := mustRunGit(t, repo, "for-each-ref")

	for _, proto := range []string{"version=0", "version=2"} {
		dst := filepath.Join(t.TempDir(), "clone")
		mustRunGit(t, "", "-c", "protocol.version="+strings.TrimPrefix(proto, "version="), "clone", "-q", srv.URL+"/", dst)
		b, err := os.ReadFile(filepath.Join(dst, "dir", "a.txt"))
		if err != nil || string(b) != "alpha\n" {
			t.Fatalf("%s: dir/a.txt = %q, %v", proto, b, err)
		}
		// A push is refused, and the repository is unchanged.
		if err := os.WriteFile(filepath.Join(dst, "new.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustRunGit(t, dst, "add", "new.txt")
		mustRunGit(t, dst, "commit", "-qm", "new")
		out, err := runGit(t, dst, "push", "origin", "HEAD:main")
		if err == nil || !strings.Contains(out, "403") {
			t.Fatalf("%s: push not refused: %v\n%s", proto, err, out)
		}
	}
	if after := mustRunGit(t, repo, "for-each-ref"); after != before {
		t.Fatalf("refs changed:\n%s\n%s", before, after)
	}
}

func TestGitServe_endpoints(t *testing.T) {
	t.Parallel()
	srv := startGitServe(t, gitServeFixture(t))
	for _, tc := range []struct {
		desc, method, path, ctype string
		want                      int
	}{
		{"advertise upload-pack", "GET", "/info/refs?service=git-upload-pack", "", 200},
		{"advertise under a name", "GET", "/repo.git/info/refs?service=git-upload-pack", "", 200},
		{"advertise receive-pack", "GET", "/info/refs?service=git-receive-pack", "", 403},
		{"receive-pack", "POST", "/git-receive-pack", "application/x-git-receive-pack-request", 403},
		{"dumb info/refs", "GET", "/info/refs", "", 403},
		{"dumb object", "GET", "/HEAD", "", 404},
		{"upload-pack by GET", "GET", "/git-upload-pack", "", 405},
		{"advertise by POST", "POST", "/info/refs?service=git-upload-pack", "", 405},
		{"upload-pack bad type", "POST", "/git-upload-pack", "text/plain", 415},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("0000"))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// gitServeFixture is a bare repository with one commit on main.
func gitServeFixture(t *testing.T) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo.git")
	mustRunGit(t, "", "init", "-q", "--bare", "-b", "main", repo)
	work := t.TempDir()
	mustRunGit(t, work, "init", "-q", "-b", "main")
	if err := os.MkdirAll(filepath.Join(work, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "dir", "a.txt"), []byte("alpha\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRunGit(t, work, "add", ".")
	mustRunGit(t, work, "commit", "-qm", "first")
	mustRunGit(t, work, "push", "-q", repo, "main")
	return repo
}

func TestGitServe_command(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	url, stderr := startCLIServer(t, repo, "gitserve")
	if !strings.Contains(stderr.String(), "Serving "+repo+" at "+url+"/\n") {
		t.Fatalf("banner:\n%s", stderr.String())
	}
	dst := filepath.Join(t.TempDir(), "clone")
	mustRunGit(t, "", "clone", "-q", url+"/", dst)
	if b, err := os.ReadFile(filepath.Join(dst, "dir", "sub", "b.txt")); err != nil || string(b) != "b\n" {
		t.Fatalf("clone: %q %v", b, err)
	}
	waitForOutput(t, stderr, `127\.0\.0\.1 - POST /git-upload-pack 200\n`, 1)

	var stdout, errOut syncBuffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &errOut, getenv: func(string) string { return "" }}
	root := a.rootCommand()
	root.SetArgs([]string{"gitserve", "-p", "0"})
	if code := a.report(root.Execute()); code == 0 || !strings.Contains(errOut.String(), "No repository specified") {
		t.Fatalf("no repo: %d %q", code, errOut.String())
	}
	failCLI(t, filepath.Join(t.TempDir(), "missing"), "Repository not found", "gitserve", "-p", "0")
}

// A repository whose HEAD names no branch (a restore target) is served
// unchanged: a warning, and clones name their branch.
func TestGitServe_danglingHead(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	restored := filepath.Join(t.TempDir(), "restored")
	mustCLI(t, restored, "restore", repo)
	mustRunGit(t, restored, "symbolic-ref", "HEAD", "refs/heads/none")
	headBefore, _ := os.ReadFile(filepath.Join(restored, "HEAD"))
	url, stderr := startCLIServer(t, restored, "gitserve")
	if !strings.Contains(stderr.String(), "WARNING: HEAD does not point to an existing branch") {
		t.Fatalf("no warning:\n%s", stderr.String())
	}
	dst := filepath.Join(t.TempDir(), "clone")
	mustRunGit(t, "", "clone", "-q", "-b", "main", url+"/", dst)
	if _, err := os.Stat(filepath.Join(dst, "hello.txt")); err != nil {
		t.Fatal(err)
	}
	if headAfter, _ := os.ReadFile(filepath.Join(restored, "HEAD")); string(headAfter) != string(headBefore) {
		t.Fatalf("HEAD changed: %q -> %q", headBefore, headAfter)
	}
}
