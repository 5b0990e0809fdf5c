package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// maxAttempts bounds how often one run re-plans after losing a ref race
// to a concurrent write.
const maxAttempts = 3

// Result is what one run did.
type Result struct {
	Updated int
	// Kept are refs left alone because they changed locally (see planSync).
	Kept []string
}

// run performs one claimed job and records its outcome.
func (s *Syncer) run(ctx context.Context, job metadata.SyncJob) {
	meta, err := s.store.Repo(ctx, job.Org, job.RepoID)
	if err != nil || meta.StorageKey != job.StorageKey || !Linked(meta) {
		// Deleted, recreated or detached since it was queued: nothing to do.
		return
	}
	st, err := s.store.SyncState(ctx, meta.StorageKey)
	if err != nil {
		s.log.Error("sync: read state", "org", meta.Org, "repo", meta.ID, "err", err)
		return
	}
	run := Run{Count: st.RunCount, IsFirstSync: st.LastSuccess.IsZero(), StartedAt: time.Now().UTC()}
	if s.lifecycle != nil {
		s.lifecycle.SyncStarted(ctx, meta, run)
	}
	rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	res, err := s.sync(rctx, meta, job.Ref, &st)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the run is repeated after restart
	}
	st.RunCount++
	run.Count, run.CompletedAt = st.RunCount, time.Now().UTC()
	if err == nil && len(res.Kept) > 0 {
		err = &DivergedError{Refs: res.Kept}
	}
	run.Err = err
	st.LastError = ""
	if err != nil {
		st.LastError = err.Error()
		s.log.Warn("sync failed", "org", meta.Org, "repo", meta.ID, "updated", res.Updated, "err", err)
	} else {
		st.LastSuccess = run.CompletedAt
		s.log.Info("synced", "org", meta.Org, "repo", meta.ID, "updated", res.Updated)
	}
	if serr := s.store.SaveSyncState(ctx, st); serr != nil && !errors.Is(serr, metadata.ErrNotFound) {
		s.log.Error("sync: save state", "org", meta.Org, "repo", meta.ID, "err", serr)
	}
	if s.lifecycle != nil {
		s.lifecycle.SyncFinished(ctx, meta, run)
	}
}

// DivergedError is a run that applied what it could but left refs that
// changed locally since the last sync.
type DivergedError struct{ Refs []string }

func (e *DivergedError) Error() string {
	return fmt.Sprintf("left %d ref(s) that changed locally since the last sync: %v", len(e.Refs), e.Refs)
}

// sync fetches the upstream into a quarantine and moves the repository's
// refs. st.SyncedRefs is updated with what was applied.
func (s *Syncer) sync(ctx context.Context, meta metadata.Repo, only string, st *metadata.SyncState) (Result, error) {
	u, err := URL(meta.BaseRepo, s.opts.GitHubURL)
	if err != nil {
		return Result{}, err
	}
	cred, err := s.credentialFor(ctx, meta)
	if err != nil {
		return Result{}, err
	}
	r, err := s.repos.Open(ctx, meta.StorageKey)
	if err != nil {
		return Result{}, err
	}
	q, err := r.NewQuarantine(ctx)
	if err != nil {
		return Result{}, err
	}
	defer q.Close()
	if err := s.fetch(ctx, q, u, cred, only); err != nil {
		return Result{}, err
	}
	upstream, err := refMap(q.Refs(ctx, "refs/"))
	if err != nil {
		return Result{}, err
	}
	if err := q.Migrate(); err != nil {
		return Result{}, err
	}
	last := map[string]git.ObjectID{}
	for name, oid := range st.SyncedRefs {
		last[name] = git.ObjectID(oid)
	}
	defaultRef := "refs/heads/" + meta.DefaultBranch
	for attempt := 1; ; attempt++ {
		local, err := refMap(localRefs(ctx, r))
		if err != nil {
			return Result{}, err
		}
		p, err := planSync(ctx, local, upstream, last, only, defaultRef, r.IsAncestor)
		if err != nil {
			return Result{}, err
		}
		if len(p.updates) > 0 {
			err = r.UpdateRefs(ctx, p.updates...)
		}
		if errors.Is(err, repo.ErrConflict) && attempt < maxAttempts {
			continue // a concurrent write moved a ref: plan again
		}
		if err != nil {
			return Result{}, err
		}
		st.SyncedRefs = p.synced
		return Result{Updated: len(p.updates), Kept: p.kept}, nil
	}
}

// localRefs lists the repository's branches and tags (never the ephemeral
// namespace: it is not the upstream's).
func localRefs(ctx context.Context, r *repo.Repo) ([]repo.Ref, error) {
	heads, err := r.ListRefs(ctx, "refs/heads/")
	if err != nil {
		return nil, err
	}
	tags, err := r.ListRefs(ctx, "refs/tags/")
	return append(heads, tags...), err
}

func refMap(list []repo.Ref, err error) (map[string]git.ObjectID, error) {
	if err != nil {
		return nil, err
	}
	m := make(map[string]git.ObjectID, len(list))
	for _, r := range list {
		m[string(r.Name)] = r.OID
	}
	return m, nil
}
