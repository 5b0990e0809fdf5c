package vfs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newCopyStore opens a fresh repository with branch main and checks it
// with git fsck --full when the test ends.
func newCopyStore(t testing.TB) *FS {
	t.Helper()
	path := filepath.Join(t.TempDir(), "repo.git")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("git", "--git-dir", path, "fsck", "--full", "--strict").CombinedOutput(); err != nil {
			t.Errorf("git fsck: %v\n%s", err, out)
		}
		s.Close()
	})
	f, err := s.Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// repoFiles maps every file of a snapshot to its content (a link's:
// "-> target") and type.
func repoFiles(t testing.TB, f *FS, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := f.Walk(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		typ, err := f.FileType(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if typ == Link {
			target, err := f.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "-> " + target
			return nil
		}
		data, err := f.Read(p)
		if err != nil {
			return err
		}
		out[rel] = string(data)
		if typ == Executable {
			out[rel] += " (x)"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diskFiles maps every file under root to its content in repoFiles' form.
func diskFiles(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "-> " + target
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = string(data)
		if info, _ := d.Info(); info.Mode()&0o111 != 0 {
			out[rel] += " (x)"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func actions(r *ChangeReport) []string {
	var out []string
	for _, a := range r.Actions() {
		out = append(out, a.Action[:1]+" "+a.Path)
	}
	return out
}

func wantActions(t testing.TB, r *ChangeReport, want ...string) {
	t.Helper()
	got := actions(r)
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("actions = %q, want %q", got, want)
	}
}

func wantFiles(t testing.TB, got map[string]string, want map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files =\n%v\nwant\n%v", got, want)
	}
}

// check(t)(snapshot, err) fails the test on err; it takes a call's two
// results whole, which a plain two-argument helper with t cannot.
func check(t testing.TB) func(*FS, error) *FS {
	return func(f *FS, err error) *FS {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
}

func TestCopyIn_sourceModes(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	writeTree(t, local, map[string]string{
		"file.txt":          "f",
		"dir/a.txt":         "a",
		"dir/.dot":          "dot",
		"dir/sub/b.txt":     "b",
		"base/x/y/deep.txt": "deep",
	})
	for _, tc := range []struct {
		desc    string
		sources []string
		dest    string
		want    map[string]string
	}{
		{"file", []string{"file.txt"}, "out", map[string]string{"out/file.txt": "f"}},
		{"dir keeps its name", []string{"dir"}, "out", map[string]string{"out/dir/a.txt": "a", "out/dir/.dot": "dot", "out/dir/sub/b.txt": "b"}},
		{"contents with dotfiles", []string{"dir/"}, "", map[string]string{"a.txt": "a", ".dot": "dot", "sub/b.txt": "b"}},
		{"pivot keeps the rest", []string{"base/./x/y"}, "p", map[string]string{"p/x/y/deep.txt": "deep"}},
		{"pivot contents", []string{"base/./x/y/"}, "p", map[string]string{"p/x/deep.txt": "deep"}},
		{"pivot file", []string{"base/./x/y/deep.txt"}, "", map[string]string{"x/y/deep.txt": "deep"}},
		{"several sources", []string{"file.txt", "dir/sub"}, "m", map[string]string{"m/file.txt": "f", "m/sub/b.txt": "b"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := newCopyStore(t)
			var srcs []string
			for _, s := range tc.sources {
				srcs = append(srcs, local+"/"+s) // not Join: it would clean "/./" and "/" away
			}
			out := check(t)(f.CopyIn(srcs, tc.dest, CopyInOptions{}))
			wantFiles(t, repoFiles(t, out, ""), tc.want)
			if out.Changes() == nil || len(out.Changes().Add) != len(tc.want) {
				t.Errorf("changes = %+v", out.Changes())
			}
		})
	}
}

func TestCopyIn_sourceErrors(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	local := t.TempDir()
	writeTree(t, local, map[string]string{"file.txt": "f"})
	missing := filepath.Join(local, "nope")
	_, err := f.CopyIn([]string{missing}, "", CopyInOptions{})
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "Local file not found: "+missing {
		t.Errorf("missing: %v", err)
	}
	_, err = f.CopyIn([]string{filepath.Join(local, "file.txt") + "/"}, "", CopyInOptions{})
	if !errors.Is(err, ErrNotDir) || err.Error() != "Not a directory: "+filepath.Join(local, "file.txt") {
		t.Errorf("file/: %v", err)
	}
	_, err = f.CopyIn([]string{filepath.Join(local, "file.txt")}, "../x", CopyInOptions{})
	if !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("dest ..: %v", err)
	}
	tag := check(t)(f.Store().Tags().Set("v1", f))
	if _, err := tag.CopyIn([]string{filepath.Join(local, "file.txt")}, "", CopyInOptions{}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("read-only: %v", err)
	}
	// A dry run only reads, so a tag's snapshot may plan one.
	dry := check(t)(tag.CopyIn([]string{filepath.Join(local, "file.txt")}, "", CopyInOptions{DryRun: true}))
	wantActions(t, dry.Changes(), "a file.txt")
}

func TestCopyOut_sourceModesAndErrors(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	f = check(t)(f.Apply(map[string]WriteEntry{
		"file.txt":          {Data: []byte("f")},
		"dir/a.txt":         {Data: []byte("a")},
		"dir/.dot":          {Data: []byte("dot")},
		"base/x/y/deep.txt": {Data: []byte("deep")},
	}, nil, ApplyOptions{}))
	for _, tc := range []struct {
		desc    string
		sources []string
		want    map[string]string
	}{
		{"file", []string{"file.txt"}, map[string]string{"file.txt": "f"}},
		{"dir", []string{"dir"}, map[string]string{"dir/a.txt": "a", "dir/.dot": "dot"}},
		{"contents", []string{"dir/"}, map[string]string{"a.txt": "a", ".dot": "dot"}},
		{"root", []string{""}, map[string]string{"file.txt": "f", "dir/a.txt": "a", "dir/.dot": "dot", "base/x/y/deep.txt": "deep"}},
		{"pivot", []string{"base/./x/y"}, map[string]string{"x/y/deep.txt": "deep"}},
		{"pivot contents", []string{"base/./x/"}, map[string]string{"y/deep.txt": "deep"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			dest := filepath.Join(t.TempDir(), "out")
			res := check(t)(f.CopyOut(tc.sources, dest, CopyOutOptions{}))
			wantFiles(t, diskFiles(t, dest), tc.want)
			if res.Hash() != f.Hash() || len(res.Changes().Add) != len(tc.want) {
				t.Errorf("result %s changes %+v", res.Hash(), res.Changes())
			}
		})
	}
	_, err := f.CopyOut([]string{"nope"}, t.TempDir(), CopyOutOptions{})
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "File not found in repo: nope" {
		t.Errorf("missing: %v", err)
	}
	_, err = f.CopyOut([]string{"file.txt/"}, t.TempDir(), CopyOutOptions{})
	if !errors.Is(err, ErrNotDir) || err.Error() != "Not a directory in repo: file.txt" {
		t.Errorf("file/: %v", err)
	}
}

func TestCopyIn_symlinks(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	outside := t.TempDir()
	writeTree(t, local, map[string]string{"src/real.txt": "r", "src/d/in.txt": "i"})
	writeTree(t, outside, map[string]string{"o.txt": "o"})
	symlink(t, "real.txt", filepath.Join(local, "src", "rel"))
	symlink(t, "/etc/hostname", filepath.Join(local, "src", "abs"))
	symlink(t, "../../up.txt", filepath.Join(local, "src", "dotdot"))
	symlink(t, "gone", filepath.Join(local, "src", "dangling"))
	symlink(t, "d", filepath.Join(local, "src", "dirlink"))
	symlink(t, outside, filepath.Join(local, "ext"))

	f := newCopyStore(t)
	out := check(t)(f.CopyIn([]string{filepath.Join(local, "src") + "/"}, "", CopyInOptions{}))
	wantFiles(t, repoFiles(t, out, ""), map[string]string{
		"real.txt": "r", "d/in.txt": "i",
		"rel": "-> real.txt", "abs": "-> /etc/hostname", "dotdot": "-> ../../up.txt",
		"dangling": "-> gone", "dirlink": "-> d",
	})
	var linkTypes int
	for _, e := range out.Changes().Add {
		if e.Type == Link {
			linkTypes++
		}
	}
	if linkTypes != 5 {
		t.Errorf("link entries in changes = %d, want 5", linkTypes)
	}

	// A directory link named as a source is one link; with a trailing
	// slash it is followed.
	out2 := check(t)(out.CopyIn([]string{filepath.Join(local, "ext")}, "x", CopyInOptions{}))
	if typ, _ := out2.FileType("x/ext"); typ != Link {
		t.Errorf("ext stored as %s", typ)
	}
	out3 := check(t)(out2.CopyIn([]string{filepath.Join(local, "ext") + "/"}, "y", CopyInOptions{}))
	wantFiles(t, repoFiles(t, out3, "y"), map[string]string{"o.txt": "o"})

	// A dangling link named as a source is stored too.
	out4 := check(t)(out3.CopyIn([]string{filepath.Join(local, "src", "dangling")}, "z", CopyInOptions{}))
	if target, _ := out4.Readlink("z/dangling"); target != "gone" {
		t.Errorf("dangling source stored as %q", target)
	}
}

func TestCopyIn_followSymlinksNoPerpetualUpdate(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	writeTree(t, local, map[string]string{"src/real.txt": "r", "src/d/in.txt": "i", "other/o.txt": "o"})
	symlink(t, "real.txt", filepath.Join(local, "src", "rel"))
	symlink(t, "../other", filepath.Join(local, "src", "dl"))
	symlink(t, "..", filepath.Join(local, "src", "d", "loop"))
	f := newCopyStore(t)
	opt := CopyInOptions{FollowSymlinks: true, Delete: true}
	out := check(t)(f.CopyIn([]string{filepath.Join(local, "src") + "/"}, "", opt))
	wantFiles(t, repoFiles(t, out, ""), map[string]string{"real.txt": "r", "rel": "r", "d/in.txt": "i", "dl/o.txt": "o"})
	again := check(t)(out.CopyIn([]string{filepath.Join(local, "src") + "/"}, "", opt))
	if again.Hash() != out.Hash() || again.Changes() != nil {
		t.Errorf("second copy changed: %+v", again.Changes())
	}
}

func TestCopyOut_linksModesAndMtime(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	f = check(t)(f.Apply(map[string]WriteEntry{
		"run.sh":   {Data: []byte("#!/bin/sh\n"), Mode: Executable},
		"data.txt": {Data: []byte("d")},
		"ln":       {Target: "data.txt"},
		"abs":      {Target: "/nonexistent/x"},
	}, nil, ApplyOptions{}))
	dest := t.TempDir()
	check(t)(f.CopyOut([]string{""}, dest, CopyOutOptions{}))
	wantFiles(t, diskFiles(t, dest), map[string]string{"run.sh": "#!/bin/sh\n (x)", "data.txt": "d", "ln": "-> data.txt", "abs": "-> /nonexistent/x"})
	info, err := os.Stat(filepath.Join(dest, "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode %v", info.Mode())
	}
	if !info.ModTime().Equal(f.Time()) {
		t.Errorf("mtime %v, commit time %v", info.ModTime(), f.Time())
	}
}

func TestCopy_fileDirCollisions(t *testing.T) {
	t.Parallel()
	t.Run("in: repo file becomes a directory", func(t *testing.T) {
		t.Parallel()
		f := newCopyStore(t)
		f = check(t)(f.WriteText("a", "file", WriteOptions{}))
		local := t.TempDir()
		writeTree(t, local, map[string]string{"a/b": "b"})
		out := check(t)(f.SyncIn(local, "", SyncOptions{}))
		wantFiles(t, repoFiles(t, out, ""), map[string]string{"a/b": "b"})
	})
	t.Run("in: repo directory becomes a file", func(t *testing.T) {
		t.Parallel()
		f := newCopyStore(t)
		f = check(t)(f.WriteText("a/b/c", "deep", WriteOptions{}))
		local := t.TempDir()
		writeTree(t, local, map[string]string{"a": "file"})
		dry := check(t)(f.SyncIn(local, "", SyncOptions{DryRun: true}))
		out := check(t)(f.SyncIn(local, "", SyncOptions{}))
		wantFiles(t, repoFiles(t, out, ""), map[string]string{"a": "file"})
		if !reflect.DeepEqual(actions(dry.Changes()), actions(out.Changes())) {
			t.Errorf("dry %q real %q", actions(dry.Changes()), actions(out.Changes()))
		}
	})
	t.Run("out: local file and directory in the way", func(t *testing.T) {
		t.Parallel()
		f := newCopyStore(t)
		f = check(t)(f.Apply(map[string]WriteEntry{"a/b": {Data: []byte("b")}, "c": {Data: []byte("c")}}, nil, ApplyOptions{}))
		for _, del := range []bool{false, true} {
			dest := t.TempDir()
			writeTree(t, dest, map[string]string{"a": "file in the way", "c/x/y": "dir in the way"})
			check(t)(f.CopyOut([]string{""}, dest, CopyOutOptions{Delete: del}))
			wantFiles(t, diskFiles(t, dest), map[string]string{"a/b": "b", "c": "c"})
		}
	})
}

// The changes a dry run reports are exactly those of the real run, for
// adds, updates (content, exec bit, file to link), deletes and collisions.
func TestCopy_dryRunExactMatch(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	f = check(t)(f.Apply(map[string]WriteEntry{
		"same.txt":  {Data: []byte("same")},
		"mod.txt":   {Data: []byte("old")},
		"exec.sh":   {Data: []byte("#!")},
		"gone.txt":  {Data: []byte("gone")},
		"was/dir/x": {Data: []byte("x")},
		"tolink":    {Data: []byte("t")},
		"file":      {Data: []byte("becomes dir")},
	}, nil, ApplyOptions{}))
	local := t.TempDir()
	writeTree(t, local, map[string]string{
		"same.txt": "same", "mod.txt": "new", "exec.sh": "#!", "new.txt": "n",
		"was": "now a file", "file/inner": "i",
	})
	os.Chmod(filepath.Join(local, "exec.sh"), 0o755)
	symlink(t, "same.txt", filepath.Join(local, "tolink"))
	// Dated after the commit, so that mtime mode compares them too.
	later := f.Time().Add(5 * time.Second)
	for _, n := range []string{"same.txt", "mod.txt", "exec.sh", "new.txt", "was", "file/inner"} {
		os.Chtimes(filepath.Join(local, n), later, later)
	}

	for _, mtime := range []bool{false, true} {
		dry := check(t)(f.SyncIn(local, "", SyncOptions{DryRun: true, Mtime: mtime}))
		if dry.Hash() != f.Hash() {
			t.Fatal("dry run committed")
		}
		wantActions(t, dry.Changes(), "u exec.sh", "a file/inner", "d gone.txt", "u mod.txt", "a new.txt", "u tolink", "a was")
	}
	dry := check(t)(f.SyncIn(local, "", SyncOptions{DryRun: true}))
	real := check(t)(f.SyncIn(local, "", SyncOptions{}))
	if !reflect.DeepEqual(dry.Changes(), real.Changes()) {
		t.Errorf("dry %+v\nreal %+v", dry.Changes(), real.Changes())
	}
	if !strings.HasPrefix(real.Message(), "Batch sync:") {
		t.Errorf("message %q", real.Message())
	}

	// And back out: a local tree that differs every way.
	dest := t.TempDir()
	writeTree(t, dest, map[string]string{"same.txt": "same", "mod.txt": "stale", "extra/e": "e", "new.txt/x": "dir in the way"})
	dryOut := check(t)(real.SyncOut("", dest, SyncOptions{DryRun: true}))
	before := diskFiles(t, dest)
	wantFiles(t, before, map[string]string{"same.txt": "same", "mod.txt": "stale", "extra/e": "e", "new.txt/x": "dir in the way"})
	realOut := check(t)(real.SyncOut("", dest, SyncOptions{}))
	if !reflect.DeepEqual(dryOut.Changes(), realOut.Changes()) {
		t.Errorf("dry %+v\nreal %+v", dryOut.Changes(), realOut.Changes())
	}
	wantFiles(t, diskFiles(t, dest), repoFiles(t, real, ""))
}

func TestCopy_roundTripsAreClean(t *testing.T) {
	t.Parallel()
	for _, mtime := range []bool{false, true} {
		f := newCopyStore(t)
		local := t.TempDir()
		writeTree(t, local, map[string]string{"a.txt": "a", "d/b.txt": "b", "d/e/.c": "c"})
		os.Chmod(filepath.Join(local, "a.txt"), 0o755)
		symlink(t, "d/b.txt", filepath.Join(local, "ln"))
		opt := SyncOptions{Mtime: mtime}
		f = check(t)(f.SyncIn(local, "", opt))
		out := t.TempDir()
		check(t)(f.SyncOut("", out, opt))
		wantFiles(t, diskFiles(t, out), diskFiles(t, local))
		back := check(t)(f.SyncIn(out, "", opt))
		if back.Hash() != f.Hash() || back.Changes() != nil {
			t.Errorf("mtime=%v: disk→repo→disk→repo changed %+v", mtime, back.Changes())
		}
		again := check(t)(f.SyncOut("", out, opt))
		if again.Changes() != nil {
			t.Errorf("mtime=%v: repo→disk again changed %+v", mtime, again.Changes())
		}
	}
}

// A delete or write never reaches through a symlinked directory inside
// the destination: the link is replaced by a real directory.
func TestCopyOut_symlinkedParentReplaced(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	f = check(t)(f.Apply(map[string]WriteEntry{"sub/x.txt": {Data: []byte("x")}}, nil, ApplyOptions{}))
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"x.txt": "precious", "y.txt": "precious too"})
	for _, del := range []bool{false, true} {
		dest := t.TempDir()
		symlink(t, outside, filepath.Join(dest, "sub"))
		check(t)(f.CopyOut([]string{""}, dest, CopyOutOptions{Delete: del}))
		wantFiles(t, diskFiles(t, outside), map[string]string{"x.txt": "precious", "y.txt": "precious too"})
		if info, err := os.Lstat(filepath.Join(dest, "sub")); err != nil || !info.IsDir() {
			t.Errorf("delete=%v: sub is %v, %v", del, info, err)
		}
		wantFiles(t, diskFiles(t, dest), map[string]string{"sub/x.txt": "x"})
	}
	// Syncing an empty tree over a destination holding a directory link
	// deletes the link, not what it points to.
	dest := t.TempDir()
	symlink(t, outside, filepath.Join(dest, "ln"))
	empty := check(t)(f.Remove([]string{"sub"}, RemoveOptions{Recursive: true}))
	check(t)(empty.SyncOut("", dest, SyncOptions{}))
	wantFiles(t, diskFiles(t, outside), map[string]string{"x.txt": "precious", "y.txt": "precious too"})
	if _, err := os.Lstat(filepath.Join(dest, "ln")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link survived: %v", err)
	}
}

func TestCopy_ignoreErrors(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	writeTree(t, local, map[string]string{"good.txt": "g"})
	if err := exec.Command("mkfifo", filepath.Join(local, "pipe")).Run(); err != nil {
		t.Skip("mkfifo:", err)
	}
	f := newCopyStore(t)
	good, pipe, missing := filepath.Join(local, "good.txt"), filepath.Join(local, "pipe"), filepath.Join(local, "missing")

	_, err := f.CopyIn([]string{pipe, good}, "", CopyInOptions{})
	if err == nil {
		t.Error("a FIFO source copied without error")
	}
	out := check(t)(f.CopyIn([]string{missing, pipe, good}, "", CopyInOptions{IgnoreErrors: true}))
	wantActions(t, out.Changes(), "a good.txt")
	if len(out.Changes().Errors) != 2 {
		t.Errorf("errors = %+v", out.Changes().Errors)
	}
	_, err = f.CopyIn([]string{missing, pipe}, "", CopyInOptions{IgnoreErrors: true})
	if err == nil || !strings.HasPrefix(err.Error(), "All files failed to copy: ") {
		t.Errorf("all failed: %v", err)
	}
	_, err = f.CopyOut([]string{"nope", "nada"}, t.TempDir(), CopyOutOptions{IgnoreErrors: true})
	if err == nil || !strings.HasPrefix(err.Error(), "All files failed to copy: ") {
		t.Errorf("all failed out: %v", err)
	}
}

func TestCopy_ignoreErrorsUnreadable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads chmod 000 files")
	}
	local := t.TempDir()
	writeTree(t, local, map[string]string{"ok.txt": "ok", "secret.txt": "s"})
	secret := filepath.Join(local, "secret.txt")
	os.Chmod(secret, 0)
	t.Cleanup(func() { os.Chmod(secret, 0o644) })
	f := newCopyStore(t)
	if _, err := f.CopyIn([]string{local + "/"}, "", CopyInOptions{}); err == nil {
		t.Error("unreadable file copied without error")
	}
	dry := check(t)(f.CopyIn([]string{local + "/"}, "", CopyInOptions{IgnoreErrors: true, DryRun: true}))
	out := check(t)(f.CopyIn([]string{local + "/"}, "", CopyInOptions{IgnoreErrors: true}))
	wantActions(t, out.Changes(), "a ok.txt")
	if len(out.Changes().Errors) != 1 || out.Changes().Errors[0].Path != secret {
		t.Errorf("errors = %+v", out.Changes().Errors)
	}
	if !reflect.DeepEqual(actions(dry.Changes()), actions(out.Changes())) || len(dry.Changes().Errors) != 1 {
		t.Errorf("dry %+v real %+v", dry.Changes(), out.Changes())
	}
	if _, err := f.CopyIn([]string{secret}, "", CopyInOptions{IgnoreErrors: true}); err == nil || !strings.Contains(err.Error(), "All files failed") {
		t.Errorf("all failed: %v", err)
	}
}

