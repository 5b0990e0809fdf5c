// Package signing owns the verify-sig ref policy's side of commit
// signatures: the per-organisation keyrings git verifies with (Keys,
// prepared once at startup) and the one rule saying which commits an
// update of a protected ref must have signed (Keys.Check). Both
// transports, git pushes (githttp) and REST (api), call Check; neither
// verifies signatures on its own.
package signing
