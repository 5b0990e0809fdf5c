package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// CopyOut copies files of the snapshot to the local directory dest, with
// CopyIn's source modes read on the repo side ("" is the root's contents).
// Links are recreated as symlinks, executables get mode 0755, and every
// file written gets the commit's time as its mtime, so copying the files
// back in finds them unchanged.
//
// Nothing is written or removed outside dest: a file or link in the way of
// a directory the copy needs inside dest is replaced by a real directory,
// and a directory in the way of a file is removed. With Delete, local
// files that no source has are removed, then every empty directory under
// dest (never dest itself); dest is created when missing.
//
// The snapshot returned is the receiver's commit, with Changes listing
// what was done (with DryRun: what would be, with nothing touched).
func (f *FS) CopyOut(sources []string, dest string, opt CopyOutOptions) (*FS, error) {
	errs := &errorCollector{ignore: opt.IgnoreErrors}
	var resolved []copySource
	for _, s := range sources {
		r, err := f.resolveRepoSource(s)
		if err != nil {
			if err := errs.add(s, err); err != nil {
				return nil, err
			}
			continue
		}
		resolved = append(resolved, r)
	}
	if len(sources) > 0 && len(resolved) == 0 {
		if err := allFailed(errs.errs, 0); err != nil {
			return nil, err
		}
	}
	return f.copyOutResolved(resolved, dest, opt, errs)
}

func (f *FS) copyOutResolved(resolved []copySource, dest string, opt CopyOutOptions, errs *errorCollector) (*FS, error) {
	if info, err := os.Stat(dest); err == nil && !info.IsDir() {
		return nil, &fs.PathError{Op: "copy", Path: dest, Err: errorf(ErrNotDir, "Not a directory: %s", dest)}
	}
	var items []planSource
	repo := map[string]repoFile{} // by rel; the first source to claim a rel
	for _, r := range resolved {
		files, rels, kind, err := f.listFiles(r.path)
		if err != nil {
			return nil, err
		}
		_, name := splitPath(r.path)
		base := r.prefix
		switch {
		case kind == kindFile:
			base = joinPath(r.prefix, name)
		case r.mode == modeDir:
			base = joinPath(r.prefix, name)
		}
		for _, rel := range rels {
			e := files[rel]
			to := joinPath(base, rel)
			items = append(items, planSource{rel: to, src: e.path, typ: e.typ})
			if _, ok := repo[to]; !ok {
				repo[to] = e
			}
		}
	}

	// What is at the destination: in delete mode, every file under it;
	// otherwise only the paths the copy writes.
	local := map[string]diskFile{}
	if opt.Delete {
		if _, err := os.Lstat(dest); err == nil {
			found, err := walkDisk(dest, false, nil, func(p string, err error) error { return errs.add(p, err) })
			if err != nil {
				return nil, err
			}
			for _, d := range found {
				local[d.rel] = d
			}
		}
	} else {
		for _, it := range items {
			d, ok, err := lstatInside(dest, it.rel)
			if err != nil {
				if err := errs.add(filepath.Join(dest, filepath.FromSlash(it.rel)), err); err != nil {
					return nil, err
				}
				continue
			}
			if ok {
				local[it.rel] = d
			}
		}
	}
	types := make(map[string]FileType, len(local))
	for rel, d := range local {
		if d.info.IsDir() {
			types[rel] = Tree // only seen outside delete mode
		} else {
			types[rel] = d.fileType()
		}
	}

	changed := diskChanged(local, repo, opt.Mtime, f.when.Unix())
	p, err := buildPlan(items, types, planOptions{delete: opt.Delete, ignoreExisting: opt.IgnoreExisting, ignoreErrors: opt.IgnoreErrors}, changed, nil)
	if err != nil {
		return nil, err
	}
	p.errors = append(append([]ChangeError(nil), errs.errs...), p.errors...)
	if opt.DryRun {
		if err := allFailed(p.errors, p.ok+len(p.delete)); err != nil {
			return nil, err
		}
		return f.withChanges(p.report(nil)), nil
	}

	runErrs := &errorCollector{ignore: opt.IgnoreErrors}
	failed := map[string]bool{}
	writes := append(append([]planSource(nil), p.add...), p.update...)
	if opt.Delete || len(writes) > 0 {
		if err := os.MkdirAll(dest, 0o777); err != nil {
			return nil, err
		}
	}
	deleted := 0
	for _, d := range p.delete {
		// The walk never went through a link, so this path is inside dest.
		err := os.Remove(filepath.Join(dest, filepath.FromSlash(d.Path)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			if err := runErrs.add(d.Path, err); err != nil {
				return nil, err
			}
			failed[d.Path] = true
			continue
		}
		deleted++
	}
	for _, s := range writes {
		if err := f.writeLocal(dest, s.rel, repo[s.rel]); err != nil {
			if err := runErrs.add(filepath.Join(dest, filepath.FromSlash(s.rel)), err); err != nil {
				return nil, err
			}
			failed[s.rel] = true
		}
	}
	if opt.Delete {
		if err := pruneEmptyDirs(dest); err != nil {
			if err := runErrs.add(dest, err); err != nil {
				return nil, err
			}
		}
	}
	p.errors = append(p.errors, runErrs.errs...)
	if err := allFailed(p.errors, p.ok-len(failed)+deleted); err != nil {
		return nil, err
	}
	return f.withChanges(p.report(failed)), nil
}

// resolveRepoSource reads one repo source argument (see CopyOut).
func (f *FS) resolveRepoSource(src string) (copySource, error) {
	var full, prefix string
	var contents bool
	if base, rest, ok := splitPivot(src); ok {
		contents = strings.HasSuffix(rest, "/")
		restClean := strings.Trim(rest, "/")
		full = joinPath(strings.TrimRight(base, "/"), restClean)
		prefix = pivotPrefix(restClean)
	} else {
		contents = strings.HasSuffix(src, "/")
		full = src
	}
	p, err := cleanPath("copy", full)
	if err != nil {
		return copySource{}, err
	}
	if p == "" {
		return copySource{path: "", mode: modeContents, prefix: prefix}, nil
	}
	isDir, err := f.IsDir(p)
	if err != nil {
		return copySource{}, err
	}
	if isDir {
		if contents {
			return copySource{path: p, mode: modeContents, prefix: prefix}, nil
		}
		return copySource{path: p, mode: modeDir, prefix: prefix}, nil
	}
	exists, err := f.Exists(p)
	if err != nil {
		return copySource{}, err
	}
	switch {
	case !exists:
		return copySource{}, errorf(ErrNotFound, "File not found in repo: %s", p)
	case contents:
		return copySource{}, errorf(ErrNotDir, "Not a directory in repo: %s", p)
	}
	return copySource{path: p, mode: modeFile, prefix: prefix}, nil
}

// lstatInside looks rel up under dest without following any link on the
// way: a path whose parent inside dest is a link or a file does not
// exist as far as the copy goes (the write will replace that parent).
func lstatInside(dest, rel string) (diskFile, bool, error) {
	cur := dest
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		cur = filepath.Join(cur, name)
		info, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return diskFile{}, false, nil
		}
		if err != nil {
			return diskFile{}, false, err
		}
		if i == len(parts)-1 {
			link := info.Mode()&fs.ModeSymlink != 0
			return diskFile{rel: rel, abs: cur, info: info, link: link}, true, nil
		}
		if !info.IsDir() { // a file or a link where a directory goes
			return diskFile{}, false, nil
		}
	}
	return diskFile{}, false, nil
}

