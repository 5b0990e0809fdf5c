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
	"time"
)

// coreHistory writes n commits ("c1".."cn", file f = i) on a new branch.
func coreHistory(t testing.TB, n int) []*FS {
	t.Helper()
	snaps := []*FS{coreMain(t)}
	for i := 1; i <= n; i++ {
		next := must(snaps[i-1].WriteText("f", strings.Repeat("x", i), WriteOptions{Message: "c" + string(rune('0'+i))}))(t)
		snaps = append(snaps, next)
	}
	return snaps
}

func logMessages(t testing.TB, f *FS, opt LogOptions) []string {
	t.Helper()
	var out []string
	for c, err := range f.Log(opt) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Message())
	}
	return out
}

func TestBack(t *testing.T) {
	t.Parallel()
	h := coreHistory(t, 3)
	tip := h[3]
	if got := must(tip.Back(0))(t); got != tip {
		t.Fatal("Back(0) is not the snapshot itself")
	}
	if got := must(tip.Back(2))(t); got.Hash() != h[1].Hash() || got.RefName() != "main" || !got.Writable() {
		t.Fatalf("Back(2): %s", got.Message())
	}
	if got := must(tip.Back(3))(t); got.Message() != "Initialize main" {
		t.Fatalf("Back(3): %s", got.Message())
	}
	if root := must(h[0].Parent())(t); root != nil {
		t.Fatal("the root has a parent")
	}
	if _, err := tip.Back(4); !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "history too short") {
		t.Fatalf("Back(4): %v", err)
	}
	if _, err := tip.Back(-1); err == nil || !strings.Contains(err.Error(), "n >= 0") {
		t.Fatalf("Back(-1): %v", err)
	}
	// A parent inherits the ref but is stale.
	var stale *StaleSnapshotError
	if _, err := must(tip.Parent())(t).WriteText("g", "g", WriteOptions{}); !errors.As(err, &stale) {
		t.Fatalf("write through a parent: %v", err)
	}
}

func TestLog(t *testing.T) {
	t.Parallel()
	snap := coreMain(t)
	snap = must(snap.WriteText("a.txt", "1", WriteOptions{Message: "deploy v1"}))(t)
	snap = must(snap.WriteText("b.txt", "1", WriteOptions{Message: "other\nmulti-line deploy"}))(t)
	snap = must(snap.WriteText("a.txt", "1", WriteOptions{Mode: Executable, Message: "chmod"}))(t)
	snap = must(snap.Remove([]string{"a.txt"}, RemoveOptions{}))(t)
	snap = must(snap.WriteText("dir/x", "x", WriteOptions{Message: "deploy v2"}))(t)

	if got := strings.Join(logMessages(t, snap, LogOptions{}), "|"); got != "deploy v2|- a.txt|chmod|other\nmulti-line deploy|deploy v1|Initialize main" {
		t.Fatalf("log: %q", got)
	}
	// The path filter sees adds, mode-only changes and removes.
	if got := strings.Join(logMessages(t, snap, LogOptions{Path: "a.txt"}), "|"); got != "- a.txt|chmod|deploy v1" {
		t.Fatalf("path log: %q", got)
	}
	if got := strings.Join(logMessages(t, snap, LogOptions{Path: "dir"}), "|"); got != "deploy v2" {
		t.Fatalf("dir log: %q", got)
	}
	if got := logMessages(t, snap, LogOptions{Path: "nope"}); len(got) != 0 {
		t.Fatalf("missing path: %q", got)
	}
	for _, tc := range []struct{ match, want string }{
		{"deploy*", "deploy v2|deploy v1"},
		{"deploy v1", "deploy v1"},
		{"*deploy*", "deploy v2|other\nmulti-line deploy|deploy v1"}, // "*" crosses newlines
		{"deploy v[!2]", "deploy v1"},
		{"? a.txt", "- a.txt"},
	} {
		if got := strings.Join(logMessages(t, snap, LogOptions{Match: tc.match}), "|"); got != tc.want {
			t.Fatalf("match %q: %q, want %q", tc.match, got, tc.want)
		}
	}
	if got := strings.Join(logMessages(t, snap, LogOptions{Match: "deploy*", Path: "a.txt"}), "|"); got != "deploy v1" {
		t.Fatalf("match and path: %q", got)
	}
	// Before skips newer commits until the first that is not newer.
	var all []*FS
	for c, err := range snap.Log(LogOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	for _, before := range []time.Time{snap.Time().Add(-time.Second), snap.Time(), all[len(all)-1].Time().Add(-time.Second)} {
		var want []string
		for i, c := range all {
			if !c.Time().After(before) {
				for _, c := range all[i:] {
					want = append(want, c.Message())
				}
				break
			}
		}
		if got := logMessages(t, snap, LogOptions{Before: before}); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("before %v: %q, want %q", before, got, want)
		}
	}
	// Stopping early works.
	for range snap.Log(LogOptions{}) {
		break
	}
}

