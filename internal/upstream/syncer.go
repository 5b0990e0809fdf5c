package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// Policy is the operator's rule for outbound requests to tenant-chosen
// hosts.
type Policy interface {
	// Resolve returns an address of host that outbound requests may use,
	// or an error when every address is refused.
	Resolve(ctx context.Context, host string) (netip.Addr, error)
	// AllowsPrivate reports whether private, loopback and link-local
	// targets (and plain http) are allowed.
	AllowsPrivate() bool
}

// Credentials opens a repository's stored git credential
// (metadata.ErrNotFound when it has none).
type Credentials interface {
	ForRepo(ctx context.Context, storageKey string) (gitcred.Credential, error)
}

// Lifecycle hears about sync runs (webhooks: repo.sync.*). It must not
// block for long.
type Lifecycle interface {
	SyncStarted(ctx context.Context, r metadata.Repo, run Run)
	SyncFinished(ctx context.Context, r metadata.Repo, run Run)
}

// Run describes one sync run for Lifecycle.
type Run struct {
	// Count is the number of completed runs: before this one when
	// started, including it when finished.
	Count       int64
	IsFirstSync bool // no run had succeeded before this one
	StartedAt   time.Time
	CompletedAt time.Time // zero when started
	Err         error     // the failure, when finished
}

// Options configure a Syncer.
type Options struct {
	// GitHubURL is GitHub's web root (default https://github.com).
	GitHubURL *url.URL
	// CABundle is a PEM file of the roots git trusts ("" = its default).
	CABundle string
	// Timeout bounds one run (default 30 minutes).
	Timeout time.Duration
	// MaxBytes caps what one fetch may bring, measured on disk in the
	// quarantine (default 2 GiB).
	MaxBytes int64
	// Workers run syncs of different repositories in parallel (default 2).
	Workers int
	// Interval, when positive, queues a sync of every linked repository
	// that often.
	Interval time.Duration
	// GitHubApp, when set, authenticates private GitHub repositories.
	GitHubApp *GitHubApp
}

// Syncer runs the durable sync queue of a metadata store.
type Syncer struct {
	store     metadata.Store
	repos     *repo.Manager
	git       *git.Factory
	creds     Credentials
	policy    Policy
	lifecycle Lifecycle
	log       *slog.Logger
	opts      Options

	wake   chan struct{}
	stop   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Syncer; Start runs it. lifecycle may be nil.
func New(store metadata.Store, repos *repo.Manager, f *git.Factory, creds Credentials, policy Policy, lifecycle Lifecycle, log *slog.Logger, opts Options) *Syncer {
	if opts.GitHubURL == nil {
		opts.GitHubURL = &url.URL{Scheme: "https", Host: "github.com"}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Minute
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 2 << 30
	}
	return &Syncer{store: store, repos: repos, git: f, creds: creds, policy: policy, lifecycle: lifecycle, log: log, opts: opts,
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Enqueue durably queues a sync of a linked repository: once it returns
// nil the sync runs, whatever happens to this process. ref is "" for every
// branch and tag, or one branch ("main", "refs/heads/main") or tag
// ("refs/tags/v1").
func (s *Syncer) Enqueue(ctx context.Context, r metadata.Repo, ref string) error {
	if !Linked(r) {
		return ErrNotLinked
	}
	full, err := fullRef(ref)
	if err != nil {
		return err
	}
	if err := s.store.EnqueueSync(ctx, r.StorageKey, full); err != nil {
		return err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// ErrNotLinked is a sync asked of a repository without an upstream.
var ErrNotLinked = errors.New("repository has no upstream")

// ErrInvalidRef is a sync asked for a ref that is not a branch or tag.
var ErrInvalidRef = errors.New("invalid ref")

func fullRef(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", nil
	}
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	var err error
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		err = git.ValidateBranchName(strings.TrimPrefix(ref, "refs/heads/"))
	case strings.HasPrefix(ref, "refs/tags/"):
		err = git.ValidateTagName(strings.TrimPrefix(ref, "refs/tags/"))
	default:
		err = errors.New("only branches and tags are synced")
	}
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrInvalidRef, ref, err)
	}
	return ref, nil
}

// Running reports whether a sync of the repository runs now.
func (s *Syncer) Running(ctx context.Context, r metadata.Repo) (bool, error) {
	return s.store.SyncRunning(ctx, r.StorageKey)
}
