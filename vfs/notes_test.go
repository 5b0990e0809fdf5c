package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nmStore opens a new store in a temporary directory.
func nmStore(t testing.TB, opt Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "repo.git"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// nmGit runs real git in dir with a fixed identity and no user config,
// and returns its stdout.
func nmGit(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Tess", "GIT_AUTHOR_EMAIL=tess@example.com", "GIT_AUTHOR_DATE=1700000000 +0000",
		"GIT_COMMITTER_NAME=Tess", "GIT_COMMITTER_EMAIL=tess@example.com", "GIT_COMMITTER_DATE=1700000000 +0000")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// nmCommits makes n commits on top of main with git and returns their ids.
func nmCommits(t testing.TB, s *Store, n int) []string {
	t.Helper()
	var out []string
	tip := strings.TrimSpace(nmGit(t, s.Path(), "", "rev-parse", "refs/heads/main"))
	for i := 0; i < n; i++ {
		tip = strings.TrimSpace(nmGit(t, s.Path(), "", "commit-tree", "-p", tip, "-m", fmt.Sprintf("c%d", i), "4b825dc642cb6eb9a060e54bf8d69288fbee4904"))
		out = append(out, tip)
	}
	nmGit(t, s.Path(), "", "update-ref", "refs/heads/main", tip)
	return out
}

func TestNotes_setGetChainAndGitAgrees(t *testing.T) {
	t.Parallel()
	s := nmStore(t, Options{})
	cs := nmCommits(t, s, 2)
	ns := s.Notes().Namespace("commits")
	if ns.Ref() != "refs/notes/commits" {
		t.Fatalf("ref %s", ns.Ref())
	}
	if _, err := ns.Get(cs[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before any note: %v", err)
	}
	if err := ns.Set(cs[0], "first\nmulti-line ✓"); err != nil {
		t.Fatal(err)
	}
	if err := ns.Set(cs[1], "second"); err != nil {
		t.Fatal(err)
	}
	if err := ns.Set(cs[0], "replaced"); err != nil {
		t.Fatal(err)
	}
	if err := ns.Delete(cs[1]); err != nil {
		t.Fatal(err)
	}
	if err := ns.Delete(cs[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if got, err := ns.Get(cs[0]); err != nil || got != "replaced" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if got := nmGit(t, s.Path(), "", "notes", "show", cs[0]); got != "replaced" {
		t.Fatalf("git notes show = %q", got)
	}
	// Four commits, each on the previous one, with gitstore's messages.
	log := nmGit(t, s.Path(), "", "log", "--format=%s", "refs/notes/commits")
	want := fmt.Sprintf("Notes removed by 'git notes' on %s\nNotes added by 'git notes' on %s\nNotes added by 'git notes' on %s\nNotes added by 'git notes' on %s\n",
		cs[1][:7], cs[0][:7], cs[1][:7], cs[0][:7])
	if log != want {
		t.Fatalf("notes log:\n%s\nwant:\n%s", log, want)
	}
	if n := nmGit(t, s.Path(), "", "rev-list", "--max-parents=0", "--count", "refs/notes/commits"); n != "1\n" {
		t.Fatalf("notes history has %s roots", n)
	}
	// The reflog says what the commits say.
	reflog := nmGit(t, s.Path(), "", "reflog", "show", "--format=%gs", "refs/notes/commits")
	if !strings.HasPrefix(reflog, "Notes removed by 'git notes' on "+cs[1][:7]+"\n") || strings.Count(reflog, "\n") != 4 {
		t.Fatalf("notes reflog:\n%s", reflog)
	}
	// A note written by git reads back.
	nmGit(t, s.Path(), "", "notes", "add", "-m", "from git", cs[1])
	if got, err := ns.Get(cs[1]); err != nil || got != "from git\n" {
		t.Fatalf("Get of git's note = %q, %v", got, err)
	}
	list, err := ns.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}
	nmGit(t, s.Path(), "", "fsck", "--strict", "--no-progress")
}

func TestNotes_fanoutWrittenByGit(t *testing.T) {
	t.Parallel()
	s := nmStore(t, Options{})
	// git notes switches to a fanout tree past a few hundred notes: note
	// 300 objects (notes may annotate any object) in two git processes.
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 300; i++ {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("object %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	objs := strings.Fields(nmGit(t, s.Path(), strings.Join(paths, "\n")+"\n", "hash-object", "-w", "--stdin-paths"))
	nmGit(t, s.Path(), "", "notes", "add", "-m", "shared", objs[0])
	var pairs strings.Builder
	for _, o := range objs[1:] {
		fmt.Fprintf(&pairs, "%s %s\n", objs[0], o)
	}
	nmGit(t, s.Path(), pairs.String(), "notes", "copy", "--stdin")
	top := nmGit(t, s.Path(), "", "ls-tree", "refs/notes/commits")
	fanned := strings.Contains(top, "\t"+objs[5][:2]+"\n")
	if !fanned {
		t.Fatalf("git did not write a fanout tree:\n%.400s", top)
	}

	ns := s.Notes().Namespace("")
	if got, err := ns.Get(objs[5]); err != nil || got != "shared\n" {
		t.Fatalf("Get in fanout = %q, %v", got, err)
	}
	if ok, err := ns.Has(objs[299]); err != nil || !ok {
		t.Fatalf("Has in fanout = %v, %v", ok, err)
	}
	if list, err := ns.List(); err != nil || len(list) != 300 {
		t.Fatalf("List = %d notes, %v", len(list), err)
	}
	// A flat write replaces the fanout entry.
	if err := ns.Set(objs[5], "mine"); err != nil {
		t.Fatal(err)
	}
	top = nmGit(t, s.Path(), "", "ls-tree", "--name-only", "refs/notes/commits")
	if !strings.Contains(top, objs[5]+"\n") {
		t.Fatalf("no flat entry for %s", objs[5])
	}
	sub := nmGit(t, s.Path(), "", "ls-tree", "-r", "--name-only", "refs/notes/commits", objs[5][:2]+"/")
	if strings.Contains(sub, objs[5][2:]) {
		t.Fatalf("fanout entry for %s kept:\n%s", objs[5], sub)
	}
	if got := nmGit(t, s.Path(), "", "notes", "show", objs[5]); got != "mine" {
		t.Fatalf("git notes show = %q", got)
	}
	if list, err := ns.List(); err != nil || len(list) != 300 {
		t.Fatalf("List after flat write = %d notes, %v", len(list), err)
	}
	if err := ns.Delete(objs[6]); err != nil {
		t.Fatal(err)
	}
	if out := nmGit(t, s.Path(), "", "notes", "list"); strings.Contains(out, objs[6]) || strings.Count(out, "\n") != 299 {
		t.Fatalf("git notes list has %d lines", strings.Count(out, "\n"))
	}
	nmGit(t, s.Path(), "", "fsck", "--strict", "--no-progress")
}

func TestNotes_namespacesIndependent(t *testing.T) {
	t.Parallel()
	s := nmStore(t, Options{})
	c := nmCommits(t, s, 1)[0]
	a, b := s.Notes().Namespace("commits"), s.Notes().Namespace("reviews")
	if err := a.Set(c, "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(c, "b"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(c); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(c); err != nil || got != "b" {
		t.Fatalf("reviews = %q, %v", got, err)
	}
	if ok, _ := a.Has(c); ok {
		t.Fatal("commits note survived its delete")
	}
	if got := nmGit(t, s.Path(), "", "notes", "--ref=reviews", "show", c); got != "b" {
		t.Fatalf("git notes --ref=reviews show = %q", got)
	}
	if err := s.Notes().Namespace("bad..name").Set(c, "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid namespace: %v", err)
	}
}

func TestNotes_invalidKeys(t *testing.T) {
	t.Parallel()
	s := nmStore(t, Options{})
	ns := s.Notes().Namespace("commits")
	for _, k := range []string{"", "main", "abc1234", strings.Repeat("A", 40), strings.Repeat("g", 40), strings.Repeat("a", 41)} {
		if err := ns.Set(k, "x"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "40-char lowercase hex") {
			t.Errorf("Set(%q) = %v", k, err)
		}
		if _, err := ns.Get(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("Get(%q) = %v", k, err)
		}
		if ok, err := ns.Has(k); ok || err != nil {
			t.Errorf("Has(%q) = %v, %v", k, ok, err)
		}
	}
	if err := ns.Set(strings.Repeat("a", 40), "\xff"); !errors.Is(err, ErrInvalid) {
		t.Errorf("non-UTF-8 text: %v", err)
	}
}

func TestNotes_batch(t *testing.T) {
	t.Parallel()
	s := nmStore(t, Options{})
	cs := nmCommits(t, s, 3)
	ns := s.Notes().Namespace("commits")
	if err := ns.Set(cs[2], "old"); err != nil {
		t.Fatal(err)
	}
	tip := func() string { return strings.TrimSpace(nmGit(t, s.Path(), "", "rev-parse", "refs/notes/commits")) }
	before := tip()

	// Empty: no commit.
	if err := ns.Batch().Commit(); err != nil || tip() != before {
		t.Fatalf("empty batch: %v, moved %v", err, tip() != before)
	}
	// Aborted: no commit, and closed.
	b := ns.Batch()
	_ = b.Set(cs[0], "x")
	b.Abort()
	if tip() != before {
		t.Fatal("aborted batch committed")
	}
	if err := b.Set(cs[0], "y"); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Set on a closed batch: %v", err)
	}
	// Delete of a missing note fails at Commit, committing nothing.
	b = ns.Batch()
	_ = b.Set(cs[0], "a")
	if err := b.Delete(cs[1]); err != nil {
		t.Fatalf("Delete queues without checking: %v", err)
	}
	if err := b.Commit(); !errors.Is(err, ErrNotFound) || tip() != before {
		t.Fatalf("batch with a missing delete: %v", err)
	}
	// Last op wins; one commit for all.
	b = ns.Batch()
	for _, step := range []func() error{
		func() error { return b.Set(cs[0], "set then deleted") },
		func() error { return b.Delete(cs[2]) },
		func() error { return b.Set(cs[2], "deleted then set") },
		func() error { return b.Set(cs[1], "one") },
		func() error { return b.Delete(cs[0]) },
		func() error { return b.Set(cs[0], "final") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second Commit: %v", err)
	}
	log := nmGit(t, s.Path(), "", "log", "--format=%P %s", before+".."+tip())
	if log != before+" Notes batch update (3 changes)\n" {
		t.Fatalf("batch commits:\n%s", log)
	}
	for c, want := range map[string]string{cs[0]: "final", cs[1]: "one", cs[2]: "deleted then set"} {
		if got, err := ns.Get(c); err != nil || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q", c[:7], got, err, want)
		}
	}
}

func TestNotes_current(t *testing.T) {
	t.Parallel()
	s := nmStore(t, Options{})
	c := nmCommits(t, s, 1)[0]
	ns := s.Notes().Namespace("commits")
	if err := ns.SetCurrent("on main"); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.Get(c); err != nil || got != "on main" {
		t.Fatalf("note on main's tip = %q, %v", got, err)
	}
	if got, err := ns.GetCurrent(); err != nil || got != "on main" {
		t.Fatalf("GetCurrent = %q, %v", got, err)
	}

	empty := nmStore(t, Options{NoBranch: true})
	if _, err := empty.Notes().Namespace("commits").GetCurrent(); err == nil || !strings.Contains(err.Error(), "dangling") {
		t.Fatalf("GetCurrent with a dangling HEAD: %v", err)
	}
}
