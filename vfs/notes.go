package vfs

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// Notes are the store's git notes, one namespace per notes ref.
type Notes struct{ s *Store }

// Notes returns the store's notes.
func (s *Store) Notes() *Notes { return &Notes{s: s} }

// Namespace returns the notes namespace name, the notes ref
// refs/notes/<name> ("" means "commits", git's default). An invalid name
// makes every method of the namespace fail with an error wrapping
// ErrInvalid.
func (n *Notes) Namespace(name string) *NoteNamespace {
	if name == "" {
		name = "commits"
	}
	ns := &NoteNamespace{s: n.s, name: name}
	ref, err := repo.ResolveNotesRef(name)
	if err != nil {
		ns.err = errorf(ErrInvalid, "Invalid notes namespace: '%s'", name)
	} else {
		ns.ref = ref
	}
	return ns
}

// NoteNamespace maps commit ids (40 lowercase hex digits) to note texts in
// one notes ref. Notes are read in git's flat and fanout layouts alike and
// written flat, any fanout entry for the commit removed, so `git notes`
// reads what it writes and the other way round. Every Set and Delete is
// one notes commit whose parent is the previous notes commit; the notes
// ref moves by compare-and-swap, so concurrent writers never lose each
// other's notes.
type NoteNamespace struct {
	s    *Store
	name string
	ref  git.ReferenceName
	err  error
}

// Name is the namespace's name ("commits").
func (ns *NoteNamespace) Name() string { return ns.name }

// Ref is the namespace's notes ref ("refs/notes/commits").
func (ns *NoteNamespace) Ref() string { return string(ns.ref) }

// checkCommitKey validates a note key as gitstore v0.57 does: a full
// lowercase hex commit id, never a branch name or abbreviation.
func checkCommitKey(commit string) error {
	if len(commit) != git.HexLen || !isLowerHexString(commit) {
		return errorf(ErrInvalid, "Invalid commit hash: '%s' (must be 40-char lowercase hex)", commit)
	}
	return nil
}

func isLowerHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func noteNotFound(commit string) error {
	return errorf(ErrNotFound, "No note for commit %s", commit)
}

// Get returns the note on commit; a missing note is an error wrapping
// ErrNotFound.
func (ns *NoteNamespace) Get(commit string) (string, error) {
	if ns.err != nil {
		return "", ns.err
	}
	if err := checkCommitKey(commit); err != nil {
		return "", err
	}
	n, err := ns.s.repo.ReadNote(context.Background(), ns.ref, git.ObjectID(commit))
	if errors.Is(err, repo.ErrNotFound) {
		return "", noteNotFound(commit)
	}
	if err != nil {
		return "", fmt.Errorf("read note %s: %w", commit, err)
	}
	return n.Text, nil
}

