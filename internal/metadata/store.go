package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors every Store returns (wrapped with context); match them with
// errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrDeleted means the name exists only as tombstone(s): the repository
	// was deleted and not recreated.
	ErrDeleted = errors.New("deleted")
)

// BaseRepo is the upstream or fork source of a repository, as sent by
// clients in base_repo (API §5.1.1). Credentials are not part of it.
type BaseRepo struct {
	Provider      string // "code" for a fork in the same org, "github", "gitlab", …
	Owner         string
	Name          string
	DefaultBranch string
	Operation     string // "fork" for forks
	Ref           string
	SHA           string
	UpstreamHost  string
	// AuthType is how the upstream is authenticated: for GitHub,
	// AuthPublic (no credential) or AuthGitHubApp; "" otherwise.
	AuthType string
}

// BaseRepo.AuthType values.
const (
	AuthPublic    = "public"
	AuthGitHubApp = "app"
)

// Repo is one registered repository, live or tombstoned.
type Repo struct {
	Org string // organisation (JWT iss)
	ID  string // client-chosen repository ID; may contain '/'; case-sensitive
	// StorageKey is an opaque, filesystem-safe directory name chosen by the
	// store at creation. It is never derived from ID and never reused.
	StorageKey    string
	DefaultBranch string
	CreatedAt     time.Time // UTC
	BaseRepo      *BaseRepo // nil when the repository has no upstream or fork source
	// Seq increases with every creation across all organisations; it orders
	// repositories by creation and serves as a list cursor.
	Seq int64
	// DeletedAt is zero for a live repository and set on tombstones.
	DeletedAt time.Time
}

// ListReposOptions selects a page of live repositories.
type ListReposOptions struct {
	AfterSeq int64  // only repositories with Seq > AfterSeq
	Limit    int    // at most Limit repositories; <= 0 means no limit
	Query    string // case-insensitive substring of ID; "" matches all
}

// BranchRecord is the recorded creation of a branch.
type BranchRecord struct {
	Name      string
	CreatedAt time.Time // UTC
	Seq       int64     // insertion order; breaks ties between equal CreatedAt
}

// RefEvent is the stored record of one reference moved by a successful ref
// transaction. Object ids are hex strings; a created ref has an all-zero
// Before, a deleted one an all-zero After. internal/events gives it types.
type RefEvent struct {
	// Seq orders events across all organisations and is the feed cursor.
	Seq        int64
	Org        string
	RepoID     string
	StorageKey string
	Namespace  string // "" for normal refs, "ephemeral"
	Ref        string // fully qualified inside Namespace: refs/heads/main
	Before     string
	After      string
	At         time.Time // UTC
}

// GitCredential is the credential of a repository's generic HTTPS upstream
// (API §5.2). The store keeps Secret as given: callers seal the password
// before storing it and open it after reading, so the store never holds a
// plaintext secret.
type GitCredential struct {
	// ID is random and opaque, chosen by the caller; unique across
	// organisations.
	ID string
	// Org and RepoID name the repository; StorageKey is its incarnation.
	// A store fills Org and RepoID from the repository it reads through
	// StorageKey.
	Org        string
	RepoID     string
	StorageKey string
	Username   string
	Secret     []byte    // sealed; opaque to the store
	CreatedAt  time.Time // UTC
	UpdatedAt  time.Time // UTC
}

