package vfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// staged is one file a commit writes: its blob is already in the commit's
// object transaction (or already in the repository).
type staged struct {
	oid git.ObjectID
	typ FileType
	src string // where it came from, for the report
}

// changeSet is what one commit does: removes (files or whole directories)
// apply first, then writes. Every write method funnels into commitChanges.
type changeSet struct {
	writes  map[string]staged
	removes map[string]bool
}

func newChangeSet() *changeSet {
	return &changeSet{writes: map[string]staged{}, removes: map[string]bool{}}
}

// beginWrite checks that f may be written and starts its object
// transaction; verb completes "Cannot <verb> read-only snapshot".
func (f *FS) beginWrite(verb string) (*repo.Write, error) {
	if !f.writable {
		return nil, f.readOnlyErr(verb)
	}
	return f.store.repo.BeginWrite()
}

// writeBlob streams r into w as a blob.
func writeBlob(w *repo.Write, r io.Reader) (git.ObjectID, error) {
	bw := w.NewBlob()
	if _, err := io.Copy(bw, r); err != nil {
		bw.Abort()
		return "", fmt.Errorf("write blob: %w", err)
	}
	oid, err := bw.Close()
	if err != nil {
		return "", fmt.Errorf("write blob: %w", err)
	}
	return oid, nil
}

// fileRec is a file found under a directory.
type fileRec struct {
	path string
	mode string
	oid  git.ObjectID
}

// filesUnder lists every file (non-tree entry) below the tree at dir,
// depth first in git order.
func (f *FS) filesUnder(ctx context.Context, rd *catfile.Reader, dir string, tree git.ObjectID) ([]fileRec, error) {
	list, err := f.store.readTree(ctx, rd, tree)
	if err != nil {
		return nil, err
	}
	var out []fileRec
	for _, e := range list {
		p := joinPath(dir, e.Name)
		if e.Mode == odb.ModeTree {
			sub, err := f.filesUnder(ctx, rd, p, e.OID)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, fileRec{path: p, mode: e.Mode, oid: e.OID})
	}
	return out, nil
}

// lookupOptional is lookup where a missing path (or one through a file)
// is simply absent.
func (f *FS) lookupOptional(ctx context.Context, rd *catfile.Reader, p string) (entry, bool, error) {
	e, err := f.lookup(ctx, rd, "lookup", p)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDir) {
		return entry{}, false, nil
	}
	return e, err == nil, err
}

// report says what cs changes in f: a write identical to the existing
// file (same blob and mode) is no change and is dropped from cs; removing
// a directory deletes every file below it; removing a missing path is
// nothing.
func (f *FS) report(ctx context.Context, rd *catfile.Reader, cs *changeSet) (*ChangeReport, error) {
	r := &ChangeReport{}
	for _, p := range slices.Sorted(mapKeys(cs.removes)) {
		e, ok, err := f.lookupOptional(ctx, rd, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			delete(cs.removes, p)
			continue
		}
		if !e.isDir() {
			if _, written := cs.writes[p]; !written {
				t, _ := e.fileType()
				r.Delete = append(r.Delete, FileEntry{Path: p, Type: t})
			}
			continue
		}
		files, err := f.filesUnder(ctx, rd, p, e.oid)
		if err != nil {
			return nil, err
		}
		for _, fr := range files {
			if _, written := cs.writes[fr.path]; !written {
				t, _ := fileTypeOfGit(fr.mode)
				r.Delete = append(r.Delete, FileEntry{Path: fr.path, Type: t})
			}
		}
	}
	for _, p := range slices.Sorted(mapKeys(cs.writes)) {
		w := cs.writes[p]
		e, ok, err := f.lookupOptional(ctx, rd, p)
		if err != nil {
			return nil, err
		}
		switch {
		case ok && !e.isDir() && e.oid == w.oid && e.mode == w.typ.gitMode() && !f.removedAbove(cs, p):
			delete(cs.writes, p)
		case ok && !e.isDir():
			r.Update = append(r.Update, FileEntry{Path: p, Type: w.typ, Src: w.src})
		default:
			r.Add = append(r.Add, FileEntry{Path: p, Type: w.typ, Src: w.src})
		}
	}
	slices.SortFunc(r.Delete, func(a, b FileEntry) int { return strings.Compare(a.Path, b.Path) })
	return r, nil
}

