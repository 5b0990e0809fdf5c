package metadata

import (
	"context"
	"time"
)

// Ledger holds the refs of record and the pack manifest of every
// repository in the clustered mode (docs/scale-out.md): the refs, HEAD, the
// list of packs in object storage that together hold every object the refs
// reach, and a version that moves with every change of refs or HEAD. It is
// implemented by PostgresStore; the single-node mode has none.
type Ledger interface {
	// LedgerCreate registers an empty repository (version 0, no refs, no
	// packs) whose HEAD names head. ErrExists if storageKey is registered.
	LedgerCreate(ctx context.Context, storageKey, head string) error
	// LedgerVersion returns the repository's version and HEAD: the cheap
	// check a node makes before serving it. ErrNotFound if unregistered.
	LedgerVersion(ctx context.Context, storageKey string) (version int64, head string, err error)
	// LedgerSnapshot returns the whole state, read in one transaction.
	LedgerSnapshot(ctx context.Context, storageKey string) (LedgerState, error)
	// LedgerPublish applies one ref transaction: in one database
	// transaction it checks every change's Old against the ref of record,
	// applies them all, adds pack (if not nil) to the manifest, appends
	// events (as AppendRefEvents would, in the same feed order), and moves
	// the version on. A ref not at Old fails it all with a
	// *LedgerMismatchError and changes nothing, as does a created ref
	// that clashes with an existing one (*LedgerNameClashError); ErrNotFound if the
	// repository is not registered.
	LedgerPublish(ctx context.Context, storageKey string, changes []RefChange, pack *PackRecord, events []RefEvent) (Published, error)
	// LedgerSetHead points HEAD at head and moves the version on.
	LedgerSetHead(ctx context.Context, storageKey, head string) error
	// LedgerReplacePacks swaps the packs named in old, all of which must
	// still be in the manifest, for pack (maintenance's compaction). The
	// version does not move: no ref changed and every object is still
	// there. The replaced packs are queued for deletion with the time.
	// ErrNotFound if one of old is no longer listed.
	LedgerReplacePacks(ctx context.Context, storageKey string, old []string, pack PackRecord) error
	// LedgerTryLock takes the cluster-wide lock name if no one holds it
	// (a PostgreSQL advisory lock on a connection of its own): ok false if
	// someone does. release gives it back; a node that dies releases it
	// with its connection.
	LedgerTryLock(ctx context.Context, name string) (release func(), ok bool, err error)
	// LedgerRemove forgets the repository: its refs and manifest go, its
	// packs are queued for deletion. Removing an unknown key is no error.
	LedgerRemove(ctx context.Context, storageKey string) error
	// LedgerGarbage returns up to limit packs queued for deletion before
	// cutoff, oldest first; LedgerForgetGarbage drops them from the queue
	// once they are deleted from object storage.
	LedgerGarbage(ctx context.Context, cutoff time.Time, limit int) ([]GarbagePack, error)
	LedgerForgetGarbage(ctx context.Context, packs []GarbagePack) error
}

// Published is the outcome of LedgerPublish.
type Published struct {
	// Before and After are the repository's versions around the change.
	Before, After int64
	// Packs is the number of packs the manifest lists afterwards.
	Packs int
}

// RefChange is one ref of a ledger transaction. Old "" or all zeros means
// the ref must not exist; New all zeros deletes it. Ref is the full name
// git stores (namespace prefix included).
type RefChange struct {
	Ref, Old, New string
}

// PackRecord is one pack in object storage.
type PackRecord struct {
	// Name is git's name for it, "pack-<hash>"; the pack and its index
	// are stored as Name+".pack" and Name+".idx".
	Name  string
	Bytes int64 // of the .pack
	// Replaces lists the packs whose objects it holds, all of them: a node
	// that has every one of those need not download it.
	Replaces []string
}

// LedgerState is a repository's state of record at one version.
type LedgerState struct {
	Version int64
	Head    string
	Refs    map[string]string // full ref name → object id
	Packs   []PackRecord      // in the order they were added
}

// GarbagePack is a pack no manifest lists any more, to be deleted from
// object storage once no node can still be downloading it.
type GarbagePack struct {
	StorageKey string
	Name       string
	Since      time.Time
}

// LedgerNameClashError means a created ref cannot exist beside Existing:
// git stores refs as paths, so refs/x and refs/x/y exclude each other, and
// the ledger keeps what a cache can hold.
type LedgerNameClashError struct {
	Ref, Existing string
}

func (e *LedgerNameClashError) Error() string {
	return "reference " + e.Ref + " cannot exist beside " + e.Existing
}

// LedgerMismatchError means a ref was not at the Old value of the change.
type LedgerMismatchError struct {
	Ref, Expect, Actual string // Actual "" when the ref does not exist
}

func (e *LedgerMismatchError) Error() string {
	return "reference " + e.Ref + " is at " + orNone(e.Actual) + " but expected " + orNone(e.Expect)
}

func orNone(id string) string {
	if id == "" {
		return "nothing"
	}
	return id
}
