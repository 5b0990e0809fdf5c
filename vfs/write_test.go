package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite_messages(t *testing.T) {
	t.Parallel()
	snap := coreMain(t)
	steps := []struct {
		desc string
		do   func(*FS) (*FS, error)
		want string
	}{
		{"add", func(f *FS) (*FS, error) { return f.WriteText("hello.txt", "hi", WriteOptions{}) }, "+ hello.txt"},
		{"update", func(f *FS) (*FS, error) { return f.WriteText("hello.txt", "ho", WriteOptions{}) }, "~ hello.txt"},
		{"symlink", func(f *FS) (*FS, error) { return f.WriteSymlink("link.txt", "hello.txt", WriteOptions{}) }, "+ link.txt (link)"},
		{"executable", func(f *FS) (*FS, error) {
			return f.WriteText("run.sh", "#!/bin/sh", WriteOptions{Mode: Executable})
		}, "+ run.sh (executable)"},
		{"mode only", func(f *FS) (*FS, error) { return f.WriteText("run.sh", "#!/bin/sh", WriteOptions{}) }, "~ run.sh"},
		{"delete", func(f *FS) (*FS, error) { return f.Remove([]string{"link.txt"}, RemoveOptions{}) }, "- link.txt"},
		{"batch", func(f *FS) (*FS, error) {
			return f.Apply(map[string]WriteEntry{"a": {Data: []byte("a")}, "b": {Data: []byte("b")}, "hello.txt": {Data: []byte("new")}},
				[]string{"run.sh"}, ApplyOptions{})
		}, "Batch: +2 ~1 -1"},
		{"batch op", func(f *FS) (*FS, error) {
			return f.Apply(map[string]WriteEntry{"c": {Data: []byte("c")}, "d": {Data: []byte("d")}, "a": {Data: []byte("A")}},
				nil, ApplyOptions{Operation: "cp", Message: "Deploy: {default} ({total_count} files, {op})"})
		}, "Deploy: Batch cp: +2 ~1 (3 files, cp)"},
		{"placeholders", func(f *FS) (*FS, error) {
			return f.Apply(map[string]WriteEntry{"e": {Data: []byte("e")}}, []string{"c", "d"},
				ApplyOptions{Message: "{{x}} a={add_count} u={update_count} d={delete_count} op={op}"})
		}, "{x} a=1 u=0 d=2 op="},
		{"verbatim", func(f *FS) (*FS, error) { return f.WriteText("f", "f", WriteOptions{Message: "plain }"}) }, "plain }"},
		{"one change in a batch", func(f *FS) (*FS, error) {
			return f.Apply(map[string]WriteEntry{"g": {Target: "f"}}, nil, ApplyOptions{Operation: "cp"})
		}, "+ g (link)"},
	}
	for _, st := range steps {
		next, err := st.do(snap)
		if err != nil {
			t.Fatalf("%s: %v", st.desc, err)
		}
		if next.Message() != st.want {
			t.Fatalf("%s: message %q, want %q", st.desc, next.Message(), st.want)
		}
		if next.Changes() == nil || next.Hash() == snap.Hash() {
			t.Fatalf("%s: no commit or no changes", st.desc)
		}
		snap = next
	}
	// An unknown placeholder is refused before anything is committed.
	if _, err := snap.WriteText("z", "z", WriteOptions{Message: "{nope}"}); !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "{nope}") {
		t.Fatalf("unknown placeholder: %v", err)
	}
	if must(snap.Exists("z"))(t) {
		t.Fatal("z written")
	}
	// The {default} of a no-op is "No changes" but nothing is committed.
	same, err := snap.WriteText("f", "f", WriteOptions{Message: "Deploy: {default}"})
	if err != nil || same.Hash() != snap.Hash() || same.Changes() != nil {
		t.Fatalf("no-op: %v", err)
	}
	if got := must(formatMessage("Deploy: {default}", nil, ""))(t); got != "Deploy: No changes" {
		t.Fatalf("no changes: %q", got)
	}
	// Log match on automatic messages.
	var n int
	for c, err := range snap.Log(LogOptions{Match: "+ *"}) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.Message(), "+ ") {
			t.Fatalf("match: %q", c.Message())
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d commits match '+ *'", n)
	}
	coreFsck(t, snap.Store())
}

