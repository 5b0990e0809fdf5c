package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-storage/strata/internal/cluster"
)

// register adds the clustered mode's counters to reg, read from the
// record at scrape time; nothing in the single-node mode.
func (c *clusterMode) register(reg *prometheus.Registry) {
	if c == nil {
		return
	}
	counter := func(name, help string, value func(cluster.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			return float64(value(c.record.Stats()))
		}))
	}
	counter("strata_cluster_refreshes_total", "Repository caches moved to a newer version of record.", func(s cluster.Stats) uint64 { return s.Refreshes })
	counter("strata_cluster_packs_fetched_total", "Packs downloaded from object storage into caches.", func(s cluster.Stats) uint64 { return s.PacksFetched })
	counter("strata_cluster_fetched_bytes_total", "Bytes of the packs downloaded from object storage.", func(s cluster.Stats) uint64 { return s.BytesFetched })
	counter("strata_cluster_publishes_total", "Ref transactions made part of the record by this node.", func(s cluster.Stats) uint64 { return s.Publishes })
	counter("strata_cluster_packs_uploaded_total", "Packs uploaded to object storage (writes and compactions).", func(s cluster.Stats) uint64 { return s.PacksUploaded })
	counter("strata_cluster_uploaded_bytes_total", "Bytes of the packs uploaded to object storage.", func(s cluster.Stats) uint64 { return s.BytesUploaded })
	counter("strata_cluster_conflicts_total", "Ref transactions that lost the compare-and-swap of record to another writer.", func(s cluster.Stats) uint64 { return s.Conflicts })
	counter("strata_cluster_unavailable_total", "Operations failed because PostgreSQL or object storage could not be reached (answered 503).", func(s cluster.Stats) uint64 { return s.Unavailable })
	counter("strata_cluster_compactions_total", "Pack manifests folded into one pack by this node.", func(s cluster.Stats) uint64 { return s.Compactions })
	counter("strata_cluster_garbage_deleted_total", "Replaced packs deleted from object storage by this node.", func(s cluster.Stats) uint64 { return s.GarbageDeleted })
}
