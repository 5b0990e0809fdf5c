package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// PushCredentials gives the credential that lets Strata write to a
// repository's upstream. A GitHub App token source plugs in here beside
// the stored git credentials (StoredCredentials).
type PushCredentials interface {
	// PushCredential returns the credential for one push to r's
	// upstream: ErrNoPushCredential when r has none, and so is not
	// mirrored.
	PushCredential(ctx context.Context, r metadata.Repo) (gitcred.Credential, error)
}

// ErrNoPushCredential is a repository whose upstream Strata cannot write
// to: its local updates are not pushed back.
var ErrNoPushCredential = errors.New("no write credential for the upstream")

// PushCredential makes the Syncer the PushCredentials of its
// repositories: a push presents the credential the sync fetches with
// (credentialFor: the stored git credential of a generic upstream, the
// GitHub App's installation token of a private GitHub repository), and a
// repository the sync reaches without one is not pushed to.
func (s *Syncer) PushCredential(ctx context.Context, r metadata.Repo) (gitcred.Credential, error) {
	c, err := s.credentialFor(ctx, r)
	switch {
	case errors.Is(err, ErrNotLinked), errors.Is(err, ErrNoGitHubApp), err == nil && c == nil:
		return gitcred.Credential{}, ErrNoPushCredential
	case err != nil:
		return gitcred.Credential{}, err
	}
	return *c, nil
}

// Outcomes of a push attempt, as MirrorObserver hears them.
const (
	MirrorOutcomePushed   = "pushed"   // the upstream has the value now
	MirrorOutcomeRejected = "rejected" // refused: the upstream's ref changed (lease), or its hooks said no
	MirrorOutcomeError    = "error"    // not pushed: unreachable, authentication, timeout, …; retried
)

// MirrorObserver hears of push-back attempts, for metrics. Calls come
// from many goroutines.
type MirrorObserver interface {
	// Attempt is called once per push attempt with its outcome.
	Attempt(outcome string)
	// Failed is called when a push is marked failed: rejected, or
	// retried for RetryFor in vain.
	Failed()
}

// MirrorOptions configure a Mirror. Zero values take the defaults.
type MirrorOptions struct {
	// GitHubURL is GitHub's web root (default https://github.com).
	GitHubURL *url.URL
	// CABundle is a PEM file of the roots git trusts ("" = its default).
	CABundle string
	// Timeout bounds one push (10 minutes).
	Timeout time.Duration
	// RetryFor is how long after its creation a push that cannot reach
	// the upstream is still retried (24 h); then it is marked failed.
	RetryFor time.Duration
	// Backoff is the delay before the first retry (10 s); it doubles per
	// attempt up to MaxBackoff (1 h), each delay jittered to 50–100 %.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Concurrency is how many repositories push at once (4).
	Concurrency int
	// Poll is how often the feed and the queue are read (1 s).
	Poll time.Duration
	// Retention is how long finished pushes stay listed (7 days).
	Retention time.Duration
	Observer  MirrorObserver
}

func (o *MirrorOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.GitHubURL == nil {
		o.GitHubURL = &url.URL{Scheme: "https", Host: "github.com"}
	}
	def(&o.Timeout, 10*time.Minute)
	def(&o.RetryFor, 24*time.Hour)
	def(&o.Backoff, 10*time.Second)
	def(&o.MaxBackoff, time.Hour)
	def(&o.Poll, time.Second)
	def(&o.Retention, 7*24*time.Hour)
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Observer == nil {
		o.Observer = nopMirrorObserver{}
	}
}

type nopMirrorObserver struct{}

func (nopMirrorObserver) Attempt(string) {}
func (nopMirrorObserver) Failed()        {}

