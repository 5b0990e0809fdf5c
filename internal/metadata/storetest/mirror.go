package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// The push-back mirror's queue (MirrorStore).

func oid(c byte) string { return strings.Repeat(string(c), 40) }

func mirrorIDs(ps []metadata.MirrorPush) []int64 {
	var out []int64
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// testMirrorEnqueueCursor: pushes are stored with the cursor's move, all
// or nothing; a deleted repository's pushes are dropped; Org and RepoID
// come from the registry.
func testMirrorEnqueueCursor(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	a := create(t, s, "acme", "team/a")
	gone := create(t, s, "acme", "gone")
	if _, err := s.DeleteRepo(ctx, "acme", "gone"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 5, 1, 10, 0, 0, 123456789, time.UTC)
	in := []metadata.MirrorPush{
		{StorageKey: a.StorageKey, EventSeq: 7, Ref: "refs/heads/main", Before: oid('0'), After: oid('a'), CreatedAt: at,
			Org: "ignored", Status: metadata.MirrorFailed, Attempts: 9},
		{StorageKey: gone.StorageKey, EventSeq: 8, Ref: "refs/heads/main", Before: oid('0'), After: oid('b')},
		{StorageKey: a.StorageKey, EventSeq: 9, Ref: "refs/tags/v1", Before: oid('0'), After: oid('c')},
	}
	move := metadata.CursorMove{Consumer: metadata.MirrorConsumer, From: 0, To: 9}
	if c, err := s.EventCursor(ctx, metadata.MirrorConsumer); err != nil || c != 0 {
		t.Fatalf("EventCursor of a new store = %d, %v", c, err)
	}
	got, err := s.EnqueueMirrorPushes(ctx, move, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID >= got[1].ID || got[0].EventSeq != 7 || got[1].Ref != "refs/tags/v1" {
		t.Fatalf("EnqueueMirrorPushes = %+v", got)
	}
	p := got[0]
	if p.Org != "acme" || p.RepoID != "team/a" || p.Status != metadata.MirrorPending || p.Attempts != 0 ||
		!p.CreatedAt.Equal(at) || !p.NextAttemptAt.Equal(at) || p.Before != oid('0') || p.After != oid('a') {
		t.Fatalf("stored push: %+v", p)
	}
	if !got[1].CreatedAt.After(at) || got[1].NextAttemptAt != got[1].CreatedAt {
		t.Fatalf("default times: %+v", got[1])
	}
	if c, err := s.EventCursor(ctx, metadata.MirrorConsumer); err != nil || c != 9 {
		t.Fatalf("cursor after enqueue = %d, %v", c, err)
	}
	// A stale move stores nothing.
	_, err = s.EnqueueMirrorPushes(ctx, metadata.CursorMove{Consumer: metadata.MirrorConsumer, From: 0, To: 12},
		[]metadata.MirrorPush{{StorageKey: a.StorageKey, EventSeq: 12, Ref: "refs/heads/x", Before: oid('0'), After: oid('d')}})
	if !errors.Is(err, metadata.ErrCursorMoved) {
		t.Fatalf("stale move: %v, want ErrCursorMoved", err)
	}
	queue, err := s.MirrorQueue(ctx, a.StorageKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mirrorIDs(queue), mirrorIDs(got)) {
		t.Fatalf("queue = %v, want %v", mirrorIDs(queue), mirrorIDs(got))
	}
	checkUTC(t, "CreatedAt", queue[0].CreatedAt)
	if c, _ := s.EventCursor(ctx, metadata.MirrorConsumer); c != 9 {
		t.Fatalf("cursor after a stale move = %d", c)
	}
	// A move with nothing to store still moves; webhooks keep their cursor.
	if _, err := s.EnqueueMirrorPushes(ctx, metadata.CursorMove{Consumer: metadata.MirrorConsumer, From: 9, To: 20}, nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.EventCursor(ctx, metadata.MirrorConsumer); c != 20 {
		t.Fatalf("cursor = %d, want 20", c)
	}
	if c, _ := s.EventCursor(ctx, "webhooks"); c != 0 {
		t.Fatalf("another consumer's cursor moved to %d", c)
	}
	if n, err := s.PendingMirrorPushes(ctx); err != nil || n != 2 {
		t.Fatalf("PendingMirrorPushes = %d, %v", n, err)
	}
}

// testMirrorHeads: only the oldest pending push of each repository is a
// head, earliest due first; attempts are recorded, finished pushes leave
// the queue and are pruned.
func testMirrorHeads(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	a, b := create(t, s, "acme", "a"), create(t, s, "beta", "b")
	now := time.Now().UTC()
	ps, err := s.EnqueueMirrorPushes(ctx, metadata.CursorMove{}, []metadata.MirrorPush{
		{StorageKey: a.StorageKey, EventSeq: 1, Ref: "refs/heads/main", Before: oid('0'), After: oid('1')},
		{StorageKey: b.StorageKey, EventSeq: 2, Ref: "refs/heads/main", Before: oid('0'), After: oid('2'), NextAttemptAt: now.Add(-time.Hour)},
		{StorageKey: a.StorageKey, EventSeq: 3, Ref: "refs/heads/main", Before: oid('1'), After: oid('3')},
		{StorageKey: a.StorageKey, EventSeq: 4, Ref: "refs/tags/v1", Before: oid('0'), After: oid('4')},
	})
	if err != nil || len(ps) != 4 {
		t.Fatalf("enqueue: %d, %v", len(ps), err)
	}
	a1, b1, a2, a3 := ps[0], ps[1], ps[2], ps[3]
	heads, err := s.MirrorHeads(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids := mirrorIDs(heads); !slices.Equal(ids, []int64{b1.ID, a1.ID}) {
		t.Fatalf("heads = %v, want b's then a's first", ids)
	}
	if heads, _ := s.MirrorHeads(ctx, 1, []string{b.StorageKey}); !slices.Equal(mirrorIDs(heads), []int64{a1.ID}) {
		t.Fatalf("heads skipping b = %v", mirrorIDs(heads))
	}

	// A failed attempt left pending: later, counted, still the head.
	at := now.Add(time.Second)
	if err := s.RecordMirrorAttempt(ctx, []int64{a1.ID}, metadata.MirrorAttempt{At: at, Status: metadata.MirrorPending,
		Error: "connection refused", NextAttemptAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	q, err := s.MirrorQueue(ctx, a.StorageKey, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ids := mirrorIDs(q); !slices.Equal(ids, []int64{a1.ID, a2.ID}) {
		t.Fatalf("queue of a (limit 2) = %v", ids)
	}
	if h := q[0]; h.Attempts != 1 || h.LastError != "connection refused" || !h.LastAttemptAt.Equal(at) ||
		!h.NextAttemptAt.Equal(at.Add(time.Hour)) || !h.CompletedAt.IsZero() {
		t.Fatalf("after a failed attempt: %+v", h)
	}
	if heads, _ := s.MirrorHeads(ctx, 0, nil); !slices.Equal(mirrorIDs(heads), []int64{b1.ID, a1.ID}) {
		t.Fatalf("heads after a retry was scheduled = %v", mirrorIDs(heads))
	}

	// Two pushed together; one settled without an attempt.
	done := now.Add(2 * time.Second)
	if err := s.RecordMirrorAttempt(ctx, []int64{a1.ID, a2.ID}, metadata.MirrorAttempt{At: done, Status: metadata.MirrorPushed}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordMirrorAttempt(ctx, []int64{b1.ID}, metadata.MirrorAttempt{At: done, Status: metadata.MirrorSkipped,
		Error: "no credential", NotAttempted: true}); err != nil {
		t.Fatal(err)
	}
	err = s.RecordMirrorAttempt(ctx, []int64{a1.ID, b1.ID}, metadata.MirrorAttempt{At: done, Status: metadata.MirrorFailed})
	wantErr(t, "RecordMirrorAttempt of finished pushes", err, metadata.ErrNotFound)
	if heads, _ := s.MirrorHeads(ctx, 0, nil); !slices.Equal(mirrorIDs(heads), []int64{a3.ID}) {
		t.Fatalf("heads after two finished = %v", mirrorIDs(heads))
	}
	all, err := s.MirrorPushes(ctx, a.StorageKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ids := mirrorIDs(all); !slices.Equal(ids, []int64{a3.ID, a2.ID, a1.ID}) {
		t.Fatalf("MirrorPushes(a) = %v, want newest first", ids)
	}
	if p := all[1]; p.Status != metadata.MirrorPushed || p.Attempts != 1 || !p.CompletedAt.Equal(done) {
		t.Fatalf("pushed: %+v", p)
	}
	if p := all[2]; p.Status != metadata.MirrorPushed || p.Attempts != 2 {
		t.Fatalf("pushed after a retry: %+v", p)
	}
	bs, _ := s.MirrorPushes(ctx, b.StorageKey, 1)
	if len(bs) != 1 || bs[0].Status != metadata.MirrorSkipped || bs[0].Attempts != 0 || !bs[0].LastAttemptAt.IsZero() || bs[0].LastError != "no credential" {
		t.Fatalf("skipped: %+v", bs)
	}
	if n, _ := s.PendingMirrorPushes(ctx); n != 1 {
		t.Fatalf("PendingMirrorPushes = %d, want 1", n)
	}
	if n, err := s.PruneMirrorPushes(ctx, done); err != nil || n != 0 {
		t.Fatalf("prune before they finished = %d, %v", n, err)
	}
	if n, err := s.PruneMirrorPushes(ctx, done.Add(time.Nanosecond)); err != nil || n != 3 {
		t.Fatalf("prune = %d, %v; want 3", n, err)
	}
	if all, _ := s.MirrorPushes(ctx, a.StorageKey, 0); !slices.Equal(mirrorIDs(all), []int64{a3.ID}) {
		t.Fatalf("after prune: %v", mirrorIDs(all))
	}
}
