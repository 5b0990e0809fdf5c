package repo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
)

// Write collects the blobs of one commit before the commit is made. Blobs
// are streamed into temporary object files as they arrive; nothing becomes
// visible until CommitChanges succeeds. Abort it if the commit is not made.
type Write struct {
	tx      *odb.Transaction
	maxBlob int64
}

// BeginWrite starts collecting blobs.
func (r *Repo) BeginWrite() (*Write, error) {
	tx, err := odb.NewWriter(r.path).Begin()
	if err != nil {
		return nil, fmt.Errorf("begin write in %s: %w", r.key, err)
	}
	return &Write{tx: tx, maxBlob: r.maxBlob()}, nil
}

// NewBlob streams one blob of unknown size; a blob growing past
// Limits.MaxBlobBytes fails its Write with an *odb.BlobTooLargeError.
func (w *Write) NewBlob() *odb.BlobWriter { return w.tx.NewBlob().Limit(w.maxBlob) }

// Abort discards everything written.
func (w *Write) Abort() { w.tx.Abort() }

// FileChange is one entry of a commit: an upsert of a blob at Path with
// Mode, or the deletion of the file or directory at Path.
type FileChange struct {
	Path   string // CleanPath'ed
	Delete bool
	Mode   string // "100644", "100755", "120000" or "160000"
	OID    git.ObjectID
}

// CommitRequest describes a commit on a branch.
type CommitRequest struct {
	Namespace git.Namespace
	Branch    string
	// BaseNamespace/BaseBranch seed Branch when it does not exist yet.
	BaseNamespace git.Namespace
	BaseBranch    string
	// ExpectedHead, when set, must be the branch tip (or the base tip when
	// the branch is created).
	ExpectedHead git.ObjectID
	Changes      []FileChange
	// Tree, when set, replaces the parent's tree wholesale (restore).
	Tree      git.ObjectID
	Author    Signature
	Committer Signature // zero Name: same as Author
	Message   string
	// checked: Tree's special files already passed checkWrite's rules
	// (a patch is checked before write-tree).
	checked bool
}

// CommitResult is a successful commit.
type CommitResult struct {
	Commit    git.ObjectID
	Tree      git.ObjectID
	Old       git.ObjectID // previous tip, ZeroOID when created
	PackBytes int64
	BlobCount int
}

// Target is where a commit will land: the ref, its parent and the value
// the ref must still have for the compare-and-swap.
type Target struct {
	Ref    git.ReferenceName
	Parent git.ObjectID // ZeroOID: root commit
	Old    git.ObjectID // ZeroOID: the ref is created
}

// ResolveTarget applies spec §5.6.4's parent rules. Callers use it before a
// long upload to fail fast; CommitChanges calls it again at commit time.
func (r *Repo) ResolveTarget(ctx context.Context, req CommitRequest) (Target, error) {
	ref := git.NewBranchReferenceName(req.Namespace, req.Branch)
	tip, err := r.ReadRef(ref)
	switch {
	case err == nil:
		if req.ExpectedHead != "" && req.ExpectedHead != tip {
			return Target{}, &PreconditionError{Ref: ref, Expected: req.ExpectedHead, Actual: tip}
		}
		return Target{Ref: ref, Parent: tip, Old: tip}, nil
	case !errors.Is(err, ErrNotFound):
		return Target{}, err
	}
	if req.BaseBranch != "" {
		base, err := r.ResolveBranch(req.BaseNamespace, req.BaseBranch)
		if err != nil {
			return Target{}, err
		}
		if req.ExpectedHead != "" && req.ExpectedHead != base {
			return Target{}, &PreconditionError{Ref: ref, Expected: req.ExpectedHead, Actual: base}
		}
		return Target{Ref: ref, Parent: base, Old: git.ZeroOID}, nil
	}
	has, err := r.HasRefs(ctx)
	if err != nil {
		return Target{}, err
	}
	if has {
		return Target{}, notFound("branch", req.Branch)
	}
	if req.ExpectedHead != "" {
		return Target{}, &PreconditionError{Ref: ref, Expected: req.ExpectedHead, Actual: git.ZeroOID}
	}
	return Target{Ref: ref, Parent: git.ZeroOID, Old: git.ZeroOID}, nil
}

// maxCommitRetries bounds how often a commit without an expected head is
// rebuilt on a tip that moved underneath it.
const maxCommitRetries = 8

