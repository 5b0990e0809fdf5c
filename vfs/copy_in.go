package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// CopyIn copies local files and directories into the snapshot under dest
// ("" = the root) in one commit (operation "cp"). A source is a file (kept
// under its name), a directory (kept with its name), "dir/" (its contents,
// dotfiles included) or "base/./rest" (rsync -R: rest is kept under dest).
// Sources are literal paths: globs are the caller's business (DiskGlob).
//
// Symlinks are stored as links with their raw targets, dangling ones too,
// and a link to a directory is one link, not descended; a "dir/" source
// that is a link is followed, as a trailing slash is in Unix. With
// FollowSymlinks, links are dereferenced (a directory reached twice by its
// real path is skipped, so cycles end).
//
// A file whose content and type equal the destination's is not written
// and not reported. With Delete, files under dest that no source has are
// removed, except those the Exclude filter excludes. The result's Changes
// list what was done; with DryRun, the snapshot returned is the receiver's
// commit with Changes listing exactly what the copy would do.
func (f *FS) CopyIn(sources []string, dest string, opt CopyInOptions) (*FS, error) {
	return f.copyIn(sources, dest, opt, "cp")
}

// diskSource is a resolved local source and what it contributes.
type diskSource struct {
	copySource
	arg  string       // the argument as given, for error reports
	ex   *excludeWalk // the filter, rooted at a walked directory
	dest string       // where the walked directory lands, relative to dest
	file *diskFile    // a single-file (or single-link) source
}

func (f *FS) copyIn(sources []string, dest string, opt CopyInOptions, op string) (*FS, error) {
	if !opt.DryRun && !f.writable {
		return nil, f.readOnlyErr("write to")
	}
	destPath, err := cleanPath("copy", dest)
	if err != nil {
		return nil, err
	}
	if opt.Mode != "" && opt.Mode != Blob && opt.Mode != Executable {
		return nil, errorf(ErrInvalid, "invalid file mode for a copy: %q", string(opt.Mode))
	}
	errs := &errorCollector{ignore: opt.IgnoreErrors}
	var resolved []copySource
	var args []string
	for _, s := range sources {
		r, err := resolveDiskSource(s)
		if err != nil {
			if err := errs.add(s, err); err != nil {
				return nil, err
			}
			continue
		}
		resolved = append(resolved, r)
		args = append(args, s)
	}
	if len(sources) > 0 && len(resolved) == 0 {
		if err := allFailed(errs.errs, 0); err != nil {
			return nil, err
		}
	}
	return f.copyInResolved(resolved, args, destPath, opt, op, errs)
}

