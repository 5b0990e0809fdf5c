package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
)

// DefaultNotesRef is where notes go when no notes ref is named.
const DefaultNotesRef git.ReferenceName = "refs/notes/commits"

const notesPrefix = "refs/notes/"

// ResolveNotesRef applies the notes ref resolution rules (spec §5.15):
// "" → refs/notes/commits, "reviews" → refs/notes/reviews,
// "notes/reviews" → refs/notes/reviews, "refs/notes/reviews" as is.
// Anything else under refs/, or an invalid ref name, is ErrInvalid.
func ResolveNotesRef(s string) (git.ReferenceName, error) {
	var full string
	switch {
	case s == "":
		return DefaultNotesRef, nil
	case strings.HasPrefix(s, "refs/"):
		full = s
	case strings.HasPrefix(s, "notes/"):
		full = "refs/" + s
	default:
		full = notesPrefix + s
	}
	if !strings.HasPrefix(full, notesPrefix) || len(full) == len(notesPrefix) {
		return "", invalidf("notes ref %q is outside refs/notes/", trunc(s, 200))
	}
	if err := git.CheckRefFormat(full); err != nil {
		return "", invalidf("invalid notes ref %q: %v", trunc(s, 200), err)
	}
	return git.ReferenceName(full), nil
}

// ResolveNotesPrefix normalises a notes-ref listing prefix the same way:
// "" → refs/notes/, "reviews/" → refs/notes/reviews/, "notes/x" →
// refs/notes/x, "refs/notes/x" as is. The prefix is matched as a plain
// string prefix of the full ref name.
func ResolveNotesPrefix(s string) (string, error) {
	var full string
	switch {
	case s == "" || s == "refs/notes" || s == "notes" || s == "notes/":
		return notesPrefix, nil
	case strings.HasPrefix(s, "refs/"):
		full = s
	case strings.HasPrefix(s, "notes/"):
		full = "refs/" + s
	default:
		full = notesPrefix + s
	}
	if !strings.HasPrefix(full, notesPrefix) {
		return "", invalidf("notes ref prefix %q is outside refs/notes/", trunc(s, 200))
	}
	check := full
	if strings.HasSuffix(check, "/") {
		check += "x"
	}
	if check != notesPrefix {
		if err := git.CheckRefFormat(check); err != nil {
			return "", invalidf("invalid notes ref prefix %q: %v", trunc(s, 200), err)
		}
	}
	return full, nil
}

// ReadNotesRef returns the notes commit ref holds, or a NotFoundError.
func (r *Repo) ReadNotesRef(ref git.ReferenceName) (git.ObjectID, error) {
	return r.readRefLenient(ref)
}

// NotesRef is one notes ref and the notes commit it holds.
type NotesRef struct {
	Name git.ReferenceName
	OID  git.ObjectID
}

// ListNotesRefs returns up to limit notes refs whose names start with
// prefix (a ResolveNotesPrefix result) and sort after after, in name
// order, and whether more follow.
func (r *Repo) ListNotesRefs(ctx context.Context, prefix, after string, limit int) ([]NotesRef, bool, error) {
	var list []NotesRef
	more := false
	err := r.scanRefs(ctx, notesPrefix, func(name string, oid, _ git.ObjectID, _ string) bool {
		if !strings.HasPrefix(name, prefix) || after != "" && name <= after {
			return true
		}
		if len(list) == limit {
			more = true
			return false
		}
		list = append(list, NotesRef{Name: git.ReferenceName(name), OID: oid})
		return true
	})
	if err != nil {
		return nil, false, err
	}
	return list, more, nil
}

// ResolveObject resolves the object a note is about: a full object id
// must name an existing object of any type; anything else is resolved as
// a commit revision (ResolveCommit, normal namespace).
func (r *Repo) ResolveObject(ctx context.Context, rev string) (git.ObjectID, error) {
	if !git.IsFullHex(rev) {
		return r.ResolveCommit(ctx, git.NormalNamespace, rev)
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	info, err := rd.Info(ctx, rev)
	if errors.Is(err, catfile.ErrNotFound) {
		return "", notFound("object", rev)
	}
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", rev, err)
	}
	return info.OID, nil
}

