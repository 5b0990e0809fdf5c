package auth

import (
	"errors"
	"log/slog"
	"strings"
	"time"
)

// ErrInvalidToken matches (errors.Is) every error returned by
// Verifier.Verify, which is always a *TokenError. Transports map it to 401.
// The error text gives a short reason ("invalid token: expired 2m0s ago")
// and never contains the token.
var ErrInvalidToken = errors.New("invalid token")

// Reason classifies a refused token, for logs and tests.
type Reason string

const (
	// ReasonMalformed: not a well-formed JWS or JWT (empty, too long, bad
	// encoding, missing iss or exp, an unsupported crit header).
	ReasonMalformed Reason = "malformed"
	// ReasonUnknownOrg: no key of any kind for the iss.
	ReasonUnknownOrg Reason = "unknown_org"
	// ReasonUnknownKeyID: the kid header names no key of the organisation.
	ReasonUnknownKeyID Reason = "unknown_kid"
	// ReasonAlgorithm: the alg is not allowed, or no key of the
	// organisation (or the one kid names) fits it.
	ReasonAlgorithm Reason = "wrong_alg"
	// ReasonBadSignature: no key the token could name verifies it.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonExpired: exp plus the leeway has passed.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: nbf lies ahead, or iat far ahead.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonClaims: a claim is missing, malformed or out of policy (repo,
	// scopes, refs, ops, the lifetime cap).
	ReasonClaims Reason = "bad_claims"
)

// TokenError is why Verify refused a token. Its fields come from the
// token's header and unverified claims, cut short, and from the server's
// keys; never the token itself, so it is safe to log. It implements
// slog.LogValuer.
type TokenError struct {
	Reason Reason
	Detail string // a short human reason, without the "invalid token" prefix
	Org    string // the iss, when the token had one (quoted and cut short)
	KeyID  string // the kid header, when present (quoted and cut short)
	Alg    string // the alg header, when it matters to the refusal
	// KnownKeyIDs are the organisation's key ids (for an unknown kid or a
	// bad signature), so an operator sees which keys the server has.
	KnownKeyIDs []string
	// ExpiredBy is how long ago the token expired (exp to now).
	ExpiredBy time.Duration
}

func (e *TokenError) Error() string        { return "invalid token: " + e.Detail }
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

// LogValue gives the reason and the fields that explain it; the Detail
// is left to the error's text, which transports log beside it.
func (e *TokenError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reason", string(e.Reason))}
	if e.Org != "" {
		attrs = append(attrs, slog.String("org", e.Org))
	}
	if e.KeyID != "" {
		attrs = append(attrs, slog.String("kid", e.KeyID))
	}
	if e.Alg != "" {
		attrs = append(attrs, slog.String("alg", e.Alg))
	}
	if e.Reason == ReasonUnknownKeyID || e.Reason == ReasonBadSignature {
		attrs = append(attrs, slog.String("known_kids", strings.Join(e.KnownKeyIDs, ",")))
	}
	if e.ExpiredBy > 0 {
		attrs = append(attrs, slog.Duration("expired_by", e.ExpiredBy))
	}
	return slog.GroupValue(attrs...)
}

func invalid(reason Reason, detail string) *TokenError {
	return &TokenError{Reason: reason, Detail: detail}
}

// keyIDs lists the ids of keys, in order, without empty ones.
func keyIDs(keys []Key) []string {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if k.ID != "" {
			ids = append(ids, k.ID)
		}
	}
	return ids
}

// describeKeyIDs renders ids for an error message.
func describeKeyIDs(ids []string) string {
	if len(ids) == 0 {
		return "no key ids"
	}
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = quoteShort(id)
	}
	return strings.Join(q, ", ")
}
