// Package catfile owns `git cat-file`: a bounded pool of long-lived
// `git cat-file --batch-command` processes, one repository per process, and
// the Reader that speaks their protocol.
//
// Why a pool: a read through a warm process costs ~0.16 ms, a process per
// read ~2.4 ms (see the benchmarks), and the file-read API does many small
// reads per request.
//
// Protocol (git >= 2.36, no --buffer, so every command is answered at once):
//
//	info <rev>\n      -> <oid> SP <type> SP <size>\n
//	contents <rev>\n  -> <oid> SP <type> SP <size>\n <size bytes> \n
//	either, unknown   -> <rev> SP missing\n
//	either, short id  -> <rev> SP ambiguous\n
//
// <rev> is the rest of the line, so it may contain spaces ("HEAD:a b.txt")
// but never LF or NUL, and git strips one trailing CR. A reply that doesn't
// parse, or an object abandoned half read, leaves the stream in an unknown
// position: such a Reader is "dirty" and its process is killed on release
// instead of being reused.
//
// Processes outlive the requests that use them, so they are started under a
// context owned by the Cache (cancelled by eviction and Stop), never under a
// request's context. A request's cancellation instead kills the process it
// is reading from, which unblocks the pipe read; that process is dirty.
//
// A long-lived cat-file still sees later writes: git re-reads loose refs and
// packed-refs when they change and rescans the object store on a miss.
package catfile