// Store is the repository registry. Implementations are safe for concurrent
// use. Every repository query is scoped by org; only DeletedRepos and
// LiveRepos, which serve server-wide passes (storage cleanup, crash
// reconciliation), span organisations.
type Store interface {
	SyncStore
	MirrorStore // push-back mirroring (mirror.go)
	OrgStore    // organisations and their keys (orgs.go)

	// CreateRepo registers a live repository. It ignores r.StorageKey, r.Seq
	// and r.DeletedAt, chooses a new StorageKey and Seq, and sets CreatedAt
	// to now if it is zero. It returns the repository as Repo would return
	// it. ErrExists if a live repository (org, id) exists.
	CreateRepo(ctx context.Context, r Repo) (Repo, error)
	// Repo returns the live repository (org, id): ErrDeleted if only
	// tombstones exist, ErrNotFound if it never existed.
	Repo(ctx context.Context, org, id string) (Repo, error)
	// DeleteRepo tombstones the live repository and returns it (DeletedAt
	// set). ErrDeleted if already deleted, ErrNotFound if it never existed.
	DeleteRepo(ctx context.Context, org, id string) (Repo, error)
	// ListRepos returns live repositories of org in creation order (Seq
	// ascending). hasMore reports whether more match after the last one.
	ListRepos(ctx context.Context, org string, opt ListReposOptions) (repos []Repo, hasMore bool, err error)
	// SetDefaultBranch changes the live repository's default branch, with
	// the same errors as Repo.
	SetDefaultBranch(ctx context.Context, org, id, branch string) error
	// SetBaseRepo replaces the live repository's base repository (nil
	// removes it), with the same errors as Repo.
	SetBaseRepo(ctx context.Context, org, id string, base *BaseRepo) error
	// DeletedRepos returns every tombstone of every organisation in deletion
	// order, so a cleanup worker can remove their StorageKey directories.
	DeletedRepos(ctx context.Context) ([]Repo, error)
	// LiveRepos returns every live repository of every organisation in
	// creation order (Seq ascending).
	LiveRepos(ctx context.Context) ([]Repo, error)

	// RecordBranch records that branch was created at createdAt (now if
	// zero) in namespace ("" for normal branches, "ephemeral") of the
	// repository with storageKey. An existing record keeps its first time,
	// so calling it again is harmless. ErrNotFound if no repository, live or
	// deleted, has storageKey.
	RecordBranch(ctx context.Context, storageKey, namespace, branch string, createdAt time.Time) error
	// ForgetBranch removes the record, if any, when the branch is deleted.
	ForgetBranch(ctx context.Context, storageKey, namespace, branch string) error
	// Branches returns all records of a namespace in creation order:
	// CreatedAt ascending, then Seq.
	Branches(ctx context.Context, storageKey, namespace string) ([]BranchRecord, error)

	// AppendRefEvents appends the events of one ref transaction: all of
	// them or, on error, none. When it returns they survive the process
	// but need not be synced to disk yet: events follow from refs, and
	// after a crash the server's start reconciles the feed with the refs
	// on disk (events.Reconcile), which restores what a power loss took.
	// That keeps a sync off every write's path (docs/benchmarks.md,
	// finding 5). It ignores Seq, Org and RepoID: Seq is
	// assigned in slice order, and Org and RepoID are copied from the
	// repository (live or deleted) registered under each StorageKey. A zero
	// At means now. It returns the events as RefEvents will return them.
	// ErrNotFound if a StorageKey is unknown.
	AppendRefEvents(ctx context.Context, events []RefEvent) ([]RefEvent, error)
	// RefEvents returns up to limit events with Seq > afterSeq in Seq order,
	// across all organisations; limit <= 0 means no limit. Seqs become
	// visible in increasing order: after a reader has seen Seq n it never
	// sees a new event with Seq <= n, so a consumer that keeps the last Seq
	// it handled as its cursor misses nothing and sees nothing twice.
	RefEvents(ctx context.Context, afterSeq int64, limit int) ([]RefEvent, error)
	// LastRefStates returns the newest event (highest Seq) of each
	// (Namespace, Ref) of the repository with storageKey, ordered by
	// Namespace then Ref (byte order): every ref's state as last recorded.
	// A ref whose newest event deleted it is included, with an all-zero
	// After. An unknown storageKey has no events: an empty result.
	LastRefStates(ctx context.Context, storageKey string) ([]RefEvent, error)

	// Webhook subscriptions, their outbox and feed cursors (webhooks.go).
	WebhookStore

	// CreateGitCredential stores c for the live repository (c.Org,
	// c.RepoID), which must have c.StorageKey: ErrNotFound if there is no
	// such live repository (never existed, deleted, or recreated under
	// another key), ErrExists if the repository already has a credential
	// or c.ID is taken. c.ID and c.Secret must not be empty. CreatedAt is
	// now if zero; UpdatedAt = CreatedAt. It returns the credential as
	// GitCredential would return it.
	CreateGitCredential(ctx context.Context, c GitCredential) (GitCredential, error)
	// GitCredential returns the credential id of a live repository of org:
	// ErrNotFound if there is none, if it belongs to another organisation,
	// or if its repository was deleted.
	GitCredential(ctx context.Context, org, id string) (GitCredential, error)
	// GitCredentialForRepo returns the credential of the live repository
	// with storageKey: ErrNotFound if it has none or is not live.
	GitCredentialForRepo(ctx context.Context, storageKey string) (GitCredential, error)
	// UpdateGitCredential replaces the Username and Secret of the
	// credential (c.Org, c.ID), which must still belong to c.StorageKey
	// (the secret is sealed for it), and sets UpdatedAt to now. Same
	// errors as GitCredential. It returns the updated credential.
	UpdateGitCredential(ctx context.Context, c GitCredential) (GitCredential, error)
	// DeleteGitCredential removes the credential id of org, with the same
	// errors as GitCredential. Deleting a repository (DeleteRepo) removes
	// its credential as well.
	DeleteGitCredential(ctx context.Context, org, id string) error

	Close() error
}