// removedAbove reports whether cs removes p or a directory above it (so a
// write of p's unchanged content must still be applied after the remove).
func (f *FS) removedAbove(cs *changeSet, p string) bool {
	for q := p; q != ""; q, _ = splitPath(q) {
		if cs.removes[q] {
			return true
		}
	}
	return cs.removes[""]
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// commitChanges makes one commit of cs on f's branch and returns the new
// snapshot, or f's commit again (with no Changes) when nothing changes. The order is gitstore's: the
// report (dropping identical writes), the message, the tree, then the
// stale check, which comes before the no-op check so that even a no-op
// write from a stale snapshot fails; the branch then moves by
// compare-and-swap from f's commit, so a writer that got in between (this
// process, another one, a git push, the Strata server) makes this one a
// *StaleSnapshotError rather than a lost commit.
//
// commit owns w: it is committed or aborted.
func (f *FS) commitChanges(w *repo.Write, cs *changeSet, message, op string) (*FS, error) {
	defer w.Abort()
	ctx := context.Background()
	report, err := f.changeReport(cs)
	if err != nil {
		return nil, err
	}
	msg, err := formatMessage(message, report, op)
	if err != nil {
		return nil, err
	}
	tree := f.tree
	if len(cs.writes) > 0 || len(cs.removes) > 0 {
		changes := make([]repo.FileChange, 0, len(cs.writes)+len(cs.removes))
		for _, p := range slices.Sorted(mapKeys(cs.removes)) {
			changes = append(changes, repo.FileChange{Path: p, Delete: true})
		}
		if cs.removes[""] {
			// Removing the root empties the tree; the editor cannot take "".
			changes = changes[:0]
			tree = git.EmptyTreeOID
		}
		for _, p := range slices.Sorted(mapKeys(cs.writes)) {
			s := cs.writes[p]
			changes = append(changes, repo.FileChange{Path: p, Mode: s.typ.gitMode(), OID: s.oid})
		}
		if tree, err = f.store.repo.BuildTree(ctx, w, tree, changes); err != nil {
			return nil, err
		}
	}
	if err := f.checkTip(); err != nil {
		return nil, err
	}
	if tree == f.tree {
		// The same commit, but not f's report of the write that made f.
		return f.withChanges(nil), nil
	}
	obj := f.store.commitObject(tree, f.commit, msg)
	commit, err := w.WriteCommit(obj)
	if err != nil {
		return nil, err
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	if err := f.moveBranch(commit, "commit: "+msg); err != nil {
		return nil, err
	}
	return &FS{
		store: f.store, commit: commit, tree: tree, parent: f.commit,
		ref: f.ref, writable: true, message: strings.TrimRight(msg, "\n"),
		when: obj.Committer.When, author: f.store.author, changes: report.finalized(),
	}, nil
}

// checkTip fails with *StaleSnapshotError unless f is its branch's tip.
func (f *FS) checkTip() error {
	tip, err := f.store.Branches().read(f.ref)
	if errors.Is(err, ErrNotFound) {
		return &StaleSnapshotError{Branch: f.ref, Snapshot: string(f.commit)}
	}
	if err != nil {
		return err
	}
	if tip != f.commit {
		return &StaleSnapshotError{Branch: f.ref, Snapshot: string(f.commit), Tip: string(tip)}
	}
	return nil
}

// moveBranch moves f's branch from f's commit to commit, logging message.
func (f *FS) moveBranch(commit git.ObjectID, message string) error {
	err := f.store.repo.UpdateRefsLogged(context.Background(), f.store.reflog(message),
		refs.Update{Ref: branchRef(f.ref), Old: f.commit, New: commit})
	if errors.Is(err, repo.ErrConflict) {
		if err := f.checkTip(); err != nil {
			return err
		}
		return &StaleSnapshotError{Branch: f.ref, Snapshot: string(f.commit), Tip: string(f.commit)}
	}
	return err
}

// Write stores data at path and commits. Mode "" stores a regular file
// (even over an executable one).
func (f *FS) Write(path string, data []byte, opt WriteOptions) (*FS, error) {
	return f.WriteFrom(path, bytes.NewReader(data), opt)
}

// WriteText stores text at path and commits.
func (f *FS) WriteText(path, text string, opt WriteOptions) (*FS, error) {
	return f.WriteFrom(path, strings.NewReader(text), opt)
}

// WriteFrom streams r into a file at path and commits.
func (f *FS) WriteFrom(path string, r io.Reader, opt WriteOptions) (*FS, error) {
	p, err := cleanWritePath("write", path)
	if err != nil {
		return nil, err
	}
	typ, err := checkWriteType(opt.Mode)
	if err != nil {
		return nil, err
	}
	return f.commitBlob(p, r, staged{typ: typ}, opt.Message)
}

// WriteFromFile stores the local file at localPath (symlinks followed) at
// path and commits; with Mode "", the type is Executable when any execute
// bit is set, else Blob.
func (f *FS) WriteFromFile(path, localPath string, opt WriteOptions) (*FS, error) {
	p, err := cleanWritePath("write", path)
	if err != nil {
		return nil, err
	}
	if !f.writable {
		return nil, f.readOnlyErr("write to")
	}
	file, typ, err := openLocal(localPath, opt.Mode)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return f.commitBlob(p, file, staged{typ: typ, src: localPath}, opt.Message)
}

// commitBlob streams r into a blob and commits it at p as e (its oid
// filled in): the one-file write of WriteFrom and WriteFromFile.
func (f *FS) commitBlob(p string, r io.Reader, e staged, message string) (*FS, error) {
	w, err := f.beginWrite("write to")
	if err != nil {
		return nil, err
	}
	if e.oid, err = writeBlob(w, r); err != nil {
		w.Abort()
		return nil, err
	}
	cs := newChangeSet()
	cs.writes[p] = e
	return f.commitChanges(w, cs, message, "")
}

// openLocal opens a local file to store, checking it before any blob is
// made, and picks its type.
func openLocal(localPath string, mode FileType) (*os.File, FileType, error) {
	fi, err := os.Stat(localPath)
	if err != nil {
		return nil, "", err
	}
	if fi.IsDir() {
		return nil, "", pathErr("write", localPath, ErrIsDir)
	}
	typ := Blob
	if fi.Mode()&0o111 != 0 {
		typ = Executable
	}
	if mode != "" {
		if typ, err = checkWriteType(mode); err != nil {
			return nil, "", err
		}
	}
	file, err := os.Open(localPath)
	if err != nil {
		return nil, "", err
	}
	return file, typ, nil
}

// WriteSymlink stores a symlink to target at path and commits.
func (f *FS) WriteSymlink(path, target string, opt WriteOptions) (*FS, error) {
	opt.Mode = Link
	if target == "" {
		return nil, pathErr("symlink", path, errorf(ErrInvalid, "empty symlink target"))
	}
	return f.WriteFrom(path, strings.NewReader(target), opt)
}

// Apply makes one commit of many writes and removes; a remove of a missing
// path is ignored, and a path both written and removed is written.
func (f *FS) Apply(writes map[string]WriteEntry, removes []string, opt ApplyOptions) (*FS, error) {
	cs := newChangeSet()
	paths := slices.Sorted(mapKeys(writes))
	clean := make(map[string]string, len(paths))
	for _, path := range paths {
		p, err := cleanWritePath("write", path)
		if err != nil {
			return nil, err
		}
		if err := writes[path].check(); err != nil {
			return nil, pathErr("write", path, err)
		}
		clean[path] = p
	}
	for _, path := range removes {
		p, err := cleanPath("remove", path)
		if err != nil {
			return nil, err
		}
		cs.removes[p] = true
	}
	w, err := f.beginWrite("write to")
	if err != nil {
		return nil, err
	}
	for _, path := range paths {
		e := writes[path]
		data, typ := e.Data, e.Mode
		if e.Target != "" {
			data, typ = []byte(e.Target), Link
		}
		if typ, err = checkWriteType(typ); err != nil {
			w.Abort()
			return nil, err
		}
		oid, err := writeBlob(w, bytes.NewReader(data))
		if err != nil {
			w.Abort()
			return nil, err
		}
		cs.writes[clean[path]] = staged{oid: oid, typ: typ}
	}
	return f.commitChanges(w, cs, opt.Message, opt.Operation)
}

// Remove deletes files, and with Recursive directories (everything below
// them), in one commit (operation "rm"). "" is the root; a trailing "/"
// names a directory's contents. A missing path is an error wrapping
// ErrNotFound, a directory without Recursive one wrapping ErrIsDir. A dry
// run returns a copy of f whose Changes lists the deletions.
func (f *FS) Remove(paths []string, opt RemoveOptions) (*FS, error) {
	if !f.writable {
		return nil, f.readOnlyErr("remove from")
	}
	cs := newChangeSet()
	err := f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		for _, path := range paths {
			p, err := cleanPath("remove", path)
			if err != nil {
				return err
			}
			e, err := f.lookup(ctx, rd, "remove", p)
			if err != nil {
				return err
			}
			asDir := e.isDir() || strings.HasSuffix(path, "/")
			if asDir && !e.isDir() {
				return pathErr("remove", p, ErrNotDir)
			}
			if asDir && !opt.Recursive {
				return pathErr("remove", p, errorf(ErrIsDir, "%s is a directory (use Recursive)", p))
			}
			cs.removes[p] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errorf(ErrInvalid, "nothing to remove")
	}
	return f.finish(cs, opt.DryRun, opt.Message, "rm")
}

// changeReport is what committing cs on f would change.
func (f *FS) changeReport(cs *changeSet) (*ChangeReport, error) {
	var report *ChangeReport
	err := f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		var err error
		report, err = f.report(ctx, rd, cs)
		return err
	})
	return report, err
}

