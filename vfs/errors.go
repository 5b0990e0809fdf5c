package vfs

import (
	"errors"
	"fmt"
	"io/fs"
)

// Sentinels. Path errors are *fs.PathError values wrapping one of these, so
// errors.Is(err, fs.ErrNotExist) and friends work as for os and io/fs.
var (
	ErrNotFound   = fs.ErrNotExist
	ErrExist      = fs.ErrExist
	ErrReadOnly   = fs.ErrPermission
	ErrInvalid    = fs.ErrInvalid
	ErrIsDir      = errors.New("is a directory")
	ErrNotDir     = errors.New("not a directory")
	ErrNotSymlink = errors.New("not a symlink")
)

// RefError is an error about a branch or tag: Kind is "branch" or "tag".
type RefError struct {
	Kind string
	Name string
	Err  error
}

func (e *RefError) Error() string {
	switch {
	case errors.Is(e.Err, ErrNotFound):
		return fmt.Sprintf("%s not found: '%s'", e.Kind, e.Name)
	case errors.Is(e.Err, ErrExist):
		return fmt.Sprintf("%s '%s' already exists", e.Kind, e.Name)
	}
	return fmt.Sprintf("%s '%s': %v", e.Kind, e.Name, e.Err)
}

func (e *RefError) Unwrap() error { return e.Err }

// StaleSnapshotError is a write (or undo, redo) from a snapshot that is no
// longer its branch's tip: another writer moved the branch first. Fetch the
// branch again and redo the write (RetryWrite does this for one file).
type StaleSnapshotError struct {
	Branch   string
	Snapshot string // the snapshot's commit
	Tip      string // the branch's commit when the write was refused ("" if deleted)
}

func (e *StaleSnapshotError) Error() string {
	return fmt.Sprintf("Branch '%s' has advanced since this snapshot", e.Branch)
}

// pathErr builds the *fs.PathError every path-taking method returns.
func pathErr(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// readOnlyErr is a write on a snapshot that is not a branch tip.
func (f *FS) readOnlyErr(verb string) error {
	what := "detached commit " + f.commit.Short()
	if f.ref != "" {
		what = "ref '" + f.ref + "'"
	}
	return errorf(ErrReadOnly, "Cannot %s read-only snapshot (%s)", verb, what)
}

// kindError keeps gitstore's wording of a message (the CLI prints it and
// its tests match it) while matching a sentinel with errors.Is.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorf(kind error, format string, a ...any) error {
	return &kindError{msg: fmt.Sprintf(format, a...), kind: kind}
}
