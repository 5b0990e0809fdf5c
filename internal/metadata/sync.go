package metadata

import (
	"context"
	"encoding/json"
	"time"
)

// SyncJob is a repository's pending or running upstream sync.
type SyncJob struct {
	StorageKey string
	Org        string
	RepoID     string
	// Ref is "" to sync every branch and tag, or the one ref asked for.
	Ref string
	// Requested counts requests; a claimed job remembers the count it
	// saw, so FinishSync can tell whether another request came meanwhile.
	Requested int64
	Claimed   int64
	QueuedAt  time.Time // UTC
}

// SyncState is what a repository's completed sync runs left.
type SyncState struct {
	StorageKey string
	RunCount   int64
	// LastSuccess is zero until a run succeeds.
	LastSuccess time.Time
	LastError   string
	// SyncedRefs maps each ref name to the upstream value last applied.
	SyncedRefs map[string]string
}

// SyncStore is the durable queue of upstream syncs and their outcomes.
// Jobs survive restarts: a job accepted (EnqueueSync returned nil) runs
// eventually even if the process dies before or while running it.
type SyncStore interface {
	// EnqueueSync requests a sync of the repository with storageKey,
	// coalescing with a pending one: two requests for different refs
	// become one for every ref. ErrNotFound if no live repository has the
	// key.
	EnqueueSync(ctx context.Context, storageKey, ref string) error
	// ClaimSync marks the oldest job that is not running as running and
	// returns it; ok is false when there is none. At most one job per
	// repository runs at a time.
	ClaimSync(ctx context.Context) (job SyncJob, ok bool, err error)
	// FinishSync ends a claimed run: the job is removed unless requested
	// again since it was claimed, in which case it is queued again.
	FinishSync(ctx context.Context, job SyncJob) error
	// ReleaseSyncs queues every running job again: at startup, the runs of
	// a process that died.
	ReleaseSyncs(ctx context.Context) error
	// SyncRunning reports whether a sync of the repository is running.
	SyncRunning(ctx context.Context, storageKey string) (bool, error)
	// SyncState returns the repository's sync state (zero RunCount and
	// empty SyncedRefs if it never synced).
	SyncState(ctx context.Context, storageKey string) (SyncState, error)
	// SaveSyncState replaces the repository's sync state.
	SaveSyncState(ctx context.Context, st SyncState) error
}

// syncJobColumns is the select list scanSyncJob reads.
const syncJobColumns = `storage_key, org, repo_id, ref, requested, claimed, queued_at`

// scanSyncJob reads a row of syncJobColumns.
func scanSyncJob(sc scanner) (SyncJob, error) {
	var job SyncJob
	var queued int64
	if err := sc.Scan(&job.StorageKey, &job.Org, &job.RepoID, &job.Ref, &job.Requested, &job.Claimed, &queued); err != nil {
		return SyncJob{}, err
	}
	job.QueuedAt = fromNanos(queued)
	return job, nil
}

// syncedRefsJSON encodes SyncState.SyncedRefs as stored: a JSON object,
// empty for nil.
func syncedRefsJSON(refs map[string]string) ([]byte, error) {
	if refs == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(refs)
}
