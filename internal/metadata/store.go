package metadata

import (
	"context"
	"errors"
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

	// AppendRefEvents durably appends the events of one ref transaction:
	// all of them or, on error, none. It ignores Seq, Org and RepoID: Seq is
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
