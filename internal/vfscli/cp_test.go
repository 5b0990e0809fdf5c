package vfscli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/vfs"
)

// cliResult is one in-process run of `strata fs`.
type cliResult struct {
	stdout, stderr string
	code           int
}

// fsCLI runs `strata fs -r repo args...` in-process.
func fsCLI(t *testing.T, repo string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr syncBuffer
	code := runCLIContext(context.Background(), &stdout, &stderr, append([]string{"-r", repo}, args...)...)
	return cliResult{stdout.String(), stderr.String(), code}
}

func mustCLI(t *testing.T, repo string, args ...string) string {
	t.Helper()
	r := fsCLI(t, repo, args...)
	if r.code != 0 {
		t.Fatalf("fs %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func failCLI(t *testing.T, repo, want string, args ...string) {
	t.Helper()
	r := fsCLI(t, repo, args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("fs %s: exit %d, want an error with %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
}

// lines splits output into its lines.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	if g := lines(got); !slices.Equal(g, want) {
		t.Fatalf("output:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

// cliRepo is a repository with hello.txt, dir/{a.txt,sub/b.txt} and
// run.sh (executable) on main, and tag v1 at that commit.
func cliRepo(t *testing.T) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	s, err := vfs.Open(repo, vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tip, err := s.Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	tip, err = tip.Apply(map[string]vfs.WriteEntry{
		"hello.txt":     {Data: []byte("hello\n")},
		"dir/a.txt":     {Data: []byte("a\n")},
		"dir/sub/b.txt": {Data: []byte("b\n")},
		"run.sh":        {Data: []byte("#!/bin/sh\n"), Mode: vfs.Executable},
	}, nil, vfs.ApplyOptions{Message: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tags().Set("v1", tip); err != nil {
		t.Fatal(err)
	}
	return repo
}

// repoTip opens repo and returns a branch's tip.
func repoTip(t *testing.T, repo, branch string) *vfs.FS {
	t.Helper()
	s, err := vfs.Open(repo, vfs.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tip, err := s.Branches().Get(branch)
	if err != nil {
		t.Fatal(err)
	}
	return tip
}

func wantRepoFile(t *testing.T, snap *vfs.FS, p, content string, typ vfs.FileType) {
	t.Helper()
	got, err := snap.ReadText(p)
	if err != nil || got != content {
		t.Fatalf("%s = %q, %v; want %q", p, got, err, content)
	}
	if ft, _ := snap.FileType(p); ft != typ {
		t.Fatalf("%s is %s, want %s", p, ft, typ)
	}
}

// localTree makes src/{a.txt,sub/b.txt,run.sh(755),link -> a.txt} and
// one.txt next to it.
func localTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeLocal(t, filepath.Join(dir, "src", "a.txt"), "A")
	writeLocal(t, filepath.Join(dir, "src", "sub", "b.txt"), "B")
	writeLocal(t, filepath.Join(dir, "src", "run.sh"), "#!")
	if err := os.Chmod(filepath.Join(dir, "src", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "src", "link")); err != nil {
		t.Fatal(err)
	}
	writeLocal(t, filepath.Join(dir, "one.txt"), "one")
	return dir
}

func TestCp_argumentErrors(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	local := localTree(t)
	one := filepath.Join(local, "one.txt")
	out := t.TempDir()
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"cp requires at least two arguments (SRC... DEST)", []string{"cp", one}},
		{"Neither sources nor DEST is a repo path — prefix repo paths with ':'", []string{"cp", one, out}},
		{"All source paths must be the same type (all repo or all local)", []string{"cp", ":hello.txt", one, out}},
		{"Mixed local and repo sources are not supported — use separate cp commands", []string{"cp", ":hello.txt", one, ":x"}},
		{"--ref/--path/--match/--before only apply when reading from repo", []string{"cp", "--ref", "main", one, ":"}},
		{"--tag only applies when writing to repo (disk -> repo)", []string{"cp", "--tag", "t", ":hello.txt", out}},
		{"--exclude/--exclude-from only apply when copying from disk to repo", []string{"cp", "--exclude", "*.o", ":hello.txt", out}},
		{"Cannot use --delete with a single file source.", []string{"cp", "--delete", one, ":"}},
		{"Cannot use --delete with a single file source.", []string{"cp", "--delete", ":hello.txt", out}},
		{"Cannot write to tag 'v1' — use a branch", []string{"cp", one, "v1:"}},
		{"Cannot write to a historical commit (remove ~N from destination)", []string{"cp", one, "main~1:"}},
		{"Branch not found: nope", []string{"cp", one, "nope:"}},
		{"Cannot use -b/--branch with explicit ref: in path", []string{"cp", "-b", "main", "v1:hello.txt", out}},
		{"No matches for pattern: ", []string{"cp", filepath.Join(local, "*.nothing"), ":"}},
		{"No matches for pattern in repo: *.nothing", []string{"cp", ":*.nothing", out}},
		{"Invalid value for '--type'", []string{"cp", "--type", "weird", one, ":"}},
		{"--exclude-from", []string{"cp", "--exclude-from", filepath.Join(local, "missing"), filepath.Join(local, "src"), ":"}},
	} {
		failCLI(t, repo, tc.want, tc.args...)
	}
}

func TestCp_diskToRepo(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	local := localTree(t)
	src := filepath.Join(local, "src")
	start := repoTip(t, repo, "main").Hash()

	wantLines(t, mustCLI(t, repo, "cp", "-n", src, ":d"),
		"+ :d/src/a.txt", "+ :d/src/link", "+ :d/src/run.sh", "+ :d/src/sub/b.txt")
	if repoTip(t, repo, "main").Hash() != start {
		t.Fatal("dry run committed")
	}
	mustCLI(t, repo, "cp", src, ":d")
	tip := repoTip(t, repo, "main")
	wantRepoFile(t, tip, "d/src/a.txt", "A", vfs.Blob)
	wantRepoFile(t, tip, "d/src/run.sh", "#!", vfs.Executable)
	if target, err := tip.Readlink("d/src/link"); err != nil || target != "a.txt" {
		t.Fatalf("link: %q %v", target, err)
	}
	// Contents mode, at the root: the dry-run lines have no leading dir.
	wantLines(t, mustCLI(t, repo, "cp", "-n", "--exclude", "sub/", "--exclude", "link", src+"/", ":"),
		"+ :a.txt", "~ :run.sh")
	mustCLI(t, repo, "cp", "--type", "blob", src+"/", ":blobs")
	wantRepoFile(t, repoTip(t, repo, "main"), "blobs/run.sh", "#!", vfs.Blob)

	// Globs expand locally; a second identical copy makes no commit.
	mustCLI(t, repo, "cp", filepath.Join(src, "*.txt"), ":g")
	before := repoTip(t, repo, "main").Hash()
	mustCLI(t, repo, "cp", filepath.Join(src, "*.txt"), ":g")
	if repoTip(t, repo, "main").Hash() != before {
		t.Fatal("identical copy made a commit")
	}
	wantRepoFile(t, repoTip(t, repo, "main"), "g/a.txt", "A", vfs.Blob)

	// The commit is tagged; an existing tag needs --force-tag.
	mustCLI(t, repo, "cp", "--tag", "t1", filepath.Join(local, "one.txt"), ":")
	failCLI(t, repo, "Tag already exists: t1 (use --force-tag to overwrite)", "cp", "--tag", "t1", src, ":x")
	mustCLI(t, repo, "cp", "--tag", "t1", "--force-tag", src, ":x")

	// To another branch.
	mustCLI(t, repo, "branch", "set", "dev")
	mustCLI(t, repo, "cp", filepath.Join(local, "one.txt"), "dev:only-dev.txt")
	wantRepoFile(t, repoTip(t, repo, "dev"), "only-dev.txt", "one", vfs.Blob)
	if ok, _ := repoTip(t, repo, "main").Exists("only-dev.txt"); ok {
		t.Fatal("dev: copy landed on main")
	}
}

func TestCp_singleFile(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	local := localTree(t)
	one := filepath.Join(local, "one.txt")
	wantLines(t, mustCLI(t, repo, "cp", "-n", one, ":"), one+" -> :one.txt")
	wantLines(t, mustCLI(t, repo, "cp", "-n", one, ":dir"), one+" -> :dir/one.txt")
	wantLines(t, mustCLI(t, repo, "cp", "-n", one, ":renamed.txt"), one+" -> :renamed.txt")
	// gitstore's quirk, kept: a trailing slash on a missing DEST still
	// names a file.
	wantLines(t, mustCLI(t, repo, "cp", "-n", one, ":newdir/"), one+" -> :newdir")
	mustCLI(t, repo, "cp", one, ":dir")
	mustCLI(t, repo, "cp", one, ":renamed.txt")
	tip := repoTip(t, repo, "main")
	wantRepoFile(t, tip, "dir/one.txt", "one", vfs.Blob)
	wantRepoFile(t, tip, "renamed.txt", "one", vfs.Blob)
	// A symlink stays a link unless --follow-symlinks.
	mustCLI(t, repo, "cp", filepath.Join(local, "src", "link"), ":l1")
	mustCLI(t, repo, "cp", "--follow-symlinks", filepath.Join(local, "src", "link"), ":l2")
	tip = repoTip(t, repo, "main")
	if target, _ := tip.Readlink("l1"); target != "a.txt" {
		t.Fatalf("l1 -> %q", target)
	}
	wantRepoFile(t, tip, "l2", "A", vfs.Blob)
	// --ignore-existing leaves the existing file.
	writeLocal(t, one, "changed")
	mustCLI(t, repo, "cp", "--ignore-existing", one, ":renamed.txt")
	wantRepoFile(t, repoTip(t, repo, "main"), "renamed.txt", "one", vfs.Blob)
	// An excluded file is not copied, and that is not an error.
	mustCLI(t, repo, "cp", "--exclude", "*.txt", one, ":skipped.txt")
	if ok, _ := repoTip(t, repo, "main").Exists("skipped.txt"); ok {
		t.Fatal("excluded file copied")
	}

	// repo→disk: DEST exactly, or DEST/<name> for a directory.
	out := t.TempDir()
	wantLines(t, mustCLI(t, repo, "cp", "-n", ":run.sh", out), ":run.sh -> "+filepath.Join(out, "run.sh"))
	mustCLI(t, repo, "cp", ":run.sh", out)
	mustCLI(t, repo, "cp", ":hello.txt", filepath.Join(out, "new", "h.txt"))
	fi, err := os.Stat(filepath.Join(out, "run.sh"))
	if err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("run.sh: %v %v", fi, err)
	}
	commit := repoTip(t, repo, "main").Time()
	if !fi.ModTime().Equal(commit) {
		t.Fatalf("mtime %v, want the commit's %v", fi.ModTime(), commit)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "new", "h.txt")); string(b) != "hello\n" {
		t.Fatalf("h.txt = %q", b)
	}
	mustCLI(t, repo, "cp", "v1:hello.txt", filepath.Join(out, "v1.txt"))
	if b, _ := os.ReadFile(filepath.Join(out, "v1.txt")); string(b) != "hello\n" {
		t.Fatalf("v1.txt = %q", b)
	}
}

func TestCp_repoToDisk(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	out := t.TempDir()
	wantLines(t, mustCLI(t, repo, "cp", "-n", ":dir", out),
		"+ "+filepath.Join(out, "dir", "a.txt"), "+ "+filepath.Join(out, "dir", "sub", "b.txt"))
	mustCLI(t, repo, "cp", ":dir/", ":hello.txt", out)
	for p, want := range map[string]string{"a.txt": "a\n", "sub/b.txt": "b\n", "hello.txt": "hello\n"} {
		if b, err := os.ReadFile(filepath.Join(out, p)); err != nil || string(b) != want {
			t.Fatalf("%s = %q, %v", p, b, err)
		}
	}
	// --delete removes what the sources lack.
	writeLocal(t, filepath.Join(out, "extra.txt"), "x")
	wantLines(t, mustCLI(t, repo, "cp", "-n", "--delete", ":dir/", out),
		"- "+filepath.Join(out, "extra.txt"), "- "+filepath.Join(out, "hello.txt"))
	mustCLI(t, repo, "cp", "--delete", ":dir/", out)
	if _, err := os.Stat(filepath.Join(out, "extra.txt")); !os.IsNotExist(err) {
		t.Fatalf("extra.txt survived --delete: %v", err)
	}
	// Sources naming different refs are each read from their own.
	mustCLI(t, repo, "write", ":hello.txt", "-m", "change")
	out2 := t.TempDir()
	mustCLI(t, repo, "cp", "v1:hello.txt", ":run.sh", out2)
	if b, _ := os.ReadFile(filepath.Join(out2, "hello.txt")); string(b) != "hello\n" {
		t.Fatalf("v1's hello.txt = %q", b)
	}
}

func TestCp_repoToRepo(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	wantLines(t, mustCLI(t, repo, "cp", "-n", ":dir", ":hello.txt", ":copy"),
		"+ :copy/dir/a.txt", "+ :copy/dir/sub/b.txt", "+ :copy/hello.txt")
	mustCLI(t, repo, "cp", ":dir", ":hello.txt", ":copy")
	tip := repoTip(t, repo, "main")
	wantRepoFile(t, tip, "copy/dir/sub/b.txt", "b\n", vfs.Blob)
	if !strings.Contains(tip.Message(), "cp") {
		t.Fatalf("message %q lacks the cp operation", tip.Message())
	}
	mustCLI(t, repo, "cp", "--type", "executable", ":dir/a.txt", ":x")
	wantRepoFile(t, repoTip(t, repo, "main"), "x/a.txt", "a\n", vfs.Executable)
	// --delete: deletes first, then each pair in order.
	wantLines(t, mustCLI(t, repo, "cp", "-n", "--delete", ":dir/", ":copy"),
		"- :copy/dir/a.txt", "- :copy/dir/sub/b.txt", "- :copy/hello.txt", "+ :copy/a.txt", "+ :copy/sub/b.txt")
	wantLines(t, mustCLI(t, repo, "cp", "-n", ":dir/", ":copy/dir"), "~ :copy/dir/a.txt", "~ :copy/dir/sub/b.txt")
	wantLines(t, mustCLI(t, repo, "cp", "-n", "--ignore-existing", ":dir/", ":copy/dir"))
	// The pivot keeps only the part after /./.
	wantLines(t, mustCLI(t, repo, "cp", "-n", ":dir/./sub/b.txt", ":p"), "+ :p/sub/b.txt")
	// Across branches: from a tag into dev.
	mustCLI(t, repo, "branch", "set", "dev")
	mustCLI(t, repo, "cp", "v1:hello.txt", "dev:from-v1")
	wantRepoFile(t, repoTip(t, repo, "dev"), "from-v1/hello.txt", "hello\n", vfs.Blob)
}

// Checklist §5.8: the CLI compares by mtime unless -c.
func TestCp_mtimeMode(t *testing.T) {
	t.Parallel()
	repo := filepath.Join(t.TempDir(), "repo")
	local := localTree(t)
	src := filepath.Join(local, "src")
	mustCLI(t, repo, "sync", src, ":s")
	if out := mustCLI(t, repo, "sync", "-n", src, ":s"); out != "" {
		t.Fatalf("resync plans changes:\n%s", out)
	}
	commit := repoTip(t, repo, "main").Time()

	// A rewrite a second or more after the commit is seen.
	a := filepath.Join(src, "a.txt")
	writeLocal(t, a, "A2")
	later := commit.Add(2 * time.Second)
	if err := os.Chtimes(a, later, later); err != nil {
		t.Fatal(err)
	}
	wantLines(t, mustCLI(t, repo, "sync", "-n", src, ":s"), "~ :s/a.txt")
	mustCLI(t, repo, "sync", src, ":s")

	// A back-dated change is missed by default and caught with -c.
	commit = repoTip(t, repo, "main").Time()
	b := filepath.Join(src, "sub", "b.txt")
	writeLocal(t, b, "X")
	earlier := commit.Add(-time.Hour)
	if err := os.Chtimes(b, earlier, earlier); err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, repo, "sync", "-n", src, ":s"); out != "" {
		t.Fatalf("mtime mode saw a back-dated change:\n%s", out)
	}
	wantLines(t, mustCLI(t, repo, "sync", "-n", "-c", src, ":s"), "~ :s/sub/b.txt")
	wantLines(t, mustCLI(t, repo, "cp", "-n", "-c", "--delete", src+"/", ":s"), "~ :s/sub/b.txt")
	mustCLI(t, repo, "sync", "-c", src, ":s")

	// repo→disk→repo is clean: files written out carry the commit time.
	out := t.TempDir()
	mustCLI(t, repo, "sync", ":s", out)
	if got := mustCLI(t, repo, "sync", "-n", out, ":s"); got != "" {
		t.Fatalf("round trip not clean:\n%s", got)
	}
	if got := mustCLI(t, repo, "sync", "-n", ":s", out); got != "" {
		t.Fatalf("resync out not clean:\n%s", got)
	}
}

func TestCp_ignoreErrors(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads unreadable files")
	}
	repo := cliRepo(t)
	local := localTree(t)
	bad := filepath.Join(local, "src", "sub", "b.txt")
	if err := os.Chmod(bad, 0); err != nil {
		t.Fatal(err)
	}
	failCLI(t, repo, "b.txt", "cp", filepath.Join(local, "src"), ":e")
	r := fsCLI(t, repo, "cp", "--ignore-errors", filepath.Join(local, "src"), ":e")
	if r.code != 1 || !strings.Contains(r.stderr, "ERROR: ") || !strings.Contains(r.stderr, "b.txt") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	tip := repoTip(t, repo, "main")
	wantRepoFile(t, tip, "e/src/a.txt", "A", vfs.Blob)
	if ok, _ := tip.Exists("e/src/sub/b.txt"); ok {
		t.Fatal("unreadable file committed")
	}
}

func TestCp_autoCreate(t *testing.T) {
	t.Parallel()
	local := localTree(t)
	repo := filepath.Join(t.TempDir(), "new")
	failCLI(t, repo, "Repository not found", "cp", "--no-create", filepath.Join(local, "one.txt"), ":")
	failCLI(t, repo, "Repository not found", "cp", ":x", t.TempDir())
	if _, err := os.Stat(repo); !os.IsNotExist(err) {
		t.Fatal("a failed or read-only cp created the repository")
	}
	mustCLI(t, repo, "-b", "dev", "cp", filepath.Join(local, "one.txt"), ":")
	wantRepoFile(t, repoTip(t, repo, "dev"), "one.txt", "one", vfs.Blob)
}

func TestSync_directions(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	local := localTree(t)
	src := filepath.Join(local, "src")
	out := t.TempDir()
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"Single-argument sync must be a local path, not a repo path", []string{"sync", ":dir"}},
		{"Neither argument is a repo path — prefix repo paths with ':'", []string{"sync", src, out}},
		{"sync requires 1 or 2 arguments", []string{"sync", src, ":a", ":b"}},
		{"--gitignore only applies when syncing from disk to repo", []string{"sync", "--gitignore", ":dir", out}},
		{"--ref/--path/--match/--before only apply when reading from repo", []string{"sync", "--back", "1", src, ":"}},
		{"Cannot write to tag 'v1' — use a branch", []string{"sync", src, "v1:x"}},
		{"Cannot write to a historical commit (remove ~N from destination)", []string{"sync", src, "main~1:x"}},
		{"Branch not found: nope", []string{"sync", src, "nope:x"}},
	} {
		failCLI(t, repo, tc.want, tc.args...)
	}

	// disk→repo honours the destination's ref (gitstore wrote to the
	// current branch whatever it said).
	mustCLI(t, repo, "branch", "set", "dev")
	wantLines(t, mustCLI(t, repo, "sync", "-n", "-c", src, "dev:dir"),
		"~ :dir/a.txt", "+ :dir/link", "+ :dir/run.sh", "~ :dir/sub/b.txt")
}

