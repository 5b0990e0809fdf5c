package repo

import (
	"errors"
	"fmt"

	"github.com/strata-storage/strata/internal/git"
)

var (
	// ErrNotFound: a ref, path, object or repository does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPrecondition: the caller's expectation (expected head) was wrong.
	ErrPrecondition = errors.New("precondition failed")
	// ErrConflict: another writer changed the ref while we worked.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request cannot be carried out as asked.
	ErrInvalid = errors.New("invalid request")
	// ErrExists: the ref or repository already exists.
	ErrExists = errors.New("already exists")
	// ErrUnsupported: this server's git cannot do it (e.g. grep without
	// PCRE2).
	ErrUnsupported = errors.New("not supported by this server")
)

// NotFoundError names what was missing.
type NotFoundError struct {
	Kind string // "branch", "path", "commit", "revision", "repository"
	Name string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %s not found", e.Kind, e.Name) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(kind, name string) error { return &NotFoundError{Kind: kind, Name: name} }

// PreconditionError is an expected head that did not match.
type PreconditionError struct {
	Ref      git.ReferenceName
	Expected git.ObjectID
	Actual   git.ObjectID
}

func (e *PreconditionError) Error() string {
	return "expected head sha mismatch"
}

// Is makes errors.Is(err, ErrPrecondition) true.
func (e *PreconditionError) Is(target error) bool { return target == ErrPrecondition }

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}
