package metadata

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

func (s *SQLiteStore) EnqueueSync(ctx context.Context, storageKey, ref string) error {
	// A pending request for another ref widens to every ref.
	res, err := s.w.ExecContext(ctx, `INSERT INTO sync_jobs (storage_key, org, repo_id, ref, requested, queued_at)
		SELECT storage_key, org, id, ?, 1, ? FROM repos WHERE storage_key = ? AND deleted_at IS NULL
		ON CONFLICT (storage_key) DO UPDATE SET
			requested = requested + 1,
			ref = CASE WHEN ref = excluded.ref THEN ref ELSE '' END`,
		ref, time.Now().UnixNano(), storageKey)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("enqueue sync of %s: %w", storageKey, err)
	}
	return nil
}

func (s *SQLiteStore) ClaimSync(ctx context.Context) (SyncJob, bool, error) {
	job, err := scanSyncJob(s.w.QueryRowContext(ctx, `UPDATE sync_jobs SET running = 1, claimed = requested
		WHERE storage_key = (SELECT storage_key FROM sync_jobs WHERE running = 0 ORDER BY queued_at, storage_key LIMIT 1)
		RETURNING `+syncJobColumns))
	if errors.Is(err, sql.ErrNoRows) {
		return SyncJob{}, false, nil
	}
	if err != nil {
		return SyncJob{}, false, fmt.Errorf("claim sync: %w", err)
	}
	return job, true, nil
}

func (s *SQLiteStore) FinishSync(ctx context.Context, job SyncJob) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sync_jobs WHERE storage_key = ? AND requested = ?`, job.StorageKey, job.Claimed)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		// Requested again while running: queue it again, behind the others.
		_, err = tx.ExecContext(ctx, `UPDATE sync_jobs SET running = 0, queued_at = ? WHERE storage_key = ?`,
			time.Now().UnixNano(), job.StorageKey)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish sync of %s: %w", job.StorageKey, err)
	}
	return nil
}

func (s *SQLiteStore) ReleaseSyncs(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE sync_jobs SET running = 0 WHERE running = 1`); err != nil {
		return fmt.Errorf("release syncs: %w", err)
	}
	return nil
}

func (s *SQLiteStore) SyncRunning(ctx context.Context, storageKey string) (bool, error) {
	var running bool
	err := s.r.QueryRowContext(ctx, `SELECT running FROM sync_jobs WHERE storage_key = ?`, storageKey).Scan(&running)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sync state of %s: %w", storageKey, err)
	}
	return running, nil
}

func (s *SQLiteStore) SyncState(ctx context.Context, storageKey string) (SyncState, error) {
	st := SyncState{StorageKey: storageKey, SyncedRefs: map[string]string{}}
	var success sql.NullInt64
	var refs string
	err := s.r.QueryRowContext(ctx, `SELECT run_count, last_success_at, last_error, synced_refs
		FROM sync_state WHERE storage_key = ?`, storageKey).Scan(&st.RunCount, &success, &st.LastError, &refs)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err == nil {
		err = json.Unmarshal([]byte(refs), &st.SyncedRefs)
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("sync state of %s: %w", storageKey, err)
	}
	if success.Valid {
		st.LastSuccess = fromNanos(success.Int64)
	}
	return st, nil
}

func (s *SQLiteStore) SaveSyncState(ctx context.Context, st SyncState) error {
	refs, err := syncedRefsJSON(st.SyncedRefs)
	if err != nil {
		return err
	}
	var success sql.NullInt64
	if !st.LastSuccess.IsZero() {
		success = sql.NullInt64{Int64: st.LastSuccess.UnixNano(), Valid: true}
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO sync_state (storage_key, run_count, last_success_at, last_error, synced_refs)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (storage_key) DO UPDATE SET run_count = excluded.run_count,
			last_success_at = excluded.last_success_at, last_error = excluded.last_error,
			synced_refs = excluded.synced_refs`,
		st.StorageKey, st.RunCount, success, st.LastError, string(refs))
	if isForeignKeyViolation(err) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("save sync state of %s: %w", st.StorageKey, err)
	}
	return nil
}
