package repo

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRefOrder_lock: a ref's lock is exclusive, other refs are not held up
// by it, a waiter gives up with its context holding nothing, and no lock
// outlives its last user.
func TestRefOrder_lock(t *testing.T) {
	t.Parallel()
	o := newRefOrder()
	ctx := context.Background()
	unlockMain, err := o.lock(ctx, "k", "refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}

	// Another ref, and the same ref in another repository: not held up.
	unlockOther, err := o.lock(ctx, "k", "refs/heads/other")
	if err != nil {
		t.Fatal(err)
	}
	unlockOther()
	unlockElsewhere, err := o.lock(ctx, "k2", "refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	unlockElsewhere()

	// A waiter for main plus another ref gives up without keeping either.
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := o.lock(waitCtx, "k", "refs/heads/a", "refs/heads/main"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held ref = %v, want the context's error", err)
	}
	unlockA, err := o.lock(ctx, "k", "refs/heads/a")
	if err != nil {
		t.Fatal(err)
	}
	unlockA()

	// A waiter gets main once it is released.
	got := make(chan func(), 1)
	go func() {
		unlock, err := o.lock(ctx, "k", "refs/heads/main", "refs/heads/main")
		if err != nil {
			t.Error(err)
		}
		got <- unlock
	}()
	select {
	case <-got:
		t.Fatal("a second writer took main while it was held")
	case <-time.After(20 * time.Millisecond):
	}
	unlockMain()
	if unlock := <-got; unlock != nil {
		unlock()
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.locks) != 0 {
		t.Fatalf("%d locks left after every user released", len(o.locks))
	}
}
