// Package metadata owns Strata's repository registry: which repositories
// exist in which organisation, where each one lives on disk (its opaque
// StorageKey), its default branch and upstream/fork source, the tombstones
// left by deletions, the creation times of branches, the (sealed)
// credentials of upstreams, and the organisations managed by `strata org`
// with their JWT verification keys.
//
// Git data itself lives in the repositories on disk; this package only
// records facts that Git cannot: creation order and time, deletion, and the
// mapping from a client-chosen repository ID (arbitrary, may contain '/') to
// a filesystem-safe directory name.
//
// Store is the contract every backend satisfies. SQLiteStore is the embedded
// one, its schema built by the numbered SQL files in migrations/, each
// applied once and recorded in schema_migrations; PostgresStore is the one
// several Strata processes share (migrations_pg/), and it is also the
// clustered mode's Ledger (ledger.go: the refs of record and the pack
// manifest). Open picks one from the --metadata spec. The conformance
// suite in storetest runs against each implementation.
// Backends normalise driver errors into ErrNotFound, ErrExists and ErrDeleted
// so callers never see a driver's constraint codes.
//
// Decisions callers rely on:
//   - A repository is identified by (org, id); at most one live repository per
//     pair. Deleting leaves a tombstone, so a later lookup can tell "deleted"
//     (ErrDeleted) from "never existed" (ErrNotFound). Recreating a deleted ID
//     is allowed and yields a new StorageKey and Seq.
//   - The StorageKey is random and never derived from the ID; a recreated
//     repository never reuses the directory of its deleted predecessor, so
//     cleanup of tombstoned directories (DeletedRepos) cannot race a new repo.
//   - Branch records are keyed by StorageKey, so a recreated repository starts
//     with none. Branches are ordered by recorded creation time, ties broken
//     by insertion order, so branches back-filled with an older time (a fork,
//     a sync, a ref found on disk) sort before ones created later.
//   - A repository incarnation (StorageKey) has at most one GitCredential.
//     Its Secret is sealed by the caller; the store never sees a plaintext
//     password. Credentials are looked up within an organisation, and
//     deleting the repository deletes its credential.
//   - Every change to organisations or their keys moves OrgsVersion in the
//     same transaction, so a server shares the store with the CLI and
//     notices changes by polling one row.
//   - Times are returned in UTC with nanoseconds: callers compare the times
//     they stored for equality.
package metadata