// foldCase maps s to the form ListReposOptions.Query matches on. Upper then
// lower makes letters with several lower-case forms (σ/ς) compare equal;
// SQL's lower() would fold ASCII only. Stored folds must be migrated if this
// ever changes.
func foldCase(s string) string {
	return strings.ToLower(strings.ToUpper(s))
}

// fromNanos turns a stored time (Unix nanoseconds) into the UTC time,
// without a monotonic reading, that every Store returns.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// scanner is a result row of either driver (*sql.Row, *sql.Rows, pgx.Row,
// pgx.CollectableRow): the scan functions below read plain Go values, which
// both drivers convert alike.
type scanner interface{ Scan(dest ...any) error }

// repoColumns is the select list scanRepo reads.
const repoColumns = `org, id, storage_key, default_branch, created_at, deleted_at, seq,
	base_provider, base_owner, base_name, base_default_branch,
	base_operation, base_ref, base_sha, base_upstream_host, base_auth_type`

// scanRepo reads a row of repoColumns. deleted_at and base_provider are
// NULL for a live repository and one without a base repository.
func scanRepo(sc scanner) (Repo, error) {
	var (
		r        Repo
		created  int64
		deleted  *int64
		provider *string
		b        BaseRepo
	)
	if err := sc.Scan(&r.Org, &r.ID, &r.StorageKey, &r.DefaultBranch, &created, &deleted, &r.Seq,
		&provider, &b.Owner, &b.Name, &b.DefaultBranch,
		&b.Operation, &b.Ref, &b.SHA, &b.UpstreamHost, &b.AuthType); err != nil {
		return Repo{}, err
	}
	r.CreatedAt = fromNanos(created)
	if deleted != nil {
		r.DeletedAt = fromNanos(*deleted)
	}
	if provider != nil {
		b.Provider = *provider
		r.BaseRepo = &b
	}
	return r, nil
}

