package metadata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnqueueMirrorPushes takes the advisory lock lockMirror until it
// commits, so push ids, which order a repository's pushes, commit in the
// order they are drawn (see EnqueueDeliveries).
func (s *PostgresStore) EnqueueMirrorPushes(ctx context.Context, move CursorMove, ps []MirrorPush) ([]MirrorPush, error) {
	now := time.Now()
	var out []MirrorPush
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		if len(ps) > 0 {
			if err := lockXact(ctx, tx, lockMirror); err != nil {
				return err
			}
		}
		if err := pgMoveCursor(ctx, tx, move); err != nil {
			return err
		}
		if len(ps) == 0 {
			return nil
		}
		// INSERT … SELECT: a repository deleted meanwhile gets no row.
		b := &pgx.Batch{}
		for i := range ps {
			p := newMirrorPush(ps[i], now)
			b.Queue(`INSERT INTO mirror_pushes
					(storage_key, org, repo_id, event_seq, ref, before_oid, after_oid, status, created_at, next_attempt_at)
				SELECT storage_key, org, id, $1, $2, $3, $4, 'pending', $5, $6
				FROM repos WHERE storage_key = $7 AND deleted_at IS NULL
				RETURNING id, org, repo_id`,
				p.EventSeq, p.Ref, p.Before, p.After, p.CreatedAt.UnixNano(), p.NextAttemptAt.UnixNano(), p.StorageKey).
				QueryRow(func(row pgx.Row) error {
					err := row.Scan(&p.ID, &p.Org, &p.RepoID)
					if errors.Is(err, pgx.ErrNoRows) {
						return nil
					}
					if err == nil {
						out = append(out, p)
					}
					return err
				})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d mirror pushes: %w", len(ps), err)
	}
	return out, nil
}

// MirrorHeads returns the heads as SQLite's does and leases the due ones
// to this store, exactly as DeliveryHeads does for webhooks: one process
// at a time pushes a repository's updates.
func (s *PostgresStore) MirrorHeads(ctx context.Context, limit int, skip []string) ([]MirrorPush, error) {
	s.leased.Store(true)
	return s.mirrorPushes(ctx, "read due mirror pushes", `WITH cand AS (
			SELECT m.id FROM mirror_pushes m
			WHERE m.id IN (SELECT MIN(id) FROM mirror_pushes
				WHERE status = 'pending' AND storage_key <> ALL($1::text[]) GROUP BY storage_key)
			  AND (m.lease_owner IS NULL OR m.lease_owner = $2 OR m.lease_until < now())
			ORDER BY m.next_attempt_at, m.id
			LIMIT $3
		), mine AS (
			SELECT m.id FROM mirror_pushes m JOIN cand ON cand.id = m.id
			WHERE m.status = 'pending'
			  AND (m.lease_owner IS NULL OR m.lease_owner = $2 OR m.lease_until < now())
			FOR UPDATE OF m SKIP LOCKED
		), leased AS (
			UPDATE mirror_pushes m SET lease_owner = $2, lease_until = now() + $4 * interval '1 microsecond'
			FROM mine WHERE m.id = mine.id
			RETURNING m.*
		)
		SELECT `+mirrorColumns+`
		FROM leased m
		ORDER BY m.next_attempt_at, m.id`,
		nonNilStrings(skip), s.owner, limitArg(limit), s.lease.Microseconds())
}

func (s *PostgresStore) MirrorQueue(ctx context.Context, storageKey string, limit int) ([]MirrorPush, error) {
	return s.mirrorPushes(ctx, "read the mirror queue of "+storageKey, `SELECT `+mirrorColumns+` FROM mirror_pushes m
		WHERE m.storage_key = $1 AND m.status = 'pending' ORDER BY m.id LIMIT $2`, storageKey, limitArg(limit))
}

func (s *PostgresStore) MirrorPushes(ctx context.Context, storageKey string, limit int) ([]MirrorPush, error) {
	return s.mirrorPushes(ctx, "list mirror pushes of "+storageKey, `SELECT `+mirrorColumns+` FROM mirror_pushes m
		WHERE m.storage_key = $1 ORDER BY m.id DESC LIMIT $2`, storageKey, limitArg(limit))
}

func (s *PostgresStore) mirrorPushes(ctx context.Context, what, query string, args ...any) ([]MirrorPush, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (MirrorPush, error) { return scanMirrorPush(row) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// RecordMirrorAttempt records the outcome and ends the pushes' leases.
func (s *PostgresStore) RecordMirrorAttempt(ctx context.Context, ids []int64, a MirrorAttempt) error {
	attempted, next, completed := mirrorAttemptValues(a)
	if ids == nil {
		ids = []int64{}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE mirror_pushes SET
			status = $1, attempts = attempts + $2,
			last_attempt_at = CASE WHEN $3 THEN $4 ELSE last_attempt_at END,
			last_error = $5, next_attempt_at = $6, completed_at = $7,
			lease_owner = NULL, lease_until = NULL
		WHERE id = ANY($8) AND status = 'pending'`,
		string(a.Status), attempted, attempted == 1, a.At.UnixNano(), a.Error, next, completed, ids)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record attempt of mirror pushes %v: %w", ids, err)
	}
	return nil
}

func (s *PostgresStore) PendingMirrorPushes(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM mirror_pushes WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending mirror pushes: %w", err)
	}
	return n, nil
}

func (s *PostgresStore) PruneMirrorPushes(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM mirror_pushes WHERE status <> 'pending' AND completed_at < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune mirror pushes: %w", err)
	}
	return tag.RowsAffected(), nil
}
