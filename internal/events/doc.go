// Package events owns Strata's internal events: what happened to a
// repository, recorded durably so that consumers (webhook delivery,
// mirroring) can act on it later, at their own pace, without slowing the
// write that caused it.
//
// Today there is one event, RefUpdate: one reference moved by a successful
// ref transaction, whether an API write or a push made it. Log appends the
// events of a transaction to the metadata store before the write is
// acknowledged, and reads them back as a feed ordered by Seq. A consumer
// keeps the Seq of the last event it handled as its cursor; the store
// guarantees that seqs become visible in increasing order, so the cursor
// neither skips nor repeats events.
//
// An event is written after its refs move, so a crash between the two
// loses it. After an unclean shutdown, Reconcile closes that gap before
// anything is served: it compares every live repository's refs on disk with
// the last recorded state of each ref and appends the missing events.
//
// Consumers keep their own cursors: webhook delivery (internal/webhook)
// moves its cursor in the same transaction as the deliveries it derives.
package events
