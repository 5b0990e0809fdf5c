package orgkeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/strata-storage/strata/internal/auth"
)

// Bounds on how long a fetched JWKS is used before it is fetched again.
// The floor keeps an identity provider that sends no-cache or max-age=0
// from being fetched on every poll; the ceiling bounds how long a key the
// provider withdrew keeps verifying.
const (
	defaultMaxAge = 5 * time.Minute
	minMaxAge     = 30 * time.Second
	maxMaxAge     = time.Hour
	// maxRetryDelay caps the backoff after failed fetches.
	maxRetryDelay = 5 * time.Minute
)

// jwksEntry is the cached key set of one URL.
type jwksEntry struct {
	url string

	mu          sync.Mutex
	keys        []auth.Key
	next        time.Time     // when the background loop fetches again; zero: now
	lastAttempt time.Time     // zero: never
	failures    int           // consecutive
	inflight    chan struct{} // closed when the running fetch ends; nil if none
}

func (e *jwksEntry) current() []auth.Key {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keys
}

func (e *jwksEntry) due(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inflight == nil && !now.Before(e.next)
}

// fetch gets e's key set unless it was attempted less than minGap ago. One
// fetch per entry runs at a time; a caller arriving meanwhile waits for it.
func (s *Source) fetch(ctx context.Context, e *jwksEntry, minGap time.Duration, why string) {
	now := s.opts.Now()
	e.mu.Lock()
	if ch := e.inflight; ch != nil {
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	if minGap > 0 && !e.lastAttempt.IsZero() && now.Sub(e.lastAttempt) < minGap {
		e.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	e.inflight, e.lastAttempt = ch, now
	e.mu.Unlock()

	keys, maxAge, err := s.get(ctx, e.url)

	e.mu.Lock()
	e.inflight = nil
	close(ch)
	if err != nil {
		e.failures++
		delay := min(s.opts.MinRefetch<<min(e.failures-1, 16), maxRetryDelay)
		e.next = now.Add(delay)
		n := len(e.keys)
		e.mu.Unlock()
		if !errors.Is(err, context.Canceled) { // shutting down
			s.log.Warn("JWKS fetch failed; keeping the keys fetched before", "url", logURL(e.url), "why", why,
				"kept_keys", n, "retry_in", delay, "err", err)
		}
		return
	}
	changed := !sameKeys(e.keys, keys)
	e.keys, e.failures, e.next = keys, 0, now.Add(maxAge)
	e.mu.Unlock()
	if changed {
		s.log.Info("JWKS keys loaded", "url", logURL(e.url), "why", why, "kids", ids(keys), "max_age", maxAge)
		s.changed()
	}
}

// get fetches and parses one key set, with how long it may be used.
func (s *Source) get(ctx context.Context, url string) ([]auth.Key, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL; the log names it already.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	// The outbound client caps the body, so reading it whole is bounded.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("read JWKS: %w", err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, 0, err
	}
	return keys, cacheAge(resp.Header.Get("Cache-Control")), nil
}

// ErrNoUsableKey is a JWKS with no key Strata can verify with.
var ErrNoUsableKey = errors.New("JWKS has no usable signing key")

// parseJWKS reads the public signing keys of a JWK Set (RFC 7517 §5). Keys
// are decoded one by one and the ones not understood are skipped, as §5
// asks: decoding the whole set at once would fail on one foreign key.
// Encryption keys and keys carrying private parts are skipped too.
func parseJWKS(body []byte) ([]auth.Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	var keys []auth.Key
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || k.Use == "enc" || !k.IsPublic() {
			continue
		}
		if auth.CheckPublicKey(k.Key) != nil {
			continue
		}
		keys = append(keys, auth.Key{ID: k.KeyID, Public: k.Key})
	}
	if len(keys) == 0 {
		return nil, ErrNoUsableKey
	}
	return keys, nil
}

// logURL is a JWKS URL without its query and fragment, which could hold
// a secret: logs name the host and path only, as for other outbound URLs.
func logURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// cacheAge is the max-age of a Cache-Control header within the bounds, or
// the default without one. no-cache and no-store mean the floor.
func cacheAge(header string) time.Duration {
	age := defaultMaxAge
	for _, d := range strings.Split(header, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-cache", "no-store":
			return minMaxAge
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
				age = time.Duration(min(n, int64(maxMaxAge/time.Second))) * time.Second
			}
		}
	}
	return min(max(age, minMaxAge), maxMaxAge)
}
