package vfs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
)

// FS is an immutable snapshot: one commit of the repository, read through
// paths. Writes return a new FS and never change the receiver, so an FS is
// safe for concurrent use. A snapshot taken from a branch is writable: its
// writes commit on the branch, provided it is still the branch's tip.
type FS struct {
	store    *Store
	commit   git.ObjectID
	tree     git.ObjectID
	parent   git.ObjectID // first parent; "" at a root commit
	ref      string
	writable bool
	message  string
	when     time.Time
	author   Signature
	changes  *ChangeReport
}

// Store is the repository the snapshot belongs to.
func (f *FS) Store() *Store { return f.store }

// Hash is the commit id.
func (f *FS) Hash() string { return string(f.commit) }

// RefName is the branch or tag the snapshot came from; "" when detached.
func (f *FS) RefName() string { return f.ref }

// Writable reports whether writes may commit (branch snapshots only).
func (f *FS) Writable() bool { return f.writable }

// Message is the commit message, trailing newlines stripped.
func (f *FS) Message() string { return f.message }

// Time is the commit time.
func (f *FS) Time() time.Time { return f.when }

// Author is the commit's author.
func (f *FS) Author() Signature { return f.author }

// Changes is what the write that produced f changed (for a dry run: would
// change); nil when f did not come from a write that changed something.
func (f *FS) Changes() *ChangeReport { return f.changes }

func (f *FS) String() string {
	if f.ref != "" {
		return fmt.Sprintf("FS(%s@%s)", f.ref, f.commit.Short())
	}
	return fmt.Sprintf("FS(%s)", f.commit.Short())
}

// withChanges is a copy of f carrying report (a dry run's result).
func (f *FS) withChanges(report *ChangeReport) *FS {
	c := *f
	c.changes = report.finalized()
	return &c
}

// entry is a path's tree entry.
type entry struct {
	mode string
	oid  git.ObjectID
}

func (e entry) isDir() bool { return e.mode == odb.ModeTree }

func (e entry) fileType() (FileType, bool) { return fileTypeOfGit(e.mode) }

// withReader runs fn with a cat-file reader checked out of the pool.
func (f *FS) withReader(fn func(ctx context.Context, rd *catfile.Reader) error) error {
	ctx := context.Background()
	rd, release, err := f.store.reader(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn(ctx, rd)
}

// findEntry looks name up in a tree listing, by binary search in git's
// order (a tree sorts as if its name ended in "/"), once as a file and
// once as a tree.
func findEntry(list []odb.TreeEntry, name string) (odb.TreeEntry, bool) {
	for _, asTree := range []bool{false, true} {
		i, ok := slices.BinarySearchFunc(list, name, func(e odb.TreeEntry, name string) int {
			return compareGitOrder(e.Name, e.Mode == odb.ModeTree, name, asTree)
		})
		if ok {
			return list[i], true
		}
	}
	return odb.TreeEntry{}, false
}

// compareGitOrder compares two entry names as git orders a tree.
func compareGitOrder(a string, aTree bool, b string, bTree bool) int {
	m := min(len(a), len(b))
	if c := strings.Compare(a[:m], b[:m]); c != 0 {
		return c
	}
	next := func(s string, tree bool) int {
		switch {
		case len(s) > m:
			return int(s[m])
		case tree:
			return '/'
		}
		return -1
	}
	return cmp.Compare(next(a, aTree), next(b, bTree))
}

// lookup resolves p (clean; "" = the root) to its entry. A missing path is
// a *fs.PathError wrapping ErrNotFound; one that goes through a file wraps
// ErrNotDir and names the file.
func (f *FS) lookup(ctx context.Context, rd *catfile.Reader, op, p string) (entry, error) {
	cur := entry{mode: odb.ModeTree, oid: f.tree}
	if p == "" {
		return cur, nil
	}
	rest := p
	done := 0
	for rest != "" {
		name, tail, _ := strings.Cut(rest, "/")
		if !cur.isDir() {
			return entry{}, pathErr(op, p[:done-1], ErrNotDir)
		}
		list, err := f.store.readTree(ctx, rd, cur.oid)
		if err != nil {
			return entry{}, err
		}
		e, ok := findEntry(list, name)
		if !ok {
			return entry{}, pathErr(op, p, ErrNotFound)
		}
		cur = entry{mode: e.Mode, oid: e.OID}
		done += len(name) + 1
		rest = tail
	}
	return cur, nil
}

// stat resolves a user path to its clean form and entry.
func (f *FS) stat(op, path string) (string, entry, error) {
	p, err := cleanPath(op, path)
	if err != nil {
		return "", entry{}, err
	}
	var e entry
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err = f.lookup(ctx, rd, op, p)
		return err
	})
	return p, e, err
}

