package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/webhook"
)

// webhookMetrics count delivery attempts; it is the worker's
// webhook.Observer. The pending gauge is read from the outbox at scrape
// time, so it is right across restarts.
type webhookMetrics struct {
	attempts *prometheus.CounterVec
	gaveUp   prometheus.Counter
	pending  prometheus.Collector
}

func newWebhookMetrics(store metadata.Store) *webhookMetrics {
	m := &webhookMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome: delivered, http_error, timeout, connection_error, refused.",
		}, []string{"outcome"}),
		gaveUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_webhook_deliveries_failed_total",
			Help: "Webhook deliveries marked failed after retrying for --webhook-retry-for.",
		}),
	}
	for _, o := range []string{webhook.OutcomeDelivered, webhook.OutcomeHTTPError, webhook.OutcomeTimeout, webhook.OutcomeConnectionError, webhook.OutcomeRefused} {
		m.attempts.WithLabelValues(o) // present at zero
	}
	desc := prometheus.NewDesc("strata_webhook_deliveries_pending", "Webhook deliveries waiting to be delivered or retried.", nil, nil)
	m.pending = collectFunc{desc: desc, fn: func(ch chan<- prometheus.Metric) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := store.PendingDeliveries(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n))
	}}
	return m
}

func (m *webhookMetrics) Attempt(outcome string) { m.attempts.WithLabelValues(outcome).Inc() }
func (m *webhookMetrics) GaveUp()                { m.gaveUp.Inc() }

// register adds the webhook metrics to reg.
func (m *webhookMetrics) register(reg *prometheus.Registry) {
	reg.MustRegister(m.attempts, m.gaveUp, m.pending)
}
