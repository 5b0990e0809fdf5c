package orgkeys

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
)

func openStore(t *testing.T) *metadata.SQLiteStore {
	t.Helper()
	s, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemOf(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func token(t *testing.T, org, kid string, k crypto.Signer) string {
	t.Helper()
	tok, err := auth.Mint(k, auth.Claims{Issuer: org, Repo: "r", TTL: time.Hour, KeyID: kid})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a Source over a real store, with the verifier it purges.
type fixture struct {
	store    *metadata.SQLiteStore
	src      *Source
	verifier *auth.Verifier
	clock    *clock
	logs     *logBuffer
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{store: openStore(t), clock: &clock{now: time.Now()}, logs: &logBuffer{}}
	if opts.Store == nil {
		opts.Store = f.store
	}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnChange = func() { f.verifier.Purge() }
	src, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Stop)
	f.src = src
	f.verifier = auth.NewVerifier(src)
	return f
}

func (f *fixture) reload(t *testing.T) {
	t.Helper()
	if _, err := f.src.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) accepts(t *testing.T, tok, what string) {
	t.Helper()
	if _, err := f.verifier.Verify(tok); err != nil {
		t.Fatalf("%s: refused: %v", what, err)
	}
}

func (f *fixture) refuses(t *testing.T, tok, what string, reason auth.Reason) *auth.TokenError {
	t.Helper()
	_, err := f.verifier.Verify(tok)
	var te *auth.TokenError
	if !errors.As(err, &te) || te.Reason != reason {
		t.Fatalf("%s: Verify error %v, want reason %s", what, err, reason)
	}
	return te
}

// TestSource_rotation: old and new keys both verify until the old one is
// removed; then the old key's tokens are refused at the next reload, even
// ones verified (and cached) before.
func TestSource_rotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := t.Context()
	oldKey, newKey := newKey(t), newKey(t)
	oldTok := token(t, "acme", "2025", oldKey)
	f.refuses(t, oldTok, "before the org exists", auth.ReasonUnknownOrg)

	if _, err := f.store.CreateOrg(ctx, metadata.Org{Name: "acme", Keys: []metadata.OrgKey{{ID: "2025", PublicKey: pemOf(t, oldKey)}}}); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	f.accepts(t, oldTok, "old key")
	if _, err := f.store.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "2026", PublicKey: pemOf(t, newKey)}); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	f.accepts(t, oldTok, "old key during the rotation")
	f.accepts(t, token(t, "acme", "2026", newKey), "new key")
	f.accepts(t, token(t, "acme", "", newKey), "new key without kid")

	if err := f.store.RemoveOrgKey(ctx, "acme", "2025"); err != nil {
		t.Fatal(err)
	}
	f.accepts(t, oldTok, "old key, still cached, before the reload")
	f.reload(t)
	te := f.refuses(t, oldTok, "old key after its removal", auth.ReasonUnknownKeyID)
	if strings.Join(te.KnownKeyIDs, ",") != "2026" {
		t.Fatalf("known kids = %v", te.KnownKeyIDs)
	}
	f.refuses(t, token(t, "acme", "", oldKey), "old key without kid", auth.ReasonBadSignature)
	f.accepts(t, token(t, "acme", "2026", newKey), "new key after the rotation")
	if logs := f.logs.String(); !strings.Contains(logs, `msg="organisation key removed" org=acme kid=2025`) {
		t.Fatalf("no log line for the removal:\n%s", logs)
	}
}

// TestSource_kidSelects: a kid picks its key; the org's other key does
// not verify a token that names the wrong one.
func TestSource_kidSelects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	a, b := newKey(t), newKey(t)
	if _, err := f.store.CreateOrg(t.Context(), metadata.Org{Name: "acme", Keys: []metadata.OrgKey{
		{ID: "a", PublicKey: pemOf(t, a)}, {ID: "b", PublicKey: pemOf(t, b)},
	}}); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	f.accepts(t, token(t, "acme", "a", a), "kid a, key a")
	f.accepts(t, token(t, "acme", "b", b), "kid b, key b")
	f.refuses(t, token(t, "acme", "a", b), "kid a, key b", auth.ReasonBadSignature)
}

