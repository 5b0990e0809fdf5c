package orgkeys

import (
	"context"
	"crypto"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
)

// Store is what a Source reads: metadata.Store satisfies it.
type Store interface {
	OrgsVersion(ctx context.Context) (int64, error)
	Orgs(ctx context.Context) ([]metadata.Org, error)
}

// Defaults for Options.
const (
	defaultPoll         = 2 * time.Second
	defaultMinRefetch   = 10 * time.Second
	defaultFetchTimeout = 5 * time.Second
)

// Options configure a Source.
type Options struct {
	// Static holds the --org keys; nil means none. They come first, so on
	// a kid that both name, the command line wins.
	Static *auth.KeySet
	Store  Store
	// Client fetches JWKS documents; nil ignores JWKS URLs (with a warning).
	Client *outbound.Client
	Logger *slog.Logger // nil: discard
	// OnChange runs after the keys changed (a reload or a JWKS fetch that
	// brought different keys): the verifier's Purge.
	OnChange func()
	// Poll is how often the store's version is read; 0: 2 s.
	Poll time.Duration
	// MinRefetch is the shortest time between two fetches of one JWKS for
	// tokens naming an unknown kid, and the first retry after a failed
	// fetch; 0: 10 s.
	MinRefetch time.Duration
	// FetchTimeout bounds a fetch made while a request waits; 0: 5 s.
	FetchTimeout time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Source is the auth.KeySource (and auth.KeyRefresher) of a running
// server. Keys never blocks: it reads an immutable snapshot. It is safe for
// concurrent use.
type Source struct {
	opts  Options
	log   *slog.Logger
	state atomic.Pointer[state]

	reloadMu sync.Mutex // one reload at a time

	mu   sync.Mutex
	jwks map[string]*jwksEntry // by URL, for the URLs state names

	cancel context.CancelFunc
	wg     sync.WaitGroup // the poll loop and background fetches
}

// state is one load of the store; replaced whole, never modified.
type state struct {
	version int64
	orgs    map[string]storedOrg
}

type storedOrg struct {
	keys    []auth.Key
	jwksURL string
}

// New loads the store's organisations once; Start keeps them current.
func New(ctx context.Context, opts Options) (*Source, error) {
	if opts.Poll <= 0 {
		opts.Poll = defaultPoll
	}
	if opts.MinRefetch <= 0 {
		opts.MinRefetch = defaultMinRefetch
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = defaultFetchTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Static == nil {
		opts.Static = &auth.KeySet{}
	}
	s := &Source{opts: opts, log: opts.Logger, jwks: map[string]*jwksEntry{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.state.Store(&state{version: -1})
	if _, err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Keys returns org's keys: the command line's, the store's, then its
// JWKS's as last fetched.
func (s *Source) Keys(org string) []auth.Key {
	keys := s.opts.Static.Keys(org)
	o, ok := s.state.Load().orgs[org]
	if !ok {
		return keys
	}
	keys = append(keys, o.keys...)
	if e := s.entry(o.jwksURL); e != nil {
		keys = append(keys, e.current()...)
	}
	return keys
}

// Refresh fetches org's JWKS again, unless it was fetched less than
// MinRefetch ago, and returns org's keys. A token naming a kid the
// organisation lacks calls it: the identity provider may have rotated.
func (s *Source) Refresh(org, kid string) []auth.Key {
	o, ok := s.state.Load().orgs[org]
	if e := s.entry(o.jwksURL); ok && e != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.FetchTimeout)
		s.fetch(ctx, e, s.opts.MinRefetch, "unknown kid "+quoteShort(kid))
		cancel()
	}
	return s.Keys(org)
}

// HasOrg reports whether org has any source of keys.
func (s *Source) HasOrg(org string) bool {
	_, ok := s.state.Load().orgs[org]
	return ok || len(s.opts.Static.Keys(org)) > 0
}

// Start polls the store and refreshes JWKS documents in the background
// until Stop.
func (s *Source) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() {
		t := time.NewTicker(s.opts.Poll)
		defer t.Stop()
		for {
			s.step(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// Stop ends the poll loop and background fetches and waits for them;
// nil-safe, and safe without Start.
func (s *Source) Stop() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}

// step is one round of the loop: reload if the store moved, then fetch
// every JWKS that is due, each in its own goroutine so a slow identity
// provider delays neither the next poll nor the others.
func (s *Source) step(ctx context.Context) {
	if _, err := s.Reload(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("reload organisation keys", "err", err)
	}
	now := s.opts.Now()
	s.mu.Lock()
	var due []*jwksEntry
	for _, e := range s.jwks {
		if e.due(now) {
			due = append(due, e)
		}
	}
	s.mu.Unlock()
	for _, e := range due {
		s.wg.Go(func() { s.fetch(ctx, e, 0, "due") })
	}
}

// Reload reads the store's organisations if its version moved since the
// last load, and reports whether it did.
func (s *Source) Reload(ctx context.Context) (bool, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.state.Load()
	// The version is read first: a change landing between the two reads
	// is then loaded now and loaded again at the next poll, never missed.
	v, err := s.opts.Store.OrgsVersion(ctx)
	if err != nil {
		return false, err
	}
	if v == old.version {
		return false, nil
	}
	orgs, err := s.opts.Store.Orgs(ctx)
	if err != nil {
		return false, err
	}
	next := &state{version: v, orgs: make(map[string]storedOrg, len(orgs))}
	for _, o := range orgs {
		so := storedOrg{jwksURL: o.JWKSURL}
		static := s.opts.Static.Keys(o.Name)
		for _, k := range o.Keys {
			pub, err := auth.ParsePublicKeyPEM(k.PublicKey)
			if err != nil {
				s.log.Warn("organisation key skipped: unreadable", "org", o.Name, "kid", k.ID, "err", err)
				continue
			}
			if slices.ContainsFunc(static, func(sk auth.Key) bool { return sk.ID == k.ID }) {
				s.log.Warn("organisation key shadowed by the --org key of the same id", "org", o.Name, "kid", k.ID)
			}
			so.keys = append(so.keys, auth.Key{ID: k.ID, Public: pub})
		}
		next.orgs[o.Name] = so
	}
	s.syncJWKS(next)
	s.state.Store(next)
	if old.version >= 0 {
		s.logChanges(old, next)
		s.changed()
	}
	return true, nil
}

// syncJWKS keeps one entry per JWKS URL that next names.
func (s *Source) syncJWKS(next *state) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for name, o := range next.orgs {
		if o.jwksURL == "" {
			continue
		}
		if s.opts.Client == nil {
			s.log.Warn("organisation JWKS URL ignored: no outbound client", "org", name)
			continue
		}
		want[o.jwksURL] = true
		if s.jwks[o.jwksURL] == nil {
			s.jwks[o.jwksURL] = &jwksEntry{url: o.jwksURL}
		}
	}
	for url := range s.jwks {
		if !want[url] {
			delete(s.jwks, url)
		}
	}
}

func (s *Source) entry(url string) *jwksEntry {
	if url == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwks[url]
}

// logChanges says which organisations and keys came and went.
func (s *Source) logChanges(old, next *state) {
	for name, o := range next.orgs {
		prev, existed := old.orgs[name]
		if !existed {
			s.log.Info("organisation added", "org", name, "kids", ids(o.keys), "jwks", o.jwksURL != "")
			continue
		}
		for _, k := range o.keys {
			if !hasKey(prev.keys, k) {
				s.log.Info("organisation key added", "org", name, "kid", k.ID)
			}
		}
		for _, k := range prev.keys {
			if !hasKey(o.keys, k) {
				s.log.Info("organisation key removed", "org", name, "kid", k.ID)
			}
		}
		if prev.jwksURL != o.jwksURL {
			s.log.Info("organisation JWKS URL changed", "org", name, "jwks", o.jwksURL != "")
		}
	}
	for name := range old.orgs {
		if _, ok := next.orgs[name]; !ok {
			s.log.Info("organisation removed", "org", name)
		}
	}
}

func (s *Source) changed() {
	if s.opts.OnChange != nil {
		s.opts.OnChange()
	}
}

// hasKey reports whether keys holds k: the same id and public key.
func hasKey(keys []auth.Key, k auth.Key) bool {
	return slices.ContainsFunc(keys, func(have auth.Key) bool { return have.ID == k.ID && samePublic(have.Public, k.Public) })
}

func samePublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func sameKeys(a, b []auth.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for _, k := range a {
		if !hasKey(b, k) {
			return false
		}
	}
	return true
}

// quoteShort quotes a field of an unverified token for a log line, cut
// short: anyone can send a kilobyte of kid.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

func ids(keys []auth.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}