// writeLocal writes repo file e at dest/rel. Each directory on the way
// that is not a real directory (a file, or a link that could lead outside
// dest) is replaced by one; whatever is at dest/rel itself is removed
// first, so an existing link there is replaced, never written through.
func (f *FS) writeLocal(dest, rel string, e repoFile) error {
	parts := strings.Split(rel, "/")
	dir := dest
	for _, name := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, name)
		info, err := os.Lstat(dir)
		switch {
		case err == nil && info.IsDir():
			continue
		case err == nil:
			if err := os.Remove(dir); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := os.Mkdir(dir, 0o777); err != nil {
			return err
		}
	}
	out := filepath.Join(dir, parts[len(parts)-1])
	if info, err := os.Lstat(out); err == nil {
		if info.IsDir() {
			err = os.RemoveAll(out)
		} else {
			err = os.Remove(out)
		}
		if err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if e.typ == Link {
		target, err := f.Readlink(e.path)
		if err != nil {
			return err
		}
		// A link's mtime is never compared (links are always hashed), so
		// it is left alone: setting it needs lutimes, which is not portable.
		return os.Symlink(target, out)
	}
	if err := f.writeBlobFile(e.path, out); err != nil {
		os.Remove(out)
		return err
	}
	if e.typ == Executable {
		// 0755 whatever the umask, as gitstore and git checkout do.
		if err := os.Chmod(out, 0o755); err != nil {
			return err
		}
	}
	return os.Chtimes(out, f.when, f.when)
}

// writeBlobFile streams the blob at repoPath into a new file out.
func (f *FS) writeBlobFile(repoPath, out string) error {
	src, err := f.OpenFile(repoPath)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// pruneEmptyDirs removes every empty directory under root, deepest first,
// but never root. Links are not followed.
func pruneEmptyDirs(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Longer paths first: children before their parents.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err == nil && len(entries) == 0 {
			if err := os.Remove(d); err != nil {
				return err
			}
		}
	}
	return nil
}