// TestSource_static: --org keys keep working beside the store's, and win
// a kid both name.
func TestSource_static(t *testing.T) {
	t.Parallel()
	flagKey, storeKey := newKey(t), newKey(t)
	static := &auth.KeySet{}
	static.Add("acme", auth.Key{ID: "k", Public: flagKey.Public()})
	f := newFixture(t, Options{Static: static})
	if _, err := f.store.CreateOrg(t.Context(), metadata.Org{Name: "acme", Keys: []metadata.OrgKey{
		{ID: "k", PublicKey: pemOf(t, storeKey)}, {ID: "s", PublicKey: pemOf(t, storeKey)},
	}}); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	f.accepts(t, token(t, "acme", "k", flagKey), "flag key")
	f.accepts(t, token(t, "acme", "s", storeKey), "store key")
	f.refuses(t, token(t, "acme", "k", storeKey), "store key under the flag key's kid", auth.ReasonBadSignature)
	if !strings.Contains(f.logs.String(), "shadowed") {
		t.Fatalf("no warning about the shadowed kid:\n%s", f.logs)
	}
	if err := f.store.DeleteOrg(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	f.accepts(t, token(t, "acme", "k", flagKey), "flag key after the org left the store")
}

// TestSource_poll: a running Source notices a change made by another
// process (here another handle on the same file) within a few polls.
func TestSource_poll(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "strata.db")
	server, err := metadata.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	f := newFixture(t, Options{Store: server, Poll: 20 * time.Millisecond})
	f.src.Start()
	cli, err := metadata.OpenSQLite(path) // the CLI's own handle
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	k := newKey(t)
	if _, err := cli.CreateOrg(t.Context(), metadata.Org{Name: "acme", Keys: []metadata.OrgKey{{ID: "k", PublicKey: pemOf(t, k)}}}); err != nil {
		t.Fatal(err)
	}
	tok := token(t, "acme", "k", k)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := f.verifier.Verify(tok); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new organisation was not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSource_unreadableKey: a stored key that does not parse is skipped
// with a warning; the organisation's other keys still work.
func TestSource_unreadableKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	k := newKey(t)
	if _, err := f.store.CreateOrg(t.Context(), metadata.Org{Name: "acme", Keys: []metadata.OrgKey{
		{ID: "bad", PublicKey: []byte("not pem")}, {ID: "good", PublicKey: pemOf(t, k)},
	}}); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	f.accepts(t, token(t, "acme", "good", k), "good key")
	if !strings.Contains(f.logs.String(), "unreadable") {
		t.Fatalf("no warning about the unreadable key:\n%s", f.logs)
	}
}

// jwksServer serves a JWK Set on loopback and counts requests.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	keys         map[string]crypto.Signer
	cacheControl string
	status       int
	hits         atomic.Int64
}

func newJWKSServer(t *testing.T, keys map[string]crypto.Signer) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		var set jose.JSONWebKeySet
		for id, k := range s.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: id, Algorithm: "ES256", Use: "sig"})
		}
		if s.cacheControl != "" {
			w.Header().Set("Cache-Control", s.cacheControl)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(fn func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

// jwksFixture is an organisation whose only keys come from srv.
func jwksFixture(t *testing.T, srv *jwksServer, client *outbound.Client) *fixture {
	t.Helper()
	f := newFixture(t, Options{Client: client, MinRefetch: 10 * time.Second})
	if _, err := f.store.CreateOrg(t.Context(), metadata.Org{Name: "acme", JWKSURL: srv.URL + "/jwks.json"}); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	return f
}

func loopbackClient(t *testing.T) *outbound.Client {
	c := outbound.New(outbound.Options{AllowPrivate: true})
	t.Cleanup(c.Close)
	return c
}

// step runs one background round and waits for its fetches.
func (f *fixture) step(t *testing.T) {
	t.Helper()
	f.src.step(t.Context())
	f.src.wg.Wait()
}

// TestSource_jwks: keys come from the JWKS, cached for its max-age.
func TestSource_jwks(t *testing.T) {
	t.Parallel()
	k1 := newKey(t)
	srv := newJWKSServer(t, map[string]crypto.Signer{"k1": k1})
	srv.cacheControl = "public, max-age=120"
	f := jwksFixture(t, srv, loopbackClient(t))

	f.step(t) // the first fetch, in the background
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches after the first step, want 1", n)
	}
	f.accepts(t, token(t, "acme", "k1", k1), "JWKS key")
	f.accepts(t, token(t, "acme", "", k1), "JWKS key without kid")
	f.clock.Advance(60 * time.Second)
	f.step(t)
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	f.clock.Advance(61 * time.Second)
	f.step(t)
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after max-age, want 2", n)
	}

	// A failed fetch keeps the keys fetched before.
	srv.set(func(s *jwksServer) { s.status = http.StatusInternalServerError })
	f.clock.Advance(121 * time.Second)
	f.step(t)
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
	f.verifier.Purge()
	f.accepts(t, token(t, "acme", "k1", k1), "JWKS key after a failed refresh")
	if !strings.Contains(f.logs.String(), "JWKS fetch failed") {
		t.Fatalf("no warning about the failed fetch:\n%s", f.logs)
	}
}