// Note is the note attached to an object.
type Note struct {
	Object git.ObjectID
	Text   string
	// RefCommit is the notes commit the note was read from.
	RefCommit git.ObjectID
}

// maxNoteSize bounds a note read into memory.
const maxNoteSize = 16 << 20

// ReadNote reads the note on object in notes ref ref. A missing notes ref
// or note is a NotFoundError.
func (r *Repo) ReadNote(ctx context.Context, ref git.ReferenceName, object git.ObjectID) (*Note, error) {
	var note *Note
	err := r.readNotes(ctx, ref, func(ed *notesEditor, tip, tree git.ObjectID) error {
		loc, err := ed.locate(tree, object)
		if err != nil || loc.blob == "" {
			return err
		}
		_, data, err := ed.rd.ReadObject(ctx, string(loc.blob), maxNoteSize)
		if err != nil {
			return fmt.Errorf("read note %s: %w", loc.blob, err)
		}
		note = &Note{Object: object, Text: string(data), RefCommit: tip}
		return nil
	})
	if err == nil && note == nil {
		err = notFound("note for", string(object))
	}
	return note, err
}

// readNotes calls read with a reader on the notes commit ref holds, tip,
// and its tree; a missing notes ref has no notes, and read is not called.
func (r *Repo) readNotes(ctx context.Context, ref git.ReferenceName, read func(ed *notesEditor, tip, tree git.ObjectID) error) error {
	tip, err := r.readRefLenient(ref)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return err
	}
	defer release()
	c, err := readCommitWith(ctx, rd, tip)
	if err != nil {
		return err
	}
	return read(&notesEditor{ctx: ctx, rd: rd}, tip, c.Tree)
}

// NoteAction is what a note write does.
type NoteAction string

// The note writes of `git notes add`, `append` and `remove`.
const (
	NoteAdd    NoteAction = "add"
	NoteAppend NoteAction = "append"
	NoteRemove NoteAction = "remove"
)

// NoteWrite is one change to a notes ref.
type NoteWrite struct {
	Ref    git.ReferenceName // a ResolveNotesRef result
	Object git.ObjectID      // a ResolveObject result
	Action NoteAction
	Text   string // add and append
	// Expected, when set, must be the notes ref's commit (git.ZeroOID:
	// the notes ref must not exist yet).
	Expected git.ObjectID
	Author   Signature // committer too; zero When: now
}

// NoteWriteResult describes the notes ref around a write. On failure it
// still reports Base, the value the ref had.
type NoteWriteResult struct {
	Ref    git.ReferenceName
	Object git.ObjectID
	// Base is the notes commit before the write; "" when the ref did not
	// exist.
	Base git.ObjectID
	// New is the notes commit after the write (on failure: Base).
	New git.ObjectID
}

// WriteNote adds, appends to or removes the note on an object with a new
// notes commit whose parent is the previous one, built in-process, and
// moves the notes ref with a compare-and-swap. add on an object that has a
// note is ErrExists; remove without a note is a NotFoundError; a wrong
// Expected is a *PreconditionError. Without Expected, a concurrent writer
// makes it rebuild on the new notes commit; with it, the race is
// ErrConflict.
//
// Texts follow git notes: add stores the text with one final newline;
// append stores the old note without its trailing newlines, a blank line,
// then the text (Q13). The notes tree keeps whatever fanout it has: a note
// goes into existing "ab/" fanout directories on its path and is stored
// flat below them.
func (r *Repo) WriteNote(ctx context.Context, w NoteWrite) (*NoteWriteResult, error) {
	if w.Action != NoteRemove && strings.TrimRight(w.Text, "\n") == "" {
		return nil, invalidf("note text is empty")
	}
	nc := notesCommit{ref: w.Ref, expected: w.Expected, author: w.Author}
	res, err := r.commitNotes(ctx, nc, func(ed *notesEditor, root git.ObjectID) (git.ObjectID, string, error) {
		return ed.writeNote(root, w)
	})
	if res != nil {
		res.Object = w.Object
	}
	return res, err
}

