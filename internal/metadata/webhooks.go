package metadata

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrCursorMoved means an event cursor was not where the caller expected:
// another consumer process moved it. Nothing was written.
var ErrCursorMoved = errors.New("event cursor moved")

// Webhook is one subscription of an organisation.
type Webhook struct {
	// ID is random and opaque, chosen by the caller; unique across
	// organisations.
	ID     string
	Org    string
	URL    string
	Events []string // event types, or ["*"]
	// RepoID limits the webhook to repositories with this id; "" means
	// every repository of Org.
	RepoID    string
	Secret    []byte    // sealed by the caller; opaque to the store
	CreatedAt time.Time // UTC
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed" // retries exhausted
)

// WebhookDelivery is one event for one webhook, in the outbox.
type WebhookDelivery struct {
	// ID orders the deliveries of a webhook; chosen by the store.
	ID        int64
	WebhookID string
	Event     string // X-Pierre-Event
	Payload   []byte // the body, exactly as sent and signed
	Status    DeliveryStatus
	Attempts  int
	CreatedAt time.Time // UTC
	// NextAttemptAt is when a pending delivery may be attempted.
	NextAttemptAt  time.Time
	LastAttemptAt  time.Time // zero before the first attempt
	LastStatusCode int       // the receiver's last status; 0 if it never answered
	LastError      string
	CompletedAt    time.Time // zero while pending
}

// DueDelivery is a delivery ready to be attempted, with its webhook.
type DueDelivery struct {
	WebhookDelivery
	Webhook Webhook
}

// DeliveryAttempt is the outcome of one attempt, for RecordAttempt.
type DeliveryAttempt struct {
	At         time.Time
	Status     DeliveryStatus // pending again (to be retried), delivered or failed
	StatusCode int
	Error      string
	// NextAttemptAt is when a delivery left pending may be retried.
	NextAttemptAt time.Time
}

// CursorMove advances a feed consumer's cursor from From to To. The zero
// value moves nothing.
type CursorMove struct {
	Consumer string
	From, To int64
}

