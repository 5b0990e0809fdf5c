package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
)

// consumer names the Worker's cursor over the ref-event feed.
const consumer = "webhooks"

// Outcomes of an attempt, as Observer hears them.
const (
	OutcomeDelivered       = "delivered"        // 2xx
	OutcomeHTTPError       = "http_error"       // any other status, 3xx included
	OutcomeTimeout         = "timeout"          // no full answer in time
	OutcomeConnectionError = "connection_error" // DNS, connect, TLS, reset
	OutcomeRefused         = "refused"          // the outbound policy refused the address
)

// Observer hears of attempts, for metrics. Calls come from many
// goroutines.
type Observer interface {
	// Attempt is called once per attempt with its outcome.
	Attempt(outcome string)
	// GaveUp is called when a delivery is marked failed.
	GaveUp()
}

// Options configure a Worker. Zero values take the defaults.
type Options struct {
	// Concurrency is how many webhooks are delivered to at once (8).
	Concurrency int
	// Timeout bounds one attempt (10 s).
	Timeout time.Duration
	// RetryFor is how long after its creation a failing delivery is still
	// retried (24 h); then it is marked failed.
	RetryFor time.Duration
	// Backoff is the delay before the first retry (10 s); it doubles per
	// attempt up to MaxBackoff (1 h), each delay jittered to 50–100 %.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Ephemeral delivers push events for ephemeral refs too (API.md Q14
	// recommends not to).
	Ephemeral bool
	// Poll is how often the feed and the outbox are read when nothing
	// called Notify (1 s): writes from another process, retries due.
	Poll time.Duration
	// Retention is how long finished deliveries stay listed (7 days).
	Retention time.Duration
	Logger    *slog.Logger
	Observer  Observer
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	def(&o.Timeout, 10*time.Second)
	def(&o.RetryFor, 24*time.Hour)
	def(&o.Backoff, 10*time.Second)
	def(&o.MaxBackoff, time.Hour)
	def(&o.Poll, time.Second)
	def(&o.Retention, 7*24*time.Hour)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

type nopObserver struct{}

func (nopObserver) Attempt(string) {}
func (nopObserver) GaveUp()        {}

// Worker fills the outbox from the ref-event feed and delivers it.
//
// Call Start once, Notify and EnqueueSync from any goroutine, then Stop
// once. Stop cancels attempts in flight without recording them (they are
// attempted again after a restart) and waits for every goroutine. A nil
// *Worker ignores Notify.
type Worker struct {
	reg    *Registry
	store  metadata.Store
	feed   *events.Log
	client *outbound.Client
	opts   Options
	log    *slog.Logger

	runner *events.Runner // keys: webhook ids, so each endpoint's deliveries stay in order
}

// NewWorker returns a Worker delivering reg's webhooks through client.
func NewWorker(reg *Registry, client *outbound.Client, opts Options) *Worker {
	opts.defaults()
	w := &Worker{reg: reg, store: reg.store, feed: events.NewLog(reg.store), client: client, opts: opts, log: opts.Logger}
	w.runner = events.NewRunner(events.Consumer{
		Name:        "webhooks",
		FanOut:      w.fanOut,
		Dispatch:    w.dispatch,
		Prune:       w.store.PruneDeliveries,
		Retention:   opts.Retention,
		Poll:        opts.Poll,
		Concurrency: opts.Concurrency,
		Log:         opts.Logger,
	})
	return w
}

// Start starts the worker's goroutine.
func (w *Worker) Start() { w.runner.Start() }

// Stop stops the worker and waits for it.
func (w *Worker) Stop() {
	if w != nil {
		w.runner.Stop()
	}
}

// Notify tells the worker that new events or deliveries may be waiting;
// it never blocks.
func (w *Worker) Notify() {
	if w != nil {
		w.runner.Notify()
	}
}

// Pending counts undelivered deliveries.
func (w *Worker) Pending(ctx context.Context) (int64, error) { return w.store.PendingDeliveries(ctx) }

// EnqueueSync records one delivery of a sync lifecycle event to every
// webhook of the organisation that wants it, durably: when it returns
// nil the event will be delivered, restarts notwithstanding.
func (w *Worker) EnqueueSync(ctx context.Context, e SyncEvent) error {
	body, err := syncBody(e)
	if err != nil {
		return err
	}
	hooks, err := w.store.Webhooks(ctx, e.Org)
	if err != nil {
		return err
	}
	var ds []metadata.WebhookDelivery
	for _, h := range hooks {
		if wants(h, e.Type) && (h.RepoID == "" || h.RepoID == e.RepoID) {
			ds = append(ds, metadata.WebhookDelivery{WebhookID: h.ID, Event: e.Type, Payload: body})
		}
	}
	if len(ds) == 0 {
		return nil
	}
	if _, err := w.store.EnqueueDeliveries(ctx, metadata.CursorMove{}, ds); err != nil {
		return err
	}
	w.Notify()
	return nil
}

// fanOut turns the events after the cursor into deliveries, one batch per
// transaction together with the cursor's move.
func (w *Worker) fanOut(ctx context.Context) error {
	return events.FanOut(ctx, w.feed, w.store, consumer, w.deliveries,
		func(ctx context.Context, move metadata.CursorMove, ds []metadata.WebhookDelivery) error {
			_, err := w.store.EnqueueDeliveries(ctx, move, ds)
			return err
		})
}

// deliveries are the push deliveries of a batch of events.
func (w *Worker) deliveries(ctx context.Context, evs []events.RefUpdate) ([]metadata.WebhookDelivery, error) {
	hooks, err := w.store.Webhooks(ctx, "")
	if err != nil {
		return nil, err
	}
	var ds []metadata.WebhookDelivery
	for _, ev := range evs {
		if ev.Namespace != git.NormalNamespace && !w.opts.Ephemeral {
			continue
		}
		var body []byte
		for _, h := range hooks {
			// A webhook hears of what happened after it was created.
			if h.Org != ev.Org || (h.RepoID != "" && h.RepoID != ev.RepoID) || !wants(h, EventPush) || ev.At.Before(h.CreatedAt) {
				continue
			}
			if body == nil {
				if body, err = pushBody(ev); err != nil {
					return nil, err
				}
			}
			ds = append(ds, metadata.WebhookDelivery{WebhookID: h.ID, Event: EventPush, Payload: body})
		}
	}
	return ds, nil
}

// dispatch starts an attempt for every due head whose webhook has none in
// flight, as concurrency allows.
func (w *Worker) dispatch(ctx context.Context) (time.Duration, error) {
	return events.Dispatch(ctx, w.runner, nil, w.store.DeliveryHeads,
		func(d metadata.DueDelivery) string { return d.WebhookID },
		func(d metadata.DueDelivery) time.Time { return d.NextAttemptAt },
		w.attempt)
}

// attempt sends one delivery and records the outcome.
func (w *Worker) attempt(ctx context.Context, d metadata.DueDelivery) {
	log := w.log.With("webhook", d.Webhook.ID, "org", d.Webhook.Org, "delivery", d.ID, "event", d.Event, "host", hostOf(d.Webhook.URL))
	status, outcome, errMsg := w.send(ctx, d)
	if ctx.Err() != nil {
		return // stopping: not an attempt the receiver is to blame for; it runs again after a restart
	}
	w.opts.Observer.Attempt(outcome)
	now := time.Now()
	a := metadata.DeliveryAttempt{At: now, StatusCode: status, Error: errMsg, Status: metadata.DeliveryDelivered}
	if outcome != OutcomeDelivered {
		delay := backoff(w.opts.Backoff, w.opts.MaxBackoff, d.Attempts+1)
		a.Status, a.NextAttemptAt = metadata.DeliveryPending, now.Add(delay)
		if a.NextAttemptAt.Sub(d.CreatedAt) > w.opts.RetryFor {
			a.Status, a.NextAttemptAt = metadata.DeliveryFailed, time.Time{}
		}
	}
	// Record even while stopping: the receiver has answered.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := w.store.RecordAttempt(rctx, d.ID, a)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return // the webhook was deleted meanwhile
	case err != nil:
		// Left pending as it was: it is attempted again (at least once).
		log.Error("webhooks: record an attempt", "err", err)
		return
	}
	switch a.Status {
	case metadata.DeliveryDelivered:
		log.Debug("webhook delivered", "status", status, "attempts", d.Attempts+1)
	case metadata.DeliveryFailed:
		w.opts.Observer.GaveUp()
		log.Warn("webhook delivery failed for good", "status", status, "err", errMsg, "attempts", d.Attempts+1)
	default:
		log.Info("webhook delivery attempt failed; will retry", "status", status, "err", errMsg,
			"attempts", d.Attempts+1, "next_attempt_at", a.NextAttemptAt.UTC().Format(time.RFC3339))
	}
}

