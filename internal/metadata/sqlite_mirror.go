package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

func (s *SQLiteStore) EnqueueMirrorPushes(ctx context.Context, move CursorMove, ps []MirrorPush) ([]MirrorPush, error) {
	now := time.Now()
	var out []MirrorPush
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		if err := moveCursor(ctx, tx, move); err != nil {
			return err
		}
		if len(ps) == 0 {
			return nil
		}
		// INSERT … SELECT: a repository deleted meanwhile gets no row.
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO mirror_pushes
				(storage_key, org, repo_id, event_seq, ref, before_oid, after_oid, status, created_at, next_attempt_at)
			SELECT storage_key, org, id, ?, ?, ?, ?, 'pending', ?, ? FROM repos WHERE storage_key = ? AND deleted_at IS NULL
			RETURNING id, org, repo_id`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range ps {
			p = newMirrorPush(p, now)
			err := stmt.QueryRowContext(ctx, p.EventSeq, p.Ref, p.Before, p.After, p.CreatedAt.UnixNano(),
				p.NextAttemptAt.UnixNano(), p.StorageKey).Scan(&p.ID, &p.Org, &p.RepoID)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d mirror pushes: %w", len(ps), err)
	}
	return out, nil
}

// moveCursor moves a feed consumer's cursor inside tx: ErrCursorMoved if
// it is not at move.From. The zero move does nothing.
func moveCursor(ctx context.Context, tx *sql.Tx, move CursorMove) error {
	if move.Consumer == "" {
		return nil
	}
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM event_cursors WHERE consumer = ?`, move.Consumer).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		at, err = 0, nil
	}
	if err != nil {
		return err
	}
	if at != move.From {
		return fmt.Errorf("%w: %s is at %d, not %d", ErrCursorMoved, move.Consumer, at, move.From)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO event_cursors (consumer, seq) VALUES (?, ?)
		ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq`, move.Consumer, move.To)
	return err
}

func (s *SQLiteStore) MirrorHeads(ctx context.Context, limit int, skip []string) ([]MirrorPush, error) {
	if limit <= 0 {
		limit = -1
	}
	args := []any{}
	notIn := ""
	if len(skip) > 0 {
		notIn = ` AND storage_key NOT IN (?` + strings.Repeat(`, ?`, len(skip)-1) + `)`
		for _, k := range skip {
			args = append(args, k)
		}
	}
	args = append(args, limit)
	// The subquery reads one entry per repository from the partial index.
	return s.mirrorPushes(ctx, "read due mirror pushes", `SELECT `+mirrorColumns+` FROM mirror_pushes m
		WHERE m.id IN (SELECT MIN(id) FROM mirror_pushes WHERE status = 'pending'`+notIn+` GROUP BY storage_key)
		ORDER BY m.next_attempt_at, m.id LIMIT ?`, args...)
}

func (s *SQLiteStore) MirrorQueue(ctx context.Context, storageKey string, limit int) ([]MirrorPush, error) {
	if limit <= 0 {
		limit = -1
	}
	return s.mirrorPushes(ctx, "read the mirror queue of "+storageKey, `SELECT `+mirrorColumns+` FROM mirror_pushes m
		WHERE m.storage_key = ? AND m.status = 'pending' ORDER BY m.id LIMIT ?`, storageKey, limit)
}

func (s *SQLiteStore) MirrorPushes(ctx context.Context, storageKey string, limit int) ([]MirrorPush, error) {
	if limit <= 0 {
		limit = -1
	}
	return s.mirrorPushes(ctx, "list mirror pushes of "+storageKey, `SELECT `+mirrorColumns+` FROM mirror_pushes m
		WHERE m.storage_key = ? ORDER BY m.id DESC LIMIT ?`, storageKey, limit)
}

func (s *SQLiteStore) mirrorPushes(ctx context.Context, what, query string, args ...any) ([]MirrorPush, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []MirrorPush
	for rows.Next() {
		p, err := scanMirrorPush(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (s *SQLiteStore) RecordMirrorAttempt(ctx context.Context, ids []int64, a MirrorAttempt) error {
	attempted, next, completed := mirrorAttemptValues(a)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE mirror_pushes SET
				status = ?, attempts = attempts + ?,
				last_attempt_at = CASE WHEN ? THEN ? ELSE last_attempt_at END,
				last_error = ?, next_attempt_at = ?, completed_at = ?
			WHERE id = ? AND status = 'pending'`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		var n int64
		for _, id := range ids {
			res, err := stmt.ExecContext(ctx, string(a.Status), attempted, attempted == 1, a.At.UnixNano(),
				a.Error, next, completed, id)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record attempt of mirror pushes %v: %w", ids, err)
	}
	return nil
}

func (s *SQLiteStore) PendingMirrorPushes(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM mirror_pushes WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending mirror pushes: %w", err)
	}
	return n, nil
}

func (s *SQLiteStore) PruneMirrorPushes(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM mirror_pushes WHERE status <> 'pending' AND completed_at < ?`, before.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune mirror pushes: %w", err)
	}
	return n, nil
}
