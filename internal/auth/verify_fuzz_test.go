package auth

import (
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzVerify(f *testing.F) {
	ec := ecKey(f, elliptic.P256())
	ed, err := GenerateKey("EdDSA")
	if err != nil {
		f.Fatal(err)
	}
	rsa := rsaKey(f, 2048)
	keys := &KeySet{}
	keys.Add("acme", Key{ID: "ec", Public: ec.Public()})
	keys.Add("acme", Key{ID: "ed", Public: ed.Public()})
	keys.Add("acme", Key{ID: "rsa", Public: rsa.Public()})
	v := NewVerifier(keys, WithClock(newTestClock(t0).Now), WithCacheSize(64))

	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(f, ec.Public())})
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	valid := mustMint(f, ec, Claims{
		Issuer: "acme", Repo: "team/project", Scopes: []Scope{ScopeGitWrite}, IssuedAt: t0,
		Refs: []RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}, {Pattern: "*"}}, Ops: []Op{OpNoForcePush},
	})
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		mustMint(f, ed, Claims{Issuer: "acme", Repo: "org", Scopes: []Scope{ScopeOrgRead}, IssuedAt: t0, KeyID: "ed"}),
		mustMint(f, rsa, Claims{Issuer: "acme", Repo: "r", IssuedAt: t0}),
		signRaw(f, jwt.SigningMethodPS256, rsa, nil, baseClaims()),
		signRaw(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, baseClaims()),
		signRaw(f, jwt.SigningMethodHS256, pubPEM, nil, baseClaims()),
		signRaw(f, jwt.SigningMethodES256, ec, map[string]any{"kid": map[string]any{}}, baseClaims()),
		signRaw(f, jwt.SigningMethodES256, ec, map[string]any{"crit": []string{"exp"}}, baseClaims()),
		signRaw(f, jwt.SigningMethodES256, ec, nil, withClaims(map[string]any{"refs": json.RawMessage(`[[null,[]]]`)})),
		signRaw(f, jwt.SigningMethodES256, ec, nil, withClaims(map[string]any{"repo": nil})),
		signRaw(f, jwt.SigningMethodES256, ec, map[string]any{"kid": "rsa"}, baseClaims()),
		b64(`{"alg":"ES256"}`) + "." + b64(`{"iss":"acme","repo":"r","exp":1e309}`) + "." + parts[2],
		b64(`{"alg":"EdDSA"}`) + "." + b64(`{"iss":"acme","repo":"r","exp":-1}`) + ".",
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		"..",
		"a.b.c",
		"",
		strings.Repeat(".", 100),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) || p != nil {
				t.Fatalf("Verify = %v, %v; want nil and ErrInvalidToken", p, err)
			}
			return
		}
		if p.Org != "acme" || p.Repo == "" {
			t.Fatalf("accepted token with Org %q Repo %q", p.Org, p.Repo)
		}
	})
}
