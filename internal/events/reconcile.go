package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
)

// ErrNoRepository is what a RefLister returns (wrapped) when a live
// repository has no directory: a crash between registering a repository and
// creating it leaves one. Its refs never existed, so Reconcile skips it
// rather than reading its recorded refs as deleted.
var ErrNoRepository = errors.New("repository not on disk")

// RefLister reads the refs of a repository as they are on disk.
type RefLister interface {
	// ListRefs returns every ref under refs/ of the repository with
	// storageKey, by full name (namespace prefix included) with its value.
	ListRefs(ctx context.Context, storageKey string) (map[git.ReferenceName]git.ObjectID, error)
}

// ReconcileStore is what Reconcile needs of the metadata store.
type ReconcileStore interface {
	LiveRepos(ctx context.Context) ([]metadata.Repo, error)
	LastRefStates(ctx context.Context, storageKey string) ([]metadata.RefEvent, error)
	AppendRefEvents(ctx context.Context, events []metadata.RefEvent) ([]metadata.RefEvent, error)
}

// ReconcileResult counts what Reconcile did.
type ReconcileResult struct {
	Repos      int // live repositories compared
	Reconciled int // repositories that needed events
	Events     int // events synthesized
}

// Reconcile appends, for every live repository, one event per ref whose
// value on disk differs from its last recorded state: Before is the After
// of the ref's newest event (zero if it has none), After the value on disk
// (zero if the ref is gone). The events of one repository are appended in
// one transaction, At the time of the reconciliation (when the ref really
// moved is unknown). It does nothing for refs in step, so a second run
// appends nothing.
//
// Refs must not move while it runs: a write racing it could be recorded
// twice, by its own event and a synthesized one. A repository that fails
// (unreadable refs, a store error) is skipped; the others are still
// reconciled, and the returned error lists the failures. Each reconciled
// repository is logged at WARN, the totals at INFO.
func Reconcile(ctx context.Context, store ReconcileStore, lister RefLister, log *slog.Logger) (ReconcileResult, error) {
	start := time.Now()
	var res ReconcileResult
	repos, err := store.LiveRepos(ctx)
	if err != nil {
		return res, fmt.Errorf("reconcile ref events: %w", err)
	}
	var errs []error
	for _, r := range repos {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		res.Repos++
		n, err := reconcileRepo(ctx, store, lister, r.StorageKey)
		if errors.Is(err, ErrNoRepository) {
			log.Warn("crash reconciliation: repository has no directory, skipped",
				"org", r.Org, "repo", r.ID, "storage_key", r.StorageKey)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", r.Org, r.ID, err))
			continue
		}
		if n > 0 {
			res.Reconciled++
			res.Events += n
			log.Warn("crash reconciliation: synthesized ref-update events",
				"org", r.Org, "repo", r.ID, "storage_key", r.StorageKey, "events", n)
		}
	}
	log.Info("crash reconciliation done", "repos", res.Repos, "reconciled", res.Reconciled,
		"events", res.Events, "failed", len(errs), "duration", time.Since(start).Round(time.Millisecond))
	return res, errors.Join(errs...)
}

// refKey is a ref as events name it.
type refKey struct{ ns, ref string }

// reconcileRepo appends the missing events of one repository and returns
// how many.
func reconcileRepo(ctx context.Context, store ReconcileStore, lister RefLister, key string) (int, error) {
	onDisk, err := lister.ListRefs(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", key, err)
	}
	last, err := store.LastRefStates(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", key, err)
	}
	recorded := make(map[refKey]git.ObjectID, len(last))
	for _, e := range last {
		if isRef(e.Ref) {
			recorded[refKey{e.Namespace, e.Ref}] = normalise(git.ObjectID(e.After))
		}
	}
	current := make(map[refKey]git.ObjectID, len(onDisk))
	for full, oid := range onDisk {
		ns, inner := full.Namespace()
		if isRef(string(inner)) {
			current[refKey{string(ns), string(inner)}] = normalise(oid)
		}
	}

	var missing []metadata.RefEvent
	diff := func(k refKey) {
		before, after := recorded[k], current[k]
		if before == "" {
			before = git.ZeroOID // never recorded
		}
		if after == "" {
			after = git.ZeroOID // not on disk
		}
		if before != after {
			missing = append(missing, metadata.RefEvent{StorageKey: key, Namespace: k.ns, Ref: k.ref,
				Before: string(before), After: string(after)})
		}
	}
	for k := range current {
		diff(k)
	}
	for k := range recorded {
		if _, ok := current[k]; !ok {
			diff(k)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	// A stable order, as LastRefStates has it, so the feed reads the same
	// whatever the map order.
	slices.SortFunc(missing, func(a, b metadata.RefEvent) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Ref, b.Ref))
	})
	now := time.Now()
	for i := range missing {
		missing[i].At = now
	}
	if _, err := store.AppendRefEvents(ctx, missing); err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", key, err)
	}
	return len(missing), nil
}

// isRef reports whether name, inside its namespace, is a ref for
// reconciliation: refs/…, not a symbolic ref such as a namespace's HEAD.
func isRef(name string) bool { return strings.HasPrefix(name, "refs/") }
