package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	defaultLeeway         = 60 * time.Second
	defaultCacheSize      = 10000
	defaultMaxTokenLength = 16 << 10
	// maxIssuedAtSkew bounds how far in the future iat may lie. The spec
	// only allows rejecting tokens issued "far" in the future, so this is
	// generous compared with the exp/nbf leeway.
	maxIssuedAtSkew = time.Hour
	// cacheMaxAge bounds how long a verified token is served from the cache,
	// so a key removed from the KeySource stops working within this time
	// even for long-lived tokens.
	cacheMaxAge = 5 * time.Minute
)

// acceptedAlgs is the signature algorithm allowlist (§2.1). none and every
// HMAC algorithm are absent on purpose: accepting HS* would let anyone who
// knows a public key forge tokens with it as the shared secret.
var acceptedAlgs = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}

// Verifier turns bearer tokens into Principals. It is safe for concurrent
// use. Successful verifications are cached by a hash of the token, bounded
// in size; a cached result is served only while the token is unexpired
// (exp plus leeway, by the injected clock) and for at most five minutes
// after it was verified, after which the token is verified again against
// the current keys. Call Purge to drop cached results at once, for example
// after removing a key.
type Verifier struct {
	keys   KeySource
	now    func() time.Time
	leeway time.Duration
	maxTTL time.Duration // 0: no cap
	maxLen int
	size   int
	parser *jwt.Parser
	cache  *principalCache // nil when caching is disabled
}

// VerifierOption configures NewVerifier.
type VerifierOption func(*Verifier)

// WithClock sets the time source (default time.Now); tests use it to move
// time. A nil function is ignored.
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) {
		if now != nil {
			v.now = now
		}
	}
}

// WithLeeway sets the clock skew allowed on exp and nbf (default 60 s;
// negative means 0).
func WithLeeway(d time.Duration) VerifierOption {
	return func(v *Verifier) { v.leeway = max(d, 0) }
}

// WithMaxTTL refuses tokens whose lifetime, exp − iat (exp − now without
// iat), is longer than d; 0 (the default) accepts any lifetime.
func WithMaxTTL(d time.Duration) VerifierOption {
	return func(v *Verifier) { v.maxTTL = d }
}

// WithCacheSize sets how many verified tokens are cached (default 10000);
// n <= 0 disables the cache.
func WithCacheSize(n int) VerifierOption {
	return func(v *Verifier) { v.size = n }
}

// WithMaxTokenLength sets the longest token accepted, in bytes (default
// 16 KiB); longer tokens are rejected before any parsing. n <= 0 keeps the
// default.
func WithMaxTokenLength(n int) VerifierOption {
	return func(v *Verifier) {
		if n > 0 {
			v.maxLen = n
		}
	}
}

// NewVerifier returns a Verifier that takes each issuer's keys from keys.
func NewVerifier(keys KeySource, opts ...VerifierOption) *Verifier {
	v := &Verifier{
		keys:   keys,
		now:    time.Now,
		leeway: defaultLeeway,
		maxLen: defaultMaxTokenLength,
		size:   defaultCacheSize,
	}
	for _, opt := range opts {
		opt(v)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(acceptedAlgs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)
	if v.size > 0 {
		v.cache = newPrincipalCache(v.size)
	}
	return v
}

// Verify checks token's signature and claims (§2) and returns the
// principal it grants. Every error is a *TokenError, matching
// ErrInvalidToken. The returned
// Principal is the caller's own copy.
//
// Rules: the algorithm must be ES256, ES384, ES512, RS256, PS256 or EdDSA
// and fit the key's type; iss must name an organisation with keys; a kid
// header selects that key only, otherwise every key of the organisation
// that fits the algorithm is tried; exp is required and nbf honoured, both
// with the leeway; iat may not lie more than an hour ahead; repo must be a
// non-empty string; scopes, refs and ops, when present, must have their
// wire types (unknown scope and op strings are ignored).
func (v *Verifier) Verify(token string) (*Principal, error) {
	if token == "" {
		return nil, invalid(ReasonMalformed, "empty")
	}
	if len(token) > v.maxLen {
		return nil, invalid(ReasonMalformed, "too long")
	}
	now := v.now()
	var key [sha256.Size]byte
	var gen uint64
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if p := v.cache.get(key, now); p != nil {
			return p.clone(), nil
		}
		gen = v.cache.generation()
	}
	p, err := v.verify(token, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		// Expires+leeway is the instant uncached verification starts failing.
		until := p.Expires.Add(v.leeway)
		if limit := now.Add(cacheMaxAge); limit.Before(until) {
			until = limit
		}
		v.cache.put(key, p, until, gen)
	}
	return p.clone(), nil
}