// writeNote makes w's change to the notes tree root, keeping its fanout,
// and returns the new tree and the commit message git notes would write.
func (ed *notesEditor) writeNote(root git.ObjectID, w NoteWrite) (git.ObjectID, string, error) {
	loc, err := ed.locate(root, w.Object)
	if err != nil {
		return "", "", err
	}
	var blob git.ObjectID // "" removes the note
	var message string
	switch w.Action {
	case NoteAdd:
		if loc.blob != "" {
			return "", "", fmt.Errorf("%w: object %s already has a note in %s (append, or remove it first)", ErrExists, w.Object, w.Ref)
		}
		message = "Notes added by 'git notes add'\n"
		blob, err = ed.tx.WriteObject(git.BlobObject, []byte(strings.TrimRight(w.Text, "\n")+"\n"))
	case NoteAppend:
		text := strings.TrimRight(w.Text, "\n") + "\n"
		if loc.blob != "" {
			_, data, rerr := ed.rd.ReadObject(ed.ctx, string(loc.blob), maxNoteSize)
			if rerr != nil {
				return "", "", fmt.Errorf("read note %s: %w", loc.blob, rerr)
			}
			if prev := strings.TrimRight(string(data), "\n"); prev != "" {
				text = prev + "\n\n" + text
			}
		}
		message = "Notes added by 'git notes append'\n"
		blob, err = ed.tx.WriteObject(git.BlobObject, []byte(text))
	case NoteRemove:
		if loc.blob == "" {
			return "", "", notFound("note for", string(w.Object))
		}
		message = "Notes removed by 'git notes remove'\n"
	default:
		return "", "", invalidf("unknown note action %q", w.Action)
	}
	if err != nil {
		return "", "", fmt.Errorf("write note: %w", err)
	}
	tree, err := ed.apply(root, loc, blob)
	return tree, message, err
}

// notesCommit is what every notes write has: the ref it moves, the
// compare-and-swap expectation, the author and, optionally, a reflog
// message.
type notesCommit struct {
	ref      git.ReferenceName
	expected git.ObjectID // "": none; git.ZeroOID: the ref must not exist
	author   Signature    // committer too; zero When: now
	reflog   string       // "": no reflog entry
}

// notesChange builds a new notes tree from the current one, root ("" when
// the notes ref does not exist yet), writing objects through ed.tx, and
// names the notes commit's message.
type notesChange func(ed *notesEditor, root git.ObjectID) (tree git.ObjectID, message string, err error)

// commitNotes is the one write path of notes refs: change makes a notes
// commit on the current tip, and the ref moves with a compare-and-swap.
// Without nc.expected, a concurrent writer makes it rebuild on the new tip;
// with it, the race is ErrConflict and a different tip is a
// *PreconditionError.
func (r *Repo) commitNotes(ctx context.Context, nc notesCommit, change notesChange) (*NoteWriteResult, error) {
	if nc.author.When.IsZero() {
		nc.author.When = time.Now().UTC().Truncate(time.Second)
	}
	unlock, err := r.queue(ctx, nc.ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		res, err := r.commitNotesOnce(ctx, nc, change)
		if err == nil || !errors.Is(err, ErrConflict) || nc.expected != "" || attempt >= maxCommitRetries {
			return res, err
		}
	}
}

// notesBase reads the notes ref a write starts from (git.ZeroOID when it
// does not exist) and checks it against expected; the result reports it
// as both Base and New.
func (r *Repo) notesBase(ref git.ReferenceName, expected git.ObjectID) (*NoteWriteResult, git.ObjectID, error) {
	res := &NoteWriteResult{Ref: ref}
	old, err := r.readRefLenient(ref)
	switch {
	case err == nil:
		res.Base, res.New = old, old
	case errors.Is(err, ErrNotFound):
		old = git.ZeroOID
	default:
		return nil, "", err
	}
	if expected != "" && expected != old {
		return res, old, &PreconditionError{Ref: ref, Expected: expected, Actual: old}
	}
	return res, old, nil
}

