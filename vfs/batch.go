package vfs

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"strings"

	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/repo"
)

// Batch stages many writes and removes for one commit. Blobs are written
// as they are staged (into a transaction that becomes visible only at
// Commit); nothing is committed until Commit, and nothing at all after an
// error or Abort. A Batch is not safe for concurrent use.
type Batch struct {
	f      *FS
	opt    BatchOptions
	w      *repo.Write
	cs     *changeSet
	closed bool
}

var errBatchClosed error = &kindError{msg: "Batch is closed", kind: fs.ErrClosed}

// Batch starts a batch on f's branch.
func (f *FS) Batch(opt BatchOptions) (*Batch, error) {
	w, err := f.beginWrite("batch on")
	if err != nil {
		return nil, err
	}
	return &Batch{f: f, opt: opt, w: w, cs: newChangeSet()}, nil
}

// Update runs fn on a new batch and commits it if fn returns nil; if fn
// fails, nothing is committed and its error is returned.
func (f *FS) Update(opt BatchOptions, fn func(*Batch) error) (*FS, error) {
	b, err := f.Batch(opt)
	if err != nil {
		return nil, err
	}
	if err := fn(b); err != nil {
		b.Abort()
		return nil, err
	}
	return b.Commit()
}

// Write stages data at path ("" mode: Blob).
func (b *Batch) Write(path string, data []byte, mode FileType) error {
	return b.WriteFrom(path, bytes.NewReader(data), mode)
}

// WriteFrom stages the contents of r at path.
func (b *Batch) WriteFrom(path string, r io.Reader, mode FileType) error {
	if b.closed {
		return errBatchClosed
	}
	p, err := cleanWritePath("write", path)
	if err != nil {
		return err
	}
	typ, err := checkWriteType(mode)
	if err != nil {
		return err
	}
	return b.stage(p, r, typ, "")
}

func (b *Batch) stage(p string, r io.Reader, typ FileType, src string) error {
	oid, err := writeBlob(b.w, r)
	if err != nil {
		return err
	}
	// The last operation on a path wins.
	delete(b.cs.removes, p)
	b.cs.writes[p] = staged{oid: oid, typ: typ, src: src}
	return nil
}

// WriteFromFile stages a local file (symlinks followed; "" mode: detected
// from its execute bits).
func (b *Batch) WriteFromFile(path, localPath string, mode FileType) error {
	if b.closed {
		return errBatchClosed
	}
	p, err := cleanWritePath("write", path)
	if err != nil {
		return err
	}
	file, typ, err := openLocal(localPath, mode)
	if err != nil {
		return err
	}
	defer file.Close()
	return b.stage(p, file, typ, localPath)
}

// WriteSymlink stages a symlink to target at path.
func (b *Batch) WriteSymlink(path, target string) error {
	if b.closed {
		return errBatchClosed
	}
	p, err := cleanWritePath("write", path)
	if err != nil {
		return err
	}
	if target == "" {
		return pathErr("symlink", path, errorf(ErrInvalid, "empty symlink target"))
	}
	return b.stage(p, strings.NewReader(target), Link, "")
}

// Remove stages the removal of a file: it drops a staged write of path,
// and removes the file if the snapshot has it. A path in neither is an
// error wrapping ErrNotFound; a directory of the snapshot one wrapping
// ErrIsDir.
func (b *Batch) Remove(path string) error {
	if b.closed {
		return errBatchClosed
	}
	p, err := cleanFilePath("remove", path)
	if err != nil {
		return err
	}
	var e entry
	var inBase bool
	err = b.f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		var err error
		e, inBase, err = b.f.lookupOptional(ctx, rd, p)
		return err
	})
	if err != nil {
		return err
	}
	_, staged := b.cs.writes[p]
	switch {
	case inBase && e.isDir():
		return pathErr("remove", p, ErrIsDir)
	case !inBase && !staged:
		return pathErr("remove", p, ErrNotFound)
	}
	delete(b.cs.writes, p)
	if inBase {
		b.cs.removes[p] = true
	}
	return nil
}

// Commit commits what was staged and closes the batch. With nothing
// changed it returns the batch's snapshot unchanged (no commit).
func (b *Batch) Commit() (*FS, error) {
	if b.closed {
		return nil, errBatchClosed
	}
	b.closed = true
	return b.f.commitChanges(b.w, b.cs, b.opt.Message, b.opt.Operation)
}

// Abort drops everything staged and closes the batch.
func (b *Batch) Abort() {
	if b.closed {
		return
	}
	b.closed = true
	b.w.Abort()
}

// copyPending stages at to the same blob and type as the write staged at
// from (an archive's hard link); from must be staged.
func (b *Batch) copyPending(from, to string) error {
	if b.closed {
		return errBatchClosed
	}
	p, err := cleanWritePath("write", to)
	if err != nil {
		return err
	}
	src, err := cleanFilePath("write", from)
	if err != nil {
		return err
	}
	s, ok := b.cs.writes[src]
	if !ok {
		return pathErr("link", from, ErrNotFound)
	}
	delete(b.cs.removes, p)
	b.cs.writes[p] = staged{oid: s.oid, typ: s.typ, src: src}
	return nil
}