// Has reports whether commit has a note; an invalid commit id has none.
func (ns *NoteNamespace) Has(commit string) (bool, error) {
	if ns.err != nil {
		return false, ns.err
	}
	if checkCommitKey(commit) != nil {
		return false, nil
	}
	_, err := ns.Get(commit)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Set sets the note on commit to text (stored verbatim, UTF-8) in a new
// notes commit "Notes added by 'git notes' on <short id>".
func (ns *NoteNamespace) Set(commit, text string) error {
	if err := ns.checkSet(commit, text); err != nil {
		return err
	}
	return ns.commit([]repo.NoteEdit{{Object: git.ObjectID(commit), Text: text}},
		"Notes added by 'git notes' on "+commit[:7])
}

// Delete removes the note on commit in a new notes commit "Notes removed
// by 'git notes' on <short id>"; a missing note is an error wrapping
// ErrNotFound.
func (ns *NoteNamespace) Delete(commit string) error {
	if ns.err != nil {
		return ns.err
	}
	if err := checkCommitKey(commit); err != nil {
		return err
	}
	return ns.commit([]repo.NoteEdit{{Object: git.ObjectID(commit), Remove: true}},
		"Notes removed by 'git notes' on "+commit[:7])
}

func (ns *NoteNamespace) checkSet(commit, text string) error {
	if ns.err != nil {
		return ns.err
	}
	if err := checkCommitKey(commit); err != nil {
		return err
	}
	if !utf8.ValidString(text) {
		return errorf(ErrInvalid, "Note text for %s is not valid UTF-8", commit)
	}
	return nil
}

// commit makes edits one notes commit; the reflog says what the commit
// message says, as in gitstore.
func (ns *NoteNamespace) commit(edits []repo.NoteEdit, message string) error {
	sig := ns.s.signatureNow()
	_, err := ns.s.repo.EditNotes(context.Background(), repo.NotesEdit{
		Ref:     ns.ref,
		Edits:   edits,
		Message: message,
		Reflog:  message,
		Author:  repo.Signature{Name: sig.Name, Email: sig.Email, When: sig.When},
	})
	var nf *repo.NotFoundError
	if errors.As(err, &nf) {
		return noteNotFound(nf.Name)
	}
	if err != nil {
		return fmt.Errorf("write notes %s: %w", ns.ref, err)
	}
	return nil
}

// List returns the commits that have a note, sorted.
func (ns *NoteNamespace) List() ([]string, error) {
	if ns.err != nil {
		return nil, ns.err
	}
	oids, err := ns.s.repo.ListNotes(context.Background(), ns.ref)
	if err != nil {
		return nil, fmt.Errorf("list notes %s: %w", ns.ref, err)
	}
	out := make([]string, len(oids))
	for i, o := range oids {
		out[i] = string(o)
	}
	return out, nil
}

// currentCommit is the tip of HEAD's branch.
func (ns *NoteNamespace) currentCommit() (string, error) {
	if ns.err != nil {
		return "", ns.err
	}
	cur, err := ns.s.Branches().Current()
	if err != nil {
		return "", err
	}
	if cur == nil {
		return "", errorf(ErrNotFound, "HEAD is dangling — no current branch")
	}
	return cur.Hash(), nil
}

// GetCurrent returns the note on the tip of HEAD's branch.
func (ns *NoteNamespace) GetCurrent() (string, error) {
	h, err := ns.currentCommit()
	if err != nil {
		return "", err
	}
	return ns.Get(h)
}

// SetCurrent sets the note on the tip of HEAD's branch.
func (ns *NoteNamespace) SetCurrent(text string) error {
	h, err := ns.currentCommit()
	if err != nil {
		return err
	}
	return ns.Set(h, text)
}

// Batch starts a set of note changes committed together.
func (ns *NoteNamespace) Batch() *NotesBatch { return &NotesBatch{ns: ns} }

// NotesBatch collects Sets and Deletes and commits them as one notes
// commit "Notes batch update (N changes)", N the number of commits
// touched. For each commit the last operation wins; a Delete of a note
// that does not exist fails the Commit, which then changes nothing. A
// batch is used by one goroutine, and is finished by Commit or Abort.
type NotesBatch struct {
	ns     *NoteNamespace
	edits  []repo.NoteEdit
	closed bool
}

func (b *NotesBatch) check() error {
	if b.closed {
		return errBatchClosed
	}
	return nil
}

// Set queues setting the note on commit to text.
func (b *NotesBatch) Set(commit, text string) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := b.ns.checkSet(commit, text); err != nil {
		return err
	}
	b.edits = append(b.edits, repo.NoteEdit{Object: git.ObjectID(commit), Text: text})
	return nil
}

// Delete queues removing the note on commit.
func (b *NotesBatch) Delete(commit string) error {
	if err := b.check(); err != nil {
		return err
	}
	if b.ns.err != nil {
		return b.ns.err
	}
	if err := checkCommitKey(commit); err != nil {
		return err
	}
	b.edits = append(b.edits, repo.NoteEdit{Object: git.ObjectID(commit), Remove: true})
	return nil
}

// Commit writes the queued changes as one notes commit; with none it
// writes nothing. The batch is closed afterwards, whatever the outcome.
func (b *NotesBatch) Commit() error {
	if err := b.check(); err != nil {
		return err
	}
	b.closed = true
	if len(b.edits) == 0 {
		return nil
	}
	touched := map[git.ObjectID]bool{}
	for _, e := range b.edits {
		touched[e.Object] = true
	}
	return b.ns.commit(b.edits, fmt.Sprintf("Notes batch update (%d changes)", len(touched)))
}

// Abort drops the queued changes and closes the batch.
func (b *NotesBatch) Abort() {
	b.closed = true
	b.edits = nil
}
