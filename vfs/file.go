package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// smallFile is the size up to which a File reads its blob whole on the
// first Read and gives its cat-file reader back at once; bigger blobs
// stream, holding a reader from the pool until Close.
const smallFile = 256 << 10

// File is an open file of a snapshot: an io.ReadSeekCloser (and fs.File)
// that streams the blob from git rather than loading it. Seeking forward
// skips; seeking backward restarts the stream. A File is not safe for
// concurrent use.
type File struct {
	info fileInfo
	oid  git.ObjectID

	data []byte // the whole blob, once read (small files)
	off  int64  // the reader's position

	// streaming state (big files)
	rd      *catfile.Reader
	release func()
	obj     *catfile.Object
	objOff  int64 // how far obj has been read

	closed bool
}

// OpenFile opens the file at path for reading; a symlink reads as its
// target.
func (f *FS) OpenFile(path string) (*File, error) {
	p, err := cleanFilePath("open", path)
	if err != nil {
		return nil, err
	}
	var file *File
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err := f.lookup(ctx, rd, "open", p)
		if err != nil {
			return err
		}
		if e.isDir() {
			return pathErr("open", p, ErrIsDir)
		}
		info, err := rd.Info(ctx, string(e.oid))
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		_, name := splitPath(p)
		file = &File{info: fileInfo{name: name, mode: e.mode, oid: e.oid, size: info.Size, mtime: f.when}, oid: e.oid}
		return nil
	})
	if err != nil {
		return nil, err
	}
	file.info.fs = f
	return file, nil
}

// Stat describes the file.
func (fl *File) Stat() (fs.FileInfo, error) {
	if fl.closed {
		return nil, fs.ErrClosed
	}
	return fl.info, nil
}

// Read reads up to len(p) bytes.
func (fl *File) Read(p []byte) (int, error) {
	if fl.closed {
		return 0, fs.ErrClosed
	}
	if fl.off >= fl.info.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if fl.info.size <= smallFile {
		if fl.data == nil {
			if err := fl.load(); err != nil {
				return 0, err
			}
		}
		n := copy(p, fl.data[fl.off:])
		fl.off += int64(n)
		return n, nil
	}
	if err := fl.position(); err != nil {
		return 0, err
	}
	n, err := fl.obj.Read(p)
	fl.off += int64(n)
	fl.objOff += int64(n)
	if err == io.EOF && fl.off < fl.info.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// load reads a small blob whole and gives the reader back.
func (fl *File) load() error {
	ctx := context.Background()
	rd, release, err := fl.info.fs.store.reader(ctx)
	if err != nil {
		return err
	}
	defer release()
	data, err := fl.info.fs.store.readBlob(ctx, rd, fl.oid) // shared: only read from
	if err != nil {
		return fmt.Errorf("read %s: %w", fl.info.name, err)
	}
	fl.data = data
	return nil
}

// position makes obj a stream positioned at off.
func (fl *File) position() error {
	ctx := context.Background()
	if fl.obj != nil && fl.objOff > fl.off {
		fl.closeStream()
	}
	if fl.rd == nil {
		rd, release, err := fl.info.fs.store.reader(ctx)
		if err != nil {
			return err
		}
		fl.rd, fl.release = rd, release
	}
	if fl.obj == nil {
		obj, err := fl.rd.Object(ctx, string(fl.oid))
		if err != nil {
			fl.closeStream()
			return fmt.Errorf("read %s: %w", fl.info.name, err)
		}
		fl.obj, fl.objOff = obj, 0
	}
	if skip := fl.off - fl.objOff; skip > 0 {
		n, err := io.CopyN(io.Discard, fl.obj, skip)
		fl.objOff += n
		if err != nil {
			fl.closeStream()
			return fmt.Errorf("seek %s: %w", fl.info.name, err)
		}
	}
	return nil
}

// closeStream drops the stream and its reader (Close drains a little or
// marks the reader dirty, so the pool never reuses a half-read process).
func (fl *File) closeStream() {
	if fl.obj != nil {
		_ = fl.obj.Close()
		fl.obj = nil
	}
	if fl.release != nil {
		fl.release()
		fl.rd, fl.release = nil, nil
	}
}

// Seek sets the offset for the next Read (io.Seeker).
func (fl *File) Seek(offset int64, whence int) (int64, error) {
	if fl.closed {
		return 0, fs.ErrClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = fl.off + offset
	case io.SeekEnd:
		abs = fl.info.size + offset
	default:
		return 0, errors.New("vfs: seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("vfs: seek: negative position")
	}
	fl.off = abs
	return abs, nil
}

// ReadAt reads len(p) bytes at off (io.ReaderAt), moving the offset of
// later Reads as a side effect only for streamed files.
func (fl *File) ReadAt(p []byte, off int64) (int, error) {
	if fl.closed {
		return 0, fs.ErrClosed
	}
	if off < 0 {
		return 0, errors.New("vfs: readat: negative offset")
	}
	saved := fl.off
	fl.off = off
	n, err := io.ReadFull(fl, p)
	fl.off = saved
	if err == io.ErrUnexpectedEOF || (err == io.EOF && n < len(p)) {
		err = io.EOF
	}
	return n, err
}

// Close releases the file's reader.
func (fl *File) Close() error {
	if fl.closed {
		return fs.ErrClosed
	}
	fl.closed = true
	fl.closeStream()
	fl.data = nil
	return nil
}

// fileInfo describes a snapshot entry (fs.FileInfo and fs.DirEntry).
type fileInfo struct {
	fs    *FS
	name  string
	mode  string
	oid   git.ObjectID
	size  int64 // -1: not looked up yet
	mtime time.Time
}

func (i fileInfo) Name() string { return i.name }
func (i fileInfo) Size() int64 {
	if i.size < 0 {
		return 0
	}
	return i.size
}

// Mode maps git modes: directories 0755, files 0644 or 0755, symlinks
// ModeSymlink|0777.
func (i fileInfo) Mode() fs.FileMode {
	switch i.mode {
	case "40000":
		return fs.ModeDir | 0o755
	case "100755":
		return 0o755
	case "120000":
		return fs.ModeSymlink | 0o777
	case "160000":
		return fs.ModeIrregular
	}
	return 0o644
}

// ModTime is the commit time: git keeps no file times.
func (i fileInfo) ModTime() time.Time { return i.mtime }
func (i fileInfo) IsDir() bool        { return i.mode == "40000" }

// Sys is the entry's object id (a string).
func (i fileInfo) Sys() any { return string(i.oid) }

// fs.DirEntry
func (i fileInfo) Type() fs.FileMode { return i.Mode().Type() }
func (i fileInfo) Info() (fs.FileInfo, error) {
	if i.size >= 0 {
		return i, nil
	}
	ctx := context.Background()
	rd, release, err := i.fs.store.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	info, err := rd.Info(ctx, string(i.oid))
	if err != nil {
		return nil, err
	}
	i.size = info.Size
	return i, nil
}
func (i fileInfo) String() string { return fs.FormatDirEntry(i) }
