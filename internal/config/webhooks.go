package config

import (
	"errors"
	"flag"
	"time"
)

// Outbound governs requests to targets tenants choose: webhook receivers
// and upstream repositories (internal/outbound).
type Outbound struct {
	// AllowPrivate permits plain http:// and loopback, private,
	// link-local and other non-public addresses, refused by default.
	AllowPrivate bool
	// CAFile is a PEM bundle of extra roots trusted for outbound TLS.
	CAFile string
}

func (o *Outbound) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.AllowPrivate, "upstream-allow-private", o.AllowPrivate, "let webhooks and upstreams reach loopback, private and link-local addresses and plain http:// (refused by default)")
	fs.StringVar(&o.CAFile, "upstream-ca-file", o.CAFile, "PEM file of extra root certificates trusted for webhook and upstream TLS")
}

// Webhooks configures webhook delivery (docs/webhooks.md).
type Webhooks struct {
	// RetryFor is how long a failing delivery is retried before it is
	// marked failed.
	RetryFor time.Duration
	// Backoff is the delay before the first retry; it doubles per attempt
	// up to an hour, jittered.
	Backoff time.Duration
	// Concurrency is how many receivers are delivered to at once.
	Concurrency int
	// Ephemeral delivers push events for ephemeral refs too.
	Ephemeral bool
}

func defaultWebhooks() Webhooks {
	return Webhooks{RetryFor: 24 * time.Hour, Backoff: 10 * time.Second, Concurrency: 8}
}

func (w *Webhooks) register(fs *flag.FlagSet) {
	fs.DurationVar(&w.RetryFor, "webhook-retry-for", w.RetryFor, "how long a failing webhook delivery is retried before it is marked failed")
	fs.DurationVar(&w.Backoff, "webhook-backoff", w.Backoff, "delay before a webhook delivery's first retry; doubles per attempt up to 1h, jittered")
	fs.IntVar(&w.Concurrency, "webhook-concurrency", w.Concurrency, "webhook receivers delivered to at once")
	fs.BoolVar(&w.Ephemeral, "webhook-ephemeral-refs", w.Ephemeral, "also send push webhooks for ephemeral refs")
}

func (w *Webhooks) validate() error {
	var errs []error
	if w.RetryFor <= 0 || w.Backoff <= 0 {
		errs = append(errs, errors.New("--webhook-retry-for and --webhook-backoff must be positive"))
	}
	if w.Concurrency <= 0 {
		errs = append(errs, errors.New("--webhook-concurrency must be positive"))
	}
	return errors.Join(errs...)
}
