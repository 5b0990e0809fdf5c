// Package maintenance keeps repositories fast to read and bounded in size
// in the background: it packs loose objects and small packs, keeps a
// multi-pack-index with a reachability bitmap and a commit-graph, packs
// refs, and prunes unreachable objects once they are older than a grace
// period. docs/maintenance.md explains the commands and measurements.
//
// Worker owns the scheduling. The ref observer calls Trigger after every
// ref transaction; Trigger only counts and, when a repository is due,
// queues it (non-blocking, bounded, one entry per repository). A fixed set
// of goroutines runs the queue, at most one run per repository at a time.
// Nothing here holds a lock the request path takes: git's own lock files
// and atomic renames keep concurrent readers and writers safe.
//
// Every git process goes through git.Factory, so maintenance runs with the
// same pinned environment and configuration (fsync, no auto-gc) as the
// request path.
package maintenance
