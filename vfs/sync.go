package vfs

import (
	"errors"
	"io/fs"
	"os"
)

// SyncIn makes repoPath ("" = the root) hold exactly what the local
// directory localPath holds, in one commit (operation "sync"): CopyIn of
// the directory's contents with Delete. Files the Exclude filter excludes
// are neither copied nor deleted.
//
// A missing localPath counts as an empty directory: everything under
// repoPath is deleted (repoPath itself when it is a file). A repoPath that
// is a file becomes a directory. A localPath that is a file is an error,
// not an empty source: a mistyped path must not wipe the destination.
func (f *FS) SyncIn(localPath, repoPath string, opt SyncOptions) (*FS, error) {
	copyOpt := CopyInOptions{
		DryRun:       opt.DryRun,
		Delete:       true,
		IgnoreErrors: opt.IgnoreErrors,
		Mtime:        opt.Mtime,
		Message:      opt.Message,
		Exclude:      opt.Exclude,
	}
	info, err := os.Stat(localPath)
	if errors.Is(err, fs.ErrNotExist) {
		if !opt.DryRun && !f.writable {
			return nil, f.readOnlyErr("write to")
		}
		destPath, err := cleanPath("sync", repoPath)
		if err != nil {
			return nil, err
		}
		return f.copyInResolved(nil, nil, destPath, copyOpt, "sync", &errorCollector{ignore: opt.IgnoreErrors})
	}
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, errorf(ErrNotDir, "Not a directory: %s", localPath)
	}
	return f.copyIn([]string{localPath + "/"}, repoPath, copyOpt, "sync")
}

// SyncOut makes the local directory localPath hold exactly what repoPath
// ("" = the root) holds: CopyOut of the directory's contents with Delete.
// A missing repoPath counts as an empty directory: localPath is emptied
// (files deleted, directories pruned) but kept. A repoPath that is a file
// is an error, for the same reason as in SyncIn.
func (f *FS) SyncOut(repoPath, localPath string, opt SyncOptions) (*FS, error) {
	copyOpt := CopyOutOptions{DryRun: opt.DryRun, Delete: true, IgnoreErrors: opt.IgnoreErrors, Mtime: opt.Mtime}
	p, err := cleanPath("sync", repoPath)
	if err != nil {
		return nil, err
	}
	errs := &errorCollector{ignore: opt.IgnoreErrors}
	if p == "" {
		return f.copyOutResolved([]copySource{{path: "", mode: modeContents}}, localPath, copyOpt, errs)
	}
	isDir, err := f.IsDir(p)
	if err != nil {
		return nil, err
	}
	if !isDir {
		exists, err := f.Exists(p)
		if err != nil {
			return nil, err
		}
		if exists {
			return nil, errorf(ErrNotDir, "Not a directory in repo: %s", p)
		}
		return f.copyOutResolved(nil, localPath, copyOpt, errs)
	}
	return f.copyOutResolved([]copySource{{path: p, mode: modeContents}}, localPath, copyOpt, errs)
}
