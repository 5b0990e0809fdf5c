package repo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// dmFixture is a bare repository served by a real Repo, with helpers that
// build history through git plumbing (no working tree). Tests of diffs,
// patches and merges share it.
type dmFixture struct {
	t    testing.TB
	ctx  context.Context
	git  *git.Factory
	repo *Repo
	dir  string
	tick *atomic.Int64 // commit dates: shared by every copy
}

// on is fx reporting to t: for subtests.
func (fx *dmFixture) on(t testing.TB) *dmFixture {
	c := *fx
	c.t = t
	return &c
}

func newDMFixture(t testing.TB) *dmFixture {
	t.Helper()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	m, err := NewManager(t.TempDir(), f, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := t.Context()
	r, err := m.Create(ctx, "dmrepo", "main")
	if err != nil {
		t.Fatal(err)
	}
	return &dmFixture{t: t, ctx: ctx, git: f, repo: r, dir: r.Path(), tick: new(atomic.Int64)}
}

// run runs git in the fixture repository and returns its trimmed stdout.
func (fx *dmFixture) run(c git.Command, opts ...git.Option) string {
	fx.t.Helper()
	out, err := fx.git.Output(fx.ctx, fx.dir, c, opts...)
	if err != nil {
		fx.t.Fatalf("git %s %v: %v", c.Name, c.Args, err)
	}
	return strings.TrimSpace(string(out))
}

// commit writes a commit whose tree holds exactly files (path → content;
// a "link:" prefix makes a symlink, "exec:" an executable) and returns it.
func (fx *dmFixture) commit(msg string, files map[string]string, parents ...git.ObjectID) git.ObjectID {
	fx.t.Helper()
	tree := fx.tree(files)
	tick := fx.tick.Add(1)
	flags := []string{"-m", msg}
	args := []string{string(tree)}
	for _, p := range parents {
		flags = append(flags, "-p", string(p))
	}
	date := fmt.Sprintf("%d +0000", 1700000000+tick*60)
	return git.ObjectID(fx.run(git.Command{Name: "commit-tree", Flags: flags, Args: args},
		git.WithEnv("GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.com", "GIT_AUTHOR_DATE="+date,
			"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.com", "GIT_COMMITTER_DATE="+date)))
}

// tree writes a tree holding exactly files through a temporary index.
func (fx *dmFixture) tree(files map[string]string) git.ObjectID {
	fx.t.Helper()
	env := git.WithEnv("GIT_INDEX_FILE=" + filepath.Join(fx.t.TempDir(), "index"))
	fx.run(git.Command{Name: "read-tree", Flags: []string{"--empty"}}, env)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		content, mode := files[p], "100644"
		if c, ok := strings.CutPrefix(content, "link:"); ok {
			content, mode = c, "120000"
		} else if c, ok := strings.CutPrefix(content, "exec:"); ok {
			content, mode = c, "100755"
		}
		oid := fx.blob(content)
		fx.run(git.Command{Name: "update-index", Flags: []string{"--add", "--cacheinfo", mode + "," + string(oid) + "," + p}}, env)
	}
	return git.ObjectID(fx.run(git.Command{Name: "write-tree"}, env))
}

func (fx *dmFixture) blob(content string) git.ObjectID {
	fx.t.Helper()
	return git.ObjectID(fx.run(git.Command{Name: "hash-object", Flags: []string{"-w", "--stdin"}}, git.WithStdin(strings.NewReader(content))))
}

// branch points refs/heads/<name> (in ns) at c.
func (fx *dmFixture) branch(ns git.Namespace, name string, c git.ObjectID) {
	fx.t.Helper()
	fx.run(git.Command{Name: "update-ref", Args: []string{string(git.NewBranchReferenceName(ns, name)), string(c)}})
}

func (fx *dmFixture) tip(ns git.Namespace, name string) git.ObjectID {
	fx.t.Helper()
	oid, err := fx.repo.ResolveBranch(ns, name)
	if err != nil {
		fx.t.Fatal(err)
	}
	return oid
}

// treeOf is the tree id of commit c.
func (fx *dmFixture) treeOf(c git.ObjectID) git.ObjectID {
	fx.t.Helper()
	return git.ObjectID(fx.run(git.Command{Name: "rev-parse", Args: []string{string(c) + "^{tree}"}}))
}

// diff collects Diff's output.
func (fx *dmFixture) diff(base, head git.ObjectID, opt DiffOptions) ([]*FileDiff, DiffStats) {
	fx.t.Helper()
	var files []*FileDiff
	stats, err := fx.repo.Diff(fx.ctx, base, head, opt, func(fd *FileDiff) error {
		files = append(files, fd)
		return nil
	})
	if err != nil {
		fx.t.Fatalf("Diff: %v", err)
	}
	return files, stats
}

