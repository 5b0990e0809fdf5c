package githttp

import (
	"context"
	"testing"
	"time"
)

// Finding 3: one organisation cannot take every upload-pack slot.
func TestPackSlots_perOrg(t *testing.T) {
	t.Parallel()
	s := newPackSlots(4, 2)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := s.acquire(ctx, "greedy", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.acquire(ctx, "greedy", 10*time.Millisecond); err == nil {
		t.Fatal("an organisation got more than its share of slots")
	}
	release, err := s.acquire(ctx, "other", time.Minute)
	if err != nil {
		t.Fatalf("another organisation got no slot: %v", err)
	}
	release()
	if len(s.orgs) != 1 {
		t.Fatalf("%d organisations tracked, want 1 (the holder)", len(s.orgs))
	}
}
