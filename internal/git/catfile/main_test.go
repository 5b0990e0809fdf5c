package catfile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/leakcheck"

	"github.com/strata-storage/strata/internal/git"
)

// factory runs every git in these tests, fixtures included, so the tests
// get the same pinned environment (no global or system config) as Strata.
var factory *git.Factory

func TestMain(m *testing.M) {
	var err error
	factory, err = git.NewFactory(git.FactoryOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "catfile tests need git:", err)
		os.Exit(1)
	}
	os.Exit(leakcheck.Run(m))
}

// fixtureEnv makes commits reproducible.
var fixtureEnv = []string{
	"GIT_AUTHOR_NAME=Strata Test", "GIT_AUTHOR_EMAIL=test@strata.invalid", "GIT_AUTHOR_DATE=1700000000 +0000",
	"GIT_COMMITTER_NAME=Strata Test", "GIT_COMMITTER_EMAIL=test@strata.invalid", "GIT_COMMITTER_DATE=1700000000 +0000",
}

type testRepo struct {
	t      testing.TB
	dir    string // work tree
	gitDir string
}

func newRepo(t testing.TB) *testRepo {
	t.Helper()
	dir := t.TempDir()
	if _, err := factory.Output(context.Background(), "", git.Command{Name: "init", Flags: []string{"-q", "-b", "main", dir}}); err != nil {
		t.Fatal(err)
	}
	return &testRepo{t: t, dir: dir, gitDir: filepath.Join(dir, ".git")}
}

// git runs a fixture command in the work tree and returns its trimmed stdout.
func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	return strings.TrimSpace(string(r.gitRaw(nil, args...)))
}

func (r *testRepo) gitRaw(stdin []byte, args ...string) []byte {
	r.t.Helper()
	opts := []git.Option{git.WithDir(r.dir), git.WithEnv(fixtureEnv...)}
	if stdin != nil {
		opts = append(opts, git.WithStdin(bytes.NewReader(stdin)))
	}
	out, err := factory.Output(context.Background(), r.gitDir, git.Command{Name: args[0], Flags: args[1:]}, opts...)
	if err != nil {
		r.t.Fatalf("git %v: %v", args, err)
	}
	return out
}

// commit writes files (path -> contents) into the work tree and commits
// them; it returns the commit id.
func (r *testRepo) commit(msg string, files map[string]string) git.ObjectID {
	r.t.Helper()
	for name, data := range files {
		p := filepath.Join(r.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return git.ObjectID(r.git("rev-parse", "HEAD"))
}

// writeBlob stores data as a loose object and returns its id.
func (r *testRepo) writeBlob(data []byte) git.ObjectID {
	r.t.Helper()
	return git.ObjectID(strings.TrimSpace(string(r.gitRaw(data, "hash-object", "-w", "--stdin"))))
}

func newTestCache(t testing.TB, opts Options) *Cache {
	t.Helper()
	c := NewCache(factory, opts)
	t.Cleanup(c.Stop)
	return c
}

// catFilePIDs lists this test binary's live children that are cat-file
// processes for gitDir (read from /proc; the Factory doesn't expose pids).
func catFilePIDs(t testing.TB, gitDir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(pid); !ok || ppid != self {
			continue
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(env, []byte("\x00GIT_DIR="+gitDir+"\x00")) && bytes.Contains(cmdline, []byte("\x00cat-file\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func parentPID(pid int) (int, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// "pid (comm) state ppid ...": comm may contain spaces, so cut at the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// processExists reports whether pid is still in the process table, zombies
// included: an unreaped child would show up here.
func processExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
