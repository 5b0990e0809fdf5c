// Package odb writes git objects in-process: it hashes and compresses the
// objects of one transaction into one pack (objects/pack/pack-*.pack and
// its .idx) and makes them durable in a repository's object database, and
// it encodes the object formats Strata builds itself (trees, commits,
// tags).
//
// It exists because writing a commit's objects here costs a couple of
// fsyncs, while running the git plumbing for the same work (hash-object,
// mktree, commit-tree) costs a process each. Reads stay with git (see
// catfile); refs are updated by the refs package after a Transaction has
// committed.
//
// Object ids are the hex SHA-1 of "<type> <size>\x00" + content. A pack
// (gitformat-pack(5)) holds undeltified entries, each a type and size
// header and zlib(content), and its .idx the sorted ids, CRC32s and
// offsets. A loose object, zlib("<type> <size>\x00" + content) at
// objects/xx/yyyy…, is written only as a temporary copy for git to inspect
// before commit (Transaction.PendingPath). Objects are immutable, so
// writing one that already exists loose is a no-op (git's "freshen": its
// mtime is bumped so a concurrent gc does not prune it).
package odb
