package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// appendRefEventSQL appends one event. INSERT … SELECT takes org and id
// from the registry, so an event cannot name a repository its key isn't.
const appendRefEventSQL = `INSERT INTO ref_events
		(org, repo_id, storage_key, namespace, ref, before_oid, after_oid, at)
	SELECT org, id, storage_key, ?, ?, ?, ?, ?
	FROM repos WHERE storage_key = ?
	RETURNING seq, org, repo_id`

func (s *SQLiteStore) AppendRefEvents(ctx context.Context, events []RefEvent) ([]RefEvent, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]RefEvent, len(events))
	now := time.Now()
	// Not synced: see Store.AppendRefEvents.
	err := s.unsyncedWriteTx(ctx, func(tx *sql.Tx) error {
		// One statement per event, in slice order, inside one transaction on
		// the single writer connection: seqs follow the slice and commit in
		// increasing order.
		stmt := tx.StmtContext(ctx, s.appendEvent)
		defer stmt.Close()
		for i, e := range events {
			e = newRefEvent(e, now)
			err := stmt.QueryRowContext(ctx, e.Namespace, e.Ref, e.Before, e.After, e.At.UnixNano(), e.StorageKey).
				Scan(&e.Seq, &e.Org, &e.RepoID)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("repository with storage key %q: %w", e.StorageKey, ErrNotFound)
			}
			if err != nil {
				return err
			}
			out[i] = e
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append %d ref events: %w", len(events), err)
	}
	return out, nil
}

func (s *SQLiteStore) RefEvents(ctx context.Context, afterSeq int64, limit int) ([]RefEvent, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+refEventColumns+`
		FROM ref_events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read ref events after %d: %w", afterSeq, err)
	}
	events, err := collectRefEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read ref events after %d: %w", afterSeq, err)
	}
	return events, nil
}

func (s *SQLiteStore) LastRefStates(ctx context.Context, storageKey string) ([]RefEvent, error) {
	// The subquery reads only the ref_events_last index (migration 0003);
	// the outer query then fetches one row per ref by its primary key.
	rows, err := s.r.QueryContext(ctx, `SELECT `+refEventColumns+`
		FROM ref_events
		WHERE seq IN (`+lastRefSeqs+`)
		ORDER BY namespace, ref`, storageKey)
	if err != nil {
		return nil, fmt.Errorf("read last ref states of %s: %w", storageKey, err)
	}
	events, err := collectRefEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read last ref states of %s: %w", storageKey, err)
	}
	return events, nil
}

// lastRefSeqs selects the seq of the newest event of each ref of one
// repository (the storage key is its parameter).
const lastRefSeqs = `SELECT MAX(seq) FROM ref_events WHERE storage_key = ? GROUP BY namespace, ref`

func collectRefEvents(rows *sql.Rows) ([]RefEvent, error) {
	defer rows.Close()
	var events []RefEvent
	for rows.Next() {
		e, err := scanRefEvent(rows)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