func TestSync_diskRepoDisk(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	local := localTree(t)
	src := filepath.Join(local, "src")
	mustCLI(t, repo, "branch", "set", "dev")
	// -c: the local files are no newer than the fixture's commit.
	mustCLI(t, repo, "sync", "-c", src, "dev:dir")
	dev := repoTip(t, repo, "dev")
	wantRepoFile(t, dev, "dir/a.txt", "A", vfs.Blob)
	wantRepoFile(t, dev, "dir/run.sh", "#!", vfs.Executable)
	wantRepoFile(t, repoTip(t, repo, "main"), "dir/a.txt", "a\n", vfs.Blob)

	// One argument: the root of the current branch.
	mustCLI(t, repo, "sync", src)
	main := repoTip(t, repo, "main")
	if names, _ := main.Ls(""); !slices.Equal(sortedCopy(names), []string{"a.txt", "link", "run.sh", "sub"}) {
		t.Fatalf("root after sync: %v", names)
	}

	// repo→disk deletes local extras; dry-run lines name local paths.
	out := t.TempDir()
	writeLocal(t, filepath.Join(out, "stale.txt"), "x")
	wantLines(t, mustCLI(t, repo, "sync", "-n", "dev:dir", out),
		"+ "+filepath.Join(out, "a.txt"), "+ "+filepath.Join(out, "link"), "+ "+filepath.Join(out, "run.sh"),
		"- "+filepath.Join(out, "stale.txt"), "+ "+filepath.Join(out, "sub", "b.txt"))
	mustCLI(t, repo, "sync", "dev:dir", out)
	if _, err := os.Stat(filepath.Join(out, "stale.txt")); !os.IsNotExist(err) {
		t.Fatal("stale.txt survived")
	}
	if target, err := os.Readlink(filepath.Join(out, "link")); err != nil || target != "a.txt" {
		t.Fatalf("link: %q %v", target, err)
	}
}

func TestSync_repoToRepo(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	mustCLI(t, repo, "cp", ":hello.txt", ":dest/")
	mustCLI(t, repo, "cp", ":dir/sub/b.txt", ":dest/")
	// "-" first, then "+", then "~"; b.txt differs in content, a.txt is new.
	mustCLI(t, repo, "write", ":dest/sub/b.txt")
	wantLines(t, mustCLI(t, repo, "sync", "-n", ":dir", ":dest"),
		"- :dest/b.txt", "- :dest/hello.txt", "+ :dest/a.txt", "~ :dest/sub/b.txt")
	mustCLI(t, repo, "sync", ":dir", ":dest")
	tip := repoTip(t, repo, "main")
	if !strings.Contains(tip.Message(), "sync") {
		t.Fatalf("message %q lacks the sync operation", tip.Message())
	}
	if out := mustCLI(t, repo, "sync", "-n", ":dir", ":dest"); out != "" {
		t.Fatalf("not in sync:\n%s", out)
	}
	failCLI(t, repo, "Not a directory in repo: hello.txt", "sync", ":hello.txt", ":dest")
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
