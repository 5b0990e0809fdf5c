package cluster

import (
	"context"
	"time"
)

// versionQuery is one LedgerVersion query that concurrent reads of one
// repository on this node share.
type versionQuery struct {
	sent    time.Time // before the query went out
	done    chan struct{}
	version int64
	err     error
}

// versionTimeout bounds a shared query, which no one request's context
// may cancel for the others.
const versionTimeout = 10 * time.Second

// version returns the repository's version of record as of some moment
// after the call began: a read that starts after a write was acknowledged
// (on any node) must see it. Concurrent callers share queries under that
// rule: a caller joins a query sent after it arrived; one that finds a
// query sent earlier waits for it to end and then joins or sends the next.
// With many reads of one repository in flight, PostgreSQL sees about one
// query per round trip instead of one per read.
func (c *Cluster) version(ctx context.Context, key string) (int64, error) {
	arrived := time.Now()
	for {
		c.mu.Lock()
		q := c.versions[key]
		if q == nil {
			q = &versionQuery{sent: time.Now(), done: make(chan struct{})}
			c.versions[key] = q
			c.mu.Unlock()
			qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), versionTimeout)
			q.version, _, q.err = c.ledger.LedgerVersion(qctx, key)
			cancel()
			c.mu.Lock()
			delete(c.versions, key)
			c.mu.Unlock()
			close(q.done)
			return q.version, q.err
		}
		c.mu.Unlock()
		select {
		case <-q.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if !q.sent.Before(arrived) {
			return q.version, q.err
		}
	}
}