// TestWrite_noop: identical content makes no commit, whatever the path,
// and returns the snapshot itself.
func TestWrite_noop(t *testing.T) {
	t.Parallel()
	snap := must(coreMain(t).WriteText("a/b.txt", "x", WriteOptions{}))(t)
	cases := []struct {
		desc string
		do   func() (*FS, error)
	}{
		{"same write", func() (*FS, error) { return snap.WriteText("a/b.txt", "x", WriteOptions{}) }},
		{"same apply", func() (*FS, error) {
			return snap.Apply(map[string]WriteEntry{"a/b.txt": {Data: []byte("x")}}, []string{"missing"}, ApplyOptions{})
		}},
		{"empty batch", func() (*FS, error) { return snap.Update(BatchOptions{}, func(*Batch) error { return nil }) }},
		{"identical batch", func() (*FS, error) {
			return snap.Update(BatchOptions{}, func(b *Batch) error { return b.Write("a/b.txt", []byte("x"), "") })
		}},
		{"copy onto itself", func() (*FS, error) { return snap.CopyRef(snap, "a", "a", CopyRefOptions{}) }},
	}
	for _, tc := range cases {
		got, err := tc.do()
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if got.Hash() != snap.Hash() || got.Changes() != nil || snap.Changes() == nil {
			t.Fatalf("%s: committed %s (changes %+v)", tc.desc, got.Hash(), got.Changes())
		}
	}
	tip := must(snap.Store().Branches().Get("main"))(t)
	if tip.Hash() != snap.Hash() {
		t.Fatal("the branch moved")
	}
}

func TestWrite_stale(t *testing.T) {
	t.Parallel()
	base := coreMain(t)
	one := must(base.WriteText("a", "1", WriteOptions{}))(t)
	var stale *StaleSnapshotError
	// Even a write that changes nothing fails from a stale snapshot.
	for _, do := range []func() (*FS, error){
		func() (*FS, error) { return base.WriteText("b", "2", WriteOptions{}) },
		func() (*FS, error) { return base.Apply(nil, nil, ApplyOptions{}) },
		func() (*FS, error) { return base.Update(BatchOptions{}, func(*Batch) error { return nil }) },
		func() (*FS, error) { return must(one.Parent())(t).WriteText("c", "3", WriteOptions{}) },
	} {
		_, err := do()
		if !errors.As(err, &stale) || stale.Tip != one.Hash() || !strings.Contains(err.Error(), "advanced") {
			t.Fatalf("stale write: %v", err)
		}
	}
	// The branch is where the winner put it.
	if tip := must(base.Store().Branches().Get("main"))(t); tip.Hash() != one.Hash() {
		t.Fatal("lost a commit")
	}
}

// TestWrite_tree: file↔directory replacement, pruning of emptied
// directories, sibling subtrees shared.
func TestWrite_tree(t *testing.T) {
	t.Parallel()
	snap := must(coreMain(t).Apply(map[string]WriteEntry{
		"a":         {Data: []byte("file a")},
		"d/x/y.txt": {Data: []byte("y")},
		"d/z.txt":   {Data: []byte("z")},
		"keep/k":    {Data: []byte("k")},
	}, nil, ApplyOptions{}))(t)
	keep := must(snap.ObjectHash("keep"))(t)

	// A file becomes a directory.
	snap = must(snap.WriteText("a/inner", "in", WriteOptions{}))(t)
	if !must(snap.IsDir("a"))(t) || must(snap.ReadText("a/inner"))(t) != "in" {
		t.Fatal("a is not a directory")
	}
	// And a directory a file.
	snap = must(snap.WriteText("d", "now a file", WriteOptions{}))(t)
	if must(snap.IsDir("d"))(t) || must(snap.ReadText("d"))(t) != "now a file" {
		t.Fatal("d is not a file")
	}
	// Removing the last file removes its directories.
	snap = must(snap.Remove([]string{"a/inner"}, RemoveOptions{}))(t)
	if must(snap.Exists("a"))(t) {
		t.Fatal("empty directory a kept")
	}
	if must(snap.ObjectHash("keep"))(t) != keep {
		t.Fatal("untouched subtree rewritten")
	}
	if names := must(snap.Ls(""))(t); strings.Join(names, ",") != "d,keep" {
		t.Fatalf("root: %v", names)
	}
	coreFsck(t, snap.Store())
}

