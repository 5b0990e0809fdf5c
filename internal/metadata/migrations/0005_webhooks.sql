-- Webhook subscriptions, their delivery outbox, and the cursors of
-- consumers of the ref-event feed. Times are Unix nanoseconds, UTC.

-- One subscription of an organisation: a receiver URL and the events it
-- wants, for every repository of the organisation or, with repo_id, for
-- the repositories with that id (any incarnation: a webhook may name a
-- repository before it is created or after it is recreated). secret is
-- opaque to the store: the caller seals it (internal/secretbox) first.
CREATE TABLE webhooks (
    -- Random and opaque ("wh_" + 128 bits hex), chosen by the caller.
    id         TEXT    PRIMARY KEY,
    org        TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    -- JSON array of event types, or ["*"].
    events     TEXT    NOT NULL,
    repo_id    TEXT,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org, created_at);

-- The outbox: one row per (webhook, event), written before any attempt.
-- id orders a webhook's deliveries; a webhook's oldest pending row is the
-- only one attempted, so its receiver sees its events in order. Deleting
-- the webhook deletes its deliveries.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event            TEXT    NOT NULL,
    -- The request body exactly as it is sent and signed.
    payload          BLOB    NOT NULL,
    -- pending, delivered or failed (retries exhausted).
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    last_attempt_at  INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    completed_at     INTEGER NOT NULL DEFAULT 0
);
-- The head of each webhook's queue: MIN(id) of its pending rows.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id) WHERE status = 'pending';
-- A webhook's recent deliveries, newest first.
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
-- Pruning of finished deliveries.
CREATE INDEX webhook_deliveries_completed ON webhook_deliveries (completed_at) WHERE status <> 'pending';

-- How far each consumer of the ref-event feed has read: the Seq of the
-- last event it handled, moved in the same transaction as its effects.
CREATE TABLE event_cursors (
    consumer TEXT    PRIMARY KEY,
    seq      INTEGER NOT NULL
);