func (r *Repo) commitNotesOnce(ctx context.Context, nc notesCommit, change notesChange) (*NoteWriteResult, error) {
	res, old, err := r.notesBase(nc.ref, nc.expected)
	if err != nil {
		return res, err
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	root := git.ObjectID("")
	if !old.IsZero() {
		c, err := readCommitWith(ctx, rd, old)
		if err != nil {
			return nil, err
		}
		root = c.Tree
	}
	tx, err := odb.NewWriter(r.path).Begin()
	if err != nil {
		return nil, fmt.Errorf("begin notes commit: %w", err)
	}
	defer tx.Abort() // no-op after Commit
	tree, message, err := change(&notesEditor{ctx: ctx, rd: rd, tx: tx}, root)
	if errors.Is(err, ErrExists) {
		return res, err // a refused add reports the base, as a precondition does
	}
	if err != nil {
		return nil, err
	}
	var parents []git.ObjectID
	if !old.IsZero() {
		parents = []git.ObjectID{old}
	}
	sig := odb.Signature{Name: nc.author.Name, Email: nc.author.Email, When: nc.author.When}
	raw, err := odb.EncodeCommit(odb.Commit{Tree: tree, Parents: parents, Author: sig, Committer: sig, Message: message})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	commit, err := tx.WriteObject(git.CommitObject, raw)
	if err != nil {
		return nil, fmt.Errorf("write notes commit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("write notes commit: %w", err)
	}
	var log *refs.Reflog
	if nc.reflog != "" {
		log = &refs.Reflog{Message: nc.reflog, Name: nc.author.Name, Email: nc.author.Email}
	}
	if err := r.applyRefs(ctx, log, "", nil, []refs.Update{{Ref: nc.ref, Old: old, New: commit}}); err != nil {
		if isRefNameClash(err) {
			return nil, invalidf("notes ref %s clashes with an existing notes ref", nc.ref)
		}
		return res, err
	}
	res.New = commit
	return res, nil
}

// notesLocation is where a note is, or would go, in a notes tree.
type notesLocation struct {
	dirs []string // fanout directories from the root ("ab", "cd")
	name string   // the entry name in the last directory
	blob git.ObjectID
}

type notesEditor struct {
	ctx context.Context
	rd  *catfile.Reader
	tx  *odb.Transaction // nil when only reading
}

func (ed *notesEditor) readTree(oid git.ObjectID) ([]odb.TreeEntry, error) {
	if oid == "" {
		return nil, nil
	}
	info, data, err := ed.rd.ReadObject(ed.ctx, string(oid), maxTreeSize)
	if err != nil {
		return nil, fmt.Errorf("read notes tree %s: %w", oid, err)
	}
	if info.Type != git.TreeObject {
		return nil, fmt.Errorf("read notes tree %s: object is a %s", oid, info.Type)
	}
	list, err := odb.ParseTree(data)
	if err != nil {
		return nil, fmt.Errorf("parse notes tree %s: %w", oid, err)
	}
	return list, nil
}

// locate finds the note on object below root, reading git's fanout: at
// each level a note is an entry named by the rest of the hex id, or lives
// in a directory named by its next two hex digits.
func (ed *notesEditor) locate(root git.ObjectID, object git.ObjectID) (notesLocation, error) {
	var loc notesLocation
	hex := string(object)
	tree := root
	for {
		list, err := ed.readTree(tree)
		if err != nil {
			return loc, err
		}
		var sub git.ObjectID
		for _, e := range list {
			if e.Name == hex && e.Mode != odb.ModeTree {
				loc.name, loc.blob = hex, e.OID
				return loc, nil
			}
			if len(hex) > 2 && e.Name == hex[:2] && e.Mode == odb.ModeTree {
				sub = e.OID
			}
		}
		if sub == "" {
			loc.name = hex
			return loc, nil
		}
		loc.dirs = append(loc.dirs, hex[:2])
		hex = hex[2:]
		tree = sub
	}
}

// apply sets (blob != "") or removes the entry at loc and writes the
// changed trees bottom-up; a fanout directory left empty disappears.
func (ed *notesEditor) apply(root git.ObjectID, loc notesLocation, blob git.ObjectID) (git.ObjectID, error) {
	trees := []git.ObjectID{root}
	lists := make([][]odb.TreeEntry, 0, len(loc.dirs)+1)
	for i, d := range loc.dirs {
		list, err := ed.readTree(trees[i])
		if err != nil {
			return "", err
		}
		lists = append(lists, list)
		var next git.ObjectID
		for _, e := range list {
			if e.Name == d && e.Mode == odb.ModeTree {
				next = e.OID
			}
		}
		trees = append(trees, next)
	}
	last, err := ed.readTree(trees[len(trees)-1])
	if err != nil {
		return "", err
	}
	lists = append(lists, last)
	// From the deepest directory up, replace the changed entry.
	name, oid, mode := loc.name, blob, odb.ModeFile
	for level := len(lists) - 1; level >= 0; level-- {
		list := setEntry(lists[level], name, mode, oid)
		if len(list) == 0 && level > 0 {
			oid = "" // an emptied fanout directory goes away
		} else {
			raw, err := odb.EncodeTree(list)
			if err != nil {
				return "", fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			if oid, err = ed.tx.WriteObject(git.TreeObject, raw); err != nil {
				return "", fmt.Errorf("write notes tree: %w", err)
			}
		}
		if level > 0 {
			name, mode = loc.dirs[level-1], odb.ModeTree
		}
	}
	return oid, nil
}

// setEntry returns list with name set to (mode, oid), or removed when oid
// is "".
func setEntry(list []odb.TreeEntry, name, mode string, oid git.ObjectID) []odb.TreeEntry {
	out := make([]odb.TreeEntry, 0, len(list)+1)
	for _, e := range list {
		if e.Name != name {
			out = append(out, e)
		}
	}
	if oid != "" {
		out = append(out, odb.TreeEntry{Mode: mode, Name: name, OID: oid})
	}
	return out
}

// NoteEdit is one change of an EditNotes commit: set the note on Object
// to Text, or remove it.
type NoteEdit struct {
	Object git.ObjectID
	Text   string
	Remove bool
}

// NotesEdit is a set of note changes made as one notes commit.
type NotesEdit struct {
	Ref git.ReferenceName // a ResolveNotesRef result
	// Edits apply in order: the last one for an object wins.
	Edits   []NoteEdit
	Message string
	// Expected, when set, must be the notes ref's commit (git.ZeroOID:
	// the notes ref must not exist yet).
	Expected git.ObjectID
	Author   Signature // committer too; zero When: now
	// Reflog, when set, is the reflog message of the ref's move, by
	// Author (the ref's reflog is created if it has none).
	Reflog string
}

// EditNotes commits edits to a notes ref in one notes commit whose parent
// is the previous one, and moves the ref with a compare-and-swap; a
// concurrent writer makes it rebuild on the new tip unless Expected is
// set. Unlike WriteNote it stores texts verbatim and writes flat: every
// note it sets or removes is first taken out of any fanout directory
// (emptied ones disappear), and a set note is a root entry named by the
// full hex id — the layout of the vfs library's notes, which git reads
// too. Removing a note that does not exist is a NotFoundError and
// nothing is committed. With no edits it returns the current state.
func (r *Repo) EditNotes(ctx context.Context, e NotesEdit) (*NoteWriteResult, error) {
	for _, ed := range e.Edits {
		if !git.IsFullHex(string(ed.Object)) {
			return nil, invalidf("note object %q is not a full object id", trunc(string(ed.Object), 100))
		}
	}
	if len(e.Edits) == 0 {
		res, _, err := r.notesBase(e.Ref, e.Expected)
		return res, err
	}
	nc := notesCommit{ref: e.Ref, expected: e.Expected, author: e.Author, reflog: e.Reflog}
	return r.commitNotes(ctx, nc, func(ed *notesEditor, root git.ObjectID) (git.ObjectID, string, error) {
		tree, err := ed.editFlat(root, e.Edits)
		return tree, e.Message, err
	})
}

// editFlat applies edits to the notes tree root in the flat layout (see
// EditNotes) and returns the new tree.
func (ed *notesEditor) editFlat(root git.ObjectID, edits []NoteEdit) (git.ObjectID, error) {
	// Last op wins: only each object's final edit matters.
	final := map[git.ObjectID]NoteEdit{}
	var order []git.ObjectID
	for _, e := range edits {
		if _, seen := final[e.Object]; !seen {
			order = append(order, e.Object)
		}
		final[e.Object] = e
	}
	dir := &notesDir{oid: root}
	for _, obj := range order {
		edit := final[obj]
		found, err := ed.purge(dir, string(obj))
		if err != nil {
			return "", err
		}
		if edit.Remove {
			if !found {
				return "", notFound("note for", string(obj))
			}
			continue
		}
		blob, err := ed.tx.WriteObject(git.BlobObject, []byte(edit.Text))
		if err != nil {
			return "", fmt.Errorf("write note: %w", err)
		}
		dir.entries = append(dir.entries, odb.TreeEntry{Mode: odb.ModeFile, Name: string(obj), OID: blob})
	}
	return ed.writeDir(dir, true)
}

// notesDir is one directory of a notes tree being edited: its entries,
// read on first use, and the fanout subdirectories opened for editing.
type notesDir struct {
	oid     git.ObjectID // as read; "" for none
	loaded  bool
	entries []odb.TreeEntry
	subs    map[string]*notesDir
}

func (ed *notesEditor) load(d *notesDir) error {
	if d.loaded {
		return nil
	}
	list, err := ed.readTree(d.oid)
	if err != nil {
		return err
	}
	d.entries, d.loaded = list, true
	return nil
}

// purge removes the note for the hex id rest from d and, recursively,
// from the fanout directories named by its leading digit pairs, and
// reports whether there was one.
func (ed *notesEditor) purge(d *notesDir, rest string) (bool, error) {
	if err := ed.load(d); err != nil {
		return false, err
	}
	found := false
	var sub git.ObjectID
	kept := d.entries[:0]
	for _, e := range d.entries {
		switch {
		case e.Name == rest && e.Mode != odb.ModeTree:
			found = true
			continue
		case len(rest) > 2 && e.Name == rest[:2] && e.Mode == odb.ModeTree:
			sub = e.OID
		}
		kept = append(kept, e)
	}
	d.entries = kept
	if sub == "" {
		return found, nil
	}
	if d.subs == nil {
		d.subs = map[string]*notesDir{}
	}
	child := d.subs[rest[:2]]
	if child == nil {
		child = &notesDir{oid: sub}
		d.subs[rest[:2]] = child
	}
	inner, err := ed.purge(child, rest[2:])
	return found || inner, err
}

// writeDir writes d and the subdirectories opened in it bottom-up and
// returns its tree id; an emptied fanout directory ("" returned) is
// dropped from its parent. The root is always written.
func (ed *notesEditor) writeDir(d *notesDir, root bool) (git.ObjectID, error) {
	if !d.loaded {
		return d.oid, nil
	}
	list := d.entries
	for name, sub := range d.subs {
		oid, err := ed.writeDir(sub, false)
		if err != nil {
			return "", err
		}
		list = setEntry(list, name, odb.ModeTree, oid)
	}
	if len(list) == 0 && !root {
		return "", nil
	}
	raw, err := odb.EncodeTree(list)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	oid, err := ed.tx.WriteObject(git.TreeObject, raw)
	if err != nil {
		return "", fmt.Errorf("write notes tree: %w", err)
	}
	return oid, nil
}

// ListNotes returns the objects that have a note in the notes ref, in
// hex order, reading flat and fanout layouts alike. A missing notes ref
// has none.
func (r *Repo) ListNotes(ctx context.Context, ref git.ReferenceName) ([]git.ObjectID, error) {
	var out []git.ObjectID
	err := r.readNotes(ctx, ref, func(ed *notesEditor, _, tree git.ObjectID) error {
		return ed.collect(tree, "", &out)
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// collect appends the objects with a note in tree, whose fanout path
// spells prefix, to out.
func (ed *notesEditor) collect(tree git.ObjectID, prefix string, out *[]git.ObjectID) error {
	list, err := ed.readTree(tree)
	if err != nil {
		return err
	}
	for _, e := range list {
		name := prefix + e.Name
		switch {
		case e.Mode == odb.ModeTree && len(e.Name) == 2 && len(name) < git.HexLen && isLowerHex(e.Name):
			if err := ed.collect(e.OID, name, out); err != nil {
				return err
			}
		case e.Mode != odb.ModeTree && len(name) == git.HexLen && isLowerHex(name):
			*out = append(*out, git.ObjectID(name))
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
