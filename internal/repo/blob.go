package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// File is a blob found at a path: its id and size are known at once; its
// contents come on the first Read — from memory for small cached blobs,
// else from a cat-file reader (never, for a HEAD or a 304). Close must be
// called.
type File struct {
	OID  git.ObjectID
	Size int64

	r    *Repo
	ctx  context.Context
	data []byte // cached contents, when small
	off  int
	rd   *catfile.Reader
	obj  *catfile.Object
	done func()
}

// Read streams the blob's bytes.
func (f *File) Read(p []byte) (int, error) {
	if f.data == nil && f.obj == nil {
		if err := f.open(); err != nil {
			return 0, err
		}
	}
	if f.data != nil {
		if f.off >= len(f.data) {
			return 0, io.EOF
		}
		n := copy(p, f.data[f.off:])
		f.off += n
		return n, nil
	}
	return f.obj.Read(p)
}

// WriteTo sends the rest of the blob to w. io.Copy prefers it to Read:
// cached contents go out in one write, without the copy buffer io.Copy
// would otherwise allocate for every file served.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if f.data == nil && f.obj == nil {
		if err := f.open(); err != nil {
			return 0, err
		}
	}
	if f.data != nil {
		n, err := w.Write(f.data[f.off:])
		f.off += n
		return int64(n), err
	}
	return io.Copy(w, f.obj)
}

// open fetches the contents by id; a small blob is read whole and cached.
func (f *File) open() error {
	if f.rd == nil {
		rd, release, err := f.r.reader(f.ctx)
		if err != nil {
			return err
		}
		f.rd, f.done = rd, release
	}
	if f.Size <= maxCachedBlob {
		_, data, err := f.rd.ReadObject(f.ctx, string(f.OID), maxCachedBlob)
		if err != nil {
			return fmt.Errorf("read blob %s: %w", f.OID, err)
		}
		f.r.memo.blobs.put(f.r.key+"\x00"+string(f.OID), data, int64(len(data)))
		f.data = nonNil(data)
		return nil
	}
	obj, err := f.rd.Object(f.ctx, string(f.OID))
	if err != nil {
		return fmt.Errorf("read blob %s: %w", f.OID, err)
	}
	f.obj = obj
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Close releases the reader, if one was used.
func (f *File) Close() error {
	var err error
	if f.obj != nil {
		err = f.obj.Close()
		f.obj = nil
	}
	if f.done != nil {
		f.done()
		f.done = nil
	}
	return err
}

// StatFile returns the blob at path in commit without reading it.
func (r *Repo) StatFile(ctx context.Context, commit git.ObjectID, path string) (git.ObjectID, int64, error) {
	f, err := r.OpenFile(ctx, commit, path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return f.OID, f.Size, nil
}

// OpenFile finds the blob at path in commit; a tree or a submodule there
// is not a file. What a path names in a commit never changes, so the
// answer is cached and a repeated read of a hot file costs no process
// round trip at all.
func (r *Repo) OpenFile(ctx context.Context, commit git.ObjectID, path string) (*File, error) {
	key := r.key + "\x00" + string(commit) + "\x00" + path
	ref, ok := r.memo.paths.get(key)
	var rd *catfile.Reader
	var release func()
	if !ok {
		var err error
		if rd, release, err = r.reader(ctx); err != nil {
			return nil, err
		}
		info, err := rd.Info(ctx, string(commit)+":"+path)
		if err != nil {
			release()
			if errors.Is(err, catfile.ErrNotFound) {
				return nil, notFound("path", path)
			}
			return nil, fmt.Errorf("stat %s: %w", path, err)
		}
		ref = blobRef{OID: info.OID, Size: info.Size, Type: string(info.Type)}
		r.memo.paths.put(key, ref, 1)
	}
	return r.file(ctx, ref, path, rd, release)
}

// file is the File for what path names (ref), holding the reader rd if
// one is checked out already.
func (r *Repo) file(ctx context.Context, ref blobRef, path string, rd *catfile.Reader, release func()) (*File, error) {
	if ref.Type != string(git.BlobObject) {
		if release != nil {
			release()
		}
		return nil, notFound("file", path)
	}
	f := &File{OID: ref.OID, Size: ref.Size, r: r, ctx: ctx, rd: rd, done: release}
	if data, ok := r.memo.blobs.get(r.key + "\x00" + string(ref.OID)); ok {
		f.data = nonNil(data)
	}
	return f, nil
}

// ReadFile is OpenFile for a caller that will read the contents anyway:
// on a cache miss one cat-file round trip answers both what the path is
// and its bytes.
func (r *Repo) ReadFile(ctx context.Context, commit git.ObjectID, path string) (*File, error) {
	key := r.key + "\x00" + string(commit) + "\x00" + path
	if ref, ok := r.memo.paths.get(key); ok {
		return r.file(ctx, ref, path, nil, nil)
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	obj, err := rd.Object(ctx, string(commit)+":"+path)
	if err != nil {
		release()
		if errors.Is(err, catfile.ErrNotFound) {
			return nil, notFound("path", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	r.memo.paths.put(key, blobRef{OID: obj.OID, Size: obj.Size, Type: string(obj.Type)}, 1)
	f := &File{OID: obj.OID, Size: obj.Size, r: r, ctx: ctx, rd: rd, obj: obj, done: release}
	if obj.Type != git.BlobObject {
		f.Close()
		return nil, notFound("file", path)
	}
	if obj.Size <= maxCachedBlob {
		data, err := io.ReadAll(obj)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		f.Close() // the reader goes back to the pool at once
		r.memo.blobs.put(r.key+"\x00"+string(obj.OID), data, int64(len(data)))
		f.data = nonNil(data)
	}
	return f, nil
}

// LastChange is the newest commit reachable from a tip that touched a path.
type LastChange struct {
	Commit    git.ObjectID
	Committed time.Time
}

// LastChange finds the newest commit reachable from commit that touched
// path. The answer never changes for a (commit, path) pair, so it is cached:
// repeated reads of a file cost no process.
func (r *Repo) LastChange(ctx context.Context, commit git.ObjectID, path string) (LastChange, error) {
	key := r.key + "\x00" + string(commit) + "\x00" + path
	if lc, ok := r.memo.lastMod.get(key); ok {
		return lc, nil
	}
	out, err := r.git.Output(ctx, r.path, git.Command{
		Name:    "rev-list",
		Flags:   []string{"--max-count=1"},
		Args:    []string{string(commit)},
		PostSep: []string{git.LiteralPathspec(path)},
	})
	if err != nil {
		return LastChange{}, fmt.Errorf("last change of %s: %w", path, err)
	}
	id := strings.TrimSpace(string(out))
	if id == "" {
		return LastChange{}, notFound("path", path)
	}
	c, err := r.readCommitOID(ctx, git.ObjectID(id))
	if err != nil {
		return LastChange{}, err
	}
	lc := LastChange{Commit: c.OID, Committed: c.Committer.When}
	r.memo.lastMod.put(key, lc, 1)
	return lc, nil
}