// numstat is git's own count of a diff: the oracle for DiffStats.
func (fx *dmFixture) numstat(base, head git.ObjectID, paths ...string) DiffStats {
	fx.t.Helper()
	from := string(base)
	if base == "" {
		from = string(git.EmptyTreeOID)
	}
	out := fx.run(git.Command{Name: "diff-tree", Flags: []string{"-r", "-M", "--numstat"}, Args: []string{from, string(head)}, PostSep: paths},
		git.WithEnv("GIT_LITERAL_PATHSPECS=1"))
	var s DiffStats
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		s.Files++
		a, _ := strconv.Atoi(f[0]) // "-" for binary: 0
		d, _ := strconv.Atoi(f[1])
		s.Additions += a
		s.Deletions += d
	}
	return s
}

// applyCheck applies patch to tree in a temporary index with real git and
// returns the resulting tree: the oracle for patches and for CommitPatch.
func (fx *dmFixture) applyCheck(tree git.ObjectID, patch []byte) (git.ObjectID, error) {
	fx.t.Helper()
	dir := fx.t.TempDir()
	pf := filepath.Join(dir, "patch")
	if err := os.WriteFile(pf, patch, 0o600); err != nil {
		fx.t.Fatal(err)
	}
	env := git.WithEnv("GIT_INDEX_FILE=" + filepath.Join(dir, "index"))
	fx.run(git.Command{Name: "read-tree", Args: []string{string(tree)}}, env)
	if err := fx.git.Run(fx.ctx, fx.dir, git.Command{Name: "apply", Flags: []string{"--cached", "--check"}, Args: []string{pf}}, env); err != nil {
		return "", err
	}
	fx.run(git.Command{Name: "apply", Flags: []string{"--cached"}, Args: []string{pf}}, env)
	return git.ObjectID(fx.run(git.Command{Name: "write-tree"}, env)), nil
}

func TestDiff_states(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	long := strings.Repeat("a line of text that is long enough to matter\n", 10)
	base := fx.commit("base", map[string]string{
		"keep.txt":      "unchanged\n",
		"mod.txt":       "one\ntwo\nthree\n",
		"gone.txt":      "bye\n",
		"old/name.txt":  long,
		"type.txt":      "was a file\n",
		"mode.sh":       "echo hi\n",
		"space dir/f":   "x\n",
		"ünïcödé.txt":   "u\n",
		`quote"d.txt`:   "q\n",
		"bin.dat":       "\x00\x01\x02binary",
		"big.txt":       strings.Repeat("0123456789\n", 50),
		"unmodified.md": "same\n",
	})
	head := fx.commit("head", map[string]string{
		"keep.txt":      "unchanged\n",
		"mod.txt":       "one\n2\nthree\nfour\n",
		"new.txt":       "hello\n",
		"new/name.txt":  long + "plus one\n",
		"type.txt":      "link:mod.txt",
		"mode.sh":       "exec:echo hi\n",
		"space dir/f":   "y\n",
		"ünïcödé.txt":   "v\n",
		`quote"d.txt`:   "r\n",
		"bin.dat":       "\x00\x01\x03binary",
		"big.txt":       strings.Repeat("0123456789\n", 60),
		"unmodified.md": "same\n",
	}, base)

	files, stats := fx.diff(base, head, DiffOptions{MaxFileSize: 600})
	byPath := map[string]*FileDiff{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	for _, tc := range []struct {
		desc, path, status, oldPath, filtered string
		adds, dels                            int
	}{
		{desc: "modified", path: "mod.txt", status: "M", adds: 2, dels: 1},
		{desc: "added", path: "new.txt", status: "A", adds: 1},
		{desc: "deleted", path: "gone.txt", status: "D", dels: 1},
		{desc: "renamed with edits", path: "new/name.txt", status: "R", oldPath: "old/name.txt", adds: 1},
		{desc: "type change", path: "type.txt", status: "T", adds: 1, dels: 1},
		{desc: "mode change", path: "mode.sh", status: "M"},
		{desc: "space in path", path: "space dir/f", status: "M", adds: 1, dels: 1},
		{desc: "non-ASCII path", path: "ünïcödé.txt", status: "M", adds: 1, dels: 1},
		{desc: "quoted path", path: `quote"d.txt`, status: "M", adds: 1, dels: 1},
		{desc: "binary", path: "bin.dat", status: "M", filtered: FilterBinary},
		{desc: "too large", path: "big.txt", status: "M", filtered: FilterTooLarge, adds: 10},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fx := fx.on(t)
			f := byPath[tc.path]
			if f == nil {
				t.Fatalf("%s missing from the diff", tc.path)
			}
			if !strings.HasPrefix(f.Status, tc.status) || f.OldPath != tc.oldPath || f.Filtered != tc.filtered {
				t.Errorf("status %q old %q filtered %q, want %q %q %q", f.Status, f.OldPath, f.Filtered, tc.status, tc.oldPath, tc.filtered)
			}
			if f.Additions != tc.adds || f.Deletions != tc.dels {
				t.Errorf("+%d -%d, want +%d -%d", f.Additions, f.Deletions, tc.adds, tc.dels)
			}
			if tc.filtered != "" {
				if f.Patch != nil || f.Size == 0 {
					t.Errorf("filtered file has patch %q, size %d", f.Patch, f.Size)
				}
				return
			}
			if !bytes.HasPrefix(f.Patch, []byte("diff --git ")) {
				t.Errorf("patch does not start with its header: %q", f.Patch)
			}
			// Each patch alone applies to the base.
			if _, err := fx.applyCheck(fx.treeOf(base), f.Patch); err != nil {
				t.Errorf("patch does not apply alone: %v\n%s", err, f.Patch)
			}
		})
	}
	if len(files) != 11 {
		t.Errorf("%d files, want 11", len(files))
	}
	if want := fx.numstat(base, head); stats != want {
		t.Errorf("stats %+v, git says %+v", stats, want)
	}
	if f := byPath["new/name.txt"]; f != nil && !strings.HasPrefix(f.Status, "R") {
		t.Errorf("rename not detected: %+v", f)
	}
}

