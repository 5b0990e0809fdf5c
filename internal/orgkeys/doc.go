// Package orgkeys owns the live verification keys of every organisation:
// the keys given on the serve command line (--org), merged with the
// organisations `strata org` keeps in the metadata store and, for those
// with a JWKS URL, the keys fetched from it.
//
// A [Source] is the [auth.KeySource] the verifier uses. It reloads the
// store's organisations when the store's version moves (one indexed query
// every poll, 2 s by default), so `strata org add` and `strata org key
// remove` take effect on a running server without a restart, and it calls
// OnChange (the verifier's Purge) so a removed key stops verifying at once
// rather than when cached verifications expire.
//
// JWKS documents are fetched through the SSRF-guarded outbound client,
// cached for their Cache-Control max-age within bounds, refreshed in the
// background, and fetched again for a token naming an unknown kid at most
// once per MinRefetch. A failed fetch keeps the keys last fetched.
package orgkeys
