package vfscli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// fsRun is one in-process `strata fs` run with stdin and an environment,
// the equivalent of click's CliRunner for these tests.
type fsRun struct {
	t     *testing.T
	repo  string
	stdin string
	env   map[string]string
}

func (r fsRun) run(args ...string) cliResult {
	r.t.Helper()
	var stdout, stderr strings.Builder
	if r.repo != "" {
		args = append([]string{"-r", r.repo}, args...)
	}
	code := run(args, strings.NewReader(r.stdin), &stdout, &stderr, func(k string) string { return r.env[k] })
	return cliResult{stdout.String(), stderr.String(), code}
}

// ok runs and requires exit 0, returning stdout.
func (r fsRun) ok(args ...string) string {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("fs %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}

// fails runs and requires exit code with want in stderr.
func (r fsRun) fails(code int, want string, args ...string) {
	r.t.Helper()
	res := r.run(args...)
	if res.code != code || !strings.Contains(res.stderr, want) {
		r.t.Fatalf("fs %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, code, want, res.stdout, res.stderr)
	}
}

func (r fsRun) withStdin(s string) fsRun { r.stdin = s; return r }

// newRepo is a repository made through the CLI: hello.txt, data/a.txt,
// data/sub/b.txt (three commits after "Initialize main").
func newRepo(t *testing.T) fsRun {
	t.Helper()
	r := fsRun{t: t, repo: filepath.Join(t.TempDir(), "repo")}
	r.ok("init")
	r.withStdin("hello\n").ok("write", "hello.txt")
	r.withStdin("a").ok("write", "data/a.txt")
	r.withStdin("bb").ok("write", ":data/sub/b.txt")
	return r
}

// store opens the test repository with the library, for checks and
// fixtures the CLI can't make (symlinks, modes).
func (r fsRun) store() *vfs.Store {
	r.t.Helper()
	s, err := vfs.Open(r.repo, vfs.Options{NoCreate: true})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { s.Close() })
	return s
}

func (r fsRun) tip(branch string) *vfs.FS {
	r.t.Helper()
	f, err := r.store().Branches().Get(branch)
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}

func TestHelp_everyCommand(t *testing.T) {
	t.Parallel()
	a := &app{}
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			p := append(append([]string{}, path...), sub.Name())
			t.Run(strings.Join(p, "_"), func(t *testing.T) {
				t.Parallel()
				out := fsRun{t: t}.ok(append(p, "--help")...)
				if !strings.Contains(out, "Usage:") || !strings.Contains(out, "strata fs "+strings.Join(p, " ")) {
					t.Fatalf("help of %v:\n%s", p, out)
				}
			})
			walk(sub, p)
		}
	}
	walk(a.rootCommand(), nil)
}

func TestGlobal(t *testing.T) {
	t.Parallel()
	t.Run("version", func(t *testing.T) {
		if out := (fsRun{t: t}).ok("--version"); out != "strata fs, version (devel)\n" {
			t.Fatalf("--version = %q", out)
		}
	})
	t.Run("no repository", func(t *testing.T) {
		fsRun{t: t}.fails(1, "Error: No repository specified. Use --repo or set STRATA_REPO.", "ls")
	})
	t.Run("env fallback", func(t *testing.T) {
		r := newRepo(t)
		env := fsRun{t: t, env: map[string]string{"STRATA_REPO": r.repo}}
		if out := env.ok("cat", "hello.txt"); out != "hello\n" {
			t.Fatalf("cat via STRATA_REPO = %q", out)
		}
	})
	t.Run("flag wins over env, before or after the subcommand", func(t *testing.T) {
		r := newRepo(t)
		env := map[string]string{"STRATA_REPO": filepath.Join(t.TempDir(), "missing")}
		fsRun{t: t, env: env}.fails(1, "Repository not found", "ls")
		fsRun{t: t, env: env, repo: r.repo}.ok("ls")
		fsRun{t: t, env: env}.ok("ls", "--repo", r.repo)
	})
	t.Run("usage errors exit 2", func(t *testing.T) {
		r := newRepo(t)
		r.fails(2, "unknown flag", "ls", "--nope")
		r.fails(2, "unknown command", "frobnicate")
		r.fails(2, "unknown command", "branch", "frobnicate")
		r.fails(2, "arg", "cat")
		r.fails(2, "Invalid value for '--format'", "ls", "--format", "xml")
		r.fails(2, "Invalid value", "undo", "two")
	})
	t.Run("verbose status lines on stderr, quiet without", func(t *testing.T) {
		r := newRepo(t)
		res := r.withStdin("x").run("write", "q.txt")
		if res.code != 0 || res.stdout != "" || res.stderr != "" {
			t.Fatalf("quiet write: %+v", res)
		}
		res = r.withStdin("x").run("-v", "write", "v.txt")
		if res.code != 0 || res.stderr != "Wrote :v.txt\n" {
			t.Fatalf("verbose write: %+v", res)
		}
	})
	t.Run("stale snapshot wording", func(t *testing.T) {
		var stderr strings.Builder
		a := &app{stderr: &stderr}
		if code := a.report(&vfs.StaleSnapshotError{Branch: "main"}); code != 1 || stderr.String() != "Error: Branch modified concurrently — retry\n" {
			t.Fatalf("report = %d %q", code, stderr.String())
		}
	})
}

