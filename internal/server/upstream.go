package server

import (
	"context"
	"log/slog"
	"net/url"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/upstream"
	"github.com/strata-storage/strata/internal/webhook"
)

// newSyncer builds the upstream sync queue. git's fetches go through the
// same outbound policy as webhooks (the webhooks' client resolves and
// checks the host; git is pinned to the checked address), and git trusts
// the system roots plus --upstream-ca-file.
func newSyncer(cfg config.Config, store metadata.Store, repos *repo.Manager, f *git.Factory, vault *gitcred.Vault, hooks *webhooks, log *slog.Logger) (*upstream.Syncer, error) {
	gh, err := url.Parse(cfg.Sync.GitHubURL) // Validate checked it
	if err != nil {
		return nil, err
	}
	opts := upstream.Options{GitHubURL: gh, Timeout: cfg.Sync.Timeout, Workers: cfg.Sync.Workers, Interval: cfg.Sync.Interval, MaxBytes: cfg.Sync.MaxBytes}
	if cfg.Outbound.CAFile != "" {
		opts.CABundle = upstreamCABundle(cfg)
		if err := upstream.WriteCABundle(opts.CABundle, cfg.Outbound.CAFile); err != nil {
			return nil, err
		}
	}
	if opts.GitHubApp, err = newGitHubApp(cfg, hooks); err != nil {
		return nil, err
	}
	return upstream.New(store, repos, f, vault, hooks.client, syncEvents{hooks.worker, log}, log, opts), nil
}

// newGitHubApp is the GitHub App's token source, nil when none is
// configured. Its API requests go through the outbound client, under the
// same policy, timeout and size limit as webhooks.
func newGitHubApp(cfg config.Config, hooks *webhooks) (*upstream.GitHubApp, error) {
	if !cfg.Sync.GitHubApp() {
		return nil, nil
	}
	api, err := url.Parse(cfg.Sync.GitHubAPIURL) // Validate checked it
	if err != nil {
		return nil, err
	}
	key, err := upstream.LoadGitHubAppKey(cfg.Sync.GitHubAppKey)
	if err != nil {
		return nil, err
	}
	return upstream.NewGitHubApp(api, cfg.Sync.GitHubAppID, key, hooks.client), nil
}

// syncEvents turns sync runs into repo.sync.* webhooks.
type syncEvents struct {
	w   *webhook.Worker
	log *slog.Logger
}

func (e syncEvents) SyncStarted(ctx context.Context, r metadata.Repo, run upstream.Run) {
	e.send(ctx, webhook.SyncEvent{Type: webhook.EventSyncStarted, Org: r.Org, RepoID: r.ID,
		RunCount: run.Count, IsFirstSync: run.IsFirstSync, StartedAt: run.StartedAt})
}

func (e syncEvents) SyncFinished(ctx context.Context, r metadata.Repo, run upstream.Run) {
	ev := webhook.SyncEvent{Type: webhook.EventSyncSucceeded, Org: r.Org, RepoID: r.ID,
		RunCount: run.Count, IsFirstSync: run.IsFirstSync, StartedAt: run.StartedAt, CompletedAt: run.CompletedAt}
	if run.Err != nil {
		ev.Type, ev.Error = webhook.EventSyncFailed, run.Err.Error()
	}
	e.send(ctx, ev)
}

func (e syncEvents) send(ctx context.Context, ev webhook.SyncEvent) {
	if err := e.w.EnqueueSync(ctx, ev); err != nil {
		e.log.Error("queue sync webhook", "org", ev.Org, "repo", ev.RepoID, "event", ev.Type, "err", err)
	}
}
