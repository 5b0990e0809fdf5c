package auth

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerify_tokenErrors: every refusal is a *TokenError whose reason and
// fields say what an operator needs, without the token.
func TestVerify_tokenErrors(t *testing.T) {
	t.Parallel()
	k1, k2, stranger := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	rsa := rsaKey(t, 2048)
	keys := &KeySet{}
	keys.Add("acme", Key{ID: "k1", Public: k1.Public()})
	keys.Add("acme", Key{ID: "k2", Public: k2.Public()})
	keys.Add("acme", Key{ID: "rsa", Public: rsa.Public()})

	for _, tc := range []struct {
		desc   string
		token  string
		want   TokenError // Detail is checked as a substring
		expiry bool       // ExpiredBy must be about 2 minutes
	}{
		{desc: "unknown org", token: signRaw(t, jwt.SigningMethodES256, k1, nil, withClaims(map[string]any{"iss": "globex"})),
			want: TokenError{Reason: ReasonUnknownOrg, Detail: `unknown issuer "globex"`, Org: "globex"}},
		{desc: "unknown kid", token: signRaw(t, jwt.SigningMethodES256, k1, map[string]any{"kid": "k9"}, baseClaims()),
			want: TokenError{Reason: ReasonUnknownKeyID, Detail: `unknown kid "k9" for issuer "acme" (it has "k1", "k2", "rsa")`,
				Org: "acme", KeyID: "k9", KnownKeyIDs: []string{"k1", "k2", "rsa"}}},
		{desc: "expired", token: signRaw(t, jwt.SigningMethodES256, k1, map[string]any{"kid": "k1"}, withClaims(map[string]any{"exp": t0.Add(-2 * time.Minute).Unix()})),
			want: TokenError{Reason: ReasonExpired, Detail: "expired 2m0s ago", Org: "acme", KeyID: "k1"}, expiry: true},
		{desc: "alg not allowed", token: signRaw(t, jwt.SigningMethodHS256, []byte("secret"), nil, baseClaims()),
			want: TokenError{Reason: ReasonAlgorithm, Detail: `unsupported algorithm "HS256"`, Org: "acme", Alg: "HS256"}},
		{desc: "kid of another key type", token: signRaw(t, jwt.SigningMethodES256, k1, map[string]any{"kid": "rsa"}, baseClaims()),
			want: TokenError{Reason: ReasonAlgorithm, Detail: `key "rsa" does not fit ES256`, Org: "acme", KeyID: "rsa", Alg: "ES256"}},
		{desc: "bad signature with kid", token: signRaw(t, jwt.SigningMethodES256, stranger, map[string]any{"kid": "k2"}, baseClaims()),
			want: TokenError{Reason: ReasonBadSignature, Detail: `bad signature for key "k2" of issuer "acme"`, Org: "acme", KeyID: "k2",
				KnownKeyIDs: []string{"k1", "k2", "rsa"}}},
		{desc: "bad signature without kid", token: signRaw(t, jwt.SigningMethodES256, stranger, nil, baseClaims()),
			want: TokenError{Reason: ReasonBadSignature, Detail: `no key of issuer "acme" ("k1", "k2", "rsa") verifies it`, Org: "acme",
				KnownKeyIDs: []string{"k1", "k2", "rsa"}}},
		{desc: "not yet valid", token: signRaw(t, jwt.SigningMethodES256, k1, nil, withClaims(map[string]any{"nbf": t0.Add(time.Hour).Unix(), "exp": t0.Add(2 * time.Hour).Unix()})),
			want: TokenError{Reason: ReasonNotYetValid, Detail: "not yet valid", Org: "acme"}},
		{desc: "missing repo", token: signRaw(t, jwt.SigningMethodES256, k1, nil, withClaims(map[string]any{"repo": nil})),
			want: TokenError{Reason: ReasonClaims, Detail: "missing repo claim"}},
		{desc: "garbage", token: "a.b.c", want: TokenError{Reason: ReasonMalformed, Detail: "malformed"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			v := NewVerifier(keys, WithClock(newTestClock(t0).Now))
			_, err := v.Verify(tc.token)
			var te *TokenError
			if !errors.As(err, &te) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify error %v is not a *TokenError matching ErrInvalidToken", err)
			}
			if te.Reason != tc.want.Reason || !strings.Contains(te.Detail, tc.want.Detail) || te.Org != tc.want.Org ||
				te.KeyID != tc.want.KeyID || te.Alg != tc.want.Alg || !slices.Equal(te.KnownKeyIDs, tc.want.KnownKeyIDs) {
				t.Fatalf("Verify error = %+v\nwant %+v", *te, tc.want)
			}
			if tc.expiry != (te.ExpiredBy > 0) || tc.expiry && te.ExpiredBy.Round(time.Second) != 2*time.Minute {
				t.Fatalf("ExpiredBy = %s", te.ExpiredBy)
			}
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("token refused", "token", te)
			if strings.Contains(buf.String(), tc.token) || strings.Contains(err.Error(), tc.token) {
				t.Fatalf("the token leaked into the error or its log line: %s", buf.String())
			}
			if !strings.Contains(buf.String(), "token.reason="+string(tc.want.Reason)) {
				t.Fatalf("log line lacks the reason: %s", buf.String())
			}
		})
	}
}

