package vfs

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// coreStore opens a new repository in a temporary directory.
func coreStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "r.git"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// coreMain is the main branch of a new repository.
func coreMain(t testing.TB) *FS {
	t.Helper()
	snap, err := coreStore(t).Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// coreGit runs git in the repository and returns its trimmed output.
func coreGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
	cmd.Env = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// must(f())(t) fails the test when f fails, else returns f's value.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// coreFsck checks that git finds nothing wrong with what the store wrote.
func coreFsck(t testing.TB, s *Store) {
	t.Helper()
	coreGit(t, s.Path(), "fsck", "--full", "--strict", "--no-dangling")
}

func TestOpen_create(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new.git")
	if _, err := Open(dir, Options{NoCreate: true}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "Repository not found") {
		t.Fatalf("NoCreate on a missing path: %v", err)
	}
	s := must(Open(dir, Options{Branch: "dev", Author: Signature{Name: "Ann", Email: "ann@example.com"}}))(t)
	defer s.Close()
	if got := coreGit(t, dir, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Fatalf("not bare: %s", got)
	}
	if got := coreGit(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/dev" {
		t.Fatalf("HEAD -> %s", got)
	}
	snap := must(s.Branches().Get("dev"))(t)
	if snap.Message() != "Initialize dev" || snap.parent != "" || string(snap.tree) != "4b825dc642cb6eb9a060e54bf8d69288fbee4904" {
		t.Fatalf("root commit: %q parent %q tree %s", snap.Message(), snap.parent, snap.tree)
	}
	if a := snap.Author(); a.Name != "Ann" || a.Email != "ann@example.com" {
		t.Fatalf("author %+v", a)
	}
	if _, err := s.Branches().Reflog("dev"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "No reflog found for branch 'dev'") {
		t.Fatalf("a new repository has no reflog: %v", err)
	}
	coreFsck(t, s)

	// Opening an existing repository ignores Branch.
	s2 := must(Open(dir, Options{Branch: "other", NoCreate: true}))(t)
	defer s2.Close()
	if names := must(s2.Branches().Names())(t); len(names) != 1 || names[0] != "dev" {
		t.Fatalf("branches %v", names)
	}
}

func TestOpen_noBranch(t *testing.T) {
	t.Parallel()
	s := must(Open(filepath.Join(t.TempDir(), "r.git"), Options{NoBranch: true}))(t)
	defer s.Close()
	if names := must(s.Branches().Names())(t); len(names) != 0 {
		t.Fatalf("branches %v", names)
	}
	if cur, err := s.Branches().Current(); cur != nil || err != nil {
		t.Fatalf("current on a dangling HEAD: %v %v", cur, err)
	}
	if name, err := s.Branches().CurrentName(); name != "" || err != nil {
		t.Fatalf("current name: %q %v", name, err)
	}
}

// TestGitInterop: what plain git writes reads correctly, and what the
// store writes passes git fsck and reads back through git.
func TestGitInterop(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	work := filepath.Join(base, "work")
	bare := filepath.Join(base, "bare.git")
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH"), "HOME=" + base,
			"GIT_AUTHOR_NAME=Git User", "GIT_AUTHOR_EMAIL=g@example.com", "GIT_COMMITTER_NAME=Git User", "GIT_COMMITTER_EMAIL=g@example.com"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	os.MkdirAll(filepath.Join(work, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("alpha\n"), 0o644)
	os.WriteFile(filepath.Join(work, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(work, "dir", "sub", "deep.bin"), []byte{0, 1, 2, 255}, 0o644)
	os.Symlink("a.txt", filepath.Join(work, "link"))
	run(base, "init", "-q", "-b", "trunk", work)
	run(work, "add", "-A")
	run(work, "commit", "-q", "-m", "from git\n\nbody")
	run(base, "clone", "-q", "--bare", work, bare)

	s := must(Open(bare, Options{NoCreate: true}))(t)
	defer s.Close()
	snap := must(s.Branches().Get("trunk"))(t)
	if snap.Message() != "from git\n\nbody" || snap.Author().Name != "Git User" {
		t.Fatalf("commit: %q %+v", snap.Message(), snap.Author())
	}
	if got := must(snap.ReadText("a.txt"))(t); got != "alpha\n" {
		t.Fatalf("a.txt %q", got)
	}
	if got := must(snap.FileType("run.sh"))(t); got != Executable {
		t.Fatalf("run.sh %s", got)
	}
	if got := must(snap.Readlink("link"))(t); got != "a.txt" {
		t.Fatalf("link -> %q", got)
	}
	if got := must(snap.Read("dir/sub/deep.bin"))(t); string(got) != "\x00\x01\x02\xff" {
		t.Fatalf("deep.bin %q", got)
	}
	if cur := must(s.Branches().CurrentName())(t); cur != "trunk" {
		t.Fatalf("current %q", cur)
	}
	next := must(snap.WriteText("dir/new.txt", "new\n", WriteOptions{}))(t)
	coreFsck(t, s)
	if got := coreGit(t, bare, "cat-file", "-p", "trunk:dir/new.txt"); got != "new" {
		t.Fatalf("git reads %q", got)
	}
	if got := coreGit(t, bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s|%ad", "--date=format-local:%z"); !strings.HasPrefix(got, "strata <strata@localhost>|strata <strata@localhost>|+ dir/new.txt|") {
		t.Fatalf("git log: %s", got)
	}
	if next.Time().Location().String() != "UTC" || next.Time().Nanosecond() != 0 {
		t.Fatalf("commit time %v", next.Time())
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	main := must(s.Branches().Get("main"))(t)
	one := must(main.WriteText("a", "1", WriteOptions{}))(t)
	must(s.Tags().Set("v1", one))(t)
	for _, tc := range []struct {
		desc, rev string
		hash      string
		writable  bool
		ref       string
	}{
		{"branch", "main", one.Hash(), true, "main"},
		{"tag", "v1", one.Hash(), false, "v1"},
		{"full hash", main.Hash(), main.Hash(), false, ""},
		{"short hash", main.Hash()[:7], main.Hash(), false, ""},
	} {
		got, err := s.Resolve(tc.rev)
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if got.Hash() != tc.hash || got.Writable() != tc.writable || got.RefName() != tc.ref {
			t.Fatalf("%s: %s writable=%v ref=%q", tc.desc, got.Hash(), got.Writable(), got.RefName())
		}
	}
	if _, err := s.Resolve("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unknown rev: %v", err)
	}
	// A tag snapshot is read-only.
	tag := must(s.Tags().Get("v1"))(t)
	if _, err := tag.WriteText("b", "2", WriteOptions{}); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write to a tag: %v", err)
	}
}
