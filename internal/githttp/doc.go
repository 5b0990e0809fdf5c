// Package githttp serves Git's smart HTTP protocol (gitprotocol-http(5)):
// GET .../info/refs?service=git-upload-pack|git-receive-pack,
// POST .../git-upload-pack and POST .../git-receive-pack, for the three
// remote URL forms of API spec §6.1 (/{repo}.git, /{repo}+ephemeral.git,
// /{repo}+import.git). Handler is an http.Handler value the server mounts
// next to the REST API.
//
// The git binary does the protocol work: git-upload-pack(1) and
// git-receive-pack(1) run with --stateless-rpc through git.Factory, the
// request body streamed to stdin and stdout streamed back with a 64 KiB
// buffer, so no pack is ever held in memory.
//
// Pushes never let receive-pack write a reference itself. Strata sets
// receive.procReceiveRefs=refs, so receive-pack hands every command to the
// proc-receive hook (githooks(5)). The hook is the strata binary itself
// (`strata hook proc-receive`, see RunHook): a dumb relay that connects back
// to this package over a per-push unix socket, where the server checks ref
// policies, fast-forwardness and signatures with the token's Principal and
// applies the updates through repo.Repo.UpdateRefs, the same
// compare-and-swap path as every REST write. docs/git-transport.md records
// the design and its decisions.
package githttp