func TestCopy_overlappingSources(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	writeTree(t, local, map[string]string{"a/x.txt": "from a", "b/x.txt": "from b", "b/y.txt": "y"})
	f := newCopyStore(t)
	out := check(t)(f.CopyIn([]string{filepath.Join(local, "a") + "/", filepath.Join(local, "b") + "/"}, "", CopyInOptions{Delete: true}))
	wantFiles(t, repoFiles(t, out, ""), map[string]string{"x.txt": "from a", "y.txt": "y"})
	w := out.Changes().Warnings
	if len(w) != 1 || w[0].Path != filepath.Join(local, "b", "x.txt") || w[0].Error != "Overlapping destination 'x.txt': skipping (kept earlier source)" {
		t.Errorf("warnings = %+v", w)
	}
	dest := t.TempDir()
	res := check(t)(out.CopyOut([]string{"x.txt", "./x.txt"}, dest, CopyOutOptions{Delete: true}))
	if len(res.Changes().Warnings) != 1 {
		t.Errorf("out warnings = %+v", res.Changes().Warnings)
	}
}

func TestCopyIn_identicalNotReportedAndMessages(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	writeTree(t, local, map[string]string{"a.txt": "a", "b.txt": "b", "c.txt": "c"})
	f := newCopyStore(t)
	out := check(t)(f.CopyIn([]string{local + "/"}, "", CopyInOptions{}))
	if out.Message() != "Batch cp: +3" {
		t.Errorf("message %q", out.Message())
	}
	same := check(t)(out.CopyIn([]string{local + "/"}, "", CopyInOptions{}))
	if same.Hash() != out.Hash() || same.Changes() != nil {
		t.Errorf("identical copy: %s %+v", same.Hash(), same.Changes())
	}
	writeTree(t, local, map[string]string{"b.txt": "B", "d.txt": "d"})
	next := check(t)(out.CopyIn([]string{local + "/"}, "", CopyInOptions{Message: "Deploy: {default}"}))
	wantActions(t, next.Changes(), "u b.txt", "a d.txt")
	if next.Message() != "Deploy: Batch cp: +1 ~1" {
		t.Errorf("message %q", next.Message())
	}
	one := check(t)(next.CopyIn([]string{filepath.Join(local, "a.txt")}, "sub", CopyInOptions{Mode: Executable}))
	if one.Message() != "+ sub/a.txt (executable)" {
		t.Errorf("message %q", one.Message())
	}
	skip := check(t)(one.CopyIn([]string{local + "/"}, "sub", CopyInOptions{IgnoreExisting: true}))
	wantActions(t, skip.Changes(), "a b.txt", "a c.txt", "a d.txt")
}

