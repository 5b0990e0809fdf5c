package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/githttp"
	"github.com/strata-storage/strata/internal/maintenance"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/webhook"
)

// newRepos builds the repository manager with the server's ref observer
// and the maintenance worker that observer feeds: nil when maintenance is
// disabled, not yet started otherwise.
func newRepos(cfg config.Config, f *git.Factory, cache *catfile.Cache, store metadata.Store, log *slog.Logger, hooks *webhook.Worker, cl *clusterMode) (*repo.Manager, *maintenance.Worker, error) {
	obs := &refObserver{
		events:   eventRecorder{log: events.NewLog(store), logger: log, hooks: hooks, recorded: cl != nil},
		branches: branchRecorder{store: store, log: log},
	}
	repos, err := repo.NewManager(reposRoot(cfg), f, cache, obs)
	if err != nil {
		return nil, nil, err
	}
	if cl != nil {
		repos.SetRecord(cl.record)
	}
	repos.SetLimits(repo.Limits{MaxBlobBytes: cfg.Limits.MaxBlobBytes, GrepMatchLimit: cfg.Limits.GrepMatchLimit})
	m := cfg.Maintenance
	if !m.Enabled {
		log.Info("repository maintenance disabled")
		return repos, nil, nil
	}
	opts := maintenance.DefaultOptions()
	opts.Workers = m.Workers
	opts.Interval = m.Interval
	opts.RefUpdates = m.RefUpdates
	opts.LooseObjects = m.LooseObjects
	opts.FullInterval = m.FullInterval
	opts.PruneGrace = m.PruneGrace
	if cl != nil {
		// A cache keeps every object it was given: a ref of record may
		// point at an unreachable one again, and the node counts it as held
		// (docs/scale-out.md, "Maintenance").
		opts.PruneGrace = neverPrune
	}
	opts.PushObjects = m.PushObjects
	opts.PushBytes = m.PushBytes
	opts.MaxPacks = m.Packs
	opts.TmpObjectGrace = cfg.Caps.TmpObjectGrace
	opts.StopTimeout = cfg.ShutdownTimeout
	opts.Logger = log
	w := maintenance.NewWorker(f, repos, opts)
	// Set before anything is served, so no ref update can race it.
	obs.maint = maintenanceTrigger{w: w}
	return repos, w, nil
}

// refObserver is the server's repo.RefObserver, called after every
// successful ref transaction, API write and push alike. It composes the
// side effects of a ref update, run in this order on the request's
// goroutine:
//
//  1. eventRecorder appends the transaction's ref-update events to the
//     metadata store, durably, so they are on disk before the write is
//     acknowledged;
//  2. branchRecorder keeps branch creation times;
//  3. maintenanceTrigger counts the write towards the repository's next
//     maintenance run, without blocking.
//
// None can fail the write: the refs have already moved. Failures are
// logged.
type refObserver struct {
	events   eventRecorder
	branches branchRecorder
	maint    maintenanceTrigger
}

func (o *refObserver) RefsUpdated(ctx context.Context, storageKey string, updates []refs.Update) {
	o.events.RefsUpdated(ctx, storageKey, updates)
	o.branches.RefsUpdated(ctx, storageKey, updates)
	o.maint.RefsUpdated(ctx, storageKey, updates)
}

// eventRecorder writes one events.RefUpdate per moved ref, all of a
// transaction in one metadata transaction.
type eventRecorder struct {
	log    *events.Log
	logger *slog.Logger
	// hooks hears that new events are in the feed, so deliveries start
	// at once rather than at its next poll.
	hooks *webhook.Worker
	// recorded: the events are already in the feed, written by the
	// clustered mode's ledger in the ref transaction itself.
	recorded bool
}

// neverPrune is a prune grace no object of a cache reaches.
const neverPrune = 10 * 365 * 24 * time.Hour

func (e eventRecorder) RefsUpdated(ctx context.Context, storageKey string, updates []refs.Update) {
	if e.recorded {
		e.hooks.Notify()
		return
	}
	if _, err := e.log.Record(ctx, storageKey, updates, time.Now()); err != nil {
		// The refs moved but consumers (webhooks, mirrors) will not hear of
		// it: loud, with what is needed to replay by hand.
		refs := make([]string, len(updates))
		for i, u := range updates {
			refs[i] = string(u.Ref) + " " + string(u.Old) + " " + string(u.New)
		}
		e.logger.Error("ref-update events lost", "repo", storageKey, "updates", refs, "err", err)
		return
	}
	e.hooks.Notify()
}

// branchRecorder keeps branch creation times (branches[].created_at and
// creation-order listings) in step with every ref update.
type branchRecorder struct {
	store metadata.Store
	log   *slog.Logger
}

func (b branchRecorder) RefsUpdated(ctx context.Context, storageKey string, updates []refs.Update) {
	now := time.Now().UTC()
	for _, u := range updates {
		ns, _ := u.Ref.Namespace()
		branch, ok := u.Ref.Branch()
		if !ok {
			continue
		}
		var err error
		switch {
		case u.IsDelete():
			err = b.store.ForgetBranch(ctx, storageKey, string(ns), branch)
		case u.IsCreate():
			err = b.store.RecordBranch(ctx, storageKey, string(ns), branch, now)
		}
		if err != nil {
			b.log.Error("record branch", "repo", storageKey, "ref", u.Ref, "err", err)
		}
	}
}

// maintenanceTrigger tells the maintenance worker about the write. With
// maintenance disabled its worker is nil, and Trigger does nothing.
type maintenanceTrigger struct {
	w *maintenance.Worker
}

func (m maintenanceTrigger) RefsUpdated(_ context.Context, storageKey string, _ []refs.Update) {
	m.w.Trigger(storageKey)
}

// Pushed passes on what a push stored (githttp.PushObserver), so a large
// push or one pack too many gets its repack at once.
func (m maintenanceTrigger) Pushed(storageKey string, st githttp.PushStats) {
	m.w.ObjectsAdded(storageKey, maintenance.Added{Packs: st.Packs, Objects: st.Objects, Bytes: st.Bytes})
}