// CommitChanges makes a commit from w's blobs and req's changes and moves
// the branch to it with a compare-and-swap. Objects are durable before the
// ref moves, and the ref is durable before CommitChanges returns. Writers
// of this server take turns at the branch (Repo.queue). When a writer
// outside them moves the branch first and the caller gave no expected
// head, the commit is rebuilt on the new tip; with an expected head the
// caller gets ErrConflict.
func (r *Repo) CommitChanges(ctx context.Context, w *Write, req CommitRequest) (*CommitResult, error) {
	unlock, err := r.queue(ctx, git.NewBranchReferenceName(req.Namespace, req.Branch))
	if err != nil {
		w.Abort()
		return nil, err
	}
	defer unlock()
	return r.commitChanges(ctx, w, req)
}

// commitChanges is CommitChanges for a caller in the branch's queue.
func (r *Repo) commitChanges(ctx context.Context, w *Write, req CommitRequest) (*CommitResult, error) {
	now := time.Now().UTC().Truncate(time.Second)
	if req.Author.When.IsZero() {
		req.Author.When = now
	}
	if req.Committer.Name == "" {
		req.Committer = req.Author
	}
	if req.Committer.When.IsZero() {
		req.Committer.When = now
	}
	message := req.Message
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}
	// The first attempt writes its trees and commit into the blobs'
	// transaction, so one round of fsyncs covers everything. A retry (the
	// tip moved) writes only new trees and a new commit.
	tx := w.tx
	// Whatever happens, nothing of a failed attempt stays behind (Abort
	// after Commit is a no-op).
	defer w.tx.Abort()
	var blobs int
	var packBytes int64
	for attempt := 0; ; attempt++ {
		target, err := r.ResolveTarget(ctx, req)
		if err != nil {
			return nil, err
		}
		if attempt > 0 {
			if tx, err = odb.NewWriter(r.path).Begin(); err != nil {
				return nil, fmt.Errorf("begin commit: %w", err)
			}
			defer tx.Abort()
		}
		tree := req.Tree
		if tree == "" {
			tree, err = r.buildTree(ctx, tx, target.Parent, req.Changes)
			if err != nil {
				return nil, err
			}
		}
		var parents []git.ObjectID
		if !target.Parent.IsZero() {
			parents = []git.ObjectID{target.Parent}
		}
		raw, err := odb.EncodeCommit(odb.Commit{
			Tree:      tree,
			Parents:   parents,
			Author:    odb.Signature{Name: req.Author.Name, Email: req.Author.Email, When: req.Author.When},
			Committer: odb.Signature{Name: req.Committer.Name, Email: req.Committer.Email, When: req.Committer.When},
			Message:   message,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		commit, err := tx.WriteObject(git.CommitObject, raw)
		if err != nil {
			return nil, fmt.Errorf("write commit: %w", err)
		}
		r.remember(commit, raw)
		if attempt == 0 { // the git fsck rules a push gets (fsck.go)
			if err := r.checkWrite(ctx, req, target.Parent, tree, tx); err != nil {
				return nil, err
			}
		}
		// The objects' last sync runs while git prepares the ref update.
		objectsSynced, err := tx.CommitVisible()
		if err != nil {
			return nil, fmt.Errorf("write commit: %w", err)
		}
		_, n, written := tx.Stats()
		if attempt == 0 {
			blobs = n
		}
		packBytes += written
		err = r.applyRefs(ctx, nil, writtenPack(tx, attempt, req), objectsSynced, []refs.Update{{Ref: target.Ref, Old: target.Old, New: commit}})
		if err == nil {
			return &CommitResult{Commit: commit, Tree: tree, Old: target.Old, PackBytes: packBytes, BlobCount: blobs}, nil
		}
		if !errors.Is(err, ErrConflict) || req.ExpectedHead != "" || attempt >= maxCommitRetries {
			return nil, err
		}
		if err := retryPause(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// writtenPack is the pack of tx when it holds every object the commit adds
// to what its parent reaches, "" otherwise. That holds for a first attempt
// that built its tree from the parent's (not a given Tree, which may name
// anything), wrote every blob it names (not one found elsewhere) and found
// none of its objects already stored loose: then each object of the new
// commit is either in tx's pack or reached from the parent. A retry writes
// a second pack (its trees and commit beside the first's blobs).
func writtenPack(tx *odb.Transaction, attempt int, req CommitRequest) string {
	if attempt > 0 || req.Tree != "" || tx.Reused() {
		return ""
	}
	for _, c := range req.Changes {
		if !c.Delete && c.Mode != "160000" && !tx.Holds(c.OID) {
			return ""
		}
	}
	return tx.Pack()
}

// retryPause waits a random time below 2^attempt ms before the next try at
// a contended ref, so that writers who keep losing to the same rival (on
// one node, or a slower round trip on another node of a cluster) stop
// retrying in step with it.
func retryPause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(time.Millisecond) << attempt)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// buildTree applies changes to parent's tree and writes the new trees.
func (r *Repo) buildTree(ctx context.Context, tx *odb.Transaction, parent git.ObjectID, changes []FileChange) (git.ObjectID, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	base := git.ObjectID("")
	if !parent.IsZero() {
		c, err := r.readParent(ctx, rd, parent)
		if err != nil {
			return "", err
		}
		base = c.Tree
	}
	return r.editTree(ctx, rd, tx, base, changes)
}

// readParent reads the commit a new one builds on, from memory when this
// process wrote it.
func (r *Repo) readParent(ctx context.Context, rd *catfile.Reader, oid git.ObjectID) (*Commit, error) {
	if raw, ok := r.recall(oid); ok {
		return ParseCommit(oid, raw)
	}
	return readCommitWith(ctx, rd, oid)
}

// remember keeps a tree or commit just written for the next commit to
// edit. Being content-addressed, the entry is true whether or not the
// write completes; and it is only ever asked for ids reached from a ref,
// which exist in the repository.
func (r *Repo) remember(oid git.ObjectID, raw []byte) {
	if len(raw) <= maxRememberedObject {
		r.memo.written.put(r.writtenKey(oid), raw, int64(len(raw)))
	}
}

// recall returns the tree or commit oid if remember kept it.
func (r *Repo) recall(oid git.ObjectID) ([]byte, bool) {
	return r.memo.written.get(r.writtenKey(oid))
}

func (r *Repo) writtenKey(oid git.ObjectID) string { return r.key + "\x00" + string(oid) }

// maxRememberedObject bounds what remember keeps: the trees of a few
// commits' paths, not a huge directory.
const maxRememberedObject = 1 << 20

// BuildTree applies changes to the tree base (zero: the empty tree) and
// writes the new trees into w, reading only the trees on the changed
// paths. Writing a/b where a is a file replaces the file with a directory;
// directories left empty disappear. The result may be the empty tree, which
// is then written too, so a commit can always name it.
func (r *Repo) BuildTree(ctx context.Context, w *Write, base git.ObjectID, changes []FileChange) (git.ObjectID, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	if base == git.EmptyTreeOID {
		base = ""
	}
	tree, err := r.editTree(ctx, rd, w.tx, base, changes)
	if err != nil {
		return "", err
	}
	if tree == "" || tree == git.EmptyTreeOID {
		return w.tx.WriteObject(git.TreeObject, nil)
	}
	return tree, nil
}

// WriteCommit encodes c and writes it into w.
func (w *Write) WriteCommit(c odb.Commit) (git.ObjectID, error) {
	raw, err := odb.EncodeCommit(c)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	oid, err := w.tx.WriteObject(git.CommitObject, raw)
	if err != nil {
		return "", fmt.Errorf("write commit: %w", err)
	}
	return oid, nil
}

// Commit makes every object written into w durable and visible; only then
// may a ref point at them.
func (w *Write) Commit() error {
	if err := w.tx.Commit(); err != nil {
		return fmt.Errorf("write objects: %w", err)
	}
	return nil
}

// editTree applies changes to the tree base ("" = empty) and returns the
// new root tree ("" when it stayed empty and nothing was written).
func (r *Repo) editTree(ctx context.Context, rd *catfile.Reader, tx *odb.Transaction, base git.ObjectID, changes []FileChange) (git.ObjectID, error) {
	var err error
	root := &treeNode{oid: base, loaded: base == ""}
	ed := &treeEditor{ctx: ctx, rd: rd, tx: tx, repo: r}
	for _, ch := range changes {
		if ch.Delete {
			err = ed.remove(root, strings.Split(ch.Path, "/"))
		} else {
			err = ed.upsert(root, strings.Split(ch.Path, "/"), ch.Mode, ch.OID)
		}
		if err != nil {
			return "", err
		}
	}
	return ed.write(root)
}

const treeMode = "40000"

// treeNode is a directory being edited. It keeps its stored content as it
// is and only the entries looked at or changed apart, so a commit touching
// one file reads only the trees on that file's path, decodes one entry in
// each, and copies the others as they are (odb.SpliceTree).
type treeNode struct {
	oid    git.ObjectID
	raw    []byte // the stored tree's content, once loaded
	loaded bool
	dirty  bool
	// entries are the entries looked up or changed: a nil entry is
	// removed. Only a dirty node's are written.
	entries map[string]*treeEntry
}

type treeEntry struct {
	mode string
	oid  git.ObjectID
	sub  *treeNode // set once a directory is descended into
	// stored: the entry is as the node's stored content has it, unless
	// sub has changed since.
	stored bool
}

type treeEditor struct {
	ctx  context.Context
	rd   *catfile.Reader
	tx   *odb.Transaction
	repo *Repo
}

const maxTreeSize = 64 << 20

func (ed *treeEditor) load(n *treeNode) error {
	if n.loaded {
		return nil
	}
	if raw, ok := ed.repo.recall(n.oid); ok {
		n.raw, n.loaded = raw, true
		return nil
	}
	info, data, err := ed.rd.ReadObject(ed.ctx, string(n.oid), maxTreeSize)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", n.oid, err)
	}
	if info.Type != git.TreeObject {
		return fmt.Errorf("read tree %s: object is a %s", n.oid, info.Type)
	}
	n.raw, n.loaded = data, true
	return nil
}

// entry returns n's entry called name, nil when there is none.
func (ed *treeEditor) entry(n *treeNode, name string) (*treeEntry, error) {
	if err := ed.load(n); err != nil {
		return nil, err
	}
	if e, ok := n.entries[name]; ok {
		return e, nil
	}
	found, ok, err := odb.LookupTree(n.raw, name)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", n.oid, err)
	}
	var e *treeEntry
	if ok {
		e = &treeEntry{mode: found.Mode, oid: found.OID, stored: true}
	}
	n.set(name, e)
	return e, nil
}

func (n *treeNode) set(name string, e *treeEntry) {
	if n.entries == nil {
		n.entries = map[string]*treeEntry{}
	}
	n.entries[name] = e
}

// dir returns the subdirectory name of n, creating it (replacing a file of
// that name) when create is set; nil when absent and !create.
func (ed *treeEditor) dir(n *treeNode, name string, create bool) (*treeNode, error) {
	e, err := ed.entry(n, name)
	if err != nil {
		return nil, err
	}
	if e == nil || e.mode != treeMode {
		if !create {
			return nil, nil
		}
		e = &treeEntry{mode: treeMode, sub: &treeNode{loaded: true}}
		n.set(name, e)
	}
	if e.sub == nil {
		e.sub = &treeNode{oid: e.oid}
	}
	return e.sub, nil
}

func (ed *treeEditor) upsert(n *treeNode, parts []string, mode string, oid git.ObjectID) error {
	for _, name := range parts[:len(parts)-1] {
		n.dirty = true
		sub, err := ed.dir(n, name, true)
		if err != nil {
			return err
		}
		n = sub
	}
	if err := ed.load(n); err != nil {
		return err
	}
	n.dirty = true
	n.set(parts[len(parts)-1], &treeEntry{mode: mode, oid: oid})
	return nil
}

// remove deletes a file or a whole directory; a missing path is a no-op.
func (ed *treeEditor) remove(n *treeNode, parts []string) error {
	path := []*treeNode{n}
	for _, name := range parts[:len(parts)-1] {
		sub, err := ed.dir(n, name, false)
		if err != nil || sub == nil {
			return err
		}
		n = sub
		path = append(path, n)
	}
	name := parts[len(parts)-1]
	if e, err := ed.entry(n, name); err != nil || e == nil {
		return err
	}
	n.set(name, nil)
	for _, p := range path {
		p.dirty = true
	}
	return nil
}

// write stores n and every dirty directory below it, bottom-up. Git keeps
// no empty directories, so one emptied by deletions disappears.
func (ed *treeEditor) write(n *treeNode) (git.ObjectID, error) {
	if !n.dirty {
		return n.oid, nil
	}
	var remove []string
	add := make([]odb.TreeEntry, 0, len(n.entries))
	for name, e := range n.entries {
		if e != nil && e.stored && (e.sub == nil || !e.sub.dirty) {
			continue // unchanged: SpliceTree keeps it as stored
		}
		if e != nil && e.sub != nil {
			oid, err := ed.write(e.sub)
			if err != nil {
				return "", err
			}
			if e.sub.dirty && len(e.sub.raw) == 0 {
				// Emptied: drop it here too, so the parent sees it gone and
				// can vanish in turn.
				e = nil
			} else {
				e.oid = oid
			}
		}
		if e == nil {
			remove = append(remove, name)
			continue
		}
		add = append(add, odb.TreeEntry{Mode: e.mode, Name: name, OID: e.oid})
	}
	raw, err := odb.SpliceTree(n.raw, remove, add)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	oid, err := ed.tx.WriteObject(git.TreeObject, raw)
	if err != nil {
		return "", fmt.Errorf("write tree: %w", err)
	}
	ed.repo.remember(oid, raw)
	n.oid, n.raw = oid, raw
	return oid, nil
}
