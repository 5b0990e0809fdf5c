package vfs

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
)

// CopyInOptions configure CopyIn (and, through SyncOptions, SyncIn).
type CopyInOptions struct {
	DryRun         bool // compute Changes, write nothing
	FollowSymlinks bool // store what links point to, not the links
	IgnoreExisting bool // never replace a file that exists at the destination
	Delete         bool // remove destination files the sources do not have
	IgnoreErrors   bool // collect per-file errors in Changes().Errors and go on
	// Mtime trusts a local file whose mtime (whole seconds) is not newer
	// than the snapshot's commit time to be unchanged, without hashing it
	// (the CLI's default); otherwise every file that exists on both sides
	// is hashed.
	Mtime   bool
	Message string
	Mode    FileType // store every regular file with this type (Blob or Executable)
	Exclude *ExcludeFilter
}

// CopyOutOptions configure CopyOut; see CopyInOptions.
type CopyOutOptions struct {
	DryRun, IgnoreExisting, Delete, IgnoreErrors, Mtime bool
}

// SyncOptions configure SyncIn and SyncOut (Message and Exclude apply to
// SyncIn only).
type SyncOptions struct {
	DryRun, IgnoreErrors, Mtime bool
	Message                     string
	Exclude                     *ExcludeFilter
}

// Source modes, as rsync reads a source argument.
type sourceMode int

const (
	modeFile     sourceMode = iota // a file: copied under its name
	modeDir                        // a directory: copied with its name
	modeContents                   // "dir/": the directory's contents
)

// copySource is one resolved source argument. prefix is the part of a
// pivot source ("base/./rest") kept at the destination, above the name.
type copySource struct {
	path   string // local path (copy in) or clean repo path (copy out)
	mode   sourceMode
	prefix string
}

// splitPivot finds rsync's -R marker: "base/./rest" locates base/rest and
// keeps rest at the destination. Only a "/./" after the first byte counts,
// so "./x" is a plain relative path.
func splitPivot(src string) (base, rest string, ok bool) {
	i := strings.Index(src, "/./")
	if i <= 0 {
		return "", "", false
	}
	return src[:i], src[i+3:], true
}

// pivotPrefix is the directory part of a pivot's rest: what the
// destination keeps above the copied name.
func pivotPrefix(restClean string) string {
	dir, _ := splitPath(restClean)
	return dir
}

// repoFile is one file of a snapshot, for planning.
type repoFile struct {
	path string // in the snapshot
	typ  FileType
	oid  string
}

// entryKind says what a path names in a snapshot.
type entryKind int

const (
	kindMissing entryKind = iota
	kindFile
	kindDir
)

// listFiles lists the files under root (clean; "" = the snapshot root),
// keyed by path relative to root and returned sorted by that path too.
// A file at root is returned as itself under the key "" (kind kindFile);
// a missing root, or one that goes through a file, is kindMissing.
// Gitlinks are skipped: there is nothing to copy.
func (f *FS) listFiles(root string) (map[string]repoFile, []string, entryKind, error) {
	files := map[string]repoFile{}
	kind := kindMissing
	err := f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		e, err := f.lookup(ctx, rd, "copy", root)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDir) {
			return nil
		}
		if err != nil {
			return err
		}
		if !e.isDir() {
			kind = kindFile
			if t, ok := e.fileType(); ok {
				files[""] = repoFile{path: root, typ: t, oid: string(e.oid)}
			}
			return nil
		}
		kind = kindDir
		var walk func(oid git.ObjectID, rel string) error
		walk = func(oid git.ObjectID, rel string) error {
			list, err := f.store.readTree(ctx, rd, oid)
			if err != nil {
				return err
			}
			for _, te := range list {
				r := joinPath(rel, te.Name)
				if te.Mode == odb.ModeTree {
					if err := walk(te.OID, r); err != nil {
						return err
					}
					continue
				}
				if t, ok := fileTypeOfGit(te.Mode); ok {
					files[r] = repoFile{path: joinPath(root, r), typ: t, oid: string(te.OID)}
				}
			}
			return nil
		}
		return walk(e.oid, "")
	})
	if err != nil {
		return nil, nil, kindMissing, err
	}
	rels := make([]string, 0, len(files))
	for r := range files {
		rels = append(rels, r)
	}
	sort.Strings(rels)
	return files, rels, kind, nil
}

// errorCollector gathers per-file errors when errors are ignored.
type errorCollector struct {
	ignore bool
	errs   []ChangeError
}

// add records err for path and returns nil to go on, or returns err when
// errors are not ignored.
func (c *errorCollector) add(path string, err error) error {
	if !c.ignore {
		return err
	}
	c.errs = append(c.errs, ChangeError{Path: path, Error: err.Error()})
	return nil
}

// allFailed is the error of a run, ignoring errors, in which not a single
// file went through (succeeded is the count of those that did, unchanged
// ones included).
func allFailed(errs []ChangeError, succeeded int) error {
	if len(errs) == 0 || succeeded > 0 {
		return nil
	}
	return &allFailedError{errs: errs}
}

// allFailedError keeps gitstore's wording, which the CLI prints.
type allFailedError struct{ errs []ChangeError }

func (e *allFailedError) Error() string {
	parts := make([]string, len(e.errs))
	for i, c := range e.errs {
		parts[i] = c.Path + ": " + c.Error
	}
	return "All files failed to copy: [" + strings.Join(parts, "; ") + "]"
}
