package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *PostgresStore) EnqueueSync(ctx context.Context, storageKey, ref string) error {
	// A pending request for another ref widens to every ref. ON CONFLICT
	// makes concurrent requests from several processes coalesce too.
	tag, err := s.pool.Exec(ctx, `INSERT INTO sync_jobs (storage_key, org, repo_id, ref, requested, queued_at)
		SELECT storage_key, org, id, $1, 1, $2 FROM repos WHERE storage_key = $3 AND deleted_at IS NULL
		ON CONFLICT (storage_key) DO UPDATE SET
			requested = sync_jobs.requested + 1,
			ref = CASE WHEN sync_jobs.ref = excluded.ref THEN sync_jobs.ref ELSE '' END`,
		ref, time.Now().UnixNano(), storageKey)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("enqueue sync of %s: %w", storageKey, err)
	}
	return nil
}

// ClaimSync claims the oldest job that is not running, or whose runner's
// lease expired (its process died), and leases it to this store. FOR
// UPDATE SKIP LOCKED makes concurrent claimers, in this process or
// others, take different jobs without waiting on each other; the row's
// condition is checked again as it is locked, so a job claimed meanwhile
// is passed over.
func (s *PostgresStore) ClaimSync(ctx context.Context) (SyncJob, bool, error) {
	s.leased.Store(true)
	job, err := scanSyncJob(s.pool.QueryRow(ctx, `UPDATE sync_jobs SET running = true, claimed = requested,
			lease_owner = $1, lease_until = now() + $2 * interval '1 microsecond'
		WHERE storage_key = (SELECT storage_key FROM sync_jobs
			WHERE NOT running OR lease_until < now()
			ORDER BY queued_at, storage_key
			LIMIT 1
			FOR UPDATE SKIP LOCKED)
		RETURNING `+syncJobColumns,
		s.owner, s.lease.Microseconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return SyncJob{}, false, nil
	}
	if err != nil {
		return SyncJob{}, false, fmt.Errorf("claim sync: %w", err)
	}
	return job, true, nil
}

// FinishSync acts only on a job this store still holds: if its lease
// expired and another process claimed the job, that process finishes it.
func (s *PostgresStore) FinishSync(ctx context.Context, job SyncJob) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sync_jobs
			WHERE storage_key = $1 AND requested = $2 AND running AND lease_owner = $3`,
			job.StorageKey, job.Claimed, s.owner)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		// Requested again while running: queue it again, behind the others.
		_, err = tx.Exec(ctx, `UPDATE sync_jobs SET running = false, queued_at = $1,
				lease_owner = NULL, lease_until = NULL
			WHERE storage_key = $2 AND running AND lease_owner = $3`,
			time.Now().UnixNano(), job.StorageKey, s.owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish sync of %s: %w", job.StorageKey, err)
	}
	return nil
}

// ReleaseSyncs queues again the running jobs of this store and those
// whose lease expired. Jobs that other live processes run are theirs: a
// node starting while others work must not take their jobs away.
func (s *PostgresStore) ReleaseSyncs(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `UPDATE sync_jobs SET running = false, lease_owner = NULL, lease_until = NULL
		WHERE running AND (lease_owner = $1 OR lease_until < now())`, s.owner); err != nil {
		return fmt.Errorf("release syncs: %w", err)
	}
	return nil
}

// SyncRunning reports a job as running while its lease holds.
func (s *PostgresStore) SyncRunning(ctx context.Context, storageKey string) (bool, error) {
	var running bool
	err := s.pool.QueryRow(ctx, `SELECT running AND lease_until >= now() FROM sync_jobs WHERE storage_key = $1`,
		storageKey).Scan(&running)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sync state of %s: %w", storageKey, err)
	}
	return running, nil
}

func (s *PostgresStore) SyncState(ctx context.Context, storageKey string) (SyncState, error) {
	st := SyncState{StorageKey: storageKey, SyncedRefs: map[string]string{}}
	var success *int64
	var refs []byte
	err := s.pool.QueryRow(ctx, `SELECT run_count, last_success_at, last_error, synced_refs::text
		FROM sync_state WHERE storage_key = $1`, storageKey).Scan(&st.RunCount, &success, &st.LastError, &refs)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err == nil {
		err = json.Unmarshal(refs, &st.SyncedRefs)
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("sync state of %s: %w", storageKey, err)
	}
	if success != nil {
		st.LastSuccess = fromNanos(*success)
	}
	return st, nil
}

func (s *PostgresStore) SaveSyncState(ctx context.Context, st SyncState) error {
	refs, err := syncedRefsJSON(st.SyncedRefs)
	if err != nil {
		return err
	}
	var success *int64
	if !st.LastSuccess.IsZero() {
		n := st.LastSuccess.UnixNano()
		success = &n
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO sync_state (storage_key, run_count, last_success_at, last_error, synced_refs)
		VALUES ($1, $2, $3, $4, $5::jsonb)
		ON CONFLICT (storage_key) DO UPDATE SET run_count = excluded.run_count,
			last_success_at = excluded.last_success_at, last_error = excluded.last_error,
			synced_refs = excluded.synced_refs`,
		st.StorageKey, st.RunCount, success, st.LastError, string(refs))
	if pgCode(err, pgForeignKeyViolation) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("save sync state of %s: %w", st.StorageKey, err)
	}
	return nil
}
