package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerify_roundTrip(t *testing.T) {
	t.Parallel()
	rsa := rsaKey(t, 2048)
	for _, tc := range []struct {
		desc    string
		wantAlg string
		token   func(t *testing.T, priv crypto.Signer) string
		key     func(t *testing.T) crypto.Signer
	}{
		{desc: "ES256", wantAlg: "ES256", key: func(t *testing.T) crypto.Signer { return ecKey(t, elliptic.P256()) }},
		{desc: "ES384", wantAlg: "ES384", key: func(t *testing.T) crypto.Signer { return ecKey(t, elliptic.P384()) }},
		{desc: "ES512", wantAlg: "ES512", key: func(t *testing.T) crypto.Signer { return ecKey(t, elliptic.P521()) }},
		{desc: "RS256", wantAlg: "RS256", key: func(t *testing.T) crypto.Signer { return rsa }},
		{desc: "EdDSA", wantAlg: "EdDSA", key: func(t *testing.T) crypto.Signer {
			k, err := GenerateKey("EdDSA")
			if err != nil {
				t.Fatal(err)
			}
			return k
		}},
		{
			desc: "PS256 signed by a test harness", wantAlg: "PS256",
			key: func(t *testing.T) crypto.Signer { return rsa },
			token: func(t *testing.T, priv crypto.Signer) string {
				return signRaw(t, jwt.SigningMethodPS256, priv, nil, withClaims(map[string]any{
					"scopes": []string{"git:write", "repo:write"},
					"refs":   [][]any{{"main", []string{"no-push"}}},
				}))
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			priv := tc.key(t)
			tok := ""
			if tc.token != nil {
				tok = tc.token(t, priv)
			} else {
				tok = mustMint(t, priv, Claims{
					Issuer:   "acme",
					Repo:     "team/project",
					Scopes:   []Scope{ScopeGitWrite, ScopeRepoWrite},
					Refs:     []RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}},
					IssuedAt: t0,
					TTL:      time.Hour,
				})
			}
			if alg := headerOf(t, tok)["alg"]; alg != tc.wantAlg {
				t.Fatalf("alg = %v, want %s", alg, tc.wantAlg)
			}
			v := NewVerifier(keySetFor("acme", map[string]crypto.Signer{"k": priv}), WithClock(newTestClock(t0.Add(time.Minute)).Now))
			p, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := &Principal{
				Org:     "acme",
				Repo:    "team/project",
				Scopes:  []Scope{ScopeGitWrite, ScopeRepoWrite},
				Policy:  Policy{Rules: []Rule{{Pattern: "refs/heads/main", Ops: []Op{OpNoPush}}}},
				Expires: t0.Add(time.Hour),
			}
			if !reflect.DeepEqual(p, want) {
				t.Fatalf("Verify = %+v, want %+v", p, want)
			}
		})
	}
}

func TestVerify_rejects(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	other := ecKey(t, elliptic.P256())
	rsa := rsaKey(t, 2048)
	keys := &KeySet{}
	keys.Add("acme", Key{ID: "ec", Public: ec.Public()})
	keys.Add("acme", Key{ID: "rsa", Public: rsa.Public()})
	keys.Add("rsa-only", Key{ID: "rsa", Public: rsa.Public()})
	pubDER, err := x509.MarshalPKIXPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := signRaw(t, jwt.SigningMethodES256, ec, nil, baseClaims())
	parts := strings.Split(valid, ".")

	es := func(set map[string]any) string { return signRaw(t, jwt.SigningMethodES256, ec, nil, withClaims(set)) }
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	b64 := base64.RawURLEncoding.EncodeToString

	for _, tc := range []struct {
		desc   string
		token  string
		reason string
	}{
		{desc: "empty", token: "", reason: "empty"},
		{desc: "garbage", token: "not a jwt", reason: "malformed"},
		{desc: "two segments", token: parts[0] + "." + parts[1], reason: "malformed"},
		{desc: "bad base64", token: parts[0] + ".!!!." + parts[2], reason: "malformed"},
		{desc: "oversized", token: parts[0] + "." + strings.Repeat("A", 16<<10) + "." + parts[2], reason: "too long"},
		{
			desc:   "alg none",
			token:  signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, baseClaims()),
			reason: "unsupported algorithm",
		},
		{
			// The classic algorithm-confusion attack: the verifier's public
			// key used as an HMAC secret.
			desc:   "HS256 keyed with the public key PEM",
			token:  signRaw(t, jwt.SigningMethodHS256, pubPEM, nil, baseClaims()),
			reason: "unsupported algorithm",
		},
		{
			desc:   "HS512 keyed with the public key DER",
			token:  signRaw(t, jwt.SigningMethodHS512, pubDER, nil, baseClaims()),
			reason: "unsupported algorithm",
		},
		{desc: "unknown alg", token: b64([]byte(`{"alg":"XX99","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], reason: "unsupported algorithm"},
		{desc: "alg not a string", token: b64([]byte(`{"alg":7}`)) + "." + parts[1] + "." + parts[2], reason: "unsupported algorithm"},
		{desc: "tampered payload", token: parts[0] + "." + b64([]byte(`{"iss":"acme","repo":"other","exp":9999999999}`)) + "." + parts[2], reason: "bad signature"},
		{desc: "signed by an unregistered key", token: signRaw(t, jwt.SigningMethodES256, other, nil, baseClaims()), reason: "bad signature"},
		{desc: "expired beyond leeway", token: es(map[string]any{"exp": t0.Unix() - 61}), reason: "expired"},
		{desc: "missing exp", token: es(map[string]any{"exp": nil}), reason: "missing exp"},
		{desc: "exp not a number", token: es(map[string]any{"exp": "tomorrow"}), reason: "malformed"},
		// encoding/json decodes a numeric string into the json.Number
		// that jwt's NumericDate reads; RFC 7519 wants a number.
		{desc: "exp a numeric string", token: es(map[string]any{"exp": strconv.FormatInt(t0.Add(time.Hour).Unix(), 10)}), reason: "malformed"},
		{desc: "iat a numeric string", token: es(map[string]any{"iat": strconv.FormatInt(t0.Unix(), 10)}), reason: "malformed"},
		{desc: "nbf beyond leeway", token: es(map[string]any{"nbf": t0.Unix() + 61}), reason: "not yet valid"},
		{desc: "iat far in the future", token: es(map[string]any{"iat": t0.Add(2 * time.Hour).Unix(), "exp": t0.Add(3 * time.Hour).Unix()}), reason: "issued in the future"},
		{desc: "unknown issuer", token: es(map[string]any{"iss": "globex"}), reason: `unknown issuer "globex"`},
		{desc: "missing issuer", token: es(map[string]any{"iss": nil}), reason: "missing issuer"},
		{desc: "issuer not a string", token: es(map[string]any{"iss": 42}), reason: "malformed"},
		{desc: "unknown kid", token: signRaw(t, jwt.SigningMethodES256, ec, map[string]any{"kid": "nope"}, baseClaims()), reason: `unknown kid "nope"`},
		{desc: "kid not a string", token: signRaw(t, jwt.SigningMethodES256, ec, map[string]any{"kid": 1}, baseClaims()), reason: "malformed kid"},
		{desc: "kid names a key of the wrong type", token: signRaw(t, jwt.SigningMethodES256, ec, map[string]any{"kid": "rsa"}, baseClaims()), reason: `key "rsa" does not fit ES256`},
		{desc: "issuer has no key of the alg's type", token: signRaw(t, jwt.SigningMethodES256, ec, nil, withClaims(map[string]any{"iss": "rsa-only"})), reason: `no ES256 key for issuer "rsa-only"`},
		{desc: "crit header", token: signRaw(t, jwt.SigningMethodES256, ec, map[string]any{"crit": []string{"b64"}, "b64": false}, baseClaims()), reason: "crit"},
		{desc: "missing repo", token: es(map[string]any{"repo": nil}), reason: "missing repo"},
		{desc: "empty repo", token: es(map[string]any{"repo": ""}), reason: "missing repo"},
		{desc: "repo not a string", token: es(map[string]any{"repo": []string{"a"}}), reason: "malformed"},
		{desc: "scopes a string", token: es(map[string]any{"scopes": "git:read"}), reason: "malformed scopes claim"},
		{desc: "scopes with a number", token: es(map[string]any{"scopes": []any{"git:read", 1}}), reason: "malformed scopes claim"},
		{desc: "scopes with null", token: es(map[string]any{"scopes": []any{"git:read", nil}}), reason: "malformed scopes claim"},
		{desc: "refs an object", token: es(map[string]any{"refs": map[string]any{"main": []string{}}}), reason: "malformed refs claim"},
		{desc: "refs a string", token: es(map[string]any{"refs": "main"}), reason: "malformed refs claim"},
		{desc: "refs rule of one element", token: es(map[string]any{"refs": [][]any{{"main"}}}), reason: "malformed refs claim"},
		{desc: "refs rule of three elements", token: es(map[string]any{"refs": [][]any{{"main", []string{}, "x"}}}), reason: "malformed refs claim"},
		{desc: "refs rule a string", token: es(map[string]any{"refs": []any{"main"}}), reason: "malformed refs claim"},
		{desc: "refs rule null", token: es(map[string]any{"refs": raw(`[null]`)}), reason: "malformed refs claim"},
		{desc: "refs pattern a number", token: es(map[string]any{"refs": [][]any{{1, []string{}}}}), reason: "malformed refs claim"},
		{desc: "refs pattern null", token: es(map[string]any{"refs": raw(`[[null, []]]`)}), reason: "malformed refs claim"},
		{desc: "refs pattern empty", token: es(map[string]any{"refs": [][]any{{"", []string{"no-push"}}}}), reason: "malformed refs claim"},
		{desc: "refs ops a string", token: es(map[string]any{"refs": [][]any{{"main", "no-push"}}}), reason: "malformed refs claim"},
		{desc: "refs ops null", token: es(map[string]any{"refs": raw(`[["main", null]]`)}), reason: "malformed refs claim"},
		{desc: "refs ops with a number", token: es(map[string]any{"refs": [][]any{{"main", []any{"no-push", 3}}}}), reason: "malformed refs claim"},
		{desc: "ops an object", token: es(map[string]any{"ops": map[string]any{}}), reason: "malformed ops claim"},
		{desc: "ops with null", token: es(map[string]any{"ops": raw(`["no-push", null]`)}), reason: "malformed ops claim"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			v := NewVerifier(keys, WithClock(newTestClock(t0).Now))
			p, err := v.Verify(tc.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", p)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v does not match ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not mention %q", err, tc.reason)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error contains the token")
			}
			if p != nil {
				t.Errorf("principal %+v returned with an error", p)
			}
		})
	}
}

func TestVerify_accepts(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	keys := keySetFor("acme", map[string]crypto.Signer{"ec": ec})
	es := func(set map[string]any) string { return signRaw(t, jwt.SigningMethodES256, ec, nil, withClaims(set)) }
	for _, tc := range []struct {
		desc  string
		token string
		check func(t *testing.T, p *Principal)
	}{
		{desc: "expired within leeway", token: es(map[string]any{"exp": t0.Unix() - 59})},
		{desc: "nbf within leeway", token: es(map[string]any{"nbf": t0.Unix() + 59})},
		{desc: "nbf passed", token: es(map[string]any{"nbf": t0.Unix() - 10})},
		{desc: "iat a little in the future", token: es(map[string]any{"iat": t0.Unix() + 600})},
		{desc: "no iat", token: es(map[string]any{"iat": nil})},
		{desc: "fractional exp", token: es(map[string]any{"exp": float64(t0.Unix()) + 3600.5})},
		{desc: "unrelated claims tolerated", token: es(map[string]any{"aud": []string{"x"}, "jti": "1", "sub": 42, "extra": map[string]any{"a": 1}})},
		{desc: "empty kid treated as absent", token: signRaw(t, jwt.SigningMethodES256, ec, map[string]any{"kid": ""}, baseClaims())},
		{desc: "typ other than JWT", token: signRaw(t, jwt.SigningMethodES256, ec, map[string]any{"typ": "at+jwt"}, baseClaims())},
		{
			desc:  "unknown scopes dropped, duplicates folded",
			token: es(map[string]any{"scopes": []string{"git:read", "admin", "git:read", "org:read", "GIT:WRITE"}}),
			check: func(t *testing.T, p *Principal) {
				if want := []Scope{ScopeGitRead, ScopeOrgRead}; !reflect.DeepEqual(p.Scopes, want) {
					t.Errorf("Scopes = %v, want %v", p.Scopes, want)
				}
			},
		},
		{
			desc:  "missing scopes grant nothing",
			token: es(map[string]any{"scopes": nil}),
			check: func(t *testing.T, p *Principal) {
				if len(p.Scopes) != 0 || p.Has(ScopeGitRead) {
					t.Errorf("Scopes = %v, want none", p.Scopes)
				}
			},
		},
		{
			desc:  "null refs and ops mean none",
			token: es(map[string]any{"refs": json.RawMessage("null"), "ops": json.RawMessage("null")}),
			check: func(t *testing.T, p *Principal) {
				if p.Policy.Rules != nil {
					t.Errorf("Policy = %+v, want none", p.Policy)
				}
			},
		},
		{
			desc:  "unknown ops ignored",
			token: es(map[string]any{"refs": [][]any{{"main", []string{"future-op", "no-push"}}, {"dev", []string{"future-op"}}}}),
			check: func(t *testing.T, p *Principal) {
				want := Policy{Rules: []Rule{
					{Pattern: "refs/heads/main", Ops: []Op{OpNoPush}},
					{Pattern: "refs/heads/dev", Ops: []Op{}},
				}}
				if !reflect.DeepEqual(p.Policy, want) {
					t.Errorf("Policy = %+v, want %+v", p.Policy, want)
				}
			},
		},
		{
			desc:  "org-level token",
			token: es(map[string]any{"repo": "org", "scopes": []string{"org:read"}}),
			check: func(t *testing.T, p *Principal) {
				if p.Repo != "org" || !p.Has(ScopeOrgRead) {
					t.Errorf("principal = %+v", p)
				}
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			v := NewVerifier(keys, WithClock(newTestClock(t0).Now))
			p, err := v.Verify(tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Org != "acme" || p.Repo == "" {
				t.Errorf("principal = %+v", p)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

// TestVerify_specExample verifies the token of API spec §2.8 and applies its
// policy.
func TestVerify_specExample(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	tok := signRaw(t, jwt.SigningMethodES256, ec, nil, jwt.MapClaims{
		"iss":    "acme",
		"sub":    "@pierre/storage",
		"repo":   "team/project",
		"scopes": []string{"git:write"},
		"iat":    1723453189,
		"exp":    1723456789,
		"refs":   json.RawMessage(`[["main", ["no-push"]], ["*", []]]`),
	})
	v := NewVerifier(keySetFor("acme", map[string]crypto.Signer{"dev-key-001": ec}), WithClock(newTestClock(t0).Now))
	p, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := &Principal{
		Org:    "acme",
		Repo:   "team/project",
		Scopes: []Scope{ScopeGitWrite},
		Policy: Policy{Rules: []Rule{
			{Pattern: "refs/heads/main", Ops: []Op{OpNoPush}},
			{Pattern: "*", Ops: []Op{}},
		}},
		Expires: time.Unix(1723456789, 0),
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("Verify = %+v, want %+v", p, want)
	}
	if !p.Has(ScopeGitRead) || p.Has(ScopeRepoWrite) {
		t.Errorf("git:write must imply git:read and nothing else")
	}
	err = p.Policy.Check("refs/heads/main", UpdateFastForward)
	if got, want := fmt.Sprint(err), "denied by policy: no-push on refs/heads/main"; got != want {
		t.Errorf("Check(main) = %q, want %q", got, want)
	}
	if err := p.Policy.Check("refs/heads/feature", UpdateNonFastForward); err != nil {
		t.Errorf("Check(feature) = %v, want allowed", err)
	}
}

func TestVerify_kid(t *testing.T) {
	t.Parallel()
	k1, k2 := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	rsa := rsaKey(t, 2048)
	keys := &KeySet{}
	keys.Add("acme", Key{ID: "rsa", Public: rsa.Public()}) // first, so kid-less ES256 tokens must skip it
	keys.Add("acme", Key{ID: "k1", Public: k1.Public()})
	keys.Add("acme", Key{ID: "k2", Public: k2.Public()})
	for _, tc := range []struct {
		desc   string
		priv   crypto.Signer
		kid    string
		reason string // empty: accepted
	}{
		{desc: "kid selects k1", priv: k1, kid: "k1"},
		{desc: "kid selects k2", priv: k2, kid: "k2"},
		{desc: "kid selects the RSA key", priv: rsa, kid: "rsa"},
		{desc: "kid names the other key", priv: k2, kid: "k1", reason: "bad signature"},
		{desc: "unknown kid", priv: k1, kid: "k3", reason: "unknown kid"},
		{desc: "no kid tries every key: k1", priv: k1},
		{desc: "no kid tries every key: k2", priv: k2},
		{desc: "no kid tries every key: rsa", priv: rsa},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			tok := mustMint(t, tc.priv, Claims{Issuer: "acme", Repo: "r", KeyID: tc.kid, IssuedAt: t0})
			_, err := NewVerifier(keys, WithClock(newTestClock(t0).Now)).Verify(tok)
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tc.reason != "" && (err == nil || !strings.Contains(err.Error(), tc.reason)):
				t.Fatalf("Verify error = %v, want %q", err, tc.reason)
			}
		})
	}
}

// TestVerify_unusableKeys checks that keys Verify cannot use are skipped,
// never passed to the signature check or a panic.
func TestVerify_unusableKeys(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	keys := &KeySet{}
	keys.Add("acme", Key{ID: "nil", Public: nil})
	keys.Add("acme", Key{ID: "nil-ec", Public: (*ecdsa.PublicKey)(nil)})
	keys.Add("acme", Key{ID: "p384", Public: ecKey(t, elliptic.P384()).Public()})
	keys.Add("acme", Key{ID: "weak-rsa", Public: rsaKey(t, 1024).Public()})
	keys.Add("acme", Key{ID: "bytes", Public: []byte("secret")})
	keys.Add("acme", Key{ID: "ec", Public: ec.Public()})
	v := NewVerifier(keys, WithClock(newTestClock(t0).Now))
	if _, err := v.Verify(mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0})); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, kid := range []string{"nil", "nil-ec", "p384", "bytes"} {
		tok := mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0, KeyID: kid})
		if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("kid %s: Verify error = %v, want ErrInvalidToken", kid, err)
		}
	}
	weak := signRaw(t, jwt.SigningMethodRS256, rsaKey(t, 1024), map[string]any{"kid": "weak-rsa"}, baseClaims())
	if _, err := v.Verify(weak); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("1024-bit RSA: Verify error = %v, want ErrInvalidToken", err)
	}
}

func TestVerify_maxTokenLength(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	tok := mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0})
	keys := keySetFor("acme", map[string]crypto.Signer{"ec": ec})
	clock := WithClock(newTestClock(t0).Now)
	if _, err := NewVerifier(keys, clock, WithMaxTokenLength(len(tok))).Verify(tok); err != nil {
		t.Errorf("token at the limit: %v", err)
	}
	if _, err := NewVerifier(keys, clock, WithMaxTokenLength(len(tok)-1)).Verify(tok); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("token over the limit: error = %v", err)
	}
}

func TestVerify_maxTTL(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	keys := keySetFor("acme", map[string]crypto.Signer{"ec": ec})
	v := NewVerifier(keys, WithClock(newTestClock(t0).Now), WithMaxTTL(24*time.Hour))
	for _, tc := range []struct {
		desc string
		tok  string
		ok   bool
	}{
		{desc: "a day", tok: mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0, TTL: 24 * time.Hour}), ok: true},
		{desc: "a year", tok: mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0, TTL: 365 * 24 * time.Hour})},
		{desc: "a year, issued long ago", tok: mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0.Add(-364 * 24 * time.Hour), TTL: 365 * 24 * time.Hour})},
		{desc: "no iat, exp within the cap", tok: signRaw(t, jwt.SigningMethodES256, ec, nil, withClaims(map[string]any{"iat": nil, "exp": t0.Add(time.Hour).Unix()})), ok: true},
		{desc: "no iat, exp beyond the cap", tok: signRaw(t, jwt.SigningMethodES256, ec, nil, withClaims(map[string]any{"iat": nil, "exp": t0.Add(48 * time.Hour).Unix()}))},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := v.Verify(tc.tok)
			if tc.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "lifetime")) {
				t.Fatalf("Verify: error = %v, want a lifetime error", err)
			}
		})
	}
	// Without the option any lifetime is fine.
	long := mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0, TTL: 365 * 24 * time.Hour})
	if _, err := NewVerifier(keys, WithClock(newTestClock(t0).Now)).Verify(long); err != nil {
		t.Errorf("no cap: %v", err)
	}
}

func TestVerify_leewayOption(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	keys := keySetFor("acme", map[string]crypto.Signer{"ec": ec})
	tok := mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0, TTL: time.Hour})
	at := WithClock(newTestClock(t0.Add(time.Hour + 5*time.Second)).Now)
	if _, err := NewVerifier(keys, at).Verify(tok); err != nil {
		t.Errorf("default leeway: %v", err)
	}
	if _, err := NewVerifier(keys, at, WithLeeway(0)).Verify(tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("no leeway: error = %v, want expired", err)
	}
}

func TestVerify_cache(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	src := &countingSource{KeySource: keySetFor("acme", map[string]crypto.Signer{"ec": ec})}
	clock := newTestClock(t0)
	v := NewVerifier(src, WithClock(clock.Now))
	tok := mustMint(t, ec, Claims{
		Issuer: "acme", Repo: "r", Scopes: []Scope{ScopeGitRead}, IssuedAt: t0, TTL: 3 * time.Minute,
		Refs: []RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}},
	})

	p1, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Callers own their copy: scribbling on it must not reach the cache.
	p1.Scopes[0] = ScopeRepoWrite
	p1.Policy.Rules[0].Ops[0] = OpVerifySig
	p1.Repo = "other"

	clock.Advance(3*time.Minute + 59*time.Second) // exp + 59 s: still inside the leeway
	p2, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("cached Verify: %v", err)
	}
	if calls := src.calls.Load(); calls != 1 {
		t.Errorf("KeySource consulted %d times, want 1 (second Verify should hit the cache)", calls)
	}
	if p2.Repo != "r" || p2.Scopes[0] != ScopeGitRead || p2.Policy.Rules[0].Ops[0] != OpNoPush {
		t.Errorf("cached principal was modified through a returned copy: %+v", p2)
	}

	clock.Advance(time.Second) // exp + leeway: uncached verification fails here, so must the cache
	if _, err := v.Verify(tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Verify after exp+leeway: error = %v, want expired", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("expired entry kept: cache holds %d", n)
	}
}

// TestVerify_cacheMaxAge checks that a long-lived token is re-verified
// against the current keys once its cache entry is old, so removing a key
// takes effect.
func TestVerify_cacheMaxAge(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	keys := keySetFor("acme", map[string]crypto.Signer{"ec": ec})
	src := &swappableSource{}
	src.set(keys)
	clock := newTestClock(t0)
	v := NewVerifier(src, WithClock(clock.Now))
	tok := mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0, TTL: 365 * 24 * time.Hour})
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	src.set(&KeySet{}) // the organisation's key is revoked
	clock.Advance(cacheMaxAge - time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify within the cache age: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := v.Verify(tok); err == nil || !strings.Contains(err.Error(), "unknown issuer") {
		t.Fatalf("Verify after the cache age: error = %v, want unknown issuer", err)
	}

	src.set(keys)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	src.set(&KeySet{})
	v.Purge()
	if _, err := v.Verify(tok); err == nil {
		t.Fatalf("Verify after Purge accepted a token whose key is gone")
	}
}

type swappableSource struct {
	mu  sync.Mutex
	src KeySource
}

func (s *swappableSource) set(src KeySource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src = src
}

func (s *swappableSource) Keys(org string) []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.Keys(org)
}

func TestVerify_cacheBounded(t *testing.T) {
	t.Parallel()
	const size = 8
	ec := ecKey(t, elliptic.P256())
	src := &countingSource{KeySource: keySetFor("acme", map[string]crypto.Signer{"ec": ec})}
	v := NewVerifier(src, WithClock(newTestClock(t0).Now), WithCacheSize(size))
	toks := make([]string, 50)
	for i := range toks {
		toks[i] = mustMint(t, ec, Claims{Issuer: "acme", Repo: fmt.Sprintf("r%d", i), IssuedAt: t0})
		if _, err := v.Verify(toks[i]); err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
		if n := v.cache.len(); n > size {
			t.Fatalf("cache holds %d entries, cap %d", n, size)
		}
	}
	// The most recent tokens are cached, the oldest were evicted.
	before := src.calls.Load()
	if _, err := v.Verify(toks[len(toks)-1]); err != nil {
		t.Fatal(err)
	}
	if src.calls.Load() != before {
		t.Errorf("most recent token was not served from the cache")
	}
	if _, err := v.Verify(toks[0]); err != nil {
		t.Fatal(err)
	}
	if src.calls.Load() != before+1 {
		t.Errorf("oldest token was served from the cache after 49 newer ones")
	}

	off := NewVerifier(src, WithClock(newTestClock(t0).Now), WithCacheSize(0))
	if _, err := off.Verify(toks[0]); err != nil || off.cache != nil {
		t.Errorf("WithCacheSize(0): err %v, cache %v", err, off.cache)
	}
}

func TestVerify_concurrent(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	v := NewVerifier(keySetFor("acme", map[string]crypto.Signer{"ec": ec}), WithClock(newTestClock(t0).Now), WithCacheSize(4))
	toks := make([]string, 16)
	for i := range toks {
		toks[i] = mustMint(t, ec, Claims{Issuer: "acme", Repo: fmt.Sprintf("r%d", i), Scopes: []Scope{ScopeGitRead}, IssuedAt: t0})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 64 {
				tok := toks[(g+i)%len(toks)]
				p, err := v.Verify(tok)
				if err != nil {
					t.Errorf("Verify: %v", err)
					return
				}
				p.Scopes[0] = ScopeOrgRead // must not race with other callers
			}
		})
	}
	wg.Wait()
	if n := v.cache.len(); n > 4 {
		t.Errorf("cache holds %d entries, cap 4", n)
	}
}

func headerOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func BenchmarkVerify(b *testing.B) {
	ec := ecKey(b, elliptic.P256())
	keys := keySetFor("acme", map[string]crypto.Signer{"ec": ec})
	tok := mustMint(b, ec, Claims{
		Issuer: "acme", Repo: "team/project", Scopes: []Scope{ScopeGitWrite}, IssuedAt: t0,
		Refs: []RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}, {Pattern: "*"}},
	})
	for _, bc := range []struct {
		desc string
		size int
	}{{"cached", defaultCacheSize}, {"uncached", 0}} {
		b.Run(bc.desc, func(b *testing.B) {
			v := NewVerifier(keys, WithClock(newTestClock(t0).Now), WithCacheSize(bc.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
