package refs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RemoveStaleLocks removes the ref lock files of the repository at gitDir
// (HEAD.lock, packed-refs.lock and refs/**/*.lock) last modified before
// cutoff, and returns their paths. git removes its locks when it exits,
// even on an error; one is left only by a git killed between taking it and
// committing (SIGKILL, the OOM killer, a power loss), and then every later
// change of that ref fails on it, for good. A live lock is held for
// milliseconds (seconds for pack-refs), so callers pick a cutoff no live
// lock can be older than: when this process started, before it ran git
// in the repository, or long ago.
func RemoveStaleLocks(gitDir string, cutoff time.Time) ([]string, error) {
	var stale []string
	old := func(path string, fi fs.FileInfo) {
		if fi.Mode().IsRegular() && fi.ModTime().Before(cutoff) {
			stale = append(stale, path)
		}
	}
	for _, name := range []string{"HEAD.lock", "packed-refs.lock"} {
		path := filepath.Join(gitDir, name)
		if fi, err := os.Lstat(path); err == nil {
			old(path, fi)
		}
	}
	err := filepath.WalkDir(filepath.Join(gitDir, "refs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking: by git, with its ref
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".lock") {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			old(path, fi)
		}
		return nil
	})
	var removed []string
	errs := []error{err}
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
