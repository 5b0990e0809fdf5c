package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults applied by Mint.
const (
	DefaultSubject = "strata-cli"
	DefaultTTL     = time.Hour // the SDKs' per-call default (§2.4)
)

// Claims describes a token for Mint.
type Claims struct {
	Issuer   string        // iss: the organisation; required
	Subject  string        // sub: informational; DefaultSubject when empty
	Repo     string        // repo: repository ID or "org"; required
	Scopes   []Scope       // scopes: emitted as given (an empty list as [])
	TTL      time.Duration // exp = iat + TTL; DefaultTTL when <= 0, as the SDKs do
	Refs     []RawRule     // refs: emitted only when non-empty, patterns as given
	Ops      []Op          // legacy ops: emitted only when non-empty
	KeyID    string        // kid header: emitted only when non-empty
	IssuedAt time.Time     // iat; time.Now() when zero
}

// Mint signs a token for c with priv. The algorithm follows from the key:
// ECDSA P-256 → ES256, P-384 → ES384, P-521 → ES512, RSA → RS256,
// Ed25519 → EdDSA. priv must be *ecdsa.PrivateKey, *rsa.PrivateKey (at
// least 2048 bits) or an Ed25519 signer such as ed25519.PrivateKey.
func Mint(priv crypto.Signer, c Claims) (string, error) {
	if c.Issuer == "" {
		return "", errors.New("mint token: empty issuer")
	}
	if c.Repo == "" {
		return "", errors.New("mint token: empty repo")
	}
	for _, r := range c.Refs {
		if r.Pattern == "" {
			return "", errors.New("mint token: empty ref pattern")
		}
	}
	if priv == nil {
		return "", errors.New("mint token: no signing key")
	}
	method, err := signingMethodFor(priv.Public())
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	claims := mintClaims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Repo:      c.Repo,
		Scopes:    c.Scopes,
		IssuedAt:  jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(iat.Add(ttl)),
		Refs:      c.Refs,
		Ops:       c.Ops,
	}
	if claims.Subject == "" {
		claims.Subject = DefaultSubject
	}
	if claims.Scopes == nil {
		claims.Scopes = []Scope{}
	}
	tok := jwt.NewWithClaims(method, claims)
	if c.KeyID != "" {
		tok.Header["kid"] = c.KeyID
	}
	s, err := tok.SignedString(priv)
	if err != nil {
		return "", fmt.Errorf("mint token: sign %s: %w", method.Alg(), err)
	}
	return s, nil
}

func signingMethodFor(pub crypto.PublicKey) (jwt.SigningMethod, error) {
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, nil
		}
	case *rsa.PublicKey:
		return jwt.SigningMethodRS256, nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", pub) // unreachable after checkPublicKey
}

// mintClaims is the payload Mint emits, in the SDKs' claim order (§2.8).
type mintClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Repo      string           `json:"repo"`
	Scopes    []Scope          `json:"scopes"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	Refs      []RawRule        `json:"refs,omitempty"`
	Ops       []Op             `json:"ops,omitempty"`
}

func (c mintClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c mintClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c mintClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c mintClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c mintClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c mintClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }
