package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// t0 is the iat of the spec's §2.8 example token.
var t0 = time.Unix(1723453189, 0)

// testClock is a settable clock for WithClock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{now: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingSource counts Keys calls, which happen once per uncached Verify.
type countingSource struct {
	KeySource
	calls atomic.Int64
}

func (s *countingSource) Keys(org string) []Key {
	s.calls.Add(1)
	return s.KeySource.Keys(org)
}

func ecKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keySetFor returns a KeySet with one key per ID for org.
func keySetFor(org string, keys map[string]crypto.Signer) *KeySet {
	ks := &KeySet{}
	for id, k := range keys {
		ks.Add(org, Key{ID: id, Public: k.Public()})
	}
	return ks
}

func mustMint(t testing.TB, priv crypto.Signer, c Claims) string {
	t.Helper()
	tok, err := Mint(priv, c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// baseClaims is a valid token body at t0, for hand-signed tokens.
func baseClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":    "acme",
		"sub":    "@pierre/storage",
		"repo":   "team/project",
		"scopes": []string{"git:read"},
		"iat":    t0.Unix(),
		"exp":    t0.Add(time.Hour).Unix(),
	}
}

// signRaw signs claims with an arbitrary method and extra headers, for the
// tokens Mint refuses to produce.
func signRaw(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// withClaims returns baseClaims with the given claims set; a nil value
// deletes the claim.
func withClaims(set map[string]any) jwt.MapClaims {
	c := baseClaims()
	for k, v := range set {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}
