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
	"sync/atomic"
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
// it is renamed into place, in parallel.
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
	return Parallel(len(paths), func(i int) error { return syncOne(paths[i]) })
}

// parallelism bounds concurrent fsyncs. Issued together, fsyncs share
// the file system's journal commits and device flushes.
const parallelism = 16

// Parallel calls fn(0..n-1) on up to 16 goroutines, all joined before it
// returns, and returns every error: syncs of different files are
// independent, and the disk takes several at once for little more than
// the time of one.
func Parallel(n int, fn func(i int) error) error {
	if n <= 1 {
		if n == 1 {
			return fn(0)
		}
		return nil
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	for range min(n, parallelism) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				errs[i] = fn(i)
			}
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
