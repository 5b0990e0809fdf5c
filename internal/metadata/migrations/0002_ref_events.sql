-- Durable log of ref updates: one row per reference moved by a successful
-- ref transaction (an API write or a push), appended before the write is
-- acknowledged. Webhook delivery and mirroring read it as a feed ordered by
-- seq. Rows are facts and never change; org and repo_id are copied from the
-- registry at append time so an event still names its repository after the
-- repository is deleted. Times are Unix nanoseconds, UTC.
CREATE TABLE ref_events (
    -- AUTOINCREMENT: a seq is never reused, so a consumer's cursor stays
    -- valid. All writes go through one connection, so seqs are also
    -- committed in increasing order: a reader never sees seq n+1 before n.
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    org         TEXT    NOT NULL,
    repo_id     TEXT    NOT NULL,
    storage_key TEXT    NOT NULL,
    -- '' for normal refs, 'ephemeral' for the ephemeral namespace.
    namespace   TEXT    NOT NULL,
    -- Fully qualified inside the namespace: refs/heads/main.
    ref         TEXT    NOT NULL,
    -- Hex object ids; all zeros for a created (before) or deleted (after) ref.
    before_oid  TEXT    NOT NULL,
    after_oid   TEXT    NOT NULL,
    at          INTEGER NOT NULL
);
