package metadata

import (
	"context"
	"time"
)

// OpenPostgresLease opens a PostgresStore whose leases last lease.
func OpenPostgresLease(ctx context.Context, dsn string, lease time.Duration) (*PostgresStore, error) {
	return openPostgres(ctx, dsn, pgOptions{lease: lease})
}

// Abandon closes s as a process that dies does: the leases it holds are
// neither renewed nor released.
func Abandon(s *PostgresStore) {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.pool.Close()
	})
}

// LeaseOwner is the name s holds leases under.
func LeaseOwner(s *PostgresStore) string { return s.owner }
