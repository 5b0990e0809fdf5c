package refs

import (
	"errors"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strata-storage/strata/internal/durable"
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
	list := slices.Collect(maps.Keys(dirs))
	err := durable.Parallel(len(list), func(i int) error {
		if err := u.syncDir(list[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return errors.Join(ErrNotDurable, err)
	}
	return nil
}
