package vfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
)

// The io/fs view of a snapshot: names follow fs.ValidPath ("." is the
// root), symlinks are not followed (a link is a ModeSymlink entry whose
// contents are its target), and every entry's ModTime is the commit time.
var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
)

// ioPath maps an io/fs name to a snapshot path.
func ioPath(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", pathErr(op, name, fs.ErrInvalid)
	}
	if name == "." {
		return "", nil
	}
	return name, nil
}

// ioErr renames a path error to the io/fs name asked for.
func ioErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, ErrNotDir) {
			return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Open opens a file or directory (fs.FS); directories implement
// fs.ReadDirFile.
func (f *FS) Open(name string) (fs.File, error) {
	p, err := ioPath("open", name)
	if err != nil {
		return nil, err
	}
	var e entry
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err = f.lookup(ctx, rd, "open", p)
		return err
	})
	if err != nil {
		return nil, ioErr("open", name, err)
	}
	if e.isDir() {
		_, base := splitPath(p)
		if p == "" {
			base = "."
		}
		return &dirFile{f: f, path: p, info: fileInfo{fs: f, name: base, mode: e.mode, oid: e.oid, size: -1, mtime: f.when}}, nil
	}
	file, err := f.OpenFile(p)
	if err != nil {
		return nil, ioErr("open", name, err)
	}
	return file, nil
}

// ReadDir lists a directory sorted by name (fs.ReadDirFS).
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := ioPath("readdir", name)
	if err != nil {
		return nil, err
	}
	list, _, err := f.listDir("readdir", p)
	if err != nil {
		return nil, ioErr("readdir", name, err)
	}
	return f.dirEntries(list), nil
}

// dirEntries converts a tree listing to DirEntries in name order.
func (f *FS) dirEntries(list []odb.TreeEntry) []fs.DirEntry {
	out := make([]fs.DirEntry, len(list))
	for i, e := range list {
		out[i] = fileInfo{fs: f, name: e.Name, mode: e.Mode, oid: e.OID, size: -1, mtime: f.when}
	}
	// git order puts a tree "a" after "a.b"; io/fs wants plain name order.
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// Stat describes the entry at name without following symlinks
// (fs.StatFS).
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	p, err := ioPath("stat", name)
	if err != nil {
		return nil, err
	}
	var info fileInfo
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err := f.lookup(ctx, rd, "stat", p)
		if err != nil {
			return err
		}
		oi, err := rd.Info(ctx, string(e.oid))
		if err != nil {
			return err
		}
		_, base := splitPath(p)
		if p == "" {
			base = "."
		}
		info = fileInfo{fs: f, name: base, mode: e.mode, oid: e.oid, size: oi.Size, mtime: f.when}
		return nil
	})
	if err != nil {
		return nil, ioErr("stat", name, err)
	}
	return info, nil
}

// ReadFile reads a whole file (fs.ReadFileFS).
func (f *FS) ReadFile(name string) ([]byte, error) {
	p, err := ioPath("readfile", name)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return nil, pathErr("readfile", name, ErrIsDir)
	}
	b, err := f.Read(p)
	if err != nil {
		return nil, ioErr("readfile", name, err)
	}
	return b, nil
}

// dirFile is an open directory.
type dirFile struct {
	f      *FS
	path   string
	info   fileInfo
	list   []fs.DirEntry // read on first ReadDir
	read   bool
	pos    int
	closed bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) {
	if d.closed {
		return nil, fs.ErrClosed
	}
	return d.info.Info()
}

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: ErrIsDir}
}

func (d *dirFile) Close() error {
	if d.closed {
		return fs.ErrClosed
	}
	d.closed = true
	return nil
}

// Seek only rewinds a directory (http.FS seeks to 0).
func (d *dirFile) Seek(offset int64, whence int) (int64, error) {
	if offset == 0 && whence == io.SeekStart {
		d.pos = 0
		return 0, nil
	}
	return 0, &fs.PathError{Op: "seek", Path: d.path, Err: fs.ErrInvalid}
}

// ReadDir reads the next n entries (fs.ReadDirFile).
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, fs.ErrClosed
	}
	if !d.read {
		var list []odb.TreeEntry
		err := d.f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
			var err error
			list, err = d.f.store.readTree(ctx, rd, d.info.oid)
			return err
		})
		if err != nil {
			return nil, err
		}
		d.list, d.read = d.f.dirEntries(list), true
	}
	rest := d.list[d.pos:]
	if n <= 0 {
		d.pos = len(d.list)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.pos += len(rest)
	return rest, nil
}