func TestSyncIn_missingLocal(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	f = check(t)(f.Apply(map[string]WriteEntry{
		"keep/k.txt": {Data: []byte("k")}, "d/a.txt": {Data: []byte("a")}, "d/s/b.txt": {Data: []byte("b")}, "file": {Data: []byte("f")},
	}, nil, ApplyOptions{}))
	missing := filepath.Join(t.TempDir(), "missing")
	dry := check(t)(f.SyncIn(missing, "d", SyncOptions{DryRun: true}))
	out := check(t)(f.SyncIn(missing, "d", SyncOptions{}))
	wantActions(t, out.Changes(), "d a.txt", "d s/b.txt")
	if !reflect.DeepEqual(dry.Changes(), out.Changes()) {
		t.Errorf("dry %+v real %+v", dry.Changes(), out.Changes())
	}
	if out.Message() != "Batch sync: -2" {
		t.Errorf("message %q", out.Message())
	}
	wantFiles(t, repoFiles(t, out, ""), map[string]string{"keep/k.txt": "k", "file": "f"})
	gone := check(t)(out.SyncIn(missing, "file", SyncOptions{}))
	wantActions(t, gone.Changes(), "d file")
	wantFiles(t, repoFiles(t, gone, ""), map[string]string{"keep/k.txt": "k"})
	nothing := check(t)(gone.SyncIn(missing, "nowhere", SyncOptions{}))
	if nothing.Hash() != gone.Hash() || nothing.Changes() != nil {
		t.Errorf("missing to missing: %+v", nothing.Changes())
	}
	// A local file is not an empty directory.
	local := t.TempDir()
	writeTree(t, local, map[string]string{"f": "f"})
	if _, err := gone.SyncIn(filepath.Join(local, "f"), "keep", SyncOptions{}); !errors.Is(err, ErrNotDir) {
		t.Errorf("file source: %v", err)
	}
}

