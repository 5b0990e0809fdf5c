package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/upstream"
)

// mirrorMetrics count push-back attempts; it is the mirror's
// upstream.MirrorObserver. The pending gauge is read from the queue at
// scrape time, so it is right across restarts.
type mirrorMetrics struct {
	attempts *prometheus.CounterVec
	failed   prometheus.Counter
	pending  prometheus.Collector
}

func newMirrorMetrics(store metadata.Store) *mirrorMetrics {
	m := &mirrorMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_mirror_push_attempts_total",
			Help: "Push-back attempts to upstreams by outcome: pushed, rejected (the upstream's ref changed, or it declined), error (retried).",
		}, []string{"outcome"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_mirror_pushes_failed_total",
			Help: "Push-backs marked failed: rejected by the upstream, or retried for --mirror-retry-for in vain.",
		}),
	}
	for _, o := range []string{upstream.MirrorOutcomePushed, upstream.MirrorOutcomeRejected, upstream.MirrorOutcomeError} {
		m.attempts.WithLabelValues(o) // present at zero
	}
	desc := prometheus.NewDesc("strata_mirror_pushes_pending", "Local ref updates waiting to be pushed back to their upstreams.", nil, nil)
	m.pending = collectFunc{desc: desc, fn: func(ch chan<- prometheus.Metric) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := store.PendingMirrorPushes(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n))
	}}
	return m
}

func (m *mirrorMetrics) Attempt(outcome string) { m.attempts.WithLabelValues(outcome).Inc() }
func (m *mirrorMetrics) Failed()                { m.failed.Inc() }

// register adds the mirror metrics to reg.
func (m *mirrorMetrics) register(reg *prometheus.Registry) {
	reg.MustRegister(m.attempts, m.failed, m.pending)
}
