package server

import (
	"log/slog"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
	"github.com/strata-storage/strata/internal/secretbox"
	"github.com/strata-storage/strata/internal/webhook"
)

// webhooks are the owners of webhook delivery: the outbound client (also
// the SSRF policy for upstreams), the registry the REST API manages, and
// the worker, started with the server and stopped before the store.
type webhooks struct {
	client   *outbound.Client
	registry *webhook.Registry
	worker   *webhook.Worker
	metrics  *webhookMetrics
}

func newWebhooks(cfg config.Config, store metadata.Store, box *secretbox.Box, log *slog.Logger) (*webhooks, error) {
	opts := outbound.Options{AllowPrivate: cfg.Outbound.AllowPrivate, UserAgent: "Strata"}
	if cfg.Outbound.CAFile != "" {
		pool, err := outbound.LoadCAFile(cfg.Outbound.CAFile)
		if err != nil {
			return nil, err
		}
		opts.RootCAs = pool
	}
	if cfg.Outbound.AllowPrivate {
		log.Warn("outbound requests may reach private, loopback and link-local addresses (--upstream-allow-private)")
	}
	client := outbound.New(opts)
	reg := webhook.NewRegistry(store, box, client)
	met := newWebhookMetrics(store)
	w := webhook.NewWorker(reg, client, webhook.Options{
		Concurrency: cfg.Webhooks.Concurrency,
		RetryFor:    cfg.Webhooks.RetryFor,
		Backoff:     cfg.Webhooks.Backoff,
		Ephemeral:   cfg.Webhooks.Ephemeral,
		Logger:      log,
		Observer:    met,
	})
	return &webhooks{client: client, registry: reg, worker: w, metrics: met}, nil
}

// stop ends deliveries in flight (they run again after a restart) and
// closes idle connections; nil-safe.
func (h *webhooks) stop() {
	if h == nil {
		return
	}
	h.worker.Stop()
	h.client.Close()
}