// copyInResolved plans and runs a copy of resolved sources into destPath.
func (f *FS) copyInResolved(resolved []copySource, args []string, destPath string, opt CopyInOptions, op string, errs *errorCollector) (*FS, error) {
	onWalkErr := func(p string, err error) error { return errs.add(p, err) }
	var srcs []diskSource
	var items []planSource
	local := map[string]diskFile{} // by rel; the first source to claim a rel
	addFile := func(rel string, d diskFile) {
		typ := d.fileType()
		if opt.Mode != "" && typ != Link {
			typ = opt.Mode
		}
		items = append(items, planSource{rel: rel, src: d.abs, typ: typ})
		if _, ok := local[rel]; !ok {
			local[rel] = d
		}
	}
	for i, r := range resolved {
		ds := diskSource{copySource: r, arg: args[i]}
		name := filepath.Base(r.path)
		switch {
		case r.mode == modeFile || (r.mode == modeDir && !opt.FollowSymlinks && isSymlink(r.path)):
			// A named file, or a named directory link kept as a link.
			info, err := os.Lstat(r.path)
			link := err == nil && info.Mode()&fs.ModeSymlink != 0
			if err == nil && link && opt.FollowSymlinks {
				if t, err := os.Stat(r.path); err == nil {
					info, link = t, false
				}
			}
			if err != nil {
				if err := errs.add(r.path, err); err != nil {
					return nil, err
				}
				continue
			}
			if !link && !info.Mode().IsRegular() {
				if err := errs.add(r.path, &fs.PathError{Op: "copy", Path: r.path, Err: errorf(ErrInvalid, "not a regular file")}); err != nil {
					return nil, err
				}
				continue
			}
			if opt.Exclude.IsExcluded(name, false) {
				continue
			}
			d := diskFile{rel: name, abs: r.path, info: info, link: link}
			ds.file = &d
			addFile(joinPath(r.prefix, name), d)
		default:
			ds.dest = r.prefix
			if r.mode == modeDir {
				if opt.Exclude.IsExcluded(name, true) {
					continue
				}
				ds.dest = joinPath(r.prefix, name)
			}
			ds.ex = opt.Exclude.walker(r.path)
			files, err := walkDisk(r.path, opt.FollowSymlinks, ds.ex, onWalkErr)
			if err != nil {
				return nil, err
			}
			for _, d := range files {
				addFile(joinPath(ds.dest, d.rel), d)
			}
		}
		srcs = append(srcs, ds)
	}

	existing, _, destKind, err := f.listFiles(destPath)
	if err != nil {
		return nil, err
	}
	// A file at dest is replaced by the directory the copy writes; with
	// nothing to write and Delete set, it is removed (below).
	destFile, hasDestFile := existing[""]
	delete(existing, "")
	types := make(map[string]FileType, len(existing))
	for rel, e := range existing {
		types[rel] = e.typ
	}

	changed := diskChanged(local, existing, opt.Mtime, f.when.Unix())
	var keep func(string) (bool, error)
	if opt.Exclude.Active() {
		keep = func(rel string) (bool, error) { return protectedInRepo(srcs, opt.Exclude, rel) }
	}
	p, err := buildPlan(items, types, planOptions{delete: opt.Delete, ignoreExisting: opt.IgnoreExisting, ignoreErrors: opt.IgnoreErrors}, changed, keep)
	if err != nil {
		return nil, err
	}
	p.errors = append(append([]ChangeError(nil), errs.errs...), p.errors...)
	var removeDest bool
	if opt.Delete && destKind == kindFile && hasDestFile && len(p.add)+len(p.update) == 0 {
		removeDest = true
		p.delete = append(p.delete, FileEntry{Path: destPath, Type: destFile.typ})
	}
	removePath := func(rel string) string {
		if removeDest && rel == destPath {
			return destPath
		}
		return joinPath(destPath, rel)
	}

	if opt.DryRun {
		// The real run would fail on files it cannot read; find them
		// now (without reading them) so the dry run reports the same.
		failed := map[string]bool{}
		probeErrs := &errorCollector{ignore: opt.IgnoreErrors}
		for _, s := range append(append([]planSource(nil), p.add...), p.update...) {
			if err := probeReadable(local[s.rel]); err != nil {
				if err := probeErrs.add(s.src, err); err != nil {
					return nil, err
				}
				failed[s.rel] = true
			}
		}
		p.errors = append(p.errors, probeErrs.errs...)
		if err := allFailed(p.errors, p.ok-len(failed)+len(p.delete)); err != nil {
			return nil, err
		}
		return f.withChanges(p.report(failed)), nil
	}

	if len(p.add)+len(p.update)+len(p.delete) == 0 {
		if err := allFailed(p.errors, p.ok); err != nil {
			return nil, err
		}
		return f.withChanges(p.report(nil)), nil
	}
	b, err := f.Batch(BatchOptions{Message: opt.Message, Operation: op})
	if err != nil {
		return nil, err
	}
	failed := map[string]bool{}
	runErrs := &errorCollector{ignore: opt.IgnoreErrors}
	for _, s := range append(append([]planSource(nil), p.add...), p.update...) {
		d := local[s.rel]
		repoPath := joinPath(destPath, s.rel)
		var err error
		if d.link {
			var target string
			if target, err = os.Readlink(d.abs); err == nil {
				err = b.WriteSymlink(repoPath, target)
			}
		} else {
			err = b.WriteFromFile(repoPath, d.abs, s.typ)
		}
		if err != nil {
			if err := runErrs.add(s.src, err); err != nil {
				b.Abort()
				return nil, err
			}
			failed[s.rel] = true
		}
	}
	deleted := 0
	for _, d := range p.delete {
		if err := b.Remove(removePath(d.Path)); err != nil {
			if err := runErrs.add(d.Path, err); err != nil {
				b.Abort()
				return nil, err
			}
			failed[d.Path] = true
			continue
		}
		deleted++
	}
	p.errors = append(p.errors, runErrs.errs...)
	if err := allFailed(p.errors, p.ok-len(failed)+deleted); err != nil {
		b.Abort()
		return nil, err
	}
	out, err := b.Commit()
	if err != nil {
		return nil, err
	}
	return out.withChanges(p.report(failed)), nil
}

