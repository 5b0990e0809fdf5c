-- Repository registry. A row is never deleted: deletion sets deleted_at and
-- leaves a tombstone, so the API can tell "deleted" (409) from "never
-- existed" (404). Times are Unix nanoseconds, UTC.
CREATE TABLE repos (
    -- AUTOINCREMENT: a seq is never reused, so list cursors stay valid.
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    org            TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    -- foldCase(id), for case-insensitive search beyond ASCII.
    id_fold        TEXT    NOT NULL,
    storage_key    TEXT    NOT NULL UNIQUE,
    default_branch TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    deleted_at     INTEGER,
    -- base_provider IS NULL means no base repository.
    base_provider       TEXT,
    base_owner          TEXT NOT NULL DEFAULT '',
    base_name           TEXT NOT NULL DEFAULT '',
    base_default_branch TEXT NOT NULL DEFAULT '',
    base_operation      TEXT NOT NULL DEFAULT '',
    base_ref            TEXT NOT NULL DEFAULT '',
    base_sha            TEXT NOT NULL DEFAULT '',
    base_upstream_host  TEXT NOT NULL DEFAULT ''
);

-- At most one live repository per (org, id).
CREATE UNIQUE INDEX repos_live_org_id ON repos (org, id) WHERE deleted_at IS NULL;
-- Listing live repositories of an org in creation order.
CREATE INDEX repos_live_org_seq ON repos (org, seq) WHERE deleted_at IS NULL;
-- Tombstone lookups (deleted vs never existed).
CREATE INDEX repos_org_id ON repos (org, id);
-- Cleanup scans.
CREATE INDEX repos_deleted ON repos (deleted_at) WHERE deleted_at IS NOT NULL;

-- Branch creation times, per repository incarnation (storage_key), so a
-- recreated repository starts fresh.
CREATE TABLE branches (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    storage_key TEXT    NOT NULL REFERENCES repos (storage_key) ON DELETE CASCADE,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (storage_key, namespace, name)
);

CREATE INDEX branches_order ON branches (storage_key, namespace, created_at, seq);