func TestSyncOut_missingRepoPath(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	f = check(t)(f.WriteText("file", "f", WriteOptions{}))
	dest := t.TempDir()
	writeTree(t, dest, map[string]string{"a.txt": "a", "d/e/b.txt": "b", "empty/": ""})
	res := check(t)(f.SyncOut("nope", dest, SyncOptions{}))
	wantActions(t, res.Changes(), "d a.txt", "d d/e/b.txt")
	entries, err := os.ReadDir(dest)
	if err != nil || len(entries) != 0 {
		t.Errorf("dest after sync: %v %v", entries, err)
	}
	if _, err := f.SyncOut("file", dest, SyncOptions{}); !errors.Is(err, ErrNotDir) {
		t.Errorf("file source: %v", err)
	}
	newDest := filepath.Join(t.TempDir(), "new", "dir")
	check(t)(f.SyncOut("", newDest, SyncOptions{}))
	wantFiles(t, diskFiles(t, newDest), map[string]string{"file": "f"})
}

func TestSyncIn_excludeKeepsExcludedFiles(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	f = check(t)(f.Apply(map[string]WriteEntry{"app.pyc": {Data: []byte("old")}, "old.py": {Data: []byte("o")}, "build/x.o": {Data: []byte("x")}}, nil, ApplyOptions{}))
	local := t.TempDir()
	writeTree(t, local, map[string]string{
		"app.py": "p", "app.pyc": "compiled", "build/y.o": "y", "sub/.gitignore": "*.log\n", "sub/a.log": "l", "sub/a.txt": "t",
	})
	ex, err := NewExcludeFilter([]string{"*.pyc", "build/"}, "", true)
	if err != nil {
		t.Fatal(err)
	}
	out := check(t)(f.SyncIn(local, "", SyncOptions{Exclude: ex}))
	wantActions(t, out.Changes(), "a app.py", "d old.py", "a sub/a.txt")
	wantFiles(t, repoFiles(t, out, ""), map[string]string{"app.pyc": "old", "build/x.o": "x", "app.py": "p", "sub/a.txt": "t"})
	// CopyIn of a single excluded file is checked by its name.
	one := check(t)(out.CopyIn([]string{filepath.Join(local, "app.pyc")}, "z", CopyInOptions{Exclude: ex}))
	if one.Changes() != nil {
		t.Errorf("excluded file copied: %+v", one.Changes())
	}
}

