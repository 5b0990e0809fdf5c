package vfs

import (
	"context"
	"errors"
	"iter"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// Parent is the first parent's snapshot, bound to the same ref (writing
// through it fails as stale: it is not the tip); nil, nil at the root.
func (f *FS) Parent() (*FS, error) {
	if f.parent == "" {
		return nil, nil
	}
	return f.store.snapshot(context.Background(), f.parent, f.ref, f.writable)
}

// Back walks n first parents back (0: f itself).
func (f *FS) Back(n int) (*FS, error) {
	if n < 0 {
		return nil, errorf(ErrInvalid, "back() requires n >= 0, got %d", n)
	}
	cur := f
	for i := 0; i < n; i++ {
		p, err := cur.Parent()
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, errorf(ErrInvalid, "Cannot go back %d commits — history too short", n)
		}
		cur = p
	}
	return cur, nil
}

// Log walks history from f along first parents, newest first, keeping the
// commits that pass every filter of opt, applied in gitstore's order:
// Before (commits newer than it are skipped until the first that is not;
// history is assumed to grow in time after that), Path (the entry at Path
// differs from the parent's, by object id or mode, which counts adds,
// deletes and mode-only changes), Match (fnmatch over the whole message).
// The snapshots keep f's ref and writability.
func (f *FS) Log(opt LogOptions) iter.Seq2[*FS, error] {
	return func(yield func(*FS, error) bool) {
		var path string
		if opt.Path != "" {
			p, err := cleanPath("log", opt.Path)
			if err != nil {
				yield(nil, err)
				return
			}
			path = p
		}
		var match func(string) bool
		if opt.Match != "" {
			match = fnmatchFunc(opt.Match, false)
		}
		// gitstore checks the time of every commit, path or not, until the
		// first one at or before Before; so with Before the walk must see
		// them all, and without it git can skip the ones that leave path
		// alone.
		timeChecked := opt.Before.IsZero()
		stopped := false
		err := f.store.repo.FirstParentLog(context.Background(), f.commit, path, !timeChecked, func(c *repo.Commit, changed bool) bool {
			cur := f.store.fromCommit(c, f.ref, f.writable)
			if !timeChecked {
				if cur.when.After(opt.Before) {
					return true
				}
				timeChecked = true
			}
			if !changed || (match != nil && !match(cur.message)) {
				return true
			}
			if !yield(cur, nil) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil && !stopped {
			yield(nil, err)
		}
	}
}

// Undo moves the branch back steps first-parent commits, with one reflog
// entry "undo: move back", and returns the snapshot it moved to.
func (f *FS) Undo(steps int) (*FS, error) {
	if steps < 1 {
		return nil, errorf(ErrInvalid, "steps must be >= 1, got %d", steps)
	}
	if !f.writable {
		return nil, f.readOnlyErr("undo on")
	}
	cur := f
	for i := 0; i < steps; i++ {
		p, err := cur.Parent()
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, errorf(ErrInvalid, "Cannot undo %d steps - only %d commit(s) in history", steps, i)
		}
		cur = p
	}
	if err := f.checkTip(); err != nil {
		return nil, err
	}
	if err := f.moveBranch(cur.commit, "undo: move back"); err != nil {
		return nil, err
	}
	return cur, nil
}

// Redo moves the branch forward again along its reflog: from the newest
// entry that arrived at f's commit, steps entries back, taking each
// entry's previous value; one reflog entry "redo: move forward".
func (f *FS) Redo(steps int) (*FS, error) {
	if steps < 1 {
		return nil, errorf(ErrInvalid, "steps must be >= 1, got %d", steps)
	}
	if !f.writable {
		return nil, f.readOnlyErr("redo on")
	}
	if err := f.checkTip(); err != nil {
		return nil, err
	}
	entries, err := readReflog(f.store.path, branchRef(f.ref))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, errorf(ErrNotFound, "No reflog found for branch '%s'", f.ref)
	}
	at := -1
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].New == string(f.commit) {
			at = i
			break
		}
	}
	if at < 0 {
		return nil, errorf(ErrInvalid, "Cannot redo - current commit not in reflog (you may have a stale snapshot)")
	}
	var target string
	for k := 0; k < steps; k++ {
		i := at - k
		if i < 0 {
			return nil, errorf(ErrInvalid, "Cannot redo %d steps - only %d step(s) available", steps, k)
		}
		target = entries[i].Old
		if git.ObjectID(target).IsZero() {
			return nil, errorf(ErrInvalid, "Cannot redo %d step(s) — reaches branch creation point (no prior commit)", steps)
		}
	}
	snap, err := f.store.snapshot(context.Background(), git.ObjectID(target), f.ref, true)
	if err != nil {
		if errors.Is(err, repo.ErrNotFound) {
			return nil, errorf(ErrNotFound, "Cannot redo - commit %s no longer exists", target)
		}
		return nil, err
	}
	if err := f.moveBranch(snap.commit, "redo: move forward"); err != nil {
		return nil, err
	}
	return snap, nil
}
