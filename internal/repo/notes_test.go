package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

func TestResolveNotesRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string // want "" = ErrInvalid
	}{
		{"", "refs/notes/commits"},
		{"reviews", "refs/notes/reviews"},
		{"notes/reviews", "refs/notes/reviews"},
		{"refs/notes/reviews", "refs/notes/reviews"},
		{"reviews/alice", "refs/notes/reviews/alice"},
		{"refs/heads/main", ""},
		{"refs/notes/", ""},
		{"refs/notes", ""},
		{"refs/tags/x", ""},
		{"a..b", ""},
		{"bad name", ""},
		{"x.lock", ""},
		{"refs/notes/a//b", ""},
	} {
		got, err := ResolveNotesRef(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ResolveNotesRef(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("ResolveNotesRef(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestResolveNotesPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"", "refs/notes/"},
		{"reviews/", "refs/notes/reviews/"},
		{"reviews", "refs/notes/reviews"},
		{"notes/reviews/", "refs/notes/reviews/"},
		{"refs/notes/reviews/", "refs/notes/reviews/"},
		{"refs/notes/", "refs/notes/"},
		{"refs/notes", "refs/notes/"},
		{"refs/heads/", ""},
		{"a..b/", ""},
	} {
		got, err := ResolveNotesPrefix(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ResolveNotesPrefix(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveNotesPrefix(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestWriteNote_gitInterop writes notes with Strata and reads them with
// git, and the other way round, including a fanout notes tree.
func TestWriteNote_gitInterop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newBGTRepo(t)
	commit := bgtCommit(t, r, map[string]string{"a.txt": "a\n"})
	author := Signature{Name: "Nora Notes", Email: "nora@example.com"}

	// Flat: add, append, read back with git notes show.
	res, err := r.WriteNote(ctx, NoteWrite{Ref: DefaultNotesRef, Object: commit, Action: NoteAdd, Text: "first", Author: author})
	if err != nil {
		t.Fatal(err)
	}
	if res.Base != "" || res.New == "" {
		t.Fatalf("result %+v: want no base and a new commit", res)
	}
	if _, err := r.WriteNote(ctx, NoteWrite{Ref: DefaultNotesRef, Object: commit, Action: NoteAdd, Text: "again", Author: author}); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v, want ErrExists", err)
	}
	res2, err := r.WriteNote(ctx, NoteWrite{Ref: DefaultNotesRef, Object: commit, Action: NoteAppend, Text: "second\n\n", Author: author})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Base != res.New {
		t.Fatalf("append base %s, want %s", res2.Base, res.New)
	}
	if got := bgtGit(t, r.Path(), "", "notes", "show", string(commit)); got != "first\n\nsecond\n" {
		t.Fatalf("git notes show = %q", got)
	}
	if got := bgtGit(t, r.Path(), "", "log", "-1", "--format=%an <%ae>|%P|%s", "refs/notes/commits"); got != "Nora Notes <nora@example.com>|"+string(res.New)+"|Notes added by 'git notes append'\n" {
		t.Fatalf("notes commit = %q", got)
	}
	// Stale expectation.
	if _, err := r.WriteNote(ctx, NoteWrite{Ref: DefaultNotesRef, Object: commit, Action: NoteAppend, Text: "x", Expected: res.New, Author: author}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale expected: %v, want ErrPrecondition", err)
	}
	// Remove; a second remove is not found.
	if _, err := r.WriteNote(ctx, NoteWrite{Ref: DefaultNotesRef, Object: commit, Action: NoteRemove, Expected: res2.New, Author: author}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteNote(ctx, NoteWrite{Ref: DefaultNotesRef, Object: commit, Action: NoteRemove, Author: author}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v, want ErrNotFound", err)
	}
	if out := bgtGit(t, r.Path(), "", "notes", "list"); out != "" {
		t.Fatalf("git notes list after remove = %q", out)
	}

	// Fanout: git writes a fanout tree once a notes tree is big; build
	// one by hand (ab/<38 hex>) with git, then edit it with Strata.
	var blobs []string
	var objects []git.ObjectID
	for i := 0; i < 3; i++ {
		obj := strings.TrimSpace(bgtGit(t, r.Path(), fmt.Sprintf("object %d\n", i), "hash-object", "-w", "--stdin"))
		objects = append(objects, git.ObjectID(obj))
		blobs = append(blobs, strings.TrimSpace(bgtGit(t, r.Path(), fmt.Sprintf("note %d\n", i), "hash-object", "-w", "--stdin")))
	}
	var root strings.Builder
	for i, obj := range objects {
		sub := strings.TrimSpace(bgtGit(t, r.Path(), fmt.Sprintf("100644 blob %s\t%s\n", blobs[i], obj[2:]), "mktree"))
		fmt.Fprintf(&root, "040000 tree %s\t%s\n", sub, obj[:2])
	}
	tree := strings.TrimSpace(bgtGit(t, r.Path(), root.String(), "mktree"))
	nc := strings.TrimSpace(bgtGit(t, r.Path(), "", "commit-tree", "-m", "fanout", tree))
	bgtGit(t, r.Path(), "", "update-ref", "refs/notes/fan", nc)
	fan := git.ReferenceName("refs/notes/fan")

	n, err := r.ReadNote(ctx, fan, objects[1])
	if err != nil || n.Text != "note 1\n" || n.RefCommit != git.ObjectID(nc) {
		t.Fatalf("ReadNote in fanout = %+v, %v", n, err)
	}
	if _, err := r.WriteNote(ctx, NoteWrite{Ref: fan, Object: objects[0], Action: NoteAppend, Text: "more", Author: author}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteNote(ctx, NoteWrite{Ref: fan, Object: objects[2], Action: NoteRemove, Author: author}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteNote(ctx, NoteWrite{Ref: fan, Object: commit, Action: NoteAdd, Text: "flat one", Author: author}); err != nil {
		t.Fatal(err)
	}
	if got := bgtGit(t, r.Path(), "", "notes", "--ref=fan", "show", string(objects[0])); got != "note 0\n\nmore\n" {
		t.Fatalf("git notes show (fanout) = %q", got)
	}
	list := bgtGit(t, r.Path(), "", "notes", "--ref=fan", "list")
	if strings.Contains(list, string(objects[2])) || !strings.Contains(list, string(objects[1])) || !strings.Contains(list, string(commit)) {
		t.Fatalf("git notes list = %q", list)
	}
	// The emptied fanout directory is gone, the others are kept.
	top := bgtGit(t, r.Path(), "", "ls-tree", "refs/notes/fan")
	if strings.Contains(top, "\t"+string(objects[2][:2])+"\n") || !strings.Contains(top, "\t"+string(objects[0][:2])+"\n") {
		t.Fatalf("notes tree top level = %q", top)
	}
	bgtGit(t, r.Path(), "", "fsck", "--strict", "--no-progress")

	// Listing.
	refsList, more, err := r.ListNotesRefs(ctx, "refs/notes/", "", 10)
	if err != nil || more || len(refsList) != 2 || refsList[0].Name != DefaultNotesRef || refsList[1].Name != fan {
		t.Fatalf("ListNotesRefs = %+v, %v, %v", refsList, more, err)
	}
}

// TestEditNotes_flatLayout edits a fanout notes tree written with git:
// edited notes move to flat root entries, emptied fanout directories go,
// the batch is one commit, and git reads the result.
func TestEditNotes_flatLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newBGTRepo(t)
	author := Signature{Name: "Nora Notes", Email: "nora@example.com"}
	var objects []git.ObjectID
	var root strings.Builder
	for i := 0; i < 4; i++ {
		obj := strings.TrimSpace(bgtGit(t, r.Path(), fmt.Sprintf("object %d\n", i), "hash-object", "-w", "--stdin"))
		objects = append(objects, git.ObjectID(obj))
		if i == 3 {
			continue // objects[3] has no note
		}
		blob := strings.TrimSpace(bgtGit(t, r.Path(), fmt.Sprintf("note %d\n", i), "hash-object", "-w", "--stdin"))
		sub := strings.TrimSpace(bgtGit(t, r.Path(), fmt.Sprintf("100644 blob %s\t%s\n", blob, obj[2:]), "mktree"))
		fmt.Fprintf(&root, "040000 tree %s\t%s\n", sub, obj[:2])
	}
	tree := strings.TrimSpace(bgtGit(t, r.Path(), root.String(), "mktree"))
	base := git.ObjectID(strings.TrimSpace(bgtGit(t, r.Path(), "", "commit-tree", "-m", "fanout", tree)))
	ref := git.ReferenceName("refs/notes/fan")
	bgtGit(t, r.Path(), "", "update-ref", string(ref), string(base))

	list, err := r.ListNotes(ctx, ref)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListNotes = %v, %v", list, err)
	}

	// Removing a missing note fails the whole edit.
	if _, err := r.EditNotes(ctx, NotesEdit{Ref: ref, Author: author, Message: "x", Edits: []NoteEdit{
		{Object: objects[0], Text: "changed"}, {Object: objects[3], Remove: true},
	}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove of a missing note: %v, want ErrNotFound", err)
	}
	if tip, _ := r.ReadNotesRef(ref); tip != base {
		t.Fatalf("failed edit moved the notes ref to %s", tip)
	}

	res, err := r.EditNotes(ctx, NotesEdit{Ref: ref, Author: author, Message: "Notes batch update (3 changes)", Edits: []NoteEdit{
		{Object: objects[0], Text: "changed"},    // fanout → flat
		{Object: objects[1], Remove: true},       // removed from fanout
		{Object: objects[3], Remove: true},       // last op wins: set below
		{Object: objects[3], Text: "new, no NL"}, // verbatim, flat
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Base != base || res.New == base {
		t.Fatalf("result %+v", res)
	}
	top := bgtGit(t, r.Path(), "", "ls-tree", "--name-only", string(ref))
	want := []string{string(objects[2][:2]), string(objects[0]), string(objects[3])}
	for _, w := range want {
		if !strings.Contains(top, w+"\n") {
			t.Errorf("notes tree top level %q lacks %s", top, w)
		}
	}
	if n := strings.Count(top, "\n"); n != 3 {
		t.Errorf("notes tree top level has %d entries, want 3: %q", n, top)
	}
	if got := bgtGit(t, r.Path(), "", "notes", "--ref=fan", "show", string(objects[3])); got != "new, no NL" {
		t.Errorf("git notes show = %q", got)
	}
	if got := bgtGit(t, r.Path(), "", "log", "-1", "--format=%P|%s", string(ref)); got != string(base)+"|Notes batch update (3 changes)\n" {
		t.Errorf("notes commit = %q", got)
	}
	list, err = r.ListNotes(ctx, ref)
	if err != nil || len(list) != 3 || list[0] > list[1] || list[1] > list[2] {
		t.Fatalf("ListNotes after edit = %v, %v", list, err)
	}
	bgtGit(t, r.Path(), "", "fsck", "--strict", "--no-progress")
}