// Purge drops every cached verification result; a verification running
// meanwhile is not cached either, as it may have used a key just removed.
func (v *Verifier) Purge() {
	if v.cache != nil {
		v.cache.purge()
	}
}

// wireClaims is the payload as Verify reads it. The structured claims stay
// raw until the signature has been checked, then are decoded strictly.
type wireClaims struct {
	Issuer    string          `json:"iss"`
	Repo      string          `json:"repo"`
	Scopes    json.RawMessage `json:"scopes"`
	Refs      json.RawMessage `json:"refs"`
	Ops       json.RawMessage `json:"ops"`
	IssuedAt  *numericDate    `json:"iat"`
	ExpiresAt *numericDate    `json:"exp"`
	NotBefore *numericDate    `json:"nbf"`
}

// numericDate is a jwt.NumericDate that must be a JSON number. jwt reads
// the claim through a json.Number, which encoding/json also fills from a
// numeric string ("exp":"1893456000"); RFC 7519 §2 wants a number.
type numericDate struct{ jwt.NumericDate }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return errors.New("date claim is not a number")
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *numericDate) get() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.get(), nil }
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.get(), nil }
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.get(), nil }
func (c *wireClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *wireClaims) GetSubject() (string, error)                  { return "", nil } // sub is ignored (Q30)
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

func (v *Verifier) verify(token string, now time.Time) (*Principal, error) {
	var wc wireClaims
	var sel selection
	tok, err := v.parser.ParseWithClaims(token, &wc, func(t *jwt.Token) (any, error) {
		return v.selectKeys(t, wc.Issuer, &sel)
	})
	if err != nil {
		return nil, parseError(tok, err, &wc, &sel, now)
	}
	if wc.IssuedAt != nil && wc.IssuedAt.After(now.Add(max(v.leeway, maxIssuedAtSkew))) {
		return nil, invalid(ReasonNotYetValid, "issued in the future")
	}
	if v.maxTTL > 0 {
		// Without iat the lifetime counts from now: a token may not stay
		// valid longer than the cap from any moment it is presented.
		from := now
		if wc.IssuedAt != nil {
			from = wc.IssuedAt.Time
		}
		if wc.ExpiresAt.Sub(from) > v.maxTTL {
			return nil, invalid(ReasonClaims, "lifetime exceeds the server's maximum of "+v.maxTTL.String())
		}
	}
	if wc.Repo == "" {
		return nil, invalid(ReasonClaims, "missing repo claim")
	}
	p := &Principal{Org: wc.Issuer, Repo: wc.Repo, Expires: wc.ExpiresAt.Time}
	if !isAbsent(wc.Scopes) {
		scopes, err := decodeStrings(wc.Scopes)
		if err != nil {
			return nil, invalid(ReasonClaims, "malformed scopes claim: "+err.Error())
		}
		for _, s := range scopes {
			if s := Scope(s); s.Known() && !slices.Contains(p.Scopes, s) {
				p.Scopes = append(p.Scopes, s)
			}
		}
	}
	var refs []RawRule
	if !isAbsent(wc.Refs) {
		if firstByte(wc.Refs) != '[' {
			return nil, invalid(ReasonClaims, "malformed refs claim: not an array")
		}
		if err := json.Unmarshal(wc.Refs, &refs); err != nil {
			return nil, invalid(ReasonClaims, "malformed refs claim: "+err.Error())
		}
	}
	var ops []Op
	if !isAbsent(wc.Ops) {
		strs, err := decodeStrings(wc.Ops)
		if err != nil {
			return nil, invalid(ReasonClaims, "malformed ops claim: "+err.Error())
		}
		ops = make([]Op, len(strs))
		for i, s := range strs {
			ops[i] = Op(s)
		}
	}
	p.Policy = NewPolicy(refs, ops)
	return p, nil
}

// selection is what selectKeys saw, for the error if verification fails
// after it.
type selection struct {
	org, kid string // as the token names them, cut short
	ids      []string
}