// Mirror pushes local ref updates of linked repositories back to their
// upstreams (docs/sync.md, "Push-back mirroring"). It reads the ref-event
// feed from its own cursor and queues each update of a branch or tag of a
// linked repository in the metadata store, in the transaction that moves
// the cursor; then it pushes each repository's queue in order, one push
// at a time per repository, with git push --force-with-lease so that an
// upstream ref that changed since is never overwritten. It only reads
// local refs and objects: it moves no local ref.
//
// Call Start once, Notify from any goroutine, then Stop once. Stop
// cancels pushes in flight without recording them: they run again at the
// next Start. A nil *Mirror ignores Notify and Stop.
type Mirror struct {
	store     metadata.Store
	repos     *repo.Manager
	git       *git.Factory
	creds     PushCredentials
	policy    Policy
	lifecycle Lifecycle
	log       *slog.Logger
	opts      MirrorOptions
	feed      *events.Log

	runner *events.Runner // keys: storage keys, so each repository's pushes stay in order

	mu   sync.Mutex
	held map[string]time.Time // storage keys left alone until then (a sync runs)
}

// NewMirror returns a Mirror; Start runs it. lifecycle (repo.sync.failed
// webhooks) may be nil.
func NewMirror(store metadata.Store, repos *repo.Manager, f *git.Factory, creds PushCredentials, policy Policy, lifecycle Lifecycle, log *slog.Logger, opts MirrorOptions) *Mirror {
	opts.defaults()
	m := &Mirror{store: store, repos: repos, git: f, creds: creds, policy: policy, lifecycle: lifecycle, log: log, opts: opts,
		feed: events.NewLog(store), held: map[string]time.Time{}}
	m.runner = events.NewRunner(events.Consumer{
		Name:        "mirror",
		FanOut:      m.fanOut,
		Dispatch:    m.dispatch,
		Prune:       store.PruneMirrorPushes,
		Retention:   opts.Retention,
		Poll:        opts.Poll,
		Concurrency: opts.Concurrency,
		Log:         log,
	})
	return m
}

// Start starts the mirror's goroutine.
func (m *Mirror) Start() { m.runner.Start() }

// Stop stops the mirror and waits for it and its pushes.
func (m *Mirror) Stop() {
	if m != nil {
		m.runner.Stop()
	}
}

// Notify tells the mirror that new ref events may be waiting; it never
// blocks.
func (m *Mirror) Notify() {
	if m != nil {
		m.runner.Notify()
	}
}

// fanOut queues the events after the cursor that are to be pushed back,
// one batch per transaction together with the cursor's move.
func (m *Mirror) fanOut(ctx context.Context) error {
	return events.FanOut(ctx, m.feed, m.store, metadata.MirrorConsumer, m.pushes,
		func(ctx context.Context, move metadata.CursorMove, ps []metadata.MirrorPush) error {
			_, err := m.store.EnqueueMirrorPushes(ctx, move, ps)
			return err
		})
}

// pushes are the push-backs a batch of events calls for.
func (m *Mirror) pushes(ctx context.Context, evs []events.RefUpdate) ([]metadata.MirrorPush, error) {
	linked := map[string]map[string]string{} // storage key → synced refs; nil: not mirrored
	var ps []metadata.MirrorPush
	for _, ev := range evs {
		if !mirrored(ev) {
			continue
		}
		synced, seen := linked[ev.StorageKey]
		if !seen {
			var err error
			if synced, err = m.syncedRefs(ctx, ev); err != nil {
				return nil, err
			}
			linked[ev.StorageKey] = synced
		}
		// The sync's own updates: the upstream has that value already.
		if synced == nil || (!ev.After.IsZero() && synced[string(ev.Ref)] == string(ev.After)) {
			continue
		}
		ps = append(ps, metadata.MirrorPush{StorageKey: ev.StorageKey, EventSeq: ev.Seq, Ref: string(ev.Ref),
			Before: string(ev.Before), After: string(ev.After)})
	}
	return ps, nil
}

// mirrored reports whether an update is of a kind pushed back: branches
// and tags, never the ephemeral namespace.
func mirrored(ev events.RefUpdate) bool {
	return ev.Namespace == git.NormalNamespace &&
		(strings.HasPrefix(string(ev.Ref), "refs/heads/") || strings.HasPrefix(string(ev.Ref), "refs/tags/"))
}

