package events

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
)

// RefUpdate is one reference moved by a successful ref transaction.
type RefUpdate struct {
	// Seq orders all events of all organisations; it is the feed cursor.
	Seq        int64
	Org        string
	RepoID     string // the client's repository ID
	StorageKey string // the repository's incarnation: a recreated ID has a new key
	// Namespace is where the ref lives: git.NormalNamespace or
	// git.EphemeralNamespace.
	Namespace git.Namespace
	// Ref is fully qualified inside Namespace, the namespace prefix
	// stripped: refs/heads/main, refs/tags/v1. See FullRef.
	Ref git.ReferenceName
	// Before is git.ZeroOID when the ref was created, After when deleted.
	Before git.ObjectID
	After  git.ObjectID
	// At is when the transaction committed (as observed just after), UTC.
	At time.Time
}

// IsCreate reports whether the update created the ref.
func (u RefUpdate) IsCreate() bool { return u.Before.IsZero() && !u.After.IsZero() }

// IsDelete reports whether the update deleted the ref.
func (u RefUpdate) IsDelete() bool { return u.After.IsZero() }

// FullRef is the ref as git stores it, namespace prefix included.
func (u RefUpdate) FullRef() git.ReferenceName {
	return git.ReferenceName(u.Namespace.Prefix() + string(u.Ref))
}

// Store is what Log needs of the metadata store.
type Store interface {
	AppendRefEvents(ctx context.Context, events []metadata.RefEvent) ([]metadata.RefEvent, error)
	RefEvents(ctx context.Context, afterSeq int64, limit int) ([]metadata.RefEvent, error)
}

// Log is the durable log of ref updates. It is safe for concurrent use.
type Log struct {
	store Store
}

// NewLog returns a Log kept in store.
func NewLog(store Store) *Log { return &Log{store: store} }

// Record appends the events of one ref transaction in the repository with
// storageKey, all or none, and returns them with Seq, Org and RepoID set.
// The events are durable when Record returns nil.
func (l *Log) Record(ctx context.Context, storageKey string, updates []refs.Update, at time.Time) ([]RefUpdate, error) {
	if len(updates) == 0 {
		return nil, nil
	}
	stored, err := l.store.AppendRefEvents(ctx, Rows(storageKey, updates, at))
	if err != nil {
		return nil, fmt.Errorf("record ref updates of %s: %w", storageKey, err)
	}
	return fromRows(stored), nil
}

// Rows are the stored events of one ref transaction in the repository with
// storageKey, for a store that appends them itself (the clustered mode's
// ledger, in the transaction that moves the refs).
func Rows(storageKey string, updates []refs.Update, at time.Time) []metadata.RefEvent {
	rows := make([]metadata.RefEvent, len(updates))
	for i, u := range updates {
		ns, inner := u.Ref.Namespace()
		rows[i] = metadata.RefEvent{
			StorageKey: storageKey,
			Namespace:  string(ns),
			Ref:        string(inner),
			Before:     string(normalise(u.Old)),
			After:      string(normalise(u.New)),
			At:         at,
		}
	}
	return rows
}

// Since returns up to limit events after the cursor afterSeq (0: from the
// start), oldest first; limit <= 0 means no limit.
func (l *Log) Since(ctx context.Context, afterSeq int64, limit int) ([]RefUpdate, error) {
	rows, err := l.store.RefEvents(ctx, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	return fromRows(rows), nil
}

// normalise spells "no object" one way: refs.Update accepts "" too.
func normalise(id git.ObjectID) git.ObjectID {
	if id.IsZero() {
		return git.ZeroOID
	}
	return id
}

func fromRows(rows []metadata.RefEvent) []RefUpdate {
	out := make([]RefUpdate, len(rows))
	for i, r := range rows {
		out[i] = RefUpdate{
			Seq:        r.Seq,
			Org:        r.Org,
			RepoID:     r.RepoID,
			StorageKey: r.StorageKey,
			Namespace:  git.Namespace(r.Namespace),
			Ref:        git.ReferenceName(r.Ref),
			Before:     git.ObjectID(r.Before),
			After:      git.ObjectID(r.After),
			At:         r.At,
		}
	}
	return out
}