// selectKeys is the jwt Keyfunc: it runs after the algorithm allowlist and
// before the signature check, with the claims decoded but unverified.
func (v *Verifier) selectKeys(t *jwt.Token, iss string, sel *selection) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not understand must fail.
		return nil, invalid(ReasonMalformed, "unsupported crit header")
	}
	if iss == "" {
		return nil, invalid(ReasonMalformed, "missing issuer")
	}
	sel.org = cutShort(iss)
	kid := ""
	if raw, ok := t.Header["kid"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, &TokenError{Reason: ReasonMalformed, Detail: "malformed kid header", Org: sel.org}
		}
		kid = s // an empty kid names nothing; treat it as absent
	}
	sel.kid = cutShort(kid)
	keys := v.keys.Keys(iss)
	if r, ok := v.keys.(KeyRefresher); ok && (len(keys) == 0 || kid != "" && !slices.ContainsFunc(keys, func(k Key) bool { return k.ID == kid })) {
		keys = r.Refresh(iss, kid)
	}
	sel.ids = keyIDs(keys)
	if len(keys) == 0 {
		return nil, &TokenError{Reason: ReasonUnknownOrg, Detail: "unknown issuer " + quoteShort(iss), Org: sel.org, KeyID: sel.kid}
	}
	alg := t.Method.Alg()
	if kid != "" {
		i := slices.IndexFunc(keys, func(k Key) bool { return k.ID == kid })
		if i < 0 {
			return nil, &TokenError{Reason: ReasonUnknownKeyID,
				Detail: "unknown kid " + quoteShort(kid) + " for issuer " + quoteShort(iss) + " (it has " + describeKeyIDs(sel.ids) + ")",
				Org:    sel.org, KeyID: sel.kid, KnownKeyIDs: sel.ids}
		}
		if !keyFits(alg, keys[i].Public) {
			return nil, &TokenError{Reason: ReasonAlgorithm, Detail: "key " + quoteShort(kid) + " does not fit " + alg,
				Org: sel.org, KeyID: sel.kid, Alg: alg}
		}
		return keys[i].Public, nil
	}
	var set jwt.VerificationKeySet
	for _, k := range keys {
		// Skipping keys of the wrong type keeps an RSA key from ever being
		// offered to an ECDSA check and vice versa.
		if keyFits(alg, k.Public) {
			set.Keys = append(set.Keys, k.Public)
		}
	}
	if len(set.Keys) == 0 {
		return nil, &TokenError{Reason: ReasonAlgorithm, Detail: "no " + alg + " key for issuer " + quoteShort(iss), Org: sel.org, Alg: alg}
	}
	return set, nil
}

// keyFits reports whether pub is a usable key for alg.
func keyFits(alg string, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil {
			return false
		}
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		return (alg == "RS256" || alg == "PS256") && k != nil && k.N != nil && k.N.BitLen() >= minRSABits
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	}
	return false
}

// parseError turns a jwt error into a TokenError.
func parseError(tok *jwt.Token, err error, wc *wireClaims, sel *selection, now time.Time) error {
	var te *TokenError
	if errors.As(err, &te) { // from selectKeys
		return te
	}
	e := &TokenError{Reason: ReasonMalformed, Detail: "malformed", Org: sel.org, KeyID: sel.kid}
	if e.Org == "" && wc.Issuer != "" { // the alg check runs before selectKeys
		e.Org = cutShort(wc.Issuer)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
	case tok != nil && tok.Method == nil, tok != nil && !slices.Contains(acceptedAlgs, tok.Method.Alg()):
		e.Reason, e.Detail = ReasonAlgorithm, "unsupported algorithm"
		if alg, ok := tok.Header["alg"].(string); ok {
			e.Alg = cutShort(alg)
			e.Detail += " " + quoteShort(alg)
		}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		e.Reason, e.KnownKeyIDs = ReasonBadSignature, sel.ids
		if sel.kid != "" {
			e.Detail = "bad signature for key " + strconv.Quote(sel.kid) + " of issuer " + strconv.Quote(sel.org)
		} else {
			e.Detail = "bad signature: no key of issuer " + strconv.Quote(sel.org) + " (" + describeKeyIDs(sel.ids) + ") verifies it"
		}
	case errors.Is(err, jwt.ErrTokenExpired):
		// jwt checks claims only after the signature: exp is genuine.
		e.Reason, e.Detail = ReasonExpired, "expired"
		if wc.ExpiresAt != nil {
			e.ExpiredBy = now.Sub(wc.ExpiresAt.Time)
			e.Detail += " " + e.ExpiredBy.Round(time.Second).String() + " ago"
		}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		e.Reason, e.Detail = ReasonNotYetValid, "not yet valid"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		e.Detail = "missing exp claim"
	}
	return e
}

// isAbsent reports whether an optional claim was missing or null.
func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// shortLimit keeps untrusted token fields in logs readable.
const shortLimit = 64

// quoteShort quotes an untrusted token field for an error message, cut to
// shortLimit bytes.
func quoteShort(s string) string {
	if len(s) > shortLimit {
		return strconv.Quote(s[:shortLimit]) + "..."
	}
	return strconv.Quote(s)
}

// cutShort cuts an untrusted token field to shortLimit bytes, for a log
// attribute (the handler quotes it).
func cutShort(s string) string {
	if len(s) > shortLimit {
		return s[:shortLimit] + "..."
	}
	return s
}
