package slots

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPool_perKey: a key that holds its share queues (and gives up with
// ErrBusy) while another key still gets a slot; releases free the slots
// for reuse and forget the key.
func TestPool_perKey(t *testing.T) {
	t.Parallel()
	p := New(3, 1)
	ctx := context.Background()
	relA, err := p.Acquire(ctx, "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Acquire(ctx, "a", 20*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("second slot of a: %v, want ErrBusy", err)
	}
	relB, err := p.Acquire(ctx, "b", time.Second)
	if err != nil {
		t.Fatalf("b starved by a: %v", err)
	}
	if p.tracked() != 2 || p.InUse() != 2 {
		t.Fatalf("tracked %d, in use %d; want 2 and 2", p.tracked(), p.InUse())
	}
	relA()
	relA2, err := p.Acquire(ctx, "a", time.Second)
	if err != nil {
		t.Fatalf("a after release: %v", err)
	}
	relA2()
	relB()
	if p.tracked() != 0 || p.InUse() != 0 {
		t.Fatalf("slots left behind: %d keys, %d global", p.tracked(), p.InUse())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	// Both a free slot and the cancellation may be ready: either answer
	// is fine, a slot must then be returnable.
	switch rel, err := p.Acquire(cctx, "c", time.Second); {
	case err == nil:
		rel()
	case !errors.Is(err, context.Canceled):
		t.Fatalf("cancelled wait: %v", err)
	}
}

// TestPool_global: the global limit binds across keys.
func TestPool_global(t *testing.T) {
	t.Parallel()
	p := New(2, 2)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if _, err := p.Acquire(ctx, k, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Acquire(ctx, "c", 20*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("third slot: %v, want ErrBusy", err)
	}
	if p.tracked() != 2 {
		t.Fatalf("the refused key is still tracked: %d keys", p.tracked())
	}
}