// syncedRefs returns the synced refs of the event's repository if it is
// live and linked to an upstream, nil otherwise.
func (m *Mirror) syncedRefs(ctx context.Context, ev events.RefUpdate) (map[string]string, error) {
	meta, err := m.store.Repo(ctx, ev.Org, ev.RepoID)
	if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if meta.StorageKey != ev.StorageKey || !Linked(meta) {
		return nil, nil
	}
	st, err := m.store.SyncState(ctx, ev.StorageKey)
	if err != nil {
		return nil, err
	}
	if st.SyncedRefs == nil {
		st.SyncedRefs = map[string]string{}
	}
	return st.SyncedRefs, nil
}

// dispatch starts a push for every due head whose repository has none in
// flight and no sync running, as concurrency allows.
func (m *Mirror) dispatch(ctx context.Context) (time.Duration, error) {
	now := time.Now()
	var held []string
	m.mu.Lock()
	for k, until := range m.held {
		if now.Before(until) {
			held = append(held, k)
		} else {
			delete(m.held, k)
		}
	}
	m.mu.Unlock()
	return events.Dispatch(ctx, m.runner, held, m.store.MirrorHeads,
		func(h metadata.MirrorPush) string { return h.StorageKey },
		func(h metadata.MirrorPush) time.Time { return h.NextAttemptAt },
		m.attempt)
}

// hold leaves a repository's queue alone for d.
func (m *Mirror) hold(storageKey string, d time.Duration) {
	m.mu.Lock()
	m.held[storageKey] = time.Now().Add(d)
	m.mu.Unlock()
}

// runMax bounds how many queued updates of one ref are pushed at once.
const runMax = 100

// attempt pushes the head of a repository's queue (with the updates of
// the same ref right behind it: only the last value is pushed) and
// records the outcome.
func (m *Mirror) attempt(ctx context.Context, head metadata.MirrorPush) {
	log := m.log.With("org", head.Org, "repo", head.RepoID, "ref", head.Ref)
	queue, err := m.store.MirrorQueue(ctx, head.StorageKey, runMax)
	if err != nil || len(queue) == 0 || queue[0].ID != head.ID {
		if err != nil && ctx.Err() == nil {
			log.Error("mirror: read the push queue", "err", err)
			m.hold(head.StorageKey, m.opts.Poll)
		}
		return
	}
	run := queue[:1]
	for _, p := range queue[1:] {
		if p.Ref != head.Ref || p.Before != run[len(run)-1].After {
			break
		}
		run = queue[:len(run)+1]
	}
	last := run[len(run)-1]
	meta, err := m.store.Repo(ctx, head.Org, head.RepoID)
	switch {
	case errors.Is(err, metadata.ErrNotFound), errors.Is(err, metadata.ErrDeleted), err == nil && meta.StorageKey != head.StorageKey:
		m.settle(ctx, log, queue, metadata.MirrorSkipped, "repository deleted")
		return
	case err != nil:
		m.retry(ctx, log, run, metadata.Repo{}, err)
		return
	case !Linked(meta):
		m.settle(ctx, log, queue, metadata.MirrorSkipped, "repository detached from its upstream")
		return
	}
	// A running sync is moving refs to the upstream's values: wait for it,
	// so its updates are known (SyncedRefs) before anything is pushed.
	if running, err := m.store.SyncRunning(ctx, head.StorageKey); err != nil || running {
		m.hold(head.StorageKey, m.opts.Poll)
		return
	}
	st, err := m.store.SyncState(ctx, head.StorageKey)
	if err != nil {
		m.retry(ctx, log, run, meta, err)
		return
	}
	if !git.ObjectID(last.After).IsZero() && st.SyncedRefs[last.Ref] == last.After {
		m.settle(ctx, log, run, metadata.MirrorSkipped, "the upstream has this value (synced)")
		return
	}
	cred, err := m.creds.PushCredential(ctx, meta)
	if errors.Is(err, ErrNoPushCredential) {
		m.settle(ctx, log, queue, metadata.MirrorSkipped, ErrNoPushCredential.Error())
		return
	}
	if err != nil {
		m.retry(ctx, log, run, meta, err)
		return
	}
	u, err := URL(meta.BaseRepo, m.opts.GitHubURL)
	if err == nil {
		var r *repo.Repo
		if r, err = m.repos.Open(ctx, meta.StorageKey); err == nil {
			pctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
			err = m.push(pctx, r, u, &cred, last.Ref, git.ObjectID(head.Before), git.ObjectID(last.After))
			cancel()
		}
	}
	if ctx.Err() != nil {
		return // stopping: not the upstream's fault; pushed again after a restart
	}
	var rej *RejectedError
	switch {
	case err == nil:
		m.opts.Observer.Attempt(MirrorOutcomePushed)
		m.record(ctx, log, run, metadata.MirrorAttempt{At: time.Now(), Status: metadata.MirrorPushed})
		log.Info("pushed back to the upstream", "after", last.After, "updates", len(run))
	case errors.As(err, &rej):
		m.opts.Observer.Attempt(MirrorOutcomeRejected)
		m.fail(ctx, log, run, meta, err, true)
	default:
		m.retry(ctx, log, run, meta, err)
	}
}