// WebhookStore keeps webhook subscriptions, their delivery outbox and the
// cursors of ref-event consumers. Deliveries survive restarts: one
// enqueued stays pending until RecordAttempt ends it or its webhook is
// deleted.
type WebhookStore interface {
	// CreateWebhook stores w. w.ID, w.Org, w.URL, w.Events and w.Secret
	// must not be empty; CreatedAt is now if zero. ErrExists if w.ID is
	// taken. It returns the webhook as Webhook would.
	CreateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// Webhook returns webhook id of org: ErrNotFound if there is none or it
	// belongs to another organisation.
	Webhook(ctx context.Context, org, id string) (Webhook, error)
	// Webhooks returns the webhooks of org in creation order; org "" means
	// every organisation's.
	Webhooks(ctx context.Context, org string) ([]Webhook, error)
	// DeleteWebhook removes webhook id of org and its deliveries, with the
	// same errors as Webhook.
	DeleteWebhook(ctx context.Context, org, id string) error

	// EventCursor returns the consumer's cursor: 0 if it never moved.
	EventCursor(ctx context.Context, consumer string) (int64, error)
	// EnqueueDeliveries adds pending deliveries and moves the cursor, in
	// one transaction: all or nothing. Each delivery's ID, Status,
	// Attempts and attempt fields are ignored; CreatedAt and NextAttemptAt
	// default to now. A delivery whose webhook no longer exists is dropped.
	// ErrCursorMoved if move names a consumer whose cursor is not at
	// move.From. It returns the deliveries stored.
	EnqueueDeliveries(ctx context.Context, move CursorMove, ds []WebhookDelivery) ([]WebhookDelivery, error)
	// DeliveryHeads returns up to limit deliveries that are the oldest
	// pending one of their webhook, earliest NextAttemptAt first, with
	// their webhooks; skip lists webhooks to leave out (deliveries in
	// flight).
	DeliveryHeads(ctx context.Context, limit int, skip []string) ([]DueDelivery, error)
	// RecordAttempt records an attempt of pending delivery id: Attempts
	// goes up by one, and a delivered or failed one gets CompletedAt = a.At.
	// ErrNotFound if the delivery is gone (its webhook was deleted) or no
	// longer pending.
	RecordAttempt(ctx context.Context, id int64, a DeliveryAttempt) error
	// WebhookDeliveries returns up to limit deliveries of webhook id of org,
	// newest first; ErrNotFound as Webhook.
	WebhookDeliveries(ctx context.Context, org, id string, limit int) ([]WebhookDelivery, error)
	// PendingDeliveries counts pending deliveries, across organisations.
	PendingDeliveries(ctx context.Context) (int64, error)
	// PruneDeliveries removes delivered and failed deliveries completed
	// before before, and returns how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// newWebhook checks w for CreateWebhook and returns it as Webhook will
// return it: CreatedAt now if zero and as stored, Events and Secret copied.
func newWebhook(w Webhook) (Webhook, error) {
	if w.ID == "" || w.Org == "" || w.URL == "" || len(w.Events) == 0 || len(w.Secret) == 0 {
		return Webhook{}, fmt.Errorf("create webhook of %s: id, org, url, events and secret must not be empty", w.Org)
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = time.Now()
	}
	w.CreatedAt = fromNanos(w.CreatedAt.UnixNano())
	w.Events = append([]string(nil), w.Events...)
	w.Secret = append([]byte(nil), w.Secret...)
	return w, nil
}

// webhookColumns is the select list of a webhook (alias w) that each
// backend's scanner reads; events is JSON text in SQLite, text[] in
// PostgreSQL.
const webhookColumns = `w.id, w.org, w.url, w.events, COALESCE(w.repo_id, ''), w.secret, w.created_at`

// deliveryColumns is the select list scanDelivery reads (alias d).
const deliveryColumns = `d.id, d.webhook_id, d.event, d.payload, d.status, d.attempts, d.created_at,
	d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.completed_at`

// scanDelivery reads a row of deliveryColumns followed by the columns
// extra scans into. Times never set are stored as 0 and read as zero.
func scanDelivery(sc scanner, extra ...any) (WebhookDelivery, error) {
	var d WebhookDelivery
	var status string
	var created, next, last, completed int64
	dest := append([]any{&d.ID, &d.WebhookID, &d.Event, &d.Payload, &status, &d.Attempts, &created,
		&next, &last, &d.LastStatusCode, &d.LastError, &completed}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return WebhookDelivery{}, err
	}
	d.Status = DeliveryStatus(status)
	d.CreatedAt, d.NextAttemptAt = fromNanos(created), fromNanos(next)
	if last != 0 {
		d.LastAttemptAt = fromNanos(last)
	}
	if completed != 0 {
		d.CompletedAt = fromNanos(completed)
	}
	return d, nil
}

// newDelivery returns d as EnqueueDeliveries stores it, but for ID:
// pending, never attempted, CreatedAt now if zero, NextAttemptAt
// CreatedAt if zero, both as stored, Payload copied (nil if empty).
func newDelivery(d WebhookDelivery, now time.Time) WebhookDelivery {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	if d.NextAttemptAt.IsZero() {
		d.NextAttemptAt = d.CreatedAt
	}
	d.CreatedAt, d.NextAttemptAt = fromNanos(d.CreatedAt.UnixNano()), fromNanos(d.NextAttemptAt.UnixNano())
	d.Status, d.Attempts = DeliveryPending, 0
	d.LastAttemptAt, d.LastStatusCode, d.LastError, d.CompletedAt = time.Time{}, 0, "", time.Time{}
	d.Payload = append([]byte(nil), d.Payload...)
	return d
}

// attemptTimes returns, in stored form, the next_attempt_at and
// completed_at an attempt at at writes, for deliveries and mirror pushes
// alike: next is at when zero, and completed is at if the attempt
// finished the row, else 0 (still pending).
func attemptTimes(at, next time.Time, finished bool) (nextNanos, completedNanos int64) {
	if next.IsZero() {
		next = at
	}
	if finished {
		completedNanos = at.UnixNano()
	}
	return next.UnixNano(), completedNanos
}