func TestWrite_errors(t *testing.T) {
	t.Parallel()
	snap := must(coreMain(t).WriteText("dir/f", "f", WriteOptions{}))(t)
	for _, tc := range []struct {
		desc string
		err  error
		do   func() error
	}{
		{"empty path", fs.ErrInvalid, func() error { _, err := snap.WriteText("", "x", WriteOptions{}); return err }},
		{"dotdot", fs.ErrInvalid, func() error { _, err := snap.WriteText("a/../b", "x", WriteOptions{}); return err }},
		{"empty segment", fs.ErrInvalid, func() error { _, err := snap.WriteText("a//b", "x", WriteOptions{}); return err }},
		{".git", fs.ErrInvalid, func() error { _, err := snap.WriteText(".git/config", "x", WriteOptions{}); return err }},
		{"bad mode", fs.ErrInvalid, func() error { _, err := snap.WriteText("m", "x", WriteOptions{Mode: Tree}); return err }},
		{"both data and target", fs.ErrInvalid, func() error {
			_, err := snap.Apply(map[string]WriteEntry{"x": {Data: []byte("x"), Target: "y"}}, nil, ApplyOptions{})
			return err
		}},
		{"neither data nor target", fs.ErrInvalid, func() error {
			_, err := snap.Apply(map[string]WriteEntry{"x": {}}, nil, ApplyOptions{})
			return err
		}},
		{"missing local file", fs.ErrNotExist, func() error {
			_, err := snap.WriteFromFile("x", filepath.Join(t.TempDir(), "nope"), WriteOptions{})
			return err
		}},
		{"local directory", ErrIsDir, func() error { _, err := snap.WriteFromFile("x", t.TempDir(), WriteOptions{}); return err }},
		{"remove missing", fs.ErrNotExist, func() error { _, err := snap.Remove([]string{"nope"}, RemoveOptions{}); return err }},
		{"remove dir", ErrIsDir, func() error { _, err := snap.Remove([]string{"dir"}, RemoveOptions{}); return err }},
		{"remove file as dir", ErrNotDir, func() error { _, err := snap.Remove([]string{"dir/f/"}, RemoveOptions{Recursive: true}); return err }},
	} {
		err := tc.do()
		if !errors.Is(err, tc.err) {
			t.Fatalf("%s: %v, want %v", tc.desc, err, tc.err)
		}
	}
	// "." segments collapse.
	got := must(snap.WriteText("./x/./y", "y", WriteOptions{}))(t)
	if got.Message() != "+ x/y" || must(got.ReadText("x/y"))(t) != "y" {
		t.Fatalf("dot segments: %q", got.Message())
	}
}

func TestWriteFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "plain"), []byte("plain"), 0o644)
	os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh"), 0o750)
	os.Symlink("tool", filepath.Join(dir, "link"))
	snap := coreMain(t)
	snap = must(snap.WriteFromFile("p", filepath.Join(dir, "plain"), WriteOptions{}))(t)
	snap = must(snap.WriteFromFile("t", filepath.Join(dir, "tool"), WriteOptions{}))(t)
	snap = must(snap.WriteFromFile("l", filepath.Join(dir, "link"), WriteOptions{}))(t) // followed
	snap = must(snap.WriteFromFile("forced", filepath.Join(dir, "tool"), WriteOptions{Mode: Blob}))(t)
	for path, want := range map[string]FileType{"p": Blob, "t": Executable, "l": Executable, "forced": Blob} {
		if got := must(snap.FileType(path))(t); got != want {
			t.Fatalf("%s: %s, want %s", path, got, want)
		}
	}
	if must(snap.ReadText("l"))(t) != "#!/bin/sh" {
		t.Fatal("symlink not followed")
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	snap := must(coreMain(t).Apply(map[string]WriteEntry{
		"a.txt": {Data: []byte("a")}, "d/1": {Data: []byte("1")}, "d/e/2": {Data: []byte("2")}, "other/3": {Data: []byte("3")},
	}, nil, ApplyOptions{}))(t)
	dry := must(snap.Remove([]string{"d"}, RemoveOptions{Recursive: true, DryRun: true}))(t)
	if dry.Hash() != snap.Hash() || snap.Changes() == nil && dry.Changes() == nil {
		t.Fatal("dry run committed or reported nothing")
	}
	if got := actionsOf(dry.Changes()); got != "delete d/1,delete d/e/2" {
		t.Fatalf("dry run: %s", got)
	}
	if snap.Changes() != nil && actionsOf(snap.Changes()) == actionsOf(dry.Changes()) {
		t.Fatal("dry run changed the receiver")
	}
	got := must(snap.Remove([]string{"d", "a.txt"}, RemoveOptions{Recursive: true}))(t)
	if got.Message() != "Batch rm: -3" || actionsOf(got.Changes()) != "delete a.txt,delete d/1,delete d/e/2" {
		t.Fatalf("remove: %q %s", got.Message(), actionsOf(got.Changes()))
	}
	if names := must(got.Ls(""))(t); strings.Join(names, ",") != "other" {
		t.Fatalf("left: %v", names)
	}
	// The root, recursively, is everything.
	all := must(got.Remove([]string{""}, RemoveOptions{Recursive: true}))(t)
	if len(must(all.Ls(""))(t)) != 0 || all.Message() != "- other/3" {
		t.Fatalf("remove all: %q", all.Message())
	}
	coreFsck(t, all.Store())
}

func actionsOf(r *ChangeReport) string {
	var out []string
	for _, a := range r.Actions() {
		out = append(out, a.Action+" "+a.Path)
	}
	return strings.Join(out, ",")
}

func TestMove(t *testing.T) {
	t.Parallel()
	snap := must(coreMain(t).Apply(map[string]WriteEntry{
		"a.txt": {Data: []byte("a")}, "run": {Data: []byte("x"), Mode: Executable},
		"d/1": {Data: []byte("1")}, "d/e/2": {Data: []byte("2")}, "into/keep": {Data: []byte("k")},
	}, nil, ApplyOptions{}))(t)
	for _, tc := range []struct {
		desc    string
		sources []string
		dest    string
		rec     bool
		want    string // sorted files after
		msg     string
	}{
		{"rename file", []string{"a.txt"}, "b.txt", false, "b.txt d/1 d/e/2 into/keep run", "Batch mv: +1 -1"},
		{"file into dir", []string{"a.txt"}, "into", false, "d/1 d/e/2 into/a.txt into/keep run", ""},
		{"file into new dir with slash", []string{"a.txt"}, "new/", false, "d/1 d/e/2 into/keep new/a.txt run", ""},
		{"rename dir", []string{"d"}, "dd", true, "a.txt dd/1 dd/e/2 into/keep run", ""},
		{"dir into dir", []string{"d"}, "into", true, "a.txt into/d/1 into/d/e/2 into/keep run", ""},
		{"many into root", []string{"d/1", "d/e/2"}, "", false, "1 2 a.txt into/keep run", ""},
		{"contents", []string{"d/"}, "into", true, "a.txt into/1 into/e/2 into/keep run", ""},
		{"executable kept", []string{"run"}, "bin/run", false, "a.txt bin/run d/1 d/e/2 into/keep", ""},
	} {
		base := must(snap.Store().Branches().Set("main", snap))(t)
		got, err := base.Move(tc.sources, tc.dest, MoveOptions{Recursive: tc.rec})
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if files := strings.Join(coreFiles(t, got), " "); files != tc.want {
			t.Fatalf("%s: %s, want %s", tc.desc, files, tc.want)
		}
		if tc.msg != "" && got.Message() != tc.msg {
			t.Fatalf("%s: message %q", tc.desc, got.Message())
		}
	}
	snap = must(snap.Store().Branches().Set("main", snap))(t)
	moved := must(snap.Move([]string{"run"}, "bin/run", MoveOptions{}))(t)
	if must(moved.FileType("bin/run"))(t) != Executable {
		t.Fatal("mode lost")
	}
	if _, err := snap.Move([]string{"a.txt"}, "a.txt", MoveOptions{}); !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "Source and destination are the same") {
		t.Fatalf("same: %v", err)
	}
	if _, err := snap.Move([]string{"d"}, "x", MoveOptions{}); !errors.Is(err, ErrIsDir) {
		t.Fatalf("dir without Recursive: %v", err)
	}
	if _, err := snap.Move([]string{"nope"}, "x", MoveOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := snap.Move([]string{"d"}, "d/e/f", MoveOptions{Recursive: true}); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("into itself: %v", err)
	}
	snap = moved
	dry := must(snap.Move([]string{"a.txt"}, "z", MoveOptions{DryRun: true}))(t)
	if dry.Hash() != snap.Hash() || actionsOf(dry.Changes()) != "delete a.txt,add z" {
		t.Fatalf("dry run: %s", actionsOf(dry.Changes()))
	}
}

