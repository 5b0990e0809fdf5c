package cluster

import "sync/atomic"

// Stats counts what a node's record has done since it started, for the
// server's metrics.
type Stats struct {
	Refreshes      uint64 // refreshes that moved a cache to a newer version
	PacksFetched   uint64 // packs downloaded into caches
	BytesFetched   uint64 // their .pack bytes
	Publishes      uint64 // ref transactions made part of the record
	PacksUploaded  uint64 // packs uploaded by publishes and compactions
	BytesUploaded  uint64 // their .pack bytes
	Conflicts      uint64 // publishes that lost a compare-and-swap
	Unavailable    uint64 // publishes and refreshes failed for an unreachable store
	Compactions    uint64 // manifests folded into one pack by this node
	GarbageDeleted uint64 // replaced packs deleted from object storage
}

// counters are Stats being counted.
type counters struct {
	refreshes, packsFetched, bytesFetched, publishes, packsUploaded, bytesUploaded,
	conflicts, unavailable, compactions, garbageDeleted atomic.Uint64
}

// Stats returns the counts so far.
func (c *Cluster) Stats() Stats {
	n := &c.count
	return Stats{
		Refreshes: n.refreshes.Load(), PacksFetched: n.packsFetched.Load(), BytesFetched: n.bytesFetched.Load(),
		Publishes: n.publishes.Load(), PacksUploaded: n.packsUploaded.Load(), BytesUploaded: n.bytesUploaded.Load(),
		Conflicts: n.conflicts.Load(), Unavailable: n.unavailable.Load(),
		Compactions: n.compactions.Load(), GarbageDeleted: n.garbageDeleted.Load(),
	}
}
