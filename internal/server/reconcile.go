package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// runningMarker exists in the data dir from startup until a clean
// shutdown. Found at startup, it means the previous run died (SIGKILL,
// power loss, a shutdown that timed out) and may have moved refs without
// recording their events.
const runningMarker = "strata.running"

// startRun reconciles the ref-update events if the previous run did not
// shut down cleanly, then marks this run as running. It runs in New, before
// anything is served, so no write can race the reconciliation; the cost is
// one `git for-each-ref` per live repository, and only after a crash.
// Before listing a repository's refs it removes the ref lock files the
// dead run's git left (refs.RemoveStaleLocks), which would otherwise
// refuse every later change of their refs.
//
// A reconciliation that fails for some repositories does not stop the
// server: it keeps the marker, so the next start tries again.
func (s *Server) startRun(repos *repo.Manager) error {
	marker := filepath.Join(s.cfg.DataDir, runningMarker)
	_, err := os.Stat(marker)
	switch {
	case err == nil:
		s.log.Warn("the previous run did not shut down cleanly: reconciling ref-update events", "marker", marker)
		if _, err := events.Reconcile(context.Background(), s.store, diskRefs{repos: repos, log: s.log, started: time.Now()}, s.log); err != nil {
			s.log.Error("crash reconciliation incomplete; it runs again at the next start", "err", err)
			s.keepMarker = true
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("check run marker: %w", err)
	}
	if err := writeSynced(marker, fmt.Appendf(nil, "pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("create run marker: %w", err)
	}
	return nil
}

// endRun removes the marker after a clean shutdown, when every request has
// finished and every owner is closed: no ref moved without its event.
// The clustered mode writes no marker (New skips startRun), so there is
// none to remove.
func (s *Server) endRun() {
	if s.keepMarker || s.cluster != nil {
		return
	}
	marker := filepath.Join(s.cfg.DataDir, runningMarker)
	if err := os.Remove(marker); err != nil {
		s.log.Error("remove run marker", "err", err)
		return
	}
	// Not durable, the next start would only reconcile for nothing.
	if err := durable.SyncDir(s.cfg.DataDir); err != nil {
		s.log.Error("remove run marker", "err", err)
	}
}

// writeSynced writes a file and syncs it and its directory, so it survives
// a power loss.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(path))
}

// diskRefs is the reconciliation's view of the repositories on disk,
// after a crash.
type diskRefs struct {
	repos   *repo.Manager
	log     *slog.Logger
	started time.Time // before this run ran git anywhere
}

func (d diskRefs) ListRefs(ctx context.Context, key string) (map[git.ReferenceName]git.ObjectID, error) {
	r, err := d.repos.Open(ctx, key)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, events.ErrNoRepository)
	}
	if err != nil {
		return nil, err
	}
	locks, err := refs.RemoveStaleLocks(r.Path(), d.started)
	for _, p := range locks {
		d.log.Warn("removed a ref lock the previous run left", "path", p)
	}
	if err != nil {
		return nil, err
	}
	list, err := r.ListRefs(ctx, "refs/")
	if err != nil {
		return nil, err
	}
	refs := make(map[git.ReferenceName]git.ObjectID, len(list))
	for _, ref := range list {
		refs[ref.Name] = ref.OID
	}
	return refs, nil
}
