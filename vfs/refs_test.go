package vfs

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestRefs(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	br, tags := s.Branches(), s.Tags()
	main := must(br.Get("main"))(t)
	one := must(main.WriteText("a", "1", WriteOptions{Message: "first line\nsecond"}))(t)

	var re *RefError
	if _, err := br.Get("nope"); !errors.As(err, &re) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing branch: %v", err)
	}
	// Set returns a writable snapshot bound to the new name, also from a
	// read-only one.
	tag := must(tags.Set("v1", one))(t)
	if tag.Writable() || tag.RefName() != "v1" {
		t.Fatalf("tag snapshot: writable=%v ref=%q", tag.Writable(), tag.RefName())
	}
	dev := must(br.Set("dev", tag))(t)
	if !dev.Writable() || dev.RefName() != "dev" || dev.Hash() != one.Hash() {
		t.Fatalf("dev: %v %q %s", dev.Writable(), dev.RefName(), dev.Hash())
	}
	if _, err := tags.Set("v1", main); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrite tag: %v", err)
	}
	for _, bad := range []string{"a:b", "a b", "a\tb", "a\nb"} {
		if _, err := br.Set(bad, main); !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "Invalid ref name") {
			t.Fatalf("name %q: %v", bad, err)
		}
	}
	if _, err := br.Set("a..b", main); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("git-invalid name: %v", err)
	}
	other := coreStore(t)
	if _, err := br.Set("x", must(other.Branches().Get("main"))(t)); !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "different repository") {
		t.Fatalf("foreign snapshot: %v", err)
	}
	// Reset an existing branch: reflog says "set to".
	must(br.Set("dev", main))(t)
	log := must(br.Reflog("dev"))(t)
	if len(log) != 2 || log[0].Message != "branch: Created from first line" || log[1].Message != "branch: set to Initialize main" ||
		log[0].Committer != "strata <strata@localhost>" || log[1].Old != one.Hash() || log[1].New != main.Hash() {
		t.Fatalf("reflog %+v", log)
	}
	if names := must(br.Names())(t); strings.Join(names, ",") != "dev,main" {
		t.Fatalf("names %v", names)
	}
	if has := must(tags.Has("v1"))(t); !has {
		t.Fatal("v1 missing")
	}
	if _, err := tags.Reflog("v1"); !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), "Tags do not have reflog") {
		t.Fatalf("tag reflog: %v", err)
	}
	if _, err := tags.CurrentName(); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("tag current: %v", err)
	}

	// Current and SetCurrent.
	if cur := must(br.CurrentName())(t); cur != "main" {
		t.Fatalf("current %q", cur)
	}
	if err := br.SetCurrent("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("set current to a missing branch: %v", err)
	}
	if err := br.SetCurrent("dev"); err != nil {
		t.Fatal(err)
	}
	if cur := must(br.Current())(t); cur.RefName() != "dev" {
		t.Fatalf("current %q", cur.RefName())
	}
	// Delete; HEAD then dangles.
	if err := br.Delete("dev"); err != nil {
		t.Fatal(err)
	}
	if err := br.Delete("dev"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("delete twice: %v", err)
	}
	if cur, err := br.Current(); cur != nil || err != nil {
		t.Fatalf("dangling HEAD: %v %v", cur, err)
	}
	if err := tags.Delete("v1"); err != nil {
		t.Fatal(err)
	}

	// CreateEmpty: a new root commit, no reflog.
	empty := must(br.CreateEmpty("fresh"))(t)
	if empty.Message() != "Initialize fresh" || empty.parent != "" || len(must(empty.Ls(""))(t)) != 0 {
		t.Fatalf("empty branch: %q", empty.Message())
	}
	if _, err := br.CreateEmpty("fresh"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create existing: %v", err)
	}
	if _, err := br.Reflog("fresh"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fresh reflog: %v", err)
	}
	coreFsck(t, s)
}

// TestRefs_annotatedTag: tags made by git are peeled to their commit.
func TestRefs_annotatedTag(t *testing.T) {
	t.Parallel()
	s := coreStore(t)
	main := must(s.Branches().Get("main"))(t)
	coreGit(t, s.Path(), "tag", "-a", "-m", "annotated", "v2", main.Hash())
	tree := coreGit(t, s.Path(), "rev-parse", "main^{tree}")
	coreGit(t, s.Path(), "tag", "treetag", tree)
	v2 := must(s.Tags().Get("v2"))(t)
	if v2.Hash() != main.Hash() || v2.Writable() {
		t.Fatalf("v2 %s", v2.Hash())
	}
	if _, err := s.Tags().Get("treetag"); err == nil || !strings.Contains(err.Error(), "does not point to a commit") {
		t.Fatalf("tag of a tree: %v", err)
	}
}