func TestUndoRedo(t *testing.T) {
	t.Parallel()
	h := coreHistory(t, 3)
	tip := h[3]
	for _, tc := range []struct {
		desc string
		err  string
		do   func() (*FS, error)
	}{
		{"steps 0", "steps must be >= 1", func() (*FS, error) { return tip.Undo(0) }},
		{"too many", "Cannot undo 5 steps - only 3 commit(s) in history", func() (*FS, error) { return tip.Undo(5) }},
		{"redo steps 0", "steps must be >= 1", func() (*FS, error) { return tip.Redo(0) }},
		{"stale undo", "advanced", func() (*FS, error) { return h[2].Undo(1) }},
		{"stale redo", "advanced", func() (*FS, error) { return h[2].Redo(1) }},
	} {
		if _, err := tc.do(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Fatalf("%s: %v, want %q", tc.desc, err, tc.err)
		}
	}
	tag := must(tip.Store().Tags().Set("t", tip))(t)
	if _, err := tag.Undo(1); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("undo on a tag: %v", err)
	}

	// undo(2) then redo() returns to the commit before the undo.
	back := must(tip.Undo(2))(t)
	if back.Hash() != h[1].Hash() || !back.Writable() {
		t.Fatalf("undo(2): %s", back.Message())
	}
	log := must(tip.Store().Branches().Reflog("main"))(t)
	if last := log[len(log)-1]; last.Message != "undo: move back" || last.New != h[1].Hash() {
		t.Fatalf("reflog after undo: %+v", last)
	}
	for i := 1; i < len(log); i++ {
		if log[i].Time.Before(log[i-1].Time) {
			t.Fatal("reflog times go back")
		}
	}
	fwd := must(back.Redo(1))(t)
	if fwd.Hash() != tip.Hash() {
		t.Fatalf("redo: %s", fwd.Message())
	}
	if last := must(tip.Store().Branches().Reflog("main"))(t); last[len(last)-1].Message != "redo: move forward" {
		t.Fatal("no redo entry")
	}
	// redo → redo toggles.
	again := must(fwd.Redo(1))(t)
	if again.Hash() != h[1].Hash() {
		t.Fatalf("second redo: %s", again.Message())
	}
	again = must(again.Redo(1))(t)
	// Two separate undos, then redo(2) returns to the start.
	u1 := must(again.Undo(1))(t)
	u2 := must(u1.Undo(1))(t)
	if u2.Hash() != h[1].Hash() {
		t.Fatalf("two undos: %s", u2.Message())
	}
	if got := must(u2.Redo(2))(t); got.Hash() != tip.Hash() {
		t.Fatalf("redo(2): %s", got.Message())
	}
	// undo → redo → undo works.
	cur := must(must(must(tip.Store().Branches().Get("main"))(t).Undo(1))(t).Redo(1))(t)
	if got := must(cur.Undo(1))(t); got.Hash() != h[2].Hash() {
		t.Fatalf("undo after redo: %s", got.Message())
	}
}

