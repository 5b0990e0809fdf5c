package cluster

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// slowLedger answers LedgerVersion like a database across a network: the
// value is read half-way through the round trip.
type slowLedger struct {
	metadata.Ledger
	value   atomic.Int64
	queries atomic.Int64
}

func (l *slowLedger) LedgerVersion(ctx context.Context, key string) (int64, string, error) {
	l.queries.Add(1)
	time.Sleep(time.Millisecond)
	v := l.value.Load()
	time.Sleep(time.Millisecond)
	return v, "main", nil
}

// Reads of one repository share version queries, and yet a read that
// starts after a write was acknowledged always sees it.
func TestVersion_sharedButFresh(t *testing.T) {
	l := &slowLedger{}
	c := &Cluster{ledger: l, versions: make(map[string]*versionQuery)}
	ctx := context.Background()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 32 { // background reads keep queries in flight
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.version(ctx, "k"); err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := range 200 {
		// At a random point of the query in flight, not just after one.
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		l.value.Store(int64(i + 1)) // the write is acknowledged
		v, err := c.version(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if v < int64(i+1) {
			t.Fatalf("a read after write %d saw version %d", i+1, v)
		}
	}
	close(stop)
	readers.Wait()
	if q, r := l.queries.Load(), reads.Load()+200; q*2 > r {
		t.Errorf("%d queries for %d reads: not shared", q, r)
	}
}