// TestTokenError_logLine: an unknown kid is logged with the organisation's
// known kids and never the token.
func TestTokenError_logLine(t *testing.T) {
	t.Parallel()
	old, cur := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	keys := &KeySet{}
	keys.Add("acme", Key{ID: "2024-01", Public: old.Public()})
	keys.Add("acme", Key{ID: "2025-06", Public: cur.Public()})
	tok := signRaw(t, jwt.SigningMethodES256, cur, map[string]any{"kid": "2026-01"}, baseClaims())
	_, err := NewVerifier(keys, WithClock(newTestClock(t0).Now)).Verify(tok)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("token refused", "token", err)
	line := buf.String()
	for _, want := range []string{"token.reason=unknown_kid", "token.org=acme", "token.kid=2026-01", "token.known_kids=2024-01,2025-06"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	for i, part := range strings.Split(tok, ".") {
		if strings.Contains(line, part) {
			t.Errorf("log line contains part %d of the token: %s", i, line)
		}
	}
}

// refreshingSource is a KeyRefresher whose refresh reveals more keys.
type refreshingSource struct {
	KeySet
	later     *KeySet
	refreshes atomic.Int64
}

func (s *refreshingSource) Refresh(org, kid string) []Key {
	s.refreshes.Add(1)
	return s.later.Keys(org)
}

// TestVerify_refresh: an unknown kid or organisation asks a KeyRefresher
// to look again; a known kid does not.
func TestVerify_refresh(t *testing.T) {
	t.Parallel()
	k1, k2 := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	src := &refreshingSource{later: keySetFor("acme", map[string]crypto.Signer{"k1": k1, "k2": k2})}
	src.Add("acme", Key{ID: "k1", Public: k1.Public()})
	v := NewVerifier(src, WithClock(newTestClock(t0).Now), WithCacheSize(0))
	if _, err := v.Verify(signRaw(t, jwt.SigningMethodES256, k1, map[string]any{"kid": "k1"}, baseClaims())); err != nil {
		t.Fatal(err)
	}
	if n := src.refreshes.Load(); n != 0 {
		t.Fatalf("a known kid caused %d refreshes", n)
	}
	if _, err := v.Verify(signRaw(t, jwt.SigningMethodES256, k2, map[string]any{"kid": "k2"}, baseClaims())); err != nil {
		t.Fatalf("kid found by a refresh: %v", err)
	}
	if _, err := v.Verify(signRaw(t, jwt.SigningMethodES256, k2, nil, withClaims(map[string]any{"iss": "globex"}))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown org: %v", err)
	}
	if n := src.refreshes.Load(); n != 2 {
		t.Fatalf("%d refreshes, want 2 (unknown kid, unknown org)", n)
	}
}

// gatedSource blocks Keys until released, to purge mid-verification.
type gatedSource struct {
	KeySource
	entered, release chan struct{}
}

func (s *gatedSource) Keys(org string) []Key {
	s.entered <- struct{}{}
	<-s.release
	return s.KeySource.Keys(org)
}

// TestVerify_purgeDuringVerify: a verification that began before a Purge
// (and so may have used a key removed since) is not cached.
func TestVerify_purgeDuringVerify(t *testing.T) {
	t.Parallel()
	k := ecKey(t, elliptic.P256())
	src := &gatedSource{KeySource: keySetFor("acme", map[string]crypto.Signer{"k": k}), entered: make(chan struct{}), release: make(chan struct{})}
	v := NewVerifier(src, WithClock(newTestClock(t0).Now))
	tok := signRaw(t, jwt.SigningMethodES256, k, nil, baseClaims())
	done := make(chan error)
	go func() { _, err := v.Verify(tok); done <- err }()
	<-src.entered
	v.Purge()
	close(src.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("%d results cached across a purge", n)
	}
}
