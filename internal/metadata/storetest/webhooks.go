package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// Webhooks, their delivery outbox and event cursors (WebhookStore).

func createWebhook(t *testing.T, s metadata.Store, org, id, repoID string) metadata.Webhook {
	t.Helper()
	w, err := s.CreateWebhook(t.Context(), metadata.Webhook{ID: id, Org: org, URL: "https://hooks.example/" + id,
		Events: []string{"push"}, RepoID: repoID, Secret: []byte("sealed-" + id)})
	if err != nil {
		t.Fatalf("CreateWebhook(%s, %s): %v", org, id, err)
	}
	return w
}

func equalWebhook(t *testing.T, what string, got, want metadata.Webhook) {
	t.Helper()
	if got.ID != want.ID || got.Org != want.Org || got.URL != want.URL || !slices.Equal(got.Events, want.Events) ||
		got.RepoID != want.RepoID || string(got.Secret) != string(want.Secret) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func webhookIDs(ws []metadata.Webhook) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

func testWebhookCreateGet(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	at := time.Date(2025, 5, 1, 10, 0, 0, 123456789, time.UTC)
	in := metadata.Webhook{ID: "wh_1", Org: "acme", URL: "https://hooks.example/a", Events: []string{"push", "repo.sync.failed"},
		RepoID: "team/app", Secret: []byte{0, 1, 2, 255}, CreatedAt: at}
	w, err := s.CreateWebhook(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	equalWebhook(t, "CreateWebhook", w, in)
	got, err := s.Webhook(ctx, "acme", "wh_1")
	if err != nil {
		t.Fatal(err)
	}
	equalWebhook(t, "Webhook", got, in)
	checkUTC(t, "CreatedAt", got.CreatedAt)

	all := createWebhook(t, s, "acme", "wh_2", "") // every repository
	if all.RepoID != "" || all.CreatedAt.IsZero() {
		t.Fatalf("org-wide webhook: %+v", all)
	}
	createWebhook(t, s, "beta", "wh_3", "")
	list, err := s.Webhooks(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// wh_1 was created in 2025, before wh_2 (now).
	if ids := webhookIDs(list); !slices.Equal(ids, []string{"wh_1", "wh_2"}) {
		t.Fatalf("Webhooks(acme) = %v", ids)
	}
	list, err = s.Webhooks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if ids := webhookIDs(list); len(ids) != 3 {
		t.Fatalf("Webhooks(\"\") = %v, want all three", ids)
	}

	// Ids are global; organisations cannot see each other's.
	_, err = s.CreateWebhook(ctx, metadata.Webhook{ID: "wh_1", Org: "beta", URL: "https://x.example", Events: []string{"*"}, Secret: []byte("s")})
	wantErr(t, "CreateWebhook(duplicate id)", err, metadata.ErrExists)
	_, err = s.Webhook(ctx, "beta", "wh_1")
	wantErr(t, "Webhook(other org)", err, metadata.ErrNotFound)
	_, err = s.Webhook(ctx, "acme", "wh_none")
	wantErr(t, "Webhook(missing)", err, metadata.ErrNotFound)

	for _, bad := range []metadata.Webhook{
		{Org: "acme", URL: "https://x", Events: []string{"push"}, Secret: []byte("s")},
		{ID: "wh_x", URL: "https://x", Events: []string{"push"}, Secret: []byte("s")},
		{ID: "wh_x", Org: "acme", Events: []string{"push"}, Secret: []byte("s")},
		{ID: "wh_x", Org: "acme", URL: "https://x", Secret: []byte("s")},
		{ID: "wh_x", Org: "acme", URL: "https://x", Events: []string{"push"}},
	} {
		if _, err := s.CreateWebhook(ctx, bad); err == nil {
			t.Fatalf("CreateWebhook(%+v) succeeded", bad)
		}
	}
	if _, err := s.Webhook(ctx, "acme", "wh_x"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("an invalid webhook was stored: %v", err)
	}
}

func enqueueDeliveries(t *testing.T, s metadata.Store, move metadata.CursorMove, ds ...metadata.WebhookDelivery) []metadata.WebhookDelivery {
	t.Helper()
	got, err := s.EnqueueDeliveries(t.Context(), move, ds)
	if err != nil {
		t.Fatalf("EnqueueDeliveries(%+v): %v", move, err)
	}
	return got
}

func delivery(webhook, event, payload string) metadata.WebhookDelivery {
	return metadata.WebhookDelivery{WebhookID: webhook, Event: event, Payload: []byte(payload)}
}

func eventCursor(t *testing.T, s metadata.Store, consumer string) int64 {
	t.Helper()
	seq, err := s.EventCursor(t.Context(), consumer)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func pendingCount(t *testing.T, s metadata.Store) int64 {
	t.Helper()
	n, err := s.PendingDeliveries(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Deliveries and the cursor move together or not at all; a stale cursor
// writes nothing.
func testWebhookEnqueueCursor(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	createWebhook(t, s, "acme", "wh_a", "")
	if c := eventCursor(t, s, "webhooks"); c != 0 {
		t.Fatalf("new cursor = %d, want 0", c)
	}
	got := enqueueDeliveries(t, s, metadata.CursorMove{Consumer: "webhooks", From: 0, To: 5},
		delivery("wh_a", "push", `{"n":1}`), delivery("wh_a", "push", `{"n":2}`))
	if len(got) != 2 || got[0].ID == 0 || got[1].ID <= got[0].ID || got[0].Status != metadata.DeliveryPending ||
		got[0].CreatedAt.IsZero() || got[0].NextAttemptAt.Before(got[0].CreatedAt) || string(got[1].Payload) != `{"n":2}` {
		t.Fatalf("EnqueueDeliveries = %+v", got)
	}
	if c := eventCursor(t, s, "webhooks"); c != 5 {
		t.Fatalf("cursor = %d, want 5", c)
	}
	if c := eventCursor(t, s, "other"); c != 0 {
		t.Fatalf("another consumer's cursor = %d, want 0", c)
	}

	// A stale From: nothing written, cursor unchanged.
	_, err := s.EnqueueDeliveries(ctx, metadata.CursorMove{Consumer: "webhooks", From: 0, To: 9}, []metadata.WebhookDelivery{delivery("wh_a", "push", `{}`)})
	if !errors.Is(err, metadata.ErrCursorMoved) {
		t.Fatalf("stale cursor: %v, want ErrCursorMoved", err)
	}
	if c, n := eventCursor(t, s, "webhooks"), pendingCount(t, s); c != 5 || n != 2 {
		t.Fatalf("after a stale move: cursor %d, %d pending; want 5, 2", c, n)
	}

	// A move with no deliveries; deliveries with no move; a delivery for a
	// deleted webhook is dropped, the others stored.
	enqueueDeliveries(t, s, metadata.CursorMove{Consumer: "webhooks", From: 5, To: 7})
	got = enqueueDeliveries(t, s, metadata.CursorMove{}, delivery("wh_gone", "push", `{}`), delivery("wh_a", "repo.sync.started", `{}`))
	if len(got) != 1 || got[0].WebhookID != "wh_a" || got[0].Event != "repo.sync.started" {
		t.Fatalf("EnqueueDeliveries with a missing webhook = %+v", got)
	}
	if c, n := eventCursor(t, s, "webhooks"), pendingCount(t, s); c != 7 || n != 3 {
		t.Fatalf("cursor %d, %d pending; want 7, 3", c, n)
	}
}

// Of two consumers moving the same cursor from the same place, one wins.
func testWebhookConcurrentCursor(t *testing.T, s metadata.Store) {
	createWebhook(t, s, "acme", "wh_a", "")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.EnqueueDeliveries(t.Context(), metadata.CursorMove{Consumer: "webhooks", From: 0, To: int64(i + 1)},
				[]metadata.WebhookDelivery{delivery("wh_a", "push", fmt.Sprint(i))})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, metadata.ErrCursorMoved):
			t.Fatalf("EnqueueDeliveries: %v", err)
		}
	}
	if won != 1 || pendingCount(t, s) != 1 {
		t.Fatalf("%d moves won and %d deliveries stored, want 1 and 1", won, pendingCount(t, s))
	}
}

func deliveryHeads(t *testing.T, s metadata.Store, skip ...string) []metadata.DueDelivery {
	t.Helper()
	hs, err := s.DeliveryHeads(t.Context(), 0, skip)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// Only a webhook's oldest pending delivery is its head, whatever the
// others' retry times; heads come earliest first with their webhook.
func testWebhookDeliveryHeads(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	a := createWebhook(t, s, "acme", "wh_a", "")
	createWebhook(t, s, "beta", "wh_b", "")
	base := time.Now().Add(-time.Hour)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	ds := enqueueDeliveries(t, s, metadata.CursorMove{},
		metadata.WebhookDelivery{WebhookID: "wh_a", Event: "push", Payload: []byte("a1"), CreatedAt: at(0), NextAttemptAt: at(2 * time.Minute)},
		metadata.WebhookDelivery{WebhookID: "wh_b", Event: "push", Payload: []byte("b1"), CreatedAt: at(0), NextAttemptAt: at(time.Minute)},
		metadata.WebhookDelivery{WebhookID: "wh_a", Event: "push", Payload: []byte("a2"), CreatedAt: at(0), NextAttemptAt: at(0)},
	)
	a1, b1, a2 := ds[0], ds[1], ds[2]
	hs := deliveryHeads(t, s)
	if len(hs) != 2 || hs[0].ID != b1.ID || hs[1].ID != a1.ID {
		t.Fatalf("heads = %+v, want b1 then a1", hs)
	}
	equalWebhook(t, "head's webhook", hs[1].Webhook, a)
	if string(hs[1].Payload) != "a1" || hs[1].Event != "push" {
		t.Fatalf("head = %+v", hs[1].WebhookDelivery)
	}
	if hs := deliveryHeads(t, s, "wh_b"); len(hs) != 1 || hs[0].ID != a1.ID {
		t.Fatalf("heads skipping wh_b = %+v", hs)
	}
	if hs, err := s.DeliveryHeads(ctx, 1, nil); err != nil || len(hs) != 1 || hs[0].ID != b1.ID {
		t.Fatalf("DeliveryHeads(limit 1) = %+v, %v", hs, err)
	}

	// A failed attempt leaves a1 the head, later; success moves on to a2.
	now := time.Now()
	if err := s.RecordAttempt(ctx, a1.ID, metadata.DeliveryAttempt{At: now, Status: metadata.DeliveryPending,
		StatusCode: 500, Error: "HTTP 500", NextAttemptAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	hs = deliveryHeads(t, s)
	if len(hs) != 2 || hs[1].ID != a1.ID || hs[1].Attempts != 1 || hs[1].LastStatusCode != 500 ||
		hs[1].LastError != "HTTP 500" || !hs[1].LastAttemptAt.Equal(now) || !hs[1].NextAttemptAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after a failed attempt, heads = %+v", hs)
	}
	if err := s.RecordAttempt(ctx, a1.ID, metadata.DeliveryAttempt{At: now, Status: metadata.DeliveryDelivered, StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	if hs := deliveryHeads(t, s); len(hs) != 2 || hs[0].ID != a2.ID {
		t.Fatalf("after a1 was delivered, heads = %+v, want a2 (due earliest) first", hs)
	}
	err := s.RecordAttempt(ctx, a1.ID, metadata.DeliveryAttempt{At: now, Status: metadata.DeliveryFailed})
	wantErr(t, "RecordAttempt(delivered)", err, metadata.ErrNotFound)
	if err := s.RecordAttempt(ctx, a2.ID, metadata.DeliveryAttempt{At: now, Status: metadata.DeliveryFailed, Error: "gave up"}); err != nil {
		t.Fatal(err)
	}
	if hs := deliveryHeads(t, s); len(hs) != 1 || hs[0].ID != b1.ID {
		t.Fatalf("heads = %+v, want b1 only", hs)
	}
	if n := pendingCount(t, s); n != 1 {
		t.Fatalf("%d pending, want 1", n)
	}

	// The log, newest first, for the owner only.
	log, err := s.WebhookDeliveries(ctx, "acme", "wh_a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].ID != a2.ID || log[0].Status != metadata.DeliveryFailed || log[0].LastError != "gave up" ||
		!log[0].CompletedAt.Equal(now) || log[1].ID != a1.ID || log[1].Status != metadata.DeliveryDelivered ||
		log[1].Attempts != 2 || log[1].LastStatusCode != 204 {
		t.Fatalf("WebhookDeliveries = %+v", log)
	}
	if log, err := s.WebhookDeliveries(ctx, "acme", "wh_a", 1); err != nil || len(log) != 1 || log[0].ID != a2.ID {
		t.Fatalf("WebhookDeliveries(limit 1) = %+v, %v", log, err)
	}
	_, err = s.WebhookDeliveries(ctx, "beta", "wh_a", 0)
	wantErr(t, "WebhookDeliveries(other org)", err, metadata.ErrNotFound)

	// Pruning takes finished deliveries completed before the cut only.
	if n, err := s.PruneDeliveries(ctx, now); err != nil || n != 0 {
		t.Fatalf("PruneDeliveries(now) = %d, %v; want 0", n, err)
	}
	if n, err := s.PruneDeliveries(ctx, now.Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("PruneDeliveries(later) = %d, %v; want 2", n, err)
	}
	if n := pendingCount(t, s); n != 1 {
		t.Fatalf("pruning took a pending delivery: %d pending", n)
	}
}

// Deleting a webhook deletes its deliveries; an attempt in flight then
// finds nothing to record.
func testWebhookDelete(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	createWebhook(t, s, "acme", "wh_a", "")
	createWebhook(t, s, "acme", "wh_b", "")
	ds := enqueueDeliveries(t, s, metadata.CursorMove{}, delivery("wh_a", "push", "1"), delivery("wh_b", "push", "2"))
	wantErr(t, "DeleteWebhook(other org)", s.DeleteWebhook(ctx, "beta", "wh_a"), metadata.ErrNotFound)
	if err := s.DeleteWebhook(ctx, "acme", "wh_a"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteWebhook(again)", s.DeleteWebhook(ctx, "acme", "wh_a"), metadata.ErrNotFound)
	_, err := s.Webhook(ctx, "acme", "wh_a")
	wantErr(t, "Webhook(deleted)", err, metadata.ErrNotFound)
	if hs := deliveryHeads(t, s); len(hs) != 1 || hs[0].WebhookID != "wh_b" {
		t.Fatalf("heads after delete = %+v", hs)
	}
	err = s.RecordAttempt(ctx, ds[0].ID, metadata.DeliveryAttempt{At: time.Now(), Status: metadata.DeliveryDelivered})
	wantErr(t, "RecordAttempt(deleted webhook)", err, metadata.ErrNotFound)
	if n := pendingCount(t, s); n != 1 {
		t.Fatalf("%d pending, want 1", n)
	}
}
