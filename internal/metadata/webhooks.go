package metadata

import (
	"context"
	"errors"
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
