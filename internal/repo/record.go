package repo

import (
	"context"
	"errors"

	"github.com/strata-storage/strata/internal/git/refs"
)

// ErrUnavailable means a store the write or read depends on (the clustered
// mode's database or object storage) cannot be reached. Nothing was
// changed; the caller may retry.
var ErrUnavailable = errors.New("storage unavailable")

// Record keeps the refs of record of every repository somewhere other
// than its directory. In the clustered mode (internal/cluster) they live in
// PostgreSQL with the objects in object storage, and a repository's
// directory is this node's cache of them; in the single-node mode there is
// no Record and the directory is the repository.
//
// Every method that fails because the record cannot be reached returns an
// error matching ErrUnavailable.
type Record interface {
	// Create registers a new, empty repository whose HEAD names
	// defaultBranch. An error matching ErrExists if key is taken.
	Create(ctx context.Context, key, defaultBranch string) error
	// Refresh makes the cache at gitDir current: the packs it lacks, then
	// the refs and HEAD of record. An error matching ErrNotFound if the
	// record has no repository key.
	Refresh(ctx context.Context, key, gitDir string) error
	// Publish makes updates part of the record once the objects they need
	// are stored with it, then moves the cache's refs to match. A ref not
	// at its Old value in the record fails the whole transaction with a
	// *refs.MismatchError, exactly as refs.Updater.Apply does; log, when
	// not nil, is the cache's reflog entry. written, when not empty, is a
	// pack in the cache that holds every object the new values reach and
	// the old ones do not (the engine wrote them all in one transaction),
	// so the record can store it as it is instead of packing again.
	Publish(ctx context.Context, key, gitDir string, log *refs.Reflog, updates []refs.Update, written string) error
	// SetHead points HEAD of record, and then the cache's, at branch.
	SetHead(ctx context.Context, key, gitDir, branch string) error
	// Remove forgets the repository and schedules its objects for deletion.
	// Removing an unknown repository is not an error.
	Remove(ctx context.Context, key string) error
}

// SetRecord puts the Manager in the clustered mode. It must be called
// before the Manager serves anything.
func (m *Manager) SetRecord(rec Record) { m.record = rec }
