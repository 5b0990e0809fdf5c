// Package vfs is Strata's embedded versioned filesystem: a bare Git
// repository used in-process as a key-value filesystem of immutable
// snapshots, where every write is a commit. It is a Go port of the Python
// library gitstore (v0.57.0), built on Strata's git engine: objects are
// read through long-lived git cat-file processes and written in-process,
// and every ref moves through git-update-ref(1) with a compare-and-swap.
//
// A Store is one repository. Its Branches and Tags give snapshots (*FS);
// a branch snapshot is writable:
//
//	s, _ := vfs.Open("data.git", vfs.Options{})
//	defer s.Close()
//	snap, _ := s.Branches().Get("main")
//	snap, _ = snap.WriteText("hello.txt", "hi\n", vfs.WriteOptions{})
//	text, _ := snap.ReadText("hello.txt")
//
// # Concurrency
//
// A Store is safe for concurrent use by many goroutines, and an FS, being
// immutable, is too. A Batch or an open File belongs to one goroutine.
//
// Every write commits on the snapshot's branch by compare-and-swap: the
// branch moves from the snapshot's commit to the new one inside one git
// update-ref transaction, under git's own ref lock. If anything else moved
// the branch first — another goroutine, another process using this
// package, a Strata server serving the repository, a plain `git push` —
// the write fails with *StaleSnapshotError and nothing is lost; the caller
// takes the branch again and redoes the write (RetryWrite does this for one
// file). Even a write that would change nothing fails when its snapshot is
// stale. Objects are written before the branch moves, so a failed write at
// most leaves unreferenced objects that git gc removes.
//
// Unlike gitstore, no lock file is taken: git's ref lock and the
// compare-and-swap already serialise writers on one machine and across
// anything that updates refs through git. Reads take no lock at all.
//
// # Errors
//
// Path errors are *fs.PathError values matching fs.ErrNotExist,
// ErrIsDir, ErrNotDir, ErrNotSymlink or fs.ErrInvalid with errors.Is;
// missing branches and tags are *RefError values matching fs.ErrNotExist;
// writes to read-only snapshots match fs.ErrPermission. Messages keep
// gitstore's wording where its CLI prints them.
//
// An FS is also an io/fs file system (fs.FS, fs.ReadDirFS, fs.StatFS,
// fs.ReadFileFS), so it works with fs.WalkDir, testing/fstest and
// http.FS.
package vfs
