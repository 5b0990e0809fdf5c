// Package odb writes git objects in-process: it hashes, compresses and
// durably stores loose objects (objects/xx/yyyy…) in a repository's object
// database, or a pack for a transaction of many objects, and encodes the object formats Strata builds itself (trees,
// commits, tags).
//
// It exists because writing a commit's objects here costs a few fsyncs,
// while running the git plumbing for the same work (hash-object, mktree,
// commit-tree) costs a process each. Reads stay with git (see catfile);
// refs are updated by the refs package after a Transaction has committed.
//
// Loose object format: zlib("<type> <size>\x00" + content), stored under the
// hex SHA-1 of the uncompressed bytes. A pack (gitformat-pack(5)) holds
// undeltified entries, each a type and size header and zlib(content), and
// its .idx the sorted ids, CRC32s and offsets. Objects are immutable, so writing one
// that already exists is a no-op (git's "freshen": its mtime is bumped so a
// concurrent gc does not prune it).
package odb
