package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-storage/strata/internal/git/catfile"
)

// metrics are what GET /metrics exposes in Prometheus's text format. The
// registry is Strata's own (no global default), so tests can build many
// servers in one process.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(cache *catfile.Cache) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_http_request_duration_seconds",
			Help:    "Time to serve a request, by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60},
		}, []string{"method", "route"}),
	}
	stat := func(name, help string, kind prometheus.ValueType, v func(catfile.Stats) float64) prometheus.Collector {
		desc := prometheus.NewDesc(name, help, nil, nil)
		return collectFunc{desc: desc, fn: func(ch chan<- prometheus.Metric) {
			ch <- prometheus.MustNewConstMetric(desc, kind, v(cache.Stats()))
		}}
	}
	m.reg.MustRegister(
		m.requests, m.duration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		stat("strata_catfile_processes", "Live cat-file processes in the pool.", prometheus.GaugeValue, func(s catfile.Stats) float64 { return float64(s.Processes) }),
		stat("strata_catfile_idle_processes", "Idle cat-file processes in the pool.", prometheus.GaugeValue, func(s catfile.Stats) float64 { return float64(s.Idle) }),
		stat("strata_catfile_hits_total", "Checkouts served by an idle cat-file process.", prometheus.CounterValue, func(s catfile.Stats) float64 { return float64(s.Hits) }),
		stat("strata_catfile_misses_total", "Checkouts that started a cat-file process.", prometheus.CounterValue, func(s catfile.Stats) float64 { return float64(s.Misses) }),
		stat("strata_catfile_evictions_total", "cat-file processes evicted (idle timeout, limits).", prometheus.CounterValue, func(s catfile.Stats) float64 { return float64(s.Evictions) }),
		stat("strata_catfile_dirty_returns_total", "Readers returned mid-object (their process killed).", prometheus.CounterValue, func(s catfile.Stats) float64 { return float64(s.DirtyReturns) }),
	)
	return m
}

// observe records one finished request. Every label has a fixed set of
// values: route is the ServeMux pattern that matched (never the raw path,
// which holds repo ids), the method is folded by methodLabel, the status
// is the server's.
func (m *metrics) observe(r *http.Request, status int, took time.Duration) {
	route := r.Pattern
	if route == "" || route == "/" {
		route = "git"
	}
	method := methodLabel(r.Method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(took.Seconds())
}

// methodLabel folds the client-chosen method into a fixed set: every
// distinct label value is a series kept for the life of the process, so
// arbitrary methods would grow memory and /metrics without bound.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodDelete, http.MethodPatch, http.MethodOptions:
		return m
	}
	return "other"
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// collectFunc adapts a function to prometheus.Collector.
type collectFunc struct {
	desc *prometheus.Desc
	fn   func(chan<- prometheus.Metric)
}

func (c collectFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectFunc) Collect(ch chan<- prometheus.Metric) { c.fn(ch) }