// finish commits cs, or for a dry run reports what it would do.
func (f *FS) finish(cs *changeSet, dryRun bool, message, op string) (*FS, error) {
	if dryRun {
		report, err := f.changeReport(cs)
		if err != nil {
			return nil, err
		}
		return f.withChanges(report), nil
	}
	w, err := f.beginWrite("write to")
	if err != nil {
		return nil, err
	}
	return f.commitChanges(w, cs, message, op)
}

// Move renames or moves files and directories in one commit (operation
// "mv"), by the POSIX mv rule: one source and a dest that does not end in
// "/" and is not an existing directory is a rename (a directory's contents
// become dest's); otherwise every source moves into dest. Types are kept.
func (f *FS) Move(sources []string, dest string, opt MoveOptions) (*FS, error) {
	if !f.writable {
		return nil, f.readOnlyErr("move in")
	}
	if len(sources) == 0 {
		return nil, pathErr("move", "", ErrNotFound)
	}
	destClean, err := cleanPath("move", dest)
	if err != nil {
		return nil, err
	}
	cs := newChangeSet()
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		de, destExists, err := f.lookupOptional(ctx, rd, destClean)
		if err != nil {
			return err
		}
		rename := len(sources) == 1 && !strings.HasSuffix(dest, "/") && destClean != "" && !(destExists && de.isDir())
		for _, src := range sources {
			p, err := cleanPath("move", src)
			if err != nil {
				return err
			}
			if p == "" {
				return pathErr("move", src, errorf(ErrInvalid, "cannot move the root"))
			}
			e, err := f.lookup(ctx, rd, "move", p)
			if err != nil {
				return err
			}
			contents := strings.HasSuffix(src, "/")
			if contents && !e.isDir() {
				return pathErr("move", p, ErrNotDir)
			}
			if e.isDir() && !opt.Recursive {
				return pathErr("move", p, errorf(ErrIsDir, "%s is a directory (use Recursive)", p))
			}
			target := destClean
			if !rename && !contents {
				_, base := splitPath(p)
				target = joinPath(destClean, base)
			}
			if target == p {
				return pathErr("move", p, errorf(ErrInvalid, "Source and destination are the same: %s", p))
			}
			if e.isDir() && strings.HasPrefix(target+"/", p+"/") {
				return pathErr("move", p, errorf(ErrInvalid, "cannot move %s into itself (%s)", p, target))
			}
			if !e.isDir() {
				t, _ := e.fileType()
				cs.removes[p] = true
				cs.writes[target] = staged{oid: e.oid, typ: t, src: p}
				continue
			}
			files, err := f.filesUnder(ctx, rd, p, e.oid)
			if err != nil {
				return err
			}
			for _, fr := range files {
				t, _ := fileTypeOfGit(fr.mode)
				cs.removes[fr.path] = true
				cs.writes[joinPath(target, strings.TrimPrefix(fr.path, p+"/"))] = staged{oid: fr.oid, typ: t, src: fr.path}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A file moved onto another moved file's old place is written, not
	// removed (removes apply first).
	for p := range cs.writes {
		delete(cs.removes, p)
	}
	return f.finish(cs, opt.DryRun, opt.Message, "mv")
}

// CopyRef copies srcPath of src (any snapshot of the same repository:
// branch, tag or detached) to destPath of f's branch in one commit
// (operation "cp"), blobs by id. destPath "" means srcPath. With Delete,
// files under destPath that src lacks are removed. A missing srcPath
// changes nothing.
func (f *FS) CopyRef(src *FS, srcPath, destPath string, opt CopyRefOptions) (*FS, error) {
	if !f.writable {
		return nil, f.readOnlyErr("copy to")
	}
	if src == nil || !f.store.sameStore(src.store) {
		return nil, errorf(ErrInvalid, "source must belong to the same repo as self")
	}
	sp, err := cleanPath("copy", srcPath)
	if err != nil {
		return nil, err
	}
	dp := sp
	if destPath != "" {
		if dp, err = cleanPath("copy", destPath); err != nil {
			return nil, err
		}
	}
	cs := newChangeSet()
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, ok, err := src.lookupOptional(ctx, rd, sp)
		if err != nil || !ok {
			return err
		}
		if !e.isDir() {
			if dp == "" {
				return pathErr("copy", srcPath, errorf(ErrInvalid, "cannot copy a file onto the root"))
			}
			t, _ := e.fileType()
			cs.writes[dp] = staged{oid: e.oid, typ: t, src: sp}
			return nil
		}
		files, err := src.filesUnder(ctx, rd, sp, e.oid)
		if err != nil {
			return err
		}
		for _, fr := range files {
			rel := strings.TrimPrefix(strings.TrimPrefix(fr.path, sp), "/")
			t, _ := fileTypeOfGit(fr.mode)
			cs.writes[joinPath(dp, rel)] = staged{oid: fr.oid, typ: t, src: fr.path}
		}
		if !opt.Delete {
			return nil
		}
		de, ok, err := f.lookupOptional(ctx, rd, dp)
		if err != nil || !ok {
			return err
		}
		if !de.isDir() {
			return nil
		}
		mine, err := f.filesUnder(ctx, rd, dp, de.oid)
		if err != nil {
			return err
		}
		for _, fr := range mine {
			if _, ok := cs.writes[fr.path]; !ok {
				cs.removes[fr.path] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cs.writes) == 0 && len(cs.removes) == 0 {
		return f.withChanges(nil), nil
	}
	return f.finish(cs, opt.DryRun, opt.Message, "cp")
}
