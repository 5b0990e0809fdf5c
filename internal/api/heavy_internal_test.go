package api

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHeavySlots_perOrg: an organisation that holds its share of heavy
// slots queues (and gives up with errBusy) while another organisation
// still gets a slot; releases free the slots for reuse.
func TestHeavySlots_perOrg(t *testing.T) {
	t.Parallel()
	s := newHeavySlots(3, 1)
	ctx := context.Background()
	relA, err := s.acquire(ctx, "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquire(ctx, "a", 20*time.Millisecond); !errors.Is(err, errBusy) {
		t.Fatalf("second slot of org a: %v, want errBusy", err)
	}
	relB, err := s.acquire(ctx, "b", time.Second)
	if err != nil {
		t.Fatalf("org b starved by org a: %v", err)
	}
	relA()
	relA2, err := s.acquire(ctx, "a", time.Second)
	if err != nil {
		t.Fatalf("org a after release: %v", err)
	}
	relA2()
	relB()
	if len(s.orgs) != 0 || len(s.global) != 0 {
		t.Fatalf("slots left behind: orgs %v, global %d", s.orgs, len(s.global))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	// Both a free slot and the cancellation may be ready: either answer
	// is fine, a slot must then be returnable.
	switch rel, err := s.acquire(cctx, "c", time.Second); {
	case err == nil:
		rel()
	case !errors.Is(err, context.Canceled):
		t.Fatalf("cancelled wait: %v", err)
	}
}
