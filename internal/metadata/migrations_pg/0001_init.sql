-- Strata's metadata in PostgreSQL: the schema SQLite reaches through
-- migrations/0001-0009, in one step. The comments there explain each
-- table; these say where PostgreSQL differs.
--
-- Times are Unix nanoseconds (UTC) in BIGINT, as in SQLite: callers
-- compare the times they stored for equality, and timestamptz keeps
-- microseconds only. The lease columns (lease_owner, lease_until) mark
-- work handed to one Strata process; lease_until is on the database's
-- clock, so the processes' clocks need not agree.
--
-- Text that is ordered or matched is COLLATE "C": byte order, as SQLite's
-- BINARY collation, whatever the database's locale.
--
-- Identity columns keep the default CACHE 1: a session caching a range of
-- values would hand out seqs out of order.

CREATE TABLE repos (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org            TEXT COLLATE "C" NOT NULL,
    id             TEXT COLLATE "C" NOT NULL,
    -- foldCase(id), for case-insensitive search beyond ASCII (lower()
    -- depends on the database's locale and would differ from SQLite).
    id_fold        TEXT COLLATE "C" NOT NULL,
    storage_key    TEXT COLLATE "C" NOT NULL UNIQUE,
    default_branch TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    deleted_at     BIGINT,
    -- base_provider IS NULL means no base repository.
    base_provider       TEXT,
    base_owner          TEXT NOT NULL DEFAULT '',
    base_name           TEXT NOT NULL DEFAULT '',
    base_default_branch TEXT NOT NULL DEFAULT '',
    base_operation      TEXT NOT NULL DEFAULT '',
    base_ref            TEXT NOT NULL DEFAULT '',
    base_sha            TEXT NOT NULL DEFAULT '',
    base_upstream_host  TEXT NOT NULL DEFAULT '',
    base_auth_type      TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX repos_live_org_id ON repos (org, id) WHERE deleted_at IS NULL;
CREATE INDEX repos_live_org_seq ON repos (org, seq) WHERE deleted_at IS NULL;
CREATE INDEX repos_org_id ON repos (org, id, seq);
CREATE INDEX repos_deleted ON repos (deleted_at, seq) WHERE deleted_at IS NOT NULL;

CREATE TABLE branches (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    storage_key TEXT COLLATE "C" NOT NULL REFERENCES repos (storage_key) ON DELETE CASCADE,
    namespace   TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (storage_key, namespace, name)
);
CREATE INDEX branches_order ON branches (storage_key, namespace, created_at, seq);

-- seq is drawn under an advisory lock held until commit
-- (PostgresStore.AppendRefEvents), so seqs commit in increasing order.
CREATE TABLE ref_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org         TEXT COLLATE "C" NOT NULL,
    repo_id     TEXT COLLATE "C" NOT NULL,
    storage_key TEXT COLLATE "C" NOT NULL,
    namespace   TEXT COLLATE "C" NOT NULL,
    ref         TEXT COLLATE "C" NOT NULL,
    before_oid  TEXT   NOT NULL,
    after_oid   TEXT   NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX ref_events_last ON ref_events (storage_key, namespace, ref, seq);

CREATE TABLE git_credentials (
    id          TEXT COLLATE "C" PRIMARY KEY,
    storage_key TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES repos (storage_key) ON DELETE CASCADE,
    username    TEXT   NOT NULL,
    secret      BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhooks (
    id         TEXT COLLATE "C" PRIMARY KEY,
    org        TEXT COLLATE "C" NOT NULL,
    url        TEXT   NOT NULL,
    -- Event types, or {'*'}.
    events     TEXT[] NOT NULL,
    repo_id    TEXT COLLATE "C",
    secret     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org, created_at, id);

CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event            TEXT    NOT NULL,
    payload          BYTEA   NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    next_attempt_at  BIGINT  NOT NULL,
    last_attempt_at  BIGINT  NOT NULL DEFAULT 0,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    completed_at     BIGINT  NOT NULL DEFAULT 0,
    -- The process attempting this delivery, and until when.
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_completed ON webhook_deliveries (completed_at) WHERE status <> 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE event_cursors (
    consumer TEXT COLLATE "C" PRIMARY KEY,
    seq      BIGINT NOT NULL
);

CREATE TABLE sync_jobs (
    storage_key TEXT COLLATE "C" PRIMARY KEY REFERENCES repos (storage_key) ON DELETE CASCADE,
    org         TEXT COLLATE "C" NOT NULL,
    repo_id     TEXT COLLATE "C" NOT NULL,
    ref         TEXT COLLATE "C" NOT NULL,
    requested   BIGINT  NOT NULL,
    claimed     BIGINT  NOT NULL DEFAULT 0,
    running     BOOLEAN NOT NULL DEFAULT false,
    queued_at   BIGINT  NOT NULL,
    -- The process running the job, and until when: a running job whose
    -- lease expired belongs to a process that died and may be claimed.
    lease_owner TEXT,
    lease_until TIMESTAMPTZ
);
CREATE INDEX sync_jobs_queue ON sync_jobs (queued_at, storage_key);
CREATE INDEX sync_jobs_leased ON sync_jobs (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE sync_state (
    storage_key     TEXT COLLATE "C" PRIMARY KEY REFERENCES repos (storage_key) ON DELETE CASCADE,
    run_count       BIGINT NOT NULL DEFAULT 0,
    last_success_at BIGINT,
    last_error      TEXT   NOT NULL DEFAULT '',
    synced_refs     JSONB  NOT NULL DEFAULT '{}'
);

CREATE TABLE mirror_pushes (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    storage_key     TEXT COLLATE "C" NOT NULL REFERENCES repos (storage_key) ON DELETE CASCADE,
    org             TEXT COLLATE "C" NOT NULL,
    repo_id         TEXT COLLATE "C" NOT NULL,
    event_seq       BIGINT  NOT NULL,
    ref             TEXT COLLATE "C" NOT NULL,
    before_oid      TEXT    NOT NULL,
    after_oid       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_attempt_at BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    completed_at    BIGINT  NOT NULL DEFAULT 0,
    -- The process pushing this update, and until when.
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ
);
CREATE INDEX mirror_pushes_pending ON mirror_pushes (storage_key, id) WHERE status = 'pending';
CREATE INDEX mirror_pushes_by_repo ON mirror_pushes (storage_key, id);
CREATE INDEX mirror_pushes_completed ON mirror_pushes (completed_at) WHERE status <> 'pending';
CREATE INDEX mirror_pushes_leased ON mirror_pushes (lease_owner) WHERE lease_owner IS NOT NULL;

-- Mirroring starts with the feed as it is now, which is empty.
INSERT INTO event_cursors (consumer, seq) VALUES ('mirror', 0);

CREATE TABLE orgs (
    name       TEXT COLLATE "C" PRIMARY KEY,
    jwks_url   TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE org_keys (
    org        TEXT COLLATE "C" NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    kid        TEXT COLLATE "C" NOT NULL,
    public_key BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org, kid)
);

CREATE TABLE org_keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO org_keys_version (id, version) VALUES (1, 0);
