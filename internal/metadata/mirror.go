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

// mirrorColumns is the select list scanMirrorPush reads (alias m).
const mirrorColumns = `m.id, m.storage_key, m.org, m.repo_id, m.event_seq, m.ref, m.before_oid, m.after_oid, m.status,
	m.attempts, m.created_at, m.next_attempt_at, m.last_attempt_at, m.last_error, m.completed_at`

// scanMirrorPush reads a row of mirrorColumns. Times never set are
// stored as 0 and read as zero.
func scanMirrorPush(sc scanner) (MirrorPush, error) {
	var p MirrorPush
	var status string
	var created, next, last, completed int64
	if err := sc.Scan(&p.ID, &p.StorageKey, &p.Org, &p.RepoID, &p.EventSeq, &p.Ref, &p.Before, &p.After, &status,
		&p.Attempts, &created, &next, &last, &p.LastError, &completed); err != nil {
		return MirrorPush{}, err
	}
	p.Status = MirrorStatus(status)
	p.CreatedAt, p.NextAttemptAt = fromNanos(created), fromNanos(next)
	if last != 0 {
		p.LastAttemptAt = fromNanos(last)
	}
	if completed != 0 {
		p.CompletedAt = fromNanos(completed)
	}
	return p, nil
}

// newMirrorPush returns p as EnqueueMirrorPushes stores it, but for ID,
// Org and RepoID: pending, never attempted, CreatedAt now if zero,
// NextAttemptAt CreatedAt if zero, both as stored.
func newMirrorPush(p MirrorPush, now time.Time) MirrorPush {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.NextAttemptAt.IsZero() {
		p.NextAttemptAt = p.CreatedAt
	}
	p.CreatedAt, p.NextAttemptAt = fromNanos(p.CreatedAt.UnixNano()), fromNanos(p.NextAttemptAt.UnixNano())
	p.Status, p.Attempts = MirrorPending, 0
	p.LastAttemptAt, p.LastError, p.CompletedAt = time.Time{}, "", time.Time{}
	return p
}

// mirrorAttemptValues returns what RecordMirrorAttempt writes for a: the
// increment of attempts (0 if a.NotAttempted), and next_attempt_at and
// completed_at as stored (see attemptTimes).
func mirrorAttemptValues(a MirrorAttempt) (attempted int, next, completed int64) {
	attempted = 1
	if a.NotAttempted {
		attempted = 0
	}
	next, completed = attemptTimes(a.At, a.NextAttemptAt, a.Status != MirrorPending)
	return attempted, next, completed
}