func TestSync_mtimeMode(t *testing.T) {
	t.Parallel()
	f := newCopyStore(t)
	local := t.TempDir()
	writeTree(t, local, map[string]string{"a.txt": "one", "b.txt": "b"})
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{"a.txt", "b.txt"} {
		os.Chtimes(filepath.Join(local, n), old, old)
	}
	mt := SyncOptions{Mtime: true}
	f = check(t)(f.SyncIn(local, "", mt))
	if again := check(t)(f.SyncIn(local, "", mt)); again.Changes() != nil {
		t.Errorf("resync: %+v", again.Changes())
	}
	// Rewritten a second or more after the commit: seen.
	a := filepath.Join(local, "a.txt")
	writeTree(t, local, map[string]string{"a.txt": "two"})
	later := f.Time().Add(2 * time.Second)
	os.Chtimes(a, later, later)
	f = check(t)(f.SyncIn(local, "", mt))
	wantActions(t, f.Changes(), "u a.txt")
	// Changed but back-dated: mtime mode trusts it, a checksum does not.
	writeTree(t, local, map[string]string{"b.txt": "B"})
	os.Chtimes(filepath.Join(local, "b.txt"), old, old)
	if missed := check(t)(f.SyncIn(local, "", SyncOptions{Mtime: true, DryRun: true})); missed.Changes() != nil {
		t.Errorf("mtime mode saw a back-dated change: %+v", missed.Changes())
	}
	caught := check(t)(f.SyncIn(local, "", SyncOptions{}))
	wantActions(t, caught.Changes(), "u b.txt")
	// Out: files written by SyncOut carry the commit time, so mtime mode
	// finds them unchanged; a local edit dated later is seen.
	dest := t.TempDir()
	check(t)(caught.SyncOut("", dest, mt))
	if again := check(t)(caught.SyncOut("", dest, mt)); again.Changes() != nil {
		t.Errorf("resync out: %+v", again.Changes())
	}
	writeTree(t, dest, map[string]string{"a.txt": "local edit"})
	os.Chtimes(filepath.Join(dest, "a.txt"), later.Add(time.Hour), later.Add(time.Hour))
	fix := check(t)(caught.SyncOut("", dest, mt))
	wantActions(t, fix.Changes(), "u a.txt")
}