func TestInitDestroyGC(t *testing.T) {
	t.Parallel()
	r := fsRun{t: t, repo: filepath.Join(t.TempDir(), "repo")}
	r.ok("init", "-b", "trunk")
	if out := r.ok("branch", "current"); out != "trunk\n" {
		t.Fatalf("branch after init -b trunk: %q", out)
	}
	r.fails(1, "Repository already exists: "+r.repo, "init")
	r.withStdin("x").ok("write", "f")
	r.ok("gc")
	r.fails(1, "Repository is not empty. Use -f to destroy.", "destroy")
	r.ok("init", "-f")
	if out := r.ok("ls"); out != "" {
		t.Fatalf("ls after init -f: %q", out)
	}
	r.ok("destroy")
	if _, err := os.Stat(r.repo); !os.IsNotExist(err) {
		t.Fatalf("repo still there after destroy: %v", err)
	}
	r.fails(1, "Repository not found: "+r.repo, "destroy")
	r.fails(1, "Repository not found", "gc")

	r.ok("init")
	r.ok("tag", "set", "v1")
	r.fails(1, "not empty", "destroy")
	r.ok("destroy", "-f")
}

func TestLs(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	s := r.store()
	tip, err := s.Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tip.Apply(map[string]vfs.WriteEntry{
		"link":   {Target: "hello.txt"},
		"run.sh": {Data: []byte("#!/bin/sh\n"), Mode: vfs.Executable},
	}, nil, vfs.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}

	wantLines(t, r.ok("ls"), "data", "hello.txt", "link", "run.sh")
	wantLines(t, r.ok("ls", ":"), "data", "hello.txt", "link", "run.sh")
	wantLines(t, r.ok("ls", "data"), "a.txt", "sub")
	wantLines(t, r.ok("ls", ":hello.txt"), "hello.txt")
	wantLines(t, r.ok("ls", "-R", ":hello.txt"), "hello.txt")
	wantLines(t, r.ok("ls", "-R"), "data/a.txt", "data/sub/b.txt", "hello.txt", "link", "run.sh")
	wantLines(t, r.ok("ls", "-R", "data"), "data/a.txt", "data/sub/b.txt")
	wantLines(t, r.ok("ls", "data/*"), "data/a.txt", "data/sub")
	wantLines(t, r.ok("ls", "-R", "data/*"), "data/a.txt", "data/sub/b.txt")
	wantLines(t, r.ok("ls", "data", "data"), "a.txt", "sub") // de-duplicated
	wantLines(t, r.ok("ls", "main:data", "main~1:"), "a.txt", "data", "hello.txt", "sub")
	if out := r.ok("ls", "nomatch*"); out != "" {
		t.Fatalf("glob without match printed %q", out)
	}
	r.fails(1, "Path not found: nope", "ls", "nope")
	r.fails(1, "Invalid repo path: Invalid path segment: '..'", "ls", ":../x")

	long := lines(r.ok("ls", "-l"))
	for i, re := range []string{
		`^[0-9a-f]{7}     data/$`,
		`^[0-9a-f]{7}  6  hello.txt$`,
		`^[0-9a-f]{7}  9  link -> hello.txt$`,
		`^[0-9a-f]{7}  10  run.sh$`,
	} {
		// The size column is as wide as the widest size (2 here).
		re = strings.Replace(re, "  6  ", "   6  ", 1)
		re = strings.Replace(re, "  9  ", "   9  ", 1)
		re = strings.Replace(re, `{7}     data`, `{7}      data`, 1)
		if !regexp.MustCompile(re).MatchString(long[i]) {
			t.Errorf("ls -l line %d = %q, want %s", i, long[i], re)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}  `).MatchString(r.ok("ls", "-l", "--full-hash", "hello.txt")) {
		t.Errorf("--full-hash: %q", r.ok("ls", "-l", "--full-hash", "hello.txt"))
	}

	if out := r.ok("ls", "--format", "json", "data"); out != `["a.txt","sub"]`+"\n" {
		t.Errorf("ls json = %q", out)
	}
	wantLines(t, r.ok("ls", "--format", "jsonl", "data"), `"a.txt"`, `"sub"`)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.ok("ls", "-l", "--format", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, typ string
		size      bool
		target    string
	}{{"data/", "tree", false, ""}, {"hello.txt", "blob", true, ""}, {"link", "link", true, "hello.txt"}, {"run.sh", "executable", true, ""}}
	for i, w := range want {
		row := rows[i]
		_, hasSize := row["size"]
		if row["name"] != w.name || row["type"] != w.typ || len(row["hash"].(string)) != 40 || hasSize != w.size {
			t.Errorf("ls -l json row %d = %v", i, row)
		}
		if tg, _ := row["target"].(string); tg != w.target {
			t.Errorf("row %d target = %q, want %q", i, tg, w.target)
		}
	}
	if n := len(lines(r.ok("ls", "-l", "--format", "jsonl"))); n != 4 {
		t.Errorf("ls -l jsonl: %d lines", n)
	}
}

func TestCat(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	if out := r.ok("cat", "hello.txt", ":data/a.txt", "main:data/sub/b.txt"); out != "hello\nabb" {
		t.Fatalf("cat = %q", out)
	}
	r.withStdin("v2").ok("write", "hello.txt")
	if out := r.ok("cat", "~1:hello.txt"); out != "hello\n" {
		t.Fatalf("cat ~1: = %q", out)
	}
	if out := r.ok("cat", "hello.txt", "--back", "1"); out != "hello\n" {
		t.Fatalf("cat --back 1 = %q", out)
	}
	r.ok("tag", "set", "v1")
	if out := r.ok("cat", "v1:hello.txt"); out != "v2" {
		t.Fatalf("cat v1: = %q", out)
	}
	r.fails(1, "File not found: nope.txt", "cat", "nope.txt")
	r.fails(1, "data is a directory, not a file", "cat", "data")
	r.fails(1, "Repo path must not be empty", "cat", ":")
	r.fails(1, "Cannot use --back with ~N in path", "cat", "~1:hello.txt", "--back", "1")
	r.fails(1, "Cannot use -b/--branch with explicit ref: in path", "cat", "main:hello.txt", "-b", "main")
	r.fails(1, "Cannot use --ref with explicit ref: in path", "cat", "main:hello.txt", "--ref", "main")
	r.fails(1, "Unknown ref: nope", "cat", "nope:hello.txt")
	r.fails(1, "Branch not found: nope", "cat", "-b", "nope", "hello.txt")
}

func TestWrite(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.withStdin("new").ok("write", "dir/new.txt", "-m", "custom")
	if f := r.tip("main"); f.Message() != "custom" {
		t.Fatalf("message = %q", f.Message())
	}
	if out := r.withStdin("piped").ok("write", "-p", "p.txt"); out != "piped" {
		t.Fatalf("passthrough = %q", out)
	}
	if ft, _ := r.tip("main").FileType("p.txt"); ft != vfs.Blob {
		t.Fatalf("written file is %s", ft)
	}
	r.ok("branch", "set", "dev")
	r.withStdin("on dev").ok("write", "dev:d.txt")
	if out := r.ok("cat", "dev:d.txt"); out != "on dev" {
		t.Fatalf("dev:d.txt = %q", out)
	}
	r.fails(1, "File not found", "cat", ":d.txt")
	r.withStdin("dev again").ok("write", "-b", "dev", "dev:d.txt") // same branch twice is no conflict
	r.fails(1, "Cannot use -b/--branch with explicit ref: in path", "write", "-b", "main", "dev:d.txt")
	r.ok("tag", "set", "v1")
	r.withStdin("x").fails(1, "Cannot write to tag 'v1' — use a branch", "write", "v1:x")
	r.withStdin("x").fails(1, "Cannot write to a historical commit (remove ~N)", "write", "~1:x")
	r.withStdin("x").fails(1, "Branch not found: nope", "write", "nope:x")
	r.withStdin("x").fails(1, "Branch not found: nope", "write", "-b", "nope", "x")
	r.withStdin("x").fails(1, "Repo path must not be empty", "write", ":")

	r.withStdin("t").ok("write", "t.txt", "--tag", "v2")
	if out := r.ok("tag", "hash", "v2"); strings.TrimSpace(out) != r.tip("main").Hash() {
		t.Fatalf("--tag v2 at %q, tip %s", out, r.tip("main").Hash())
	}
	r.withStdin("u").fails(1, "Tag already exists: v2 (use --force-tag to overwrite)", "write", "u.txt", "--tag", "v2")
	if ok, _ := r.tip("main").Exists("u.txt"); ok {
		t.Fatal("write committed although its --tag was refused")
	}
	r.withStdin("u").ok("write", "u.txt", "--tag", "v2", "--force-tag")
	if out := r.ok("tag", "hash", "v2"); strings.TrimSpace(out) != r.tip("main").Hash() {
		t.Fatalf("--force-tag did not move v2")
	}
}

func TestAutoCreate(t *testing.T) {
	t.Parallel()
	t.Run("write creates the repository with main", func(t *testing.T) {
		r := fsRun{t: t, repo: filepath.Join(t.TempDir(), "repo")}
		r.withStdin("x").ok("write", "f.txt")
		wantLines(t, r.ok("branch", "list"), "main")
	})
	t.Run("-b dev creates dev", func(t *testing.T) {
		r := fsRun{t: t, repo: filepath.Join(t.TempDir(), "repo")}
		r.withStdin("x").ok("write", "-b", "dev", "f.txt")
		wantLines(t, r.ok("branch", "list"), "dev")
		wantLines(t, r.ok("branch", "current"), "dev")
	})
	t.Run("--no-create", func(t *testing.T) {
		r := fsRun{t: t, repo: filepath.Join(t.TempDir(), "repo")}
		r.withStdin("x").fails(1, "Repository not found", "write", "--no-create", "f.txt")
		if _, err := os.Stat(r.repo); !os.IsNotExist(err) {
			t.Fatal("--no-create created the repository")
		}
	})
	t.Run("read commands never create", func(t *testing.T) {
		r := fsRun{t: t, repo: filepath.Join(t.TempDir(), "repo")}
		for _, args := range [][]string{{"ls"}, {"cat", "x"}, {"log"}, {"diff"}, {"reflog"}, {"branch"}, {"tag"},
			{"note", "list"}, {"rm", "x"}, {"mv", ":a", ":b"}, {"undo"}, {"cmp", ":a", ":b"}} {
			r.fails(1, "Repository not found: "+r.repo, args...)
		}
		if _, err := os.Stat(r.repo); !os.IsNotExist(err) {
			t.Fatal("a read command created the repository")
		}
	})
}

func TestRm(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	wantLines(t, r.ok("rm", "-n", "-R", "data"), "- :data/a.txt", "- :data/sub/b.txt")
	wantLines(t, r.ok("ls", "-R"), "data/a.txt", "data/sub/b.txt", "hello.txt") // dry run changed nothing
	r.fails(1, "use -R to remove recursively", "rm", "data")
	r.fails(1, "No matches for pattern in repo: *.nope", "rm", "*.nope")
	r.ok("rm", "data/*.txt")
	wantLines(t, r.ok("ls", "-R"), "data/sub/b.txt", "hello.txt")
	if f := r.tip("main"); f.Message() != "- data/a.txt" {
		t.Fatalf("rm message = %q", f.Message())
	}
	r.ok("rm", "-R", ":data", "hello.txt")
	wantLines(t, r.ok("ls", "-R"))

	r = newRepo(t)
	r.ok("branch", "set", "dev")
	r.ok("tag", "set", "v1")
	r.fails(1, "All paths must target the same branch", "rm", "main:hello.txt", "dev:hello.txt")
	r.fails(1, "Cannot remove in tag 'v1' — use a branch", "rm", "v1:hello.txt")
	r.fails(1, "Branch not found: nope", "rm", "nope:hello.txt")
	r.fails(1, "historical", "rm", "~1:hello.txt")
	r.ok("rm", "dev:hello.txt")
	wantLines(t, r.ok("ls", "dev:"), "data")
	wantLines(t, r.ok("ls"), "data", "hello.txt")
	r.ok("rm", "--tag", "gone", "hello.txt")
	r.ok("tag", "exists", "gone")
}

func TestMv(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	wantLines(t, r.ok("mv", "-n", ":hello.txt", ":data/"), "+ :data/hello.txt", "- :hello.txt")
	r.ok("mv", ":hello.txt", ":greeting.txt")
	wantLines(t, r.ok("ls"), "data", "greeting.txt")
	r.ok("mv", "-R", ":data", ":stuff")
	wantLines(t, r.ok("ls", "-R"), "greeting.txt", "stuff/a.txt", "stuff/sub/b.txt")
	r.fails(1, "mv requires at least two arguments (SRC... DEST)", "mv", ":a")
	r.fails(1, "All paths must be repo paths (colon prefix required): greeting.txt", "mv", "greeting.txt", ":x")
	r.fails(1, "Cannot move to/from a historical commit (remove ~N)", "mv", "~1:greeting.txt", ":x")
	r.fails(1, "use -R to move recursively", "mv", ":stuff", ":other")
	r.fails(1, "Source and destination are the same", "mv", ":greeting.txt", ":greeting.txt")
}

func TestLog(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	out := lines(r.ok("log"))
	lineRE := regexp.MustCompile(`^[0-9a-f]{7}  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00  (.*)$`)
	var msgs []string
	for _, l := range out {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("log line %q", l)
		}
		msgs = append(msgs, m[1])
	}
	if strings.Join(msgs, "|") != "+ data/sub/b.txt|+ data/a.txt|+ hello.txt|Initialize main" {
		t.Fatalf("log messages %q", msgs)
	}
	if n := len(lines(r.ok("log", "--path", "hello.txt"))); n != 1 {
		t.Errorf("--path: %d lines", n)
	}
	if n := len(lines(r.ok("log", "hello.txt"))); n != 1 { // bare TARGET is a path
		t.Errorf("positional path: %d lines", n)
	}
	if n := len(lines(r.ok("log", "--match", "+ data*"))); n != 2 {
		t.Errorf("--match: %d lines", n)
	}
	if n := len(lines(r.ok("log", "~1:"))); n != 3 {
		t.Errorf("~1: %d lines", n)
	}
	if n := len(lines(r.ok("log", "--back", "1", "--path", "data/sub/b.txt"))); n != 0 {
		t.Errorf("--back applies before the filters: %d lines", n)
	}
	if n := len(lines(r.ok("log", "--before", "2000-01-01"))); n != 0 {
		t.Errorf("--before 2000: %d lines", n)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.ok("log", "--format", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || len(rows[0]["hash"].(string)) != 40 || rows[0]["branch"] != "main" || rows[0]["author_name"] != "strata" ||
		rows[0]["author_email"] != "strata@localhost" || rows[0]["message"] != "+ data/sub/b.txt" {
		t.Fatalf("log json %v", rows)
	}
	if !strings.HasPrefix(r.ok("log", "--format", "json"), "[\n  {\n    \"hash\"") {
		t.Errorf("log json is not indented by 2")
	}
	var detached []map[string]any
	if err := json.Unmarshal([]byte(r.ok("log", "--format", "json", "--ref", rows[1]["hash"].(string)[:8])), &detached); err != nil {
		t.Fatal(err)
	}
	if len(detached) != 3 || detached[0]["branch"] != nil {
		t.Fatalf("detached log %v", detached)
	}
	if n := len(lines(r.ok("log", "--format", "jsonl"))); n != 4 {
		t.Errorf("jsonl: %d lines", n)
	}
	if out := r.ok("log", "--path", "nope"); out != "" {
		t.Errorf("empty log printed %q", out)
	}
	r.fails(1, "Cannot specify both positional ref and --ref", "log", "main:", "--ref", "main")
	r.fails(1, "Cannot use -b/--branch with explicit ref: in target", "log", "main:", "-b", "main")
	r.fails(1, "Cannot specify both positional ~N and --back", "log", "~1:", "--back", "1")
	r.fails(1, "Cannot specify both positional path and --path", "log", ":x", "--path", "y")
	r.fails(1, "Invalid date: soon (use ISO 8601, e.g. 2024-01-15 or 2024-01-15T14:30:00)", "log", "--before", "soon")
	r.fails(1, "Unknown ref: nope", "log", "--ref", "nope")
}

func TestSnapshotFilters(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	wantLines(t, r.ok("ls", "--path", "data/a.txt"), "data", "hello.txt")
	wantLines(t, r.ok("ls", "-R", "--path", ":data/a.txt", "data"), "data/a.txt")
	wantLines(t, r.ok("ls", "--match", "+ hello*"), "hello.txt")
	wantLines(t, r.ok("ls", "--match", "+ data*", "--back", "1"), "data", "hello.txt")
	wantLines(t, r.ok("ls", "--before", "2999-01-01"), "data", "hello.txt")
	r.fails(1, "No matching commits found", "ls", "--before", "2000-01-01")
	r.fails(1, "No matching commits found", "ls", "--match", "nothing like this")
	r.fails(1, "history too short", "ls", "--back", "9")
	r.fails(1, "Unknown ref: nope", "ls", "--ref", "nope")
	tip := r.tip("main").Hash()
	wantLines(t, r.ok("ls", "-R", "--ref", tip[:7]), "data/a.txt", "data/sub/b.txt", "hello.txt")
	wantLines(t, r.ok("ls", "--ref", tip, "data"), "a.txt", "sub")
	blob, err := r.tip("main").ObjectHash("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	r.fails(1, "Object "+blob+" is not a commit", "ls", "--ref", blob)
	r.fails(1, "Cannot use snapshot filters with paths targeting different refs", "ls", "main:", "v:", "--back", "1")
}

func TestDiff(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	if out := r.ok("diff"); out != "" {
		t.Fatalf("diff against itself: %q", out)
	}
	wantLines(t, r.ok("diff", "~1:"), "A  data/sub/b.txt")
	r.ok("branch", "set", "dev")
	r.withStdin("changed").ok("write", "hello.txt")
	r.ok("rm", "data/a.txt")
	r.withStdin("n").ok("write", "new.txt")
	wantLines(t, r.ok("diff", "dev:"), "A  new.txt", "M  hello.txt", "D  data/a.txt")
	wantLines(t, r.ok("diff", "--ref", "dev"), "A  new.txt", "M  hello.txt", "D  data/a.txt")
	wantLines(t, r.ok("diff", "dev:", "--reverse"), "A  data/a.txt", "M  hello.txt", "D  new.txt")
	wantLines(t, r.ok("diff", "--back", "3"), "A  new.txt", "M  hello.txt", "D  data/a.txt")

	// A mode-only change is M; a directory replaced by a file lists its files.
	s := r.store()
	tip, _ := s.Branches().Get("main")
	if _, err := tip.Apply(map[string]vfs.WriteEntry{"new.txt": {Data: []byte("n"), Mode: vfs.Executable}, "data": {Data: []byte("f")}}, nil, vfs.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, r.ok("diff", "~1:"), "A  data", "M  new.txt", "D  data/sub/b.txt")
	r.fails(1, "BASELINE must be a repo ref", "diff", "dev")
	r.fails(1, "Cannot use --ref with explicit ref: in path", "diff", "dev:", "--ref", "dev")
}

func TestCmp(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	dir := t.TempDir()
	same := filepath.Join(dir, "same.txt")
	other := filepath.Join(dir, "other.txt")
	os.WriteFile(same, []byte("hello\n"), 0o644)
	os.WriteFile(other, []byte("nope\n"), 0o644)
	r.ok("cmp", ":hello.txt", same)
	r.ok("cmp", same, "main:hello.txt")
	r.ok("cmp", same, same)
	if res := r.run("cmp", ":hello.txt", other); res.code != 1 || res.stderr != "" {
		t.Fatalf("different files: %+v", res)
	}
	res := r.run("-v", "cmp", ":hello.txt", same)
	blob, _ := r.tip("main").ObjectHash("hello.txt")
	if res.code != 0 || res.stderr != blob+"  :hello.txt\n"+blob+"  "+same+"\n" {
		t.Fatalf("cmp -v: %+v", res)
	}
	r.withStdin("v2").ok("write", "hello.txt")
	r.ok("cmp", "~1:hello.txt", same)
	r.ok("cmp", ":hello.txt", same, "--back", "1")
	r.fails(1, "File not found: nope", "cmp", ":nope", same)
	r.fails(1, "File not found: "+filepath.Join(dir, "nope"), "cmp", ":hello.txt", filepath.Join(dir, "nope"))
	r.fails(1, "Is a directory: data", "cmp", ":data", same)
	r.fails(1, "Is a directory: "+dir, "cmp", ":hello.txt", dir)
	// Two local files need no repository.
	fsRun{t: t}.ok("cmp", same, same)
}

func TestUndoRedo(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	nowAt := regexp.MustCompile(`^Branch now at: [0-9a-f]{7} - (.*)\n$`)
	m := nowAt.FindStringSubmatch(r.ok("undo"))
	if m == nil || m[1] != "+ data/a.txt" {
		t.Fatalf("undo printed %q", m)
	}
	m = nowAt.FindStringSubmatch(r.ok("undo", "2"))
	if m == nil || m[1] != "Initialize main" {
		t.Fatalf("undo 2 printed %q", m)
	}
	m = nowAt.FindStringSubmatch(r.ok("redo"))
	if m == nil || m[1] != "+ data/a.txt" {
		t.Fatalf("redo printed %q", m)
	}
	r.fails(1, "Cannot undo 5 steps", "undo", "5")
	r.fails(1, "steps must be >= 1", "undo", "0")
	r.fails(1, "Branch not found: nope", "undo", "-b", "nope")
	r.fails(1, "Cannot redo", "redo", "9")
}

func TestReflog(t *testing.T) {
	t.Parallel()
	r := fsRun{t: t, repo: filepath.Join(t.TempDir(), "repo")}
	r.ok("init")
	r.fails(1, "No reflog found for branch 'main'", "reflog")
	r.withStdin("1").ok("write", "a")
	r.withStdin("2").ok("write", "b")
	r.ok("undo")
	out := r.ok("reflog")
	re := regexp.MustCompile(`^Reflog for branch 'main' \(3 entries\):\n\n` +
		`  \[0\] [0-9a-f]{7} \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)\n      commit: \+ a\n\n` +
		`  \[1\] [0-9a-f]{7} \(.{19}\)\n      commit: \+ b\n\n` +
		`  \[2\] [0-9a-f]{7} \(.{19}\)\n      undo: move back\n\n$`)
	if !re.MatchString(out) {
		t.Fatalf("reflog text:\n%s", out)
	}
	if !strings.HasPrefix(r.ok("reflog", "-n", "1"), "Reflog for branch 'main' (1 entries):\n\n  [0] ") {
		t.Fatalf("reflog -n 1:\n%s", r.ok("reflog", "-n", "1"))
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.ok("reflog", "--format", "json", "--limit", "2")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !strings.Contains(rows[1]["message"].(string), "undo:") || len(rows[1]["old_sha"].(string)) != 40 ||
		rows[1]["committer"] == "" || rows[1]["timestamp"].(float64) < rows[0]["timestamp"].(float64) {
		t.Fatalf("reflog json %v", rows)
	}
	if _, ok := rows[0]["time"].(string); !ok {
		t.Fatalf("reflog json time %v", rows[0])
	}
	if n := len(lines(r.ok("reflog", "--format", "jsonl"))); n != 3 {
		t.Fatalf("reflog jsonl: %d lines", n)
	}
	r.fails(1, "Branch not found: nope", "reflog", "-b", "nope")
}

func TestBranch(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	wantLines(t, r.ok("branch"), "main")
	r.ok("branch", "set", "dev")
	r.ok("branch", "set", "old", "--back", "2")
	r.ok("branch", "set", "blank", "--empty")
	wantLines(t, r.ok("branch", "list"), "blank", "dev", "main", "old")
	wantLines(t, r.ok("ls", "old:"), "hello.txt")
	wantLines(t, r.ok("ls", "blank:"))
	if l := lines(r.ok("log", "--ref", "blank")); len(l) != 1 || !strings.HasSuffix(l[0], "  Initialize blank") {
		t.Fatalf("log of an --empty branch: %q", l)
	}
	r.fails(1, "Branch already exists: dev", "branch", "set", "dev")
	r.ok("branch", "set", "dev", "-f", "-b", "old")
	if r.tip("dev").Hash() != r.tip("old").Hash() {
		t.Fatal("branch set -f -b old did not move dev")
	}
	r.fails(1, "--empty cannot be combined with --ref/--path/--match/--before/--back", "branch", "set", "x", "--empty", "--back", "1")
	r.fails(1, "Invalid ref name", "branch", "set", "bad name")
	r.fails(1, "colon", "branch", "set", "bad:name")

	r.ok("branch", "exists", "dev")
	if res := r.run("branch", "exists", "nope"); res.code != 1 || res.stdout+res.stderr != "" {
		t.Fatalf("branch exists nope: %+v", res)
	}
	main := r.tip("main")
	wantLines(t, r.ok("branch", "hash", "main"), main.Hash())
	parent, _ := main.Back(1)
	wantLines(t, r.ok("branch", "hash", "main", "--back", "1"), parent.Hash())
	r.fails(1, "Cannot use --ref with branch hash", "branch", "hash", "main", "--ref", "dev")
	r.fails(1, "Branch not found: nope", "branch", "hash", "nope")

	wantLines(t, r.ok("branch", "current"), "main")
	r.ok("branch", "current", "-b", "dev")
	wantLines(t, r.ok("branch", "current"), "dev")
	r.fails(1, "Branch not found: nope", "branch", "current", "-b", "nope")
	r.ok("branch", "delete", "old")
	r.fails(1, "Branch not found: old", "branch", "delete", "old")
	r.ok("branch", "current", "-b", "main")
	r.ok("branch", "delete", "main")
	r.fails(1, "HEAD does not point to an existing branch", "branch", "current")
}

func TestTag(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	wantLines(t, r.ok("tag"))
	r.ok("tag", "set", "v1")
	r.ok("tag", "set", "v0", "--back", "1")
	r.ok("branch", "set", "dev", "--back", "2")
	r.ok("tag", "set", "d", "-b", "dev")
	wantLines(t, r.ok("tag", "list"), "d", "v0", "v1")
	wantLines(t, r.ok("tag", "hash", "v1"), r.tip("main").Hash())
	wantLines(t, r.ok("tag", "hash", "d"), r.tip("dev").Hash())
	r.fails(1, "Tag already exists: v1", "tag", "set", "v1", "--back", "1")
	r.ok("tag", "set", "v1", "-f", "--back", "1")
	parent, _ := r.tip("main").Back(1)
	wantLines(t, r.ok("tag", "hash", "v1"), parent.Hash())
	r.ok("tag", "exists", "v1")
	if res := r.run("tag", "exists", "nope"); res.code != 1 {
		t.Fatalf("tag exists nope: %+v", res)
	}
	r.ok("tag", "delete", "v0")
	r.fails(1, "Tag not found: v0", "tag", "delete", "v0")
	r.fails(1, "Tag not found: v0", "tag", "hash", "v0")
	r.fails(1, "Branch not found: v1", "reflog", "-b", "v1") // -b names a branch
}

func TestNote(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	tip := r.tip("main").Hash()
	parent, _ := r.tip("main").Back(1)
	r.ok("note", "set", tip, "reviewed")
	if out := r.ok("note", "get", tip); out != "reviewed" {
		t.Fatalf("note get = %q", out)
	}
	if out := r.ok("note", "get-current"); out != "reviewed" {
		t.Fatalf("note get-current = %q", out)
	}
	r.ok("note", "set", parent.Hash(), "older")
	hashes := []string{tip, parent.Hash()}
	slices.Sort(hashes)
	wantLines(t, r.ok("note", "list"), hashes...)
	r.ok("note", "-N", "reviews", "set-current", "lgtm")
	if out := r.ok("note", "get-current", "-N", "reviews"); out != "lgtm" {
		t.Fatalf("reviews note = %q", out)
	}
	wantLines(t, r.ok("note", "list", "-N", "reviews"), tip)
	r.ok("note", "delete", tip)
	r.fails(1, "No note for "+tip[:7]+" in namespace 'commits'", "note", "get", tip)
	r.fails(1, "No note for "+tip[:7]+" in namespace 'commits'", "note", "delete", tip)
	r.fails(1, "No note for HEAD ("+tip[:7]+") in namespace 'commits'", "note", "get-current")
	r.fails(1, "Invalid commit hash", "note", "get", "abc")
}
