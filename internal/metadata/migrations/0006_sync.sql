-- Upstream sync work, one row per repository incarnation (storage_key)
-- with a pending or running sync. Requests coalesce: a request bumps
-- requested; a run claims the value it saw, and the row is removed only
-- if no request came while it ran.
CREATE TABLE sync_jobs (
    storage_key TEXT    PRIMARY KEY REFERENCES repos (storage_key) ON DELETE CASCADE,
    org         TEXT    NOT NULL,
    repo_id     TEXT    NOT NULL,
    -- '' syncs every branch and tag; otherwise the one ref asked for.
    ref         TEXT    NOT NULL,
    requested   INTEGER NOT NULL,
    claimed     INTEGER NOT NULL DEFAULT 0,
    running     INTEGER NOT NULL DEFAULT 0,
    -- Unix nanoseconds of the first unserved request: claim order.
    queued_at   INTEGER NOT NULL
);
CREATE INDEX sync_jobs_queue ON sync_jobs (running, queued_at);

-- What the last runs of a repository's sync did.
CREATE TABLE sync_state (
    storage_key     TEXT    PRIMARY KEY REFERENCES repos (storage_key) ON DELETE CASCADE,
    -- Completed runs, successful or not.
    run_count       INTEGER NOT NULL DEFAULT 0,
    last_success_at INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    -- JSON object ref name -> upstream sha as last applied: a local ref
    -- that still has this value was not changed locally since.
    synced_refs     TEXT    NOT NULL DEFAULT '{}'
);