// RejectedError is a push the upstream refused: its ref is no longer at
// the value Strata last knew (it changed there, and is not overwritten),
// or its own checks (hooks, branch protection) declined it.
type RejectedError struct {
	Ref      string
	Expected git.ObjectID // the value the upstream was expected to have (zero: none)
	Reason   string       // git's summary: "[rejected] (stale info)", "[remote rejected] (…)"
}

func (e *RejectedError) Error() string {
	if strings.Contains(e.Reason, "stale info") {
		want := "to lack it"
		if !e.Expected.IsZero() {
			want = "at " + e.Expected.Short()
		}
		return fmt.Sprintf("push-back of %s refused: the upstream's %s changed there (expected it %s); not overwritten", e.Ref, e.Ref, want)
	}
	return fmt.Sprintf("push-back of %s rejected by the upstream: %s", e.Ref, e.Reason)
}

// push sets the upstream's ref to value (zero: deletes it), provided the
// upstream's ref is at expect (zero: absent).
func (m *Mirror) push(ctx context.Context, r *repo.Repo, u *url.URL, cred *gitcred.Credential, ref string, expect, value git.ObjectID) error {
	env, err := transportEnv(ctx, m.policy, m.opts.CABundle, u, cred)
	if err != nil {
		return err
	}
	err = m.pushOnce(ctx, r, u, env, ref, expect, value)
	var rej *RejectedError
	if value.IsZero() && !expect.IsZero() && errors.As(err, &rej) && strings.Contains(rej.Reason, "stale info") {
		// A deletion the upstream refuses as stale may be one it already
		// has (the sync's own deletion, a repeated push): deleting an
		// absent ref succeeds, a ref that moved there is refused again.
		if err2 := m.pushOnce(ctx, r, u, env, ref, git.ZeroOID, value); err2 == nil {
			return nil
		}
	}
	return err
}

func (m *Mirror) pushOnce(ctx context.Context, r *repo.Repo, u *url.URL, env []string, ref string, expect, value git.ObjectID) error {
	lease, src := ref+":", ""
	if !expect.IsZero() {
		lease += string(expect)
	}
	if !value.IsZero() {
		src = string(value)
	}
	var out bytes.Buffer
	err := m.git.Run(ctx, r.Path(), git.Command{
		Name:  "push",
		Flags: []string{"--porcelain", "--no-verify", "--force-with-lease=" + lease},
		Args:  []string{u.String(), src + ":" + ref},
	}, git.WithEnv(env...), git.WithStdout(&out))
	flag, summary, ok := porcelainStatus(out.String(), ref)
	switch {
	case ok && flag == "!":
		return &RejectedError{Ref: ref, Expected: expect, Reason: summary}
	case ok:
		return nil // pushed, or the upstream had it already ("=")
	case err != nil:
		return fmt.Errorf("push to %s: %w", u.Redacted(), err)
	}
	return fmt.Errorf("push to %s: git reported nothing for %s", u.Redacted(), ref)
}

