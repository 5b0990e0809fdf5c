package metadata

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leases: ClaimSync, DeliveryHeads and MirrorHeads lease the work they
// hand out to this store (lease_owner = s.owner) until now + s.lease on
// the database's clock. Other processes pass over work whose lease holds;
// once it has expired, the work is theirs to take. So:
//   - the store renews its leases every third of the lease while it is
//     open (heartbeat), however long a sync or a push takes;
//   - a process that dies stops renewing, and its work is handed out
//     again a lease later: at-least-once, never lost;
//   - Close hands the work back at once;
//   - RecordAttempt, RecordMirrorAttempt and FinishSync end a lease with
//     the work.
//
// A process that cannot reach the database for a whole lease may find its
// work taken over while it still runs it; the work is then done twice,
// which at-least-once delivery allows (receivers and upstreams see a
// repeat, never a loss).

// heartbeat renews this store's leases until Close.
func (s *PostgresStore) heartbeat() {
	defer close(s.done)
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if !s.leased.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
		// A failure is retried at the next tick; the lease outlives two.
		_ = s.renewLeases(ctx)
		cancel()
	}
}

// renewLeases extends every lease this store holds. SKIP LOCKED passes
// over rows that another statement of this store holds (an attempt being
// recorded, which ends the lease anyway), so the heartbeat never waits
// for, or deadlocks with, the work it keeps alive.
func (s *PostgresStore) renewLeases(ctx context.Context) error {
	b := &pgx.Batch{}
	for _, t := range []struct{ table, key string }{
		{"sync_jobs", "storage_key"}, {"webhook_deliveries", "id"}, {"mirror_pushes", "id"},
	} {
		b.Queue(`UPDATE `+t.table+` SET lease_until = now() + $2 * interval '1 microsecond'
			WHERE `+t.key+` IN (SELECT `+t.key+` FROM `+t.table+` WHERE lease_owner = $1 FOR UPDATE SKIP LOCKED)`,
			s.owner, s.lease.Microseconds())
	}
	return s.pool.SendBatch(ctx, b).Close()
}

// releaseLeases hands back the work this store holds: running sync jobs
// are queued again, leased outbox heads become free.
func (s *PostgresStore) releaseLeases(ctx context.Context) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE sync_jobs SET running = false, lease_owner = NULL, lease_until = NULL
		WHERE lease_owner = $1`, s.owner)
	b.Queue(`UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`, s.owner)
	b.Queue(`UPDATE mirror_pushes SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`, s.owner)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("release leases: %w", err)
	}
	return nil
}