func TestRedo_edges(t *testing.T) {
	t.Parallel()
	h := coreHistory(t, 2)
	// Directly after a commit, redo goes to the previous commit.
	if got := must(h[2].Redo(1))(t); got.Hash() != h[1].Hash() {
		t.Fatalf("redo after commit: %s", got.Message())
	}
	// From the first commit after init, redo reaches Initialize (whose
	// creation wrote no reflog entry); redo(2) cannot.
	s := coreStore(t)
	first := must(must(s.Branches().Get("main"))(t).WriteText("a", "a", WriteOptions{}))(t)
	if _, err := first.Redo(2); err == nil || !strings.Contains(err.Error(), "Cannot redo 2 steps") {
		t.Fatalf("redo(2): %v", err)
	}
	init := must(first.Redo(1))(t)
	if init.Message() != "Initialize main" {
		t.Fatalf("redo to init: %s", init.Message())
	}
	// A branch created by Set starts its reflog with a zero old value.
	dev := must(s.Branches().Set("dev", first))(t)
	if _, err := dev.Redo(1); err == nil || !strings.Contains(err.Error(), "branch creation") {
		t.Fatalf("redo past creation: %v", err)
	}
	// A commit not in the reflog (written by git directly).
	fresh := must(s.Branches().CreateEmpty("fresh"))(t)
	if _, err := fresh.Redo(1); err == nil || !strings.Contains(err.Error(), "No reflog found") {
		t.Fatalf("redo without reflog: %v", err)
	}
	// (The reflog is rewritten to lose the move, as if the ref were moved
	// by something that logs nothing.)
	coreGit(t, s.Path(), "update-ref", "refs/heads/dev", fresh.Hash())
	logFile := filepath.Join(s.Path(), "logs", "refs", "heads", "dev")
	line := strings.Repeat("0", 40) + " " + first.Hash() + " strata <strata@localhost> 1700000000 +0000\tbranch: Created from x\n"
	if err := os.WriteFile(logFile, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	moved := must(s.Branches().Get("dev"))(t)
	if _, err := moved.Redo(1); err == nil || !strings.Contains(err.Error(), "current commit not in reflog") {
		t.Fatalf("redo off the reflog: %v", err)
	}
	// After undo and a new commit, redo steps back along the reflog and
	// never returns to the orphaned commit.
	tip := must(s.Branches().Get("main"))(t)
	a := must(tip.WriteText("x", "1", WriteOptions{}))(t)
	b := must(a.WriteText("x", "2", WriteOptions{}))(t)
	u := must(b.Undo(1))(t)
	c := must(u.WriteText("x", "3", WriteOptions{}))(t)
	if got := must(c.Redo(1))(t); got.Hash() != a.Hash() {
		t.Fatalf("redo after new commit: %s", got.Message())
	}
}

// TestLog_beforeWithPathOnSkewedClocks: Before cuts the walk at the first
// commit not newer than it, whether or not that commit touches Path, as
// gitstore does; a later (older) commit with a skewed, newer time is then
// kept. A walk that filtered by path first would drop it.
func TestLog_beforeWithPathOnSkewedClocks(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	dir := s.Path()
	root := must(s.Branches().Get("main"))(t).Hash()
	blob := func(text string) string {
		cmd := exec.Command("git", "--git-dir", dir, "hash-object", "-w", "--stdin")
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	commit := func(parent, tree string, when int64, msg string) string {
		raw := fmt.Sprintf("tree %s\nparent %s\nauthor t <t@t> %d +0000\ncommitter t <t@t> %d +0000\n\n%s\n", tree, parent, when, when, msg)
		cmd := exec.Command("git", "--git-dir", dir, "hash-object", "-t", "commit", "-w", "--stdin")
		cmd.Stdin = strings.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	mktree := func(entries string) string {
		cmd := exec.Command("git", "--git-dir", dir, "mktree")
		cmd.Stdin = strings.NewReader(entries)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	p1 := mktree("100644 blob " + blob("1") + "\tp\n")
	p1q := mktree("100644 blob " + blob("1") + "\tp\n100644 blob " + blob("q") + "\tq\n")
	p2q := mktree("100644 blob " + blob("2") + "\tp\n100644 blob " + blob("q") + "\tq\n")
	c := commit(root, p1, 2_000_000_800, "C adds p")  // older, but its clock ran ahead
	b := commit(c, p1q, 2_000_000_500, "B adds q")    // not newer than Before: the cut
	a := commit(b, p2q, 2_000_001_000, "A changes p") // newer than Before: skipped
	coreGit(t, dir, "update-ref", "refs/heads/main", a, root)
	snap := must(s.Branches().Get("main"))(t)
	got := logMessages(t, snap, LogOptions{Path: "p", Before: time.Unix(2_000_000_600, 0)})
	if strings.Join(got, "|") != "C adds p" {
		t.Fatalf("log: %q, want [C adds p]", got)
	}
}