// porcelainStatus finds ref's line in git push --porcelain output
// ("<flag>\t<from>:<to>\t<summary>") and returns its flag and summary.
func porcelainStatus(out, ref string) (flag, summary string, ok bool) {
	for _, line := range strings.Split(out, "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 || len(parts[0]) != 1 {
			continue
		}
		if i := strings.LastIndexByte(parts[1], ':'); i >= 0 && parts[1][i+1:] == ref {
			return parts[0], parts[2], true
		}
	}
	return "", "", false
}

// settle ends pushes without contacting the upstream.
func (m *Mirror) settle(ctx context.Context, log *slog.Logger, ps []metadata.MirrorPush, status metadata.MirrorStatus, why string) {
	m.record(ctx, log, ps, metadata.MirrorAttempt{At: time.Now(), Status: status, Error: why, NotAttempted: true})
	log.Debug("mirror: nothing to push", "reason", why, "updates", len(ps))
}

// retry schedules the run again after a backoff, or marks it failed once
// it has been retried for RetryFor. meta is zero when it could not be
// read.
func (m *Mirror) retry(ctx context.Context, log *slog.Logger, run []metadata.MirrorPush, meta metadata.Repo, err error) {
	if ctx.Err() != nil {
		return
	}
	m.opts.Observer.Attempt(MirrorOutcomeError)
	now := time.Now()
	next := now.Add(backoff(m.opts.Backoff, m.opts.MaxBackoff, run[0].Attempts+1))
	if next.Sub(run[0].CreatedAt) > m.opts.RetryFor {
		m.fail(ctx, log, run, meta, fmt.Errorf("push-back of %s gave up after %d attempts: %w", run[0].Ref, run[0].Attempts+1, err), false)
		return
	}
	m.record(ctx, log, run, metadata.MirrorAttempt{At: now, Status: metadata.MirrorPending, Error: err.Error(), NextAttemptAt: next})
	log.Info("push-back failed; will retry", "err", err, "attempts", run[0].Attempts+1,
		"next_attempt_at", next.UTC().Format(time.RFC3339))
}

// fail marks the run failed and makes it visible: a log line, the
// observer (metrics) and repo.sync.failed.
func (m *Mirror) fail(ctx context.Context, log *slog.Logger, run []metadata.MirrorPush, meta metadata.Repo, err error, rejected bool) {
	now := time.Now()
	if !m.record(ctx, log, run, metadata.MirrorAttempt{At: now, Status: metadata.MirrorFailed, Error: err.Error()}) {
		return
	}
	m.opts.Observer.Failed()
	log.Warn("push-back to the upstream failed", "rejected", rejected, "before", run[0].Before, "after", run[len(run)-1].After, "err", err)
	if m.lifecycle == nil || meta.StorageKey == "" {
		return
	}
	st, serr := m.store.SyncState(ctx, meta.StorageKey)
	if serr != nil {
		log.Error("mirror: read sync state", "err", serr)
	}
	m.lifecycle.SyncFinished(ctx, meta, Run{Count: st.RunCount, IsFirstSync: st.LastSuccess.IsZero(),
		StartedAt: run[0].CreatedAt, CompletedAt: now.UTC(), Err: err})
}

// record stores an outcome of the run; it reports whether it did.
func (m *Mirror) record(ctx context.Context, log *slog.Logger, run []metadata.MirrorPush, a metadata.MirrorAttempt) bool {
	ids := make([]int64, len(run))
	for i, p := range run {
		ids[i] = p.ID
	}
	// Record even while stopping: the upstream has answered.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := m.store.RecordMirrorAttempt(rctx, ids, a)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		// Left pending as it was: pushed again, which is harmless (the
		// upstream has the value already, or the lease refuses).
		log.Error("mirror: record a push", "err", err)
	}
	return err == nil
}

// backoff is the delay before attempt n+1 after n failed ones: base
// doubled per attempt, capped, then jittered down to 50–100 % so that
// pushes failing together (an upstream host down) do not retry together.
func backoff(base, maxDelay time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	half := d / 2
	return half + rand.N(half+1)
}
