package metadata

import (
	"context"
	"time"
)

// MirrorConsumer names the push-back mirror's cursor over the ref-event
// feed (EventCursor, CursorMove). A new store starts it at the end of the
// feed: updates made before mirroring existed are not pushed.
const MirrorConsumer = "mirror"

// MirrorStatus is where a push-back stands.
type MirrorStatus string

const (
	MirrorPending MirrorStatus = "pending"
	MirrorPushed  MirrorStatus = "pushed"  // the upstream has the value (pushed, or had it already)
	MirrorSkipped MirrorStatus = "skipped" // nothing to push: no credential, detached, deleted
	MirrorFailed  MirrorStatus = "failed"  // rejected by the upstream, or retries exhausted
)

// MirrorPush is one local ref update of a repository linked to an
// upstream, in the queue of updates to push back to it.
type MirrorPush struct {
	// ID orders the pushes of a repository; chosen by the store.
	ID         int64
	StorageKey string
	// Org and RepoID name the repository; a store copies them from the
	// repository registered under StorageKey.
	Org    string
	RepoID string
	// EventSeq is the ref event the push comes from.
	EventSeq int64
	// Ref is fully qualified (refs/heads/main); Before and After are the
	// local values around the update (all zeros when created / deleted).
	Ref    string
	Before string
	After  string
	Status MirrorStatus
	// Attempts counts pushes tried.
	Attempts      int
	CreatedAt     time.Time // UTC
	NextAttemptAt time.Time // when a pending push may be tried
	LastAttemptAt time.Time // zero before the first attempt
	LastError     string
	CompletedAt   time.Time // zero while pending
}

// MirrorAttempt is the outcome of one attempt, for RecordMirrorAttempt.
type MirrorAttempt struct {
	At     time.Time
	Status MirrorStatus // pending again (to be retried), pushed, skipped or failed
	Error  string
	// NextAttemptAt is when a push left pending may be tried again.
	NextAttemptAt time.Time
	// NotAttempted leaves Attempts and LastAttemptAt as they were: the
	// push was settled without contacting the upstream.
	NotAttempted bool
}

// MirrorStore is the durable queue of push-back mirroring. Pushes survive
// restarts: one enqueued stays pending until RecordMirrorAttempt ends it
// or its repository's row is removed.
type MirrorStore interface {
	// EnqueueMirrorPushes adds pending pushes and moves the cursor, in one
	// transaction: all or nothing. Each push's ID, Org, RepoID, Status,
	// Attempts and attempt fields are ignored; CreatedAt and NextAttemptAt
	// default to now. A push whose StorageKey names no live repository is
	// dropped. ErrCursorMoved if move names a consumer whose cursor is not
	// at move.From. It returns the pushes stored, in order.
	EnqueueMirrorPushes(ctx context.Context, move CursorMove, ps []MirrorPush) ([]MirrorPush, error)
	// MirrorHeads returns up to limit pushes that are the oldest pending
	// push of their repository, earliest NextAttemptAt first (then ID);
	// skip lists storage keys to leave out (pushes in flight).
	MirrorHeads(ctx context.Context, limit int, skip []string) ([]MirrorPush, error)
	// MirrorQueue returns up to limit pending pushes of the repository
	// with storageKey, oldest first; limit <= 0 means no limit.
	MirrorQueue(ctx context.Context, storageKey string, limit int) ([]MirrorPush, error)
	// RecordMirrorAttempt records an outcome for the pending pushes ids
	// (a run of updates pushed together): Attempts goes up by one unless
	// a.NotAttempted, and a push that is no longer pending gets
	// CompletedAt = a.At. Pushes that are not pending are left alone;
	// ErrNotFound if none of ids was pending.
	RecordMirrorAttempt(ctx context.Context, ids []int64, a MirrorAttempt) error
	// MirrorPushes returns up to limit pushes of the repository with
	// storageKey, any status, newest first; limit <= 0 means no limit.
	MirrorPushes(ctx context.Context, storageKey string, limit int) ([]MirrorPush, error)
	// PendingMirrorPushes counts pending pushes, across organisations.
	PendingMirrorPushes(ctx context.Context) (int64, error)
	// PruneMirrorPushes removes finished pushes completed before before,
	// and returns how many.
	PruneMirrorPushes(ctx context.Context, before time.Time) (int64, error)
}
