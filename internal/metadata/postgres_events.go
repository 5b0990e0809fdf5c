package metadata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AppendRefEvents inserts the events in one transaction that first takes
// the advisory lock lockRefEvents, held until it commits or rolls back.
//
// Why the lock: RefEvents promises that seqs become visible in increasing
// order, and a feed consumer keeps the last seq it handled as its cursor.
// A PostgreSQL sequence (the identity column) hands out values at insert
// time, not at commit: transaction A may draw seq 10, transaction B seq
// 11, and B commit first. A reader that sees 11 moves its cursor past 10,
// and when A commits, event 10 appears behind the cursor and is never
// delivered. The lock makes appenders take turns from drawing a seq to
// committing, in every process sharing the database, so commit order is
// seq order. PostgreSQL releases the lock only after the commit is
// visible, so the next appender's seqs cannot become visible first. Seqs
// of a transaction that rolls back are skipped, which readers do not
// mind: they need order, not density.
//
// The cost is one commit at a time across the cluster; the batch goes in
// one round trip to keep the lock short.
func (s *PostgresStore) AppendRefEvents(ctx context.Context, events []RefEvent) ([]RefEvent, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]RefEvent, len(events))
	now := time.Now()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// Not waiting for the WAL flush: see Store.AppendRefEvents.
		b.Queue(`SET LOCAL synchronous_commit = off`)
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, lockRefEvents)
		for i, e := range events {
			e = newRefEvent(e, now)
			out[i] = e
			// INSERT … SELECT takes org and id from the registry, so an
			// event cannot name a repository its key isn't.
			b.Queue(`INSERT INTO ref_events
					(org, repo_id, storage_key, namespace, ref, before_oid, after_oid, at)
				SELECT org, id, storage_key, $1, $2, $3, $4, $5
				FROM repos WHERE storage_key = $6
				RETURNING seq, org, repo_id`,
				e.Namespace, e.Ref, e.Before, e.After, e.At.UnixNano(), e.StorageKey)
		}
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for range 2 { // the SET and the lock
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		for i := range out {
			e := &out[i]
			err := br.QueryRow().Scan(&e.Seq, &e.Org, &e.RepoID)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("repository with storage key %q: %w", e.StorageKey, ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("append %d ref events: %w", len(events), err)
	}
	return out, nil
}

func (s *PostgresStore) RefEvents(ctx context.Context, afterSeq int64, limit int) ([]RefEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+refEventColumns+`
		FROM ref_events WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("read ref events after %d: %w", afterSeq, err)
	}
	events, err := collectPGRefEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read ref events after %d: %w", afterSeq, err)
	}
	return events, nil
}

func (s *PostgresStore) LastRefStates(ctx context.Context, storageKey string) ([]RefEvent, error) {
	// The subquery reads only the ref_events_last index; the outer query
	// then fetches one row per ref by its primary key.
	rows, err := s.pool.Query(ctx, `SELECT `+refEventColumns+`
		FROM ref_events
		WHERE seq IN (SELECT MAX(seq) FROM ref_events WHERE storage_key = $1 GROUP BY namespace, ref)
		ORDER BY namespace, ref`, storageKey)
	if err != nil {
		return nil, fmt.Errorf("read last ref states of %s: %w", storageKey, err)
	}
	events, err := collectPGRefEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read last ref states of %s: %w", storageKey, err)
	}
	return events, nil
}

func collectPGRefEvents(rows pgx.Rows) ([]RefEvent, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (RefEvent, error) { return scanRefEvent(row) })
}
