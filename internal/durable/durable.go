// Package durable holds what the os package leaves to its callers for a
// change to survive a crash: a file's fsync does not persist the
// directory entry that names it.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// SyncDir fsyncs the directory dir, so that the entries created, renamed
// or removed in it survive a crash.
func SyncDir(dir string) error {
	return syncPath(dir)
}

// SyncFile fsyncs the file at path, for one written by something that
// does not sync it.
func SyncFile(path string) error {
	return syncPath(path)
}

// SyncTree fsyncs dir and every file and directory below it, for a tree
// written by something that syncs nothing (git init, git config) before
// it is renamed into place. The syncs are independent and run in
// parallel, a few at a time.
func SyncTree(dir string) error {
	return syncTree(dir, syncPath)
}

func syncTree(dir string, syncOne func(path string) error) error {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Type().IsRegular() {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	errs := make([]error, len(paths))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range paths {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = syncOne(p)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncPath fsyncs the file or directory at path.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
