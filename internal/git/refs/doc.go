// Package refs owns the one way Strata changes a reference: a
// compare-and-swap transaction through git-update-ref(1) --stdin, run in a
// long-lived update-ref session per repository (session.go) because
// starting git costs more than the transaction.
//
// Going through git itself (rather than writing ref files from Go) means
// every update takes git's own <ref>.lock files and rewrites packed-refs the
// way git does, so a REST commit and a concurrent `git push` exclude each
// other: one wins, the other gets a typed error, and nothing is lost.
// go-git's SetReference rewrites ref files in place without those locks.
package refs