func TestSync_manySmallFiles(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("stress")
	}
	local := t.TempDir()
	want := map[string]string{}
	for i := range 10_000 {
		rel := filepath.ToSlash(filepath.Join(string(rune('a'+i%26)), string(rune('a'+i/26%26)), "f"+strconv.Itoa(i)))
		want[rel] = strconv.Itoa(i)
	}
	writeTree(t, local, want)
	f := newCopyStore(t)
	start := time.Now()
	f = check(t)(f.SyncIn(local, "", SyncOptions{}))
	if len(f.Changes().Add) != 10_000 {
		t.Fatalf("added %d", len(f.Changes().Add))
	}
	if again := check(t)(f.SyncIn(local, "", SyncOptions{})); again.Changes() != nil {
		t.Errorf("resync changed %d", again.Changes().Total())
	}
	// Out: plan all of it, write one directory of it (creating 10,000
	// files twice costs most of this test on a slow disk).
	plan := check(t)(f.SyncOut("", t.TempDir(), SyncOptions{DryRun: true}))
	if len(plan.Changes().Add) != 10_000 {
		t.Errorf("planned %d adds out", len(plan.Changes().Add))
	}
	dest := t.TempDir()
	check(t)(f.SyncOut("a", dest, SyncOptions{}))
	for rel, content := range want {
		if sub, ok := strings.CutPrefix(rel, "a/"); ok {
			if data, err := os.ReadFile(filepath.Join(dest, sub)); err != nil || string(data) != content {
				t.Fatalf("%s: %q, %v", rel, data, err)
			}
		}
	}
	t.Logf("10,000 files in, again, and planned out: %v", time.Since(start))
}

func TestCopy_largeFileStreamed(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	big := filepath.Join(local, "big.bin")
	w, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("strata large file "), 1<<16)
	h := sha256.New()
	for range 40 { // ~47 MiB
		w.Write(chunk)
		h.Write(chunk)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := h.Sum(nil)
	f := newCopyStore(t)
	f = check(t)(f.CopyIn([]string{big}, "", CopyInOptions{}))
	dest := t.TempDir()
	check(t)(f.CopyOut([]string{"big.bin"}, dest, CopyOutOptions{}))
	r, err := os.Open(filepath.Join(dest, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h2 := sha256.New()
	io.Copy(h2, r)
	if !bytes.Equal(h2.Sum(nil), sum) {
		t.Error("large file changed on the round trip")
	}
	if again := check(t)(f.CopyIn([]string{big}, "", CopyInOptions{Delete: true})); again.Changes() != nil {
		t.Errorf("large file re-copied: %+v", again.Changes())
	}
}
