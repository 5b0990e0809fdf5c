-- Credentials for a repository's generic HTTPS upstream (API §5.2): at most
-- one per repository incarnation (storage_key), so a recreated repository
-- starts without one. The organisation and repository id are read from
-- repos through storage_key. secret is opaque to the store: the caller
-- seals it (AES-256-GCM, internal/secretbox) before it gets here; the
-- store never sees a plaintext password. Deleting the repository deletes
-- its credential in the same transaction. Times are Unix nanoseconds, UTC.
CREATE TABLE git_credentials (
    -- Random and opaque ("cred_" + 128 bits hex), chosen by the caller.
    id          TEXT    PRIMARY KEY,
    storage_key TEXT    NOT NULL UNIQUE REFERENCES repos (storage_key) ON DELETE CASCADE,
    username    TEXT    NOT NULL,
    secret      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
