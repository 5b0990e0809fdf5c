package upstream

import (
	"context"
	"time"
)

// pollInterval is how often idle workers look for jobs another path
// queued (Enqueue wakes them at once).
const pollInterval = 2 * time.Second

// Start releases the jobs a dead process left running, then runs the
// workers (and the periodic sync, if configured) until Stop.
func (s *Syncer) Start(ctx context.Context) error {
	if err := s.store.ReleaseSyncs(ctx); err != nil {
		return err
	}
	ctx, s.cancel = context.WithCancel(context.Background())
	for range s.opts.Workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.work(ctx)
		}()
	}
	if s.opts.Interval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.periodic(ctx)
		}()
	}
	return nil
}

// Stop cancels running syncs and waits for the workers. A cancelled job
// stays queued and runs again at the next Start.
func (s *Syncer) Stop() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}

func (s *Syncer) work(ctx context.Context) {
	for ctx.Err() == nil {
		job, ok, err := s.store.ClaimSync(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("claim sync job", "err", err)
			}
			ok = false
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-time.After(pollInterval):
			}
			continue
		}
		s.run(ctx, job)
		if ctx.Err() != nil {
			return // shutting down: the job stays claimed; ReleaseSyncs requeues it
		}
		if err := s.store.FinishSync(ctx, job); err != nil {
			s.log.Error("finish sync job", "repo", job.RepoID, "org", job.Org, "err", err)
		}
	}
}

func (s *Syncer) periodic(ctx context.Context) {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		repos, err := s.store.LiveRepos(ctx)
		if err != nil {
			s.log.Error("periodic sync: list repositories", "err", err)
			continue
		}
		for _, r := range repos {
			if Linked(r) {
				if err := s.Enqueue(ctx, r, ""); err != nil && ctx.Err() == nil {
					s.log.Error("periodic sync: enqueue", "org", r.Org, "repo", r.ID, "err", err)
				}
			}
		}
	}
}