func TestDiff_patchesApply(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	// Lines longer than the 64 KiB read buffer arrive in fragments.
	longLine := strings.Repeat("x", 150<<10)
	base := fx.commit("base", map[string]string{"a": "1\n2\n3\n", "d/b": "b\n", "c": "c\n", "t": "file\n", "wide": longLine + "\n"})
	head := fx.commit("head", map[string]string{"a": "1\n2\n3\n4\n", "d/e": "b\n", "n": "new\n", "t": "link:a", "x": "exec:#!/bin/sh\n",
		"wide": longLine + "y\n" + longLine}, base)
	files, _ := fx.diff(base, head, DiffOptions{})
	var all []byte
	for _, f := range files {
		if f.Filtered != "" {
			t.Fatalf("%s filtered: %s", f.Path, f.Filtered)
		}
		all = append(all, f.Patch...)
	}
	got, err := fx.applyCheck(fx.treeOf(base), all)
	if err != nil {
		t.Fatalf("concatenated patches do not apply: %v\n%s", err, all)
	}
	if want := fx.treeOf(head); got != want {
		t.Errorf("applying the patches gives tree %s, head has %s", got, want)
	}
}

func TestDiff_options(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	base := fx.commit("base", map[string]string{"src/a.go": "a\n", "src/b.go": "b\n", "docs/x.md": "x\n", "*": "star\n"})
	head := fx.commit("head", map[string]string{"src/a.go": "A\n", "src/b.go": "B\n", "docs/x.md": "X\n", "*": "STAR\n"}, base)
	root := fx.commit("root", map[string]string{"r": "r\n"})
	for _, tc := range []struct {
		desc       string
		base, head git.ObjectID
		paths      []string
		want       []string
	}{
		{desc: "no filter", base: base, head: head, want: []string{"*", "docs/x.md", "src/a.go", "src/b.go"}},
		{desc: "directory", base: base, head: head, paths: []string{"src"}, want: []string{"src/a.go", "src/b.go"}},
		{desc: "file and directory", base: base, head: head, paths: []string{"src/b.go", "docs"}, want: []string{"docs/x.md", "src/b.go"}},
		{desc: "literal, not a glob", base: base, head: head, paths: []string{"*"}, want: []string{"*"}},
		{desc: "no match", base: base, head: head, paths: []string{"nope"}, want: nil},
		{desc: "root commit from the empty tree", base: "", head: root, want: []string{"r"}},
		{desc: "identical", base: head, head: head, want: nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			fx := fx.on(t)
			files, stats := fx.diff(tc.base, tc.head, DiffOptions{Paths: tc.paths})
			var got []string
			for _, f := range files {
				got = append(got, f.Path)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("files %q, want %q", got, tc.want)
			}
			if want := fx.numstat(tc.base, tc.head, tc.paths...); stats != want {
				t.Errorf("stats %+v, git says %+v", stats, want)
			}
		})
	}
}

func TestDiff_callbackErrorStops(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	base := fx.commit("base", map[string]string{"a": "a\n", "b": "b\n"})
	head := fx.commit("head", map[string]string{"a": "A\n", "b": "B\n"}, base)
	stop := fmt.Errorf("stop")
	calls := 0
	_, err := fx.repo.Diff(fx.ctx, base, head, DiffOptions{}, func(*FileDiff) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("err %v after %d calls, want the callback's error after 1", err, calls)
	}
	if _, err := fx.repo.Diff(fx.ctx, base, "0123456789012345678901234567890123456789", DiffOptions{}, func(*FileDiff) error { return nil }); err == nil {
		t.Error("diff against a missing commit succeeded")
	}
}
