package vfs

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestBatch(t *testing.T) {
	t.Parallel()
	snap := must(coreMain(t).Apply(map[string]WriteEntry{"keep": {Data: []byte("k")}, "gone": {Data: []byte("g")}, "dir/x": {Data: []byte("x")}}, nil, ApplyOptions{}))(t)
	b := must(snap.Batch(BatchOptions{Operation: "ar"}))(t)
	if err := b.Write("new", []byte("n"), ""); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteSymlink("ln", "keep"); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remove missing: %v", err)
	}
	if err := b.Write("dir", []byte("staged over a dir"), ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove("dir"); !errors.Is(err, ErrIsDir) {
		t.Fatalf("remove a base directory, even with a write staged: %v", err)
	}
	// Last op wins: a staged write then its removal (absent from the base).
	b.Write("tmp", []byte("t"), "")
	if err := b.Remove("tmp"); err != nil {
		t.Fatal(err)
	}
	// Removal then write: the write wins.
	b.Remove("keep")
	b.Write("keep", []byte("k2"), "")
	b.Remove("dir") // still an error; the staged write of "dir" stays
	got := must(b.Commit())(t)
	if got.Message() != "Batch ar: +3 ~1 -1" {
		t.Fatalf("message %q (%s)", got.Message(), actionsOf(got.Changes()))
	}
	if files := strings.Join(coreFiles(t, got), " "); files != "dir keep ln new" {
		t.Fatalf("files %s", files)
	}
	if _, err := b.Commit(); err == nil || !strings.Contains(err.Error(), "Batch is closed") {
		t.Fatalf("commit twice: %v", err)
	}
	if err := b.Write("x", nil, ""); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("write after commit: %v", err)
	}

	// Update: an error commits nothing.
	boom := errors.New("boom")
	_, err := got.Update(BatchOptions{}, func(b *Batch) error {
		b.Write("never", []byte("n"), "")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if tip := must(got.Store().Branches().Get("main"))(t); tip.Hash() != got.Hash() {
		t.Fatal("a failed update committed")
	}
	// Abort commits nothing; a read-only snapshot cannot batch.
	b2 := must(got.Batch(BatchOptions{}))(t)
	b2.Write("x", []byte("x"), "")
	b2.Abort()
	if tip := must(got.Store().Branches().Get("main"))(t); tip.Hash() != got.Hash() {
		t.Fatal("an aborted batch committed")
	}
	tag := must(got.Store().Tags().Set("v", got))(t)
	if _, err := tag.Batch(BatchOptions{}); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("batch on a tag: %v", err)
	}
	coreFsck(t, got.Store())
}