// TestSource_jwksUnknownKid: a token naming a kid the JWKS lacked makes
// the set be fetched again, at most once per MinRefetch.
func TestSource_jwksUnknownKid(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	srv := newJWKSServer(t, map[string]crypto.Signer{"k1": k1})
	srv.cacheControl = "max-age=3600"
	f := jwksFixture(t, srv, loopbackClient(t))

	// Before any background fetch, a request fetches for itself.
	f.accepts(t, token(t, "acme", "k1", k1), "JWKS key fetched on demand")
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	f.clock.Advance(11 * time.Second)
	srv.set(func(s *jwksServer) { s.keys["k2"] = k2 })
	f.accepts(t, token(t, "acme", "k2", k2), "key the provider added")
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Right away, another unknown kid does not fetch again.
	srv.set(func(s *jwksServer) { s.keys["k3"] = k3 })
	k3tok := token(t, "acme", "k3", k3)
	te := f.refuses(t, k3tok, "unknown kid within MinRefetch", auth.ReasonUnknownKeyID)
	if got := strings.Join(te.KnownKeyIDs, ","); got != "k1,k2" && got != "k2,k1" {
		t.Fatalf("known kids = %q", got)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want still 2", n)
	}
	f.clock.Advance(10 * time.Second)
	f.accepts(t, k3tok, "unknown kid after MinRefetch")
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

// TestSource_jwksSSRF: without the operator's allowance the outbound
// policy refuses a loopback JWKS URL; nothing is fetched.
func TestSource_jwksSSRF(t *testing.T) {
	t.Parallel()
	k1 := newKey(t)
	srv := newJWKSServer(t, map[string]crypto.Signer{"k1": k1})
	client := outbound.New(outbound.Options{})
	t.Cleanup(client.Close)
	f := jwksFixture(t, srv, client)
	f.step(t)
	f.refuses(t, token(t, "acme", "k1", k1), "JWKS on loopback", auth.ReasonUnknownOrg)
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("the loopback JWKS was fetched %d times", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "JWKS fetch failed") || !strings.Contains(logs, "refused") {
		t.Fatalf("no log line for the refused fetch:\n%s", logs)
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	sig, err := json.Marshal(jose.JSONWebKey{Key: k.Public(), KeyID: "sig", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := json.Marshal(jose.JSONWebKey{Key: k.Public(), KeyID: "enc", Use: "enc"})
	priv, _ := json.Marshal(jose.JSONWebKey{Key: k, KeyID: "priv"})
	body := `{"keys":[` + string(sig) + `,` + string(enc) + `,` + string(priv) +
		`,{"kty":"oct","k":"c2VjcmV0","kid":"hmac"},{"kty":"XYZ","kid":"future"}]}`
	keys, err := parseJWKS([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != "sig" || !samePublic(keys[0].Public, k.Public()) {
		t.Fatalf("parseJWKS = %v, want only the signing key", ids(keys))
	}
	for _, bad := range []string{`{"keys":[]}`, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, `not json`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("parseJWKS(%s) succeeded", bad)
		}
	}
}

func TestCacheAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", defaultMaxAge},
		{"max-age=600", 10 * time.Minute},
		{"public, max-age=120, must-revalidate", 2 * time.Minute},
		{"max-age=1", minMaxAge},
		{"max-age=999999999", maxMaxAge},
		{"no-cache", minMaxAge},
		{"no-store, max-age=600", minMaxAge},
		{"max-age=junk", defaultMaxAge},
	} {
		if got := cacheAge(tc.header); got != tc.want {
			t.Errorf("cacheAge(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
}
