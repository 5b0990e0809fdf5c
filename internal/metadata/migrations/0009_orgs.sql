-- Organisations and their JWT verification keys, managed by `strata org`
-- while the server runs. Times are Unix nanoseconds, UTC.

-- One organisation (the JWT iss). jwks_url, when not empty, is an https
-- URL whose key set is trusted beside the stored keys.
CREATE TABLE orgs (
    name       TEXT    PRIMARY KEY,
    jwks_url   TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- The organisation's public keys, one per key id (the JWT kid), so an old
-- and a new key can both verify during a rotation. public_key is PEM,
-- opaque to the store. Removing the organisation removes its keys.
CREATE TABLE org_keys (
    org        TEXT    NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    kid        TEXT    NOT NULL,
    public_key BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org, kid)
);

-- One row whose version grows with every change to the two tables above,
-- in the same transaction: a running server polls this one row and
-- reloads the keys only when it moved.
CREATE TABLE org_keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO org_keys_version (id, version) VALUES (1, 0);
