-- The clustered mode's ledger (ledger.go, docs/scale-out.md): per
-- repository the version, HEAD, the refs of record and the manifest of
-- packs in object storage; packs waiting for deletion.
CREATE TABLE cluster_repos (
    storage_key TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    head        TEXT NOT NULL
);

CREATE TABLE cluster_refs (
    storage_key TEXT NOT NULL REFERENCES cluster_repos (storage_key) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    oid         TEXT NOT NULL,
    PRIMARY KEY (storage_key, name)
);

CREATE TABLE cluster_packs (
    storage_key TEXT NOT NULL REFERENCES cluster_repos (storage_key) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    replaces    TEXT[] NOT NULL,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (storage_key, name)
);

CREATE TABLE cluster_garbage (
    storage_key TEXT NOT NULL,
    name        TEXT NOT NULL,
    since       BIGINT NOT NULL, -- Unix nanoseconds
    PRIMARY KEY (storage_key, name)
);
CREATE INDEX cluster_garbage_since ON cluster_garbage (since);