// send POSTs the delivery, signed now, and classifies what happened.
func (w *Worker) send(ctx context.Context, d metadata.DueDelivery) (status int, outcome, errMsg string) {
	secret, err := w.reg.secret(d.Webhook)
	if err != nil {
		// The secret key changed or the row was altered: nothing a retry
		// can fix soon, but not the receiver's fault either.
		w.log.Error("webhooks: cannot sign", "webhook", d.Webhook.ID, "err", err)
		return 0, OutcomeConnectionError, "cannot open the webhook's secret"
	}
	actx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.Webhook.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, OutcomeConnectionError, "invalid URL"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Pierre-Webhook/1.0")
	req.Header.Set("X-Pierre-Event", d.Event)
	// A fresh t on every attempt: receivers refuse signatures older than
	// five minutes (§7.2).
	req.Header.Set("X-Pierre-Signature", Sign(secret, time.Now(), d.Payload))
	// Lets receivers drop the repeats at-least-once delivery may bring.
	req.Header.Set("X-Strata-Delivery", strconv.FormatInt(d.ID, 10))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, classify(err), errorText(err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the body is not kept.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, OutcomeDelivered, ""
	}
	return resp.StatusCode, OutcomeHTTPError, "HTTP " + strconv.Itoa(resp.StatusCode)
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, outbound.ErrRefused):
		return OutcomeRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return OutcomeTimeout
	}
	return OutcomeConnectionError
}

// errorText describes a failed request without its URL, which may carry
// a token of the receiver's.
func errorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return msg
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// backoff is the delay before attempt n+1 after n failed ones: base
// doubled per attempt, capped, then jittered down to 50–100 % so that
// many deliveries failing together do not retry together.
func backoff(base, maxDelay time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	half := d / 2
	return half + rand.N(half+1)
}