// newRepo checks r for CreateRepo and returns it as Repo will return it,
// but for Seq: a new StorageKey, no DeletedAt, CreatedAt now if zero and
// as stored, BaseRepo copied.
func newRepo(r Repo) (Repo, error) {
	if r.Org == "" || r.ID == "" {
		return Repo{}, fmt.Errorf("create repo %q/%q: org and id must not be empty", r.Org, r.ID)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	// Round trip through nanoseconds now, so the result equals what Repo
	// returns later (UTC, no monotonic reading).
	r.CreatedAt = fromNanos(r.CreatedAt.UnixNano())
	r.StorageKey = newStorageKey()
	r.DeletedAt = time.Time{}
	if r.BaseRepo != nil {
		// Copy, so the result does not alias the caller's value.
		b := *r.BaseRepo
		r.BaseRepo = &b
	}
	return r, nil
}

// newStorageKey returns 128 random bits in hex: filesystem-safe on every
// platform, case-insensitive filesystems included, and unrelated to the ID.
func newStorageKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// pageRepos cuts a ListRepos result read with one row beyond limit (when
// limit > 0) to limit, and reports whether there was more.
func pageRepos(repos []Repo, limit int) ([]Repo, bool) {
	if limit > 0 && len(repos) > limit {
		return repos[:limit], true
	}
	return repos, false
}

// newRefEvent returns e as AppendRefEvents stores it, but for Seq, Org and
// RepoID: At now if zero, and as stored.
func newRefEvent(e RefEvent, now time.Time) RefEvent {
	if e.At.IsZero() {
		e.At = now
	}
	e.At = fromNanos(e.At.UnixNano())
	return e
}

// branchColumns is the select list scanBranch reads.
const branchColumns = `name, created_at, seq`

// scanBranch reads a row of branchColumns.
func scanBranch(sc scanner) (BranchRecord, error) {
	var b BranchRecord
	var created int64
	if err := sc.Scan(&b.Name, &created, &b.Seq); err != nil {
		return BranchRecord{}, err
	}
	b.CreatedAt = fromNanos(created)
	return b, nil
}

// refEventColumns is the select list scanRefEvent reads.
const refEventColumns = `seq, org, repo_id, storage_key, namespace, ref, before_oid, after_oid, at`

// scanRefEvent reads a row of refEventColumns.
func scanRefEvent(sc scanner) (RefEvent, error) {
	var e RefEvent
	var at int64
	if err := sc.Scan(&e.Seq, &e.Org, &e.RepoID, &e.StorageKey, &e.Namespace, &e.Ref, &e.Before, &e.After, &at); err != nil {
		return RefEvent{}, err
	}
	e.At = fromNanos(at)
	return e, nil
}

// credentialColumns is the select list scanCredential reads: a credential
// joined with its repository (alias r), which supplies org and id.
const credentialColumns = `c.id, r.org, r.id, c.storage_key, c.username, c.secret, c.created_at, c.updated_at`

// scanCredential reads a row of credentialColumns.
func scanCredential(sc scanner) (GitCredential, error) {
	var c GitCredential
	var created, updated int64
	if err := sc.Scan(&c.ID, &c.Org, &c.RepoID, &c.StorageKey, &c.Username, &c.Secret, &created, &updated); err != nil {
		return GitCredential{}, err
	}
	c.CreatedAt, c.UpdatedAt = fromNanos(created), fromNanos(updated)
	return c, nil
}

// newGitCredential checks c for CreateGitCredential and returns it as
// GitCredential will return it: CreatedAt now if zero and as stored,
// UpdatedAt = CreatedAt, Secret copied.
func newGitCredential(c GitCredential) (GitCredential, error) {
	if c.ID == "" || len(c.Secret) == 0 {
		return GitCredential{}, fmt.Errorf("create git credential for %s/%s: id and secret must not be empty", c.Org, c.RepoID)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	c.CreatedAt = fromNanos(c.CreatedAt.UnixNano())
	c.UpdatedAt = c.CreatedAt
	c.Secret = append([]byte(nil), c.Secret...)
	return c, nil
}

// checkGitCredentialUpdate checks c for UpdateGitCredential.
func checkGitCredentialUpdate(c GitCredential) error {
	if len(c.Secret) == 0 {
		return fmt.Errorf("update git credential %q of %s: secret must not be empty", c.ID, c.Org)
	}
	return nil
}
