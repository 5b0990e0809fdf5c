// Package webhook owns Strata's webhooks (API.md §7): the subscriptions
// of organisations (Registry, their signing secrets sealed at rest), the
// durable outbox of deliveries, and the Worker that fills the outbox from
// the ref-event feed and delivers it.
//
// Delivery is at-least-once. The Worker reads the feed (internal/events)
// from a cursor kept in the metadata store and turns each ref update into
// one `push` delivery per matching webhook, storing the deliveries and the
// moved cursor in one transaction: a crash loses no event and duplicates
// none. Each attempt POSTs the stored body, signed afresh (X-Pierre-Signature
// with the current time), through the SSRF-guarded outbound client, and
// records its outcome; failures are retried with exponential backoff and
// jitter for a bounded time, then the delivery is marked failed. A
// webhook's deliveries go out one at a time in order; different webhooks
// are served concurrently, so one slow receiver delays no other, and no
// write ever waits for a receiver.
//
// See docs/webhooks.md.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
	"github.com/strata-storage/strata/internal/secretbox"
)

// Event types (X-Pierre-Event).
const (
	EventPush          = "push"
	EventSyncStarted   = "repo.sync.started"
	EventSyncSucceeded = "repo.sync.succeeded"
	EventSyncFailed    = "repo.sync.failed"
	// EventAll subscribes to every event type.
	EventAll = "*"
)

var eventTypes = []string{EventPush, EventSyncStarted, EventSyncSucceeded, EventSyncFailed}

// MaxURL is the longest webhook URL accepted.
const MaxURL = 2048

// ErrInvalid wraps every refusal of a subscription: a bad URL, a refused
// target, an unknown event type.
var ErrInvalid = errors.New("invalid webhook")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Info describes a webhook without its secret.
type Info struct {
	ID        string
	Org       string
	URL       string
	Events    []string
	RepoID    string // "" for every repository of Org
	CreatedAt time.Time
}

// Subscription is what a caller asks for.
type Subscription struct {
	URL    string
	Events []string
	RepoID string
}

// Registry stores the webhooks of organisations. It is safe for
// concurrent use.
type Registry struct {
	store  metadata.Store
	box    *secretbox.Box
	client *outbound.Client
}

// NewRegistry returns a Registry over store that seals secrets with box
// and checks URLs with client's policy.
func NewRegistry(store metadata.Store, box *secretbox.Box, client *outbound.Client) *Registry {
	return &Registry{store: store, box: box, client: client}
}

// Create validates sub (the URL resolved and checked against the outbound
// policy now; deliveries check again on every connection), stores the
// webhook with a new secret, and returns it with the secret: the only
// time the secret is shown.
func (r *Registry) Create(ctx context.Context, org string, sub Subscription) (Info, string, error) {
	events, err := normaliseEvents(sub.Events)
	if err != nil {
		return Info{}, "", err
	}
	if sub.URL == "" {
		return Info{}, "", invalid("url is required")
	}
	if len(sub.URL) > MaxURL {
		return Info{}, "", invalid("url is longer than %d bytes", MaxURL)
	}
	u, err := r.client.CheckURL(ctx, sub.URL)
	if err != nil {
		return Info{}, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(sub.RepoID) > 1024 {
		return Info{}, "", invalid("repo_id is too long")
	}
	var b [16]byte
	rand.Read(b[:])
	id := "wh_" + hex.EncodeToString(b[:])
	var s [32]byte
	rand.Read(s[:])
	secret := "whsec_" + hex.EncodeToString(s[:])
	w, err := r.store.CreateWebhook(ctx, metadata.Webhook{ID: id, Org: org, URL: u.String(), Events: events,
		RepoID: sub.RepoID, Secret: r.box.Seal([]byte(secret), sealedFor(id))})
	if err != nil {
		return Info{}, "", err
	}
	return infoOf(w), secret, nil
}

// List returns the webhooks of org in creation order.
func (r *Registry) List(ctx context.Context, org string) ([]Info, error) {
	ws, err := r.store.Webhooks(ctx, org)
	if err != nil {
		return nil, err
	}
	out := make([]Info, len(ws))
	for i, w := range ws {
		out[i] = infoOf(w)
	}
	return out, nil
}

// Delete removes webhook id of org and its undelivered deliveries:
// metadata.ErrNotFound if org has no such webhook.
func (r *Registry) Delete(ctx context.Context, org, id string) error {
	return r.store.DeleteWebhook(ctx, org, id)
}

// Deliveries returns up to limit recent deliveries of webhook id of org,
// newest first: metadata.ErrNotFound if org has no such webhook.
func (r *Registry) Deliveries(ctx context.Context, org, id string, limit int) ([]metadata.WebhookDelivery, error) {
	return r.store.WebhookDeliveries(ctx, org, id, limit)
}

// secret opens a webhook's signing secret.
func (r *Registry) secret(w metadata.Webhook) ([]byte, error) {
	s, err := r.box.Open(w.Secret, sealedFor(w.ID))
	if err != nil {
		return nil, fmt.Errorf("open the secret of webhook %s: %w", w.ID, err)
	}
	return s, nil
}

// sealedFor binds a sealed secret to its webhook, so a value copied into
// another row does not open.
func sealedFor(id string) []byte { return []byte("strata webhook secret\x00" + id) }

func infoOf(w metadata.Webhook) Info {
	return Info{ID: w.ID, Org: w.Org, URL: w.URL, Events: w.Events, RepoID: w.RepoID, CreatedAt: w.CreatedAt}
}

// normaliseEvents checks an events list: known types without repeats, or
// "*" alone.
func normaliseEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, invalid("events is required: a list of %v, or [\"*\"]", eventTypes)
	}
	var out []string
	for _, e := range events {
		switch {
		case e == EventAll && len(events) == 1:
		case e == EventAll:
			return nil, invalid(`"*" must be the only event`)
		case !slices.Contains(eventTypes, e):
			return nil, invalid("unknown event %q (want one of %v, or \"*\")", e, eventTypes)
		case slices.Contains(out, e):
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// wants reports whether a webhook subscribes to event.
func wants(w metadata.Webhook, event string) bool {
	return slices.Contains(w.Events, EventAll) || slices.Contains(w.Events, event)
}

// Sign returns the X-Pierre-Signature value for body at time t (§7.2):
// t=<unix seconds>,sha256=<lowercase hex HMAC-SHA256(secret, t "." body)>.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",sha256=" + hex.EncodeToString(mac.Sum(nil))
}
