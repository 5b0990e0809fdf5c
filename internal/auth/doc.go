// Package auth owns the authentication and authorisation vocabulary of
// Strata: JWT verification (algorithm allowlist, key selection by issuer and
// kid, exp/nbf/iat checks), scopes, per-ref policies and the key material
// used to sign and verify tokens.
//
// A request's bearer token becomes a [Principal] through [Verifier.Verify].
// The principal carries the organisation (iss), the repository the token is
// scoped to (repo), its known [Scope] values and its ref [Policy] (the refs
// claim with any legacy ops claim folded in, API spec §3.4). Transports map
// every error that matches [ErrInvalidToken] to 401, a missing scope or a
// repo mismatch to 403, and a [*DeniedError] from [Policy.Check] to a
// "denied by policy" rejection.
//
// Verification keys come from a [KeySource], so the package never learns
// where keys are stored; [KeySet] is the in-memory implementation, and a
// [KeyRefresher] may look again for a key it lacks (a JWKS refetch). A
// refused token is a [*TokenError] whose [Reason] and fields (issuer, kid,
// the organisation's known kids, how long ago it expired) transports log. Key files
// are PEM: public keys as SPKI "PUBLIC KEY", private keys as PKCS#8
// "PRIVATE KEY" (see [WriteKeyPair] for the file naming that ties a file
// to its key ID).
//
// The package imports no other Strata package and nothing from net/http.
package auth
