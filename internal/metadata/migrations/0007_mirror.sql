-- Push-back mirroring: local ref updates of repositories linked to an
-- upstream, waiting to be pushed to it (docs/sync.md "Push-back
-- mirroring"). Times are Unix nanoseconds, UTC.

-- One row per ref update to push, filled from the ref-event feed in the
-- same transaction that moves the 'mirror' cursor (event_cursors). id
-- orders a repository's pushes: only its oldest pending row is pushed,
-- so the upstream sees the repository's updates in order.
CREATE TABLE mirror_pushes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    storage_key     TEXT    NOT NULL REFERENCES repos (storage_key) ON DELETE CASCADE,
    org             TEXT    NOT NULL,
    repo_id         TEXT    NOT NULL,
    -- The ref event this push comes from.
    event_seq       INTEGER NOT NULL,
    -- Fully qualified: refs/heads/main, refs/tags/v1.
    ref             TEXT    NOT NULL,
    -- The local values before and after the update (hex; all zeros for a
    -- created or deleted ref). before is what the upstream is expected to
    -- have (--force-with-lease).
    before_oid      TEXT    NOT NULL,
    after_oid       TEXT    NOT NULL,
    -- pending, pushed, skipped (nothing to push) or failed.
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    completed_at    INTEGER NOT NULL DEFAULT 0
);
-- The head of each repository's queue: MIN(id) of its pending rows.
CREATE INDEX mirror_pushes_pending ON mirror_pushes (storage_key, id) WHERE status = 'pending';
-- A repository's recent pushes, newest first.
CREATE INDEX mirror_pushes_by_repo ON mirror_pushes (storage_key, id);
-- Pruning of finished pushes.
CREATE INDEX mirror_pushes_completed ON mirror_pushes (completed_at) WHERE status <> 'pending';

-- Mirroring starts with the feed as it is now: updates made before this
-- migration are not pushed.
INSERT INTO event_cursors (consumer, seq) SELECT 'mirror', COALESCE(MAX(seq), 0) FROM ref_events;