// coreFiles lists every file of a snapshot, sorted.
func coreFiles(t testing.TB, f *FS) []string {
	t.Helper()
	var out []string
	err := f.Walk("", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCopyRef(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	main := must(s.Branches().Get("main"))(t)
	main = must(main.Apply(map[string]WriteEntry{"src/a": {Data: []byte("a")}, "src/sub/b": {Data: []byte("b")}, "top": {Data: []byte("t")}}, nil, ApplyOptions{}))(t)
	tag := must(s.Tags().Set("v1", main))(t)
	dev := must(s.Branches().CreateEmpty("dev"))(t)
	dev = must(dev.WriteText("dst/stale", "old", WriteOptions{}))(t)

	got := must(dev.CopyRef(tag, "src", "dst", CopyRefOptions{Delete: true}))(t)
	if files := strings.Join(coreFiles(t, got), " "); files != "dst/a dst/sub/b" {
		t.Fatalf("copied: %s", files)
	}
	if got.Message() != "Batch cp: +2 -1" {
		t.Fatalf("message %q", got.Message())
	}
	if must(got.ObjectHash("dst/a"))(t) != must(main.ObjectHash("src/a"))(t) {
		t.Fatal("blob not shared")
	}
	// A file, dest defaulting to the source path; a missing source is a no-op.
	got = must(got.CopyRef(main, "top", "", CopyRefOptions{}))(t)
	if must(got.ReadText("top"))(t) != "t" || got.Message() != "+ top" {
		t.Fatalf("file copy: %q", got.Message())
	}
	same := must(got.CopyRef(main, "missing", "x", CopyRefOptions{}))(t)
	if same.Hash() != got.Hash() {
		t.Fatal("missing source committed")
	}
	if _, err := got.CopyRef(must(coreStore(t).Branches().Get("main"))(t), "", "", CopyRefOptions{}); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("foreign source: %v", err)
	}
	dry := must(got.CopyRef(main, "src", "again", CopyRefOptions{DryRun: true}))(t)
	if dry.Hash() != got.Hash() || actionsOf(dry.Changes()) != "add again/a,add again/sub/b" {
		t.Fatalf("dry run: %s", actionsOf(dry.Changes()))
	}
}

// BenchmarkWrite: one small file per commit on a branch tip.
func BenchmarkWrite(b *testing.B) {
	snap := must(coreMain(b).Apply(map[string]WriteEntry{"dir/sub/seed": {Data: []byte("x")}}, nil, ApplyOptions{}))(b)
	data := []byte("small file contents\n")
	b.ResetTimer()
	for i := range b.N {
		data[0] = byte(i)
		next, err := snap.Write("dir/sub/file.txt", append(data, byte(i>>8)), WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		snap = next
	}
}
