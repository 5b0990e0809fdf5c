package refs

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
)

// ErrNotDurable means a transaction committed (the refs moved and are
// visible) but the directory entries naming them could not be synced, so
// a power loss may still undo it. Callers record the move as made and
// fail the request: the write was not durable when it returned.
var ErrNotDurable = errors.New("refs moved but could not be made durable")

// syncRefDirs makes a committed transaction survive a power loss. git
// fsyncs each new value in its lock file (core.fsync=reference) and then
// renames the lock over the ref, or unlinks the ref, and rewrites
// packed-refs for a deletion, but it never syncs a directory, so the
// rename itself may be lost. Every directory from refs/ down to each
// ref's parent is synced (git creates the missing ones for a new ref), and
// the repository's own directory when a ref was deleted (packed-refs); in
// parallel, as they are independent. A directory that is gone (git
// removes the empty parents of a deleted ref) has nothing to persist.
func (u *Updater) syncRefDirs(gitDir string, updates []Update) error {
	dirs := make(map[string]bool)
	refsDir := filepath.Join(gitDir, "refs")
	for _, up := range updates {
		if up.IsDelete() {
			dirs[gitDir] = true
		}
		ref := string(up.Ref)
		if !strings.HasPrefix(ref, "refs/") {
			dirs[gitDir] = true
			continue
		}
		for d := filepath.Dir(filepath.Join(gitDir, filepath.FromSlash(ref))); len(d) >= len(refsDir); d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	errs := make(chan error, len(dirs))
	var wg sync.WaitGroup
	for d := range dirs {
		wg.Go(func() {
			if err := u.syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		return errors.Join(append([]error{ErrNotDurable}, all...)...)
	}
	return nil
}
