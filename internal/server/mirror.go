package server

import (
	"log/slog"
	"net/url"
	"path/filepath"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/upstream"
)

// upstreamCABundle is the PEM file git trusts for upstreams (the system
// roots plus --upstream-ca-file, written by newSyncer), "" for git's
// default roots.
func upstreamCABundle(cfg config.Config) string {
	if cfg.Outbound.CAFile == "" {
		return ""
	}
	return filepath.Join(cfg.DataDir, "upstream-ca-bundle.pem")
}

// newMirror builds push-back mirroring: local updates of linked
// repositories pushed to their upstreams with the credential the sync
// uses, under the same outbound policy and roots, failures reported as
// repo.sync.failed. Built after the syncer (which writes the CA bundle);
// started after it, stopped before it.
func newMirror(cfg config.Config, store metadata.Store, repos *repo.Manager, f *git.Factory, syncs *upstream.Syncer, hooks *webhooks, met *mirrorMetrics, log *slog.Logger) (*upstream.Mirror, error) {
	gh, err := url.Parse(cfg.Sync.GitHubURL) // Validate checked it
	if err != nil {
		return nil, err
	}
	return upstream.NewMirror(store, repos, f, syncs, hooks.client, syncEvents{hooks.worker, log}, log, upstream.MirrorOptions{
		GitHubURL: gh,
		CABundle:  upstreamCABundle(cfg),
		RetryFor:  cfg.Sync.MirrorRetryFor,
		Backoff:   cfg.Sync.MirrorBackoff,
		Observer:  met,
	}), nil
}