// resolveDiskSource reads one source argument (see CopyIn).
func resolveDiskSource(src string) (copySource, error) {
	if base, rest, ok := splitPivot(src); ok {
		contents := strings.HasSuffix(rest, "/")
		restClean := strings.Trim(rest, "/")
		full := base
		if restClean != "" {
			full = filepath.Join(base, filepath.FromSlash(restClean))
		}
		mode, err := diskSourceMode(full, contents)
		if err != nil {
			return copySource{}, err
		}
		return copySource{path: full, mode: mode, prefix: pivotPrefix(restClean)}, nil
	}
	trimmed := strings.TrimRight(src, "/")
	if filepath.Separator != '/' {
		trimmed = strings.TrimRight(trimmed, string(filepath.Separator))
	}
	contents := trimmed != src
	p := trimmed
	if p == "" && src != "" {
		p = string(filepath.Separator) // "/" itself
	}
	mode, err := diskSourceMode(p, contents)
	if err != nil {
		return copySource{}, err
	}
	return copySource{path: p, mode: mode}, nil
}

// diskSourceMode classifies an existing local path. A directory (or a
// link to one) is a directory source; anything else that exists, dangling
// links included, is a file.
func diskSourceMode(p string, contents bool) (sourceMode, error) {
	info, err := os.Stat(p)
	if err == nil && info.IsDir() {
		if contents {
			return modeContents, nil
		}
		return modeDir, nil
	}
	if _, lerr := os.Lstat(p); lerr != nil {
		if errors.Is(lerr, fs.ErrNotExist) || errors.Is(lerr, syscall.ENOTDIR) {
			return 0, errorf(ErrNotFound, "Local file not found: %s", p)
		}
		return 0, lerr
	}
	if contents {
		return 0, errorf(ErrNotDir, "Not a directory: %s", p)
	}
	return modeFile, nil
}

func isSymlink(p string) bool {
	info, err := os.Lstat(p)
	return err == nil && info.Mode()&fs.ModeSymlink != 0
}

// probeReadable checks, without reading, that a planned write could read
// its source.
func probeReadable(d diskFile) error {
	if d.link {
		_, err := os.Readlink(d.abs)
		return err
	}
	file, err := os.Open(d.abs)
	if err != nil {
		return err
	}
	return file.Close()
}

// protectedInRepo reports whether a repo file that no source covers (rel,
// relative to the destination) is one the filter excludes, and so must
// survive a delete. It is judged by the source whose destination directory
// holds it, with that source's .gitignore files; otherwise by the base
// patterns alone.
func protectedInRepo(srcs []diskSource, ex *ExcludeFilter, rel string) (bool, error) {
	for _, s := range srcs {
		if s.file != nil {
			if rel == joinPath(s.prefix, s.file.rel) {
				return ex.IsExcluded(s.file.rel, false), nil
			}
			continue
		}
		if s.dest == "" {
			return s.ex.protected(rel)
		}
		if strings.HasPrefix(rel, s.dest+"/") {
			return s.ex.protected(rel[len(s.dest)+1:])
		}
	}
	parts := splitRel(rel)
	for i := 1; i <= len(parts); i++ {
		if ex.IsExcluded(path.Join(parts[:i]...), i < len(parts)) {
			return true, nil
		}
	}
	return false, nil
}