// Read returns a file's contents; a symlink's is its target (links are
// not followed).
func (f *FS) Read(path string) ([]byte, error) {
	p, err := cleanPath("read", path)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err := f.lookup(ctx, rd, "read", p)
		if err != nil {
			return err
		}
		if e.isDir() {
			return pathErr("read", p, ErrIsDir)
		}
		cached, err := f.store.readBlob(ctx, rd, e.oid)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		// The cache's copy is shared; the caller owns what Read returns.
		data = append([]byte(nil), cached...)
		return nil
	})
	return data, err
}

// ReadText returns a file's contents as a string.
func (f *FS) ReadText(path string) (string, error) {
	b, err := f.Read(path)
	return string(b), err
}

// Ls lists a directory's entry names in git tree order ("" is the root).
func (f *FS) Ls(path string) ([]string, error) {
	list, _, err := f.listDir("ls", path)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i, e := range list {
		names[i] = e.Name
	}
	return names, nil
}

// listDir returns the entries of the directory at path, in git order.
func (f *FS) listDir(op, path string) ([]odb.TreeEntry, string, error) {
	p, err := cleanPath(op, path)
	if err != nil {
		return nil, "", err
	}
	var list []odb.TreeEntry
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err := f.lookup(ctx, rd, op, p)
		if err != nil {
			return err
		}
		if !e.isDir() {
			return pathErr(op, p, ErrNotDir)
		}
		list, err = f.store.readTree(ctx, rd, e.oid)
		return err
	})
	return list, p, err
}

// Walk walks the tree rooted at root ("" is the snapshot's root) with
// fs.WalkDir's semantics: lexical order, fn may return fs.SkipDir or
// fs.SkipAll. Paths handed to fn are relative to the snapshot, the root
// being "".
func (f *FS) Walk(root string, fn fs.WalkDirFunc) error {
	p, err := cleanPath("walk", root)
	if err != nil {
		return fn(root, nil, err)
	}
	start := p
	if start == "" {
		start = "."
	}
	return fs.WalkDir(f, start, func(name string, d fs.DirEntry, err error) error {
		if name == "." {
			name = ""
		}
		return fn(name, d, err)
	})
}

// Exists reports whether path names a file or directory (false when it
// goes through a file).
func (f *FS) Exists(path string) (bool, error) {
	_, _, err := f.stat("exists", path)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDir) {
		return false, nil
	}
	return err == nil, err
}

// IsDir reports whether path names a directory.
func (f *FS) IsDir(path string) (bool, error) {
	_, e, err := f.stat("isdir", path)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDir) {
		return false, nil
	}
	return err == nil && e.isDir(), err
}

// FileType returns the type of the entry at path.
func (f *FS) FileType(path string) (FileType, error) {
	p, e, err := f.stat("filetype", path)
	if err != nil {
		return "", err
	}
	t, ok := e.fileType()
	if !ok {
		return "", pathErr("filetype", p, errorf(ErrInvalid, "unsupported file mode %s", e.mode))
	}
	return t, nil
}

// Size is the size of the object at path, read without its contents: a
// symlink's target length, or a directory's tree object size.
func (f *FS) Size(path string) (int64, error) {
	p, err := cleanPath("size", path)
	if err != nil {
		return 0, err
	}
	var size int64
	err = f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err := f.lookup(ctx, rd, "size", p)
		if err != nil {
			return err
		}
		info, err := rd.Info(ctx, string(e.oid))
		if err != nil {
			return fmt.Errorf("size of %s: %w", p, err)
		}
		size = info.Size
		return nil
	})
	return size, err
}

// ObjectHash is the id of the blob (or, for a directory, tree) at path.
func (f *FS) ObjectHash(path string) (string, error) {
	_, e, err := f.stat("hash", path)
	if err != nil {
		return "", err
	}
	return string(e.oid), nil
}

// Readlink returns a symlink's target.
func (f *FS) Readlink(path string) (string, error) {
	p, e, err := f.stat("readlink", path)
	if err != nil {
		return "", err
	}
	if e.mode != odb.ModeSymlink {
		return "", pathErr("readlink", p, errorf(ErrNotSymlink, "Not a symlink: %s", p))
	}
	b, err := f.Read(p)
	return string(b), err
}
