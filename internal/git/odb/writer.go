package odb

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

const (
	// compressionLevel matches git's default for loose objects
	// (core.looseCompression, defaulting to core.compression, else 1).
	// Loose objects are short-lived: gc repacks them with deltas, so what
	// a higher level saves is not worth its CPU time. BenchmarkCompression
	// on Go source: zlib's default level is 1.7x slower on 1 KiB for 1.5%
	// smaller output, and 4x slower on 10 MiB for 21% smaller output.
	compressionLevel = zlib.BestSpeed

	// maxOpenTemps bounds the temp files a Transaction keeps open until
	// Commit; beyond it, objects are synced and closed as they are written,
	// so a commit of thousands of files can't exhaust file descriptors.
	maxOpenTemps = 64

	// syncParallelism bounds concurrent fsyncs in Commit. Issued together,
	// fsyncs can share the filesystem's journal commits and device flushes.
	syncParallelism = 16
)

var errDone = errors.New("object transaction already committed or aborted")

// zlibWriters recycles compressors: each holds several hundred KiB of
// state, which would otherwise be allocated and zeroed per object.
var zlibWriters = sync.Pool{New: func() any {
	zw, err := zlib.NewWriterLevel(nil, compressionLevel)
	if err != nil {
		panic(err) // only for an invalid level constant
	}
	return zw
}}

// Writer writes objects into one repository's object database as loose
// objects, as git does: same paths, same temp-file names, read-only files;
// a Transaction with many objects puts all but its first packThreshold
// into one pack.
//
// A Writer holds no files and no goroutines. It is safe for concurrent use;
// independent Transactions may run at the same time on one repository, also
// alongside git processes writing to it.
//
// It only looks for existing objects among loose objects: an object that is
// already packed is written again as a loose duplicate, which is harmless
// (gc's prune-packed removes it).
type Writer struct {
	objectsDir string
}

// NewWriter returns a Writer for the repository at gitDir (the bare
// repository or .git directory). No I/O happens until Begin.
func NewWriter(gitDir string) *Writer {
	return &Writer{objectsDir: filepath.Join(gitDir, "objects")}
}

// Begin starts a transaction. It fails if the repository has no objects
// directory.
func (w *Writer) Begin() (*Transaction, error) {
	fi, err := os.Stat(w.objectsDir)
	if err != nil {
		return nil, fmt.Errorf("begin object transaction: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("begin object transaction: %s is not a directory", w.objectsDir)
	}
	return &Transaction{w: w}, nil
}

// Transaction groups the objects of one logical write, such as the blobs,
// trees and commit of one API commit.
//
// WriteObject and BlobWriter.Close write each new object to a temporary file
// next to its final path (objects/xx/tmp_obj_*, git's name, so git prune
// removes it if the process dies). Until Commit, objects are neither visible
// nor durable. Commit fsyncs every temp file, links each to objects/xx/yyyy,
// then fsyncs the fan-out directories and objects/: when it returns nil,
// every id the transaction returned names a complete object that survives a
// crash. At no point is a partial object visible at its final path.
//
// Past packThreshold objects, creating a file per object costs more than
// writing it, so the rest go into one pack, objects/pack/tmp_pack_* (git's
// temp name too), undeltified. Commit completes it, writes its .idx,
// makes both durable with the loose objects and then publishes them as
// pack-<checksum>.pack and, last, .idx: git ignores a pack until its index
// exists. Packed objects are only looked for among loose objects, like
// the rest; Stats counts them as added even if a concurrent writer stored
// the same object meanwhile.
//
// Objects that already exist are not rewritten; their mtime is bumped so a
// concurrent gc keeps them, and Commit fsyncs them too, since the writer
// that created them may not have finished making them durable.
//
// Call Commit or Abort exactly once; after either, further writes fail and
// Abort is a no-op, so `defer tx.Abort()` is the usual pattern. If Commit
// fails, objects it already linked stay (they are valid, merely
// unreferenced) and the rest are removed.
//
// A Transaction, including its BlobWriters, is not safe for concurrent use.
type Transaction struct {
	w       *Writer
	pending []pendingObject
	present []git.ObjectID            // existed already; synced at Commit
	seen    map[git.ObjectID]struct{} // handled by this transaction
	blobs   map[*BlobWriter]struct{}  // open BlobWriters, aborted by Commit/Abort
	open    int                       // pending objects with an open file
	// unsynced: some pending objects were closed without an fsync; Commit
	// flushes them with one syncfs.
	unsynced bool
	buf      *bufio.Writer
	done     bool
	// pack holds the objects written after the first packThreshold; nil
	// until then.
	pack *packFile
	// copies are loose copies of packed objects made by PendingPath.
	copies map[git.ObjectID]string

	objects, blobCount int
	bytes              int64
}

// pendingObject is a new object waiting in its temp file.
type pendingObject struct {
	oid  git.ObjectID
	tmp  string   // "" once linked or removed
	f    *os.File // nil once synced and closed
	blob bool
	size int64 // compressed
}

// WriteObject stores data as an object of type typ and returns its id. It
// is meant for content already in memory: trees, commits, tags and small
// blobs; stream large blobs through NewBlob. data is stored as given: use
// EncodeTree, EncodeCommit and EncodeTag to build valid content.
func (t *Transaction) WriteObject(typ git.ObjectType, data []byte) (git.ObjectID, error) {
	if t.done {
		return "", errDone
	}
	if !validType(typ) {
		return "", fmt.Errorf("%w: object type %s", ErrInvalidObject, quoteTrunc(string(typ)))
	}
	oid := HashObject(typ, data)
	if err := t.add(typ, oid, int64(len(data)), bytes.NewReader(data)); err != nil {
		return "", err
	}
	return oid, nil
}

// Stats reports what the transaction adds to the object database: new
// objects, how many of them are blobs, and their compressed size. Objects
// that already existed are not counted; after Commit, neither are objects a
// concurrent writer installed first.
func (t *Transaction) Stats() (objects int, blobs int, bytes int64) {
	return t.objects, t.blobCount, t.bytes
}

// add stores an object whose id is already known, reading its size bytes
// of content from src.
func (t *Transaction) add(typ git.ObjectType, oid git.ObjectID, size int64, src io.Reader) error {
	if _, ok := t.seen[oid]; ok {
		return nil
	}
	if t.seen == nil {
		t.seen = make(map[git.ObjectID]struct{})
	}
	if freshen(t.w.objectPath(oid)) {
		t.seen[oid] = struct{}{}
		t.present = append(t.present, oid)
		return nil
	}
	if t.pack == nil && len(t.pending) >= packThreshold {
		p, err := newPackFile(t.w.objectsDir)
		if err != nil {
			return fmt.Errorf("write object %s: start pack: %w", oid, err)
		}
		t.pack = p
	}
	if t.pack != nil {
		n, err := t.pack.add(typ, oid, size, src)
		if err != nil {
			return fmt.Errorf("write object %s: %w", oid, err)
		}
		t.seen[oid] = struct{}{}
		t.count(typ == git.BlobObject, n, 1)
		return nil
	}
	f, tmp, err := t.w.createTemp(oid)
	if err != nil {
		return fmt.Errorf("write object %s: %w", oid, err)
	}
	n, err := t.compress(f, typ, size, src)
	if err == nil && t.open >= maxOpenTemps {
		// Too many to keep open. With syncfs the file is made durable by
		// Commit's one flush of the whole filesystem; without, now.
		if haveSyncFS {
			err = f.Close()
			t.unsynced = true
		} else {
			err = syncClose(f)
		}
		f = nil
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		os.Remove(tmp)
		return fmt.Errorf("write object %s: %w", oid, err)
	}
	if f != nil {
		t.open++
	}
	t.pending = append(t.pending, pendingObject{oid: oid, tmp: tmp, f: f, blob: typ == git.BlobObject, size: n})
	t.seen[oid] = struct{}{}
	t.count(typ == git.BlobObject, n, 1)
	return nil
}

// PendingPath is the temporary file (a complete loose object, not yet
// durable) that holds oid, an object this transaction wrote and has not
// committed; "" if there is none. It lets git look at an object before it
// becomes visible (a hard link into a scratch object directory).
//
// An object in the transaction's pack is first copied out to a loose temp
// file (objects/xx/tmp_obj_*), removed by Commit or Abort; if that fails,
// PendingPath returns "", and git will not find the object.
func (t *Transaction) PendingPath(oid git.ObjectID) string {
	if t.done {
		return ""
	}
	for _, p := range t.pending {
		if p.oid == oid {
			return p.tmp
		}
	}
	if t.pack == nil {
		return ""
	}
	if path, ok := t.copies[oid]; ok {
		return path
	}
	e, ok := t.pack.lookup(oid)
	if !ok {
		return ""
	}
	path, err := t.looseCopy(e)
	if err != nil {
		return ""
	}
	if t.copies == nil {
		t.copies = make(map[git.ObjectID]string)
	}
	t.copies[oid] = path
	return path
}

// looseCopy writes the packed object e to a loose temp file.
func (t *Transaction) looseCopy(e packEntry) (string, error) {
	r, size, err := t.pack.open(e)
	if err != nil {
		return "", err
	}
	defer r.Close()
	f, tmp, err := t.w.createTemp(e.oid)
	if err != nil {
		return "", err
	}
	_, err = t.compress(f, e.typ, size, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

func (t *Transaction) count(blob bool, n int64, sign int) {
	t.objects += sign
	t.bytes += int64(sign) * n
	if blob {
		t.blobCount += sign
	}
}

// compress writes zlib(header + content) to f and returns the bytes written.
func (t *Transaction) compress(f *os.File, typ git.ObjectType, size int64, src io.Reader) (int64, error) {
	cw := &countingWriter{w: f}
	if t.buf == nil {
		t.buf = bufio.NewWriterSize(cw, 32<<10)
	} else {
		t.buf.Reset(cw)
	}
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(t.buf)

	var hdr [32]byte
	if _, err := zw.Write(appendHeader(hdr[:0], typ, size)); err != nil {
		return 0, err
	}
	n, err := io.Copy(zw, src)
	if err != nil {
		return 0, err
	}
	if n != size {
		return 0, fmt.Errorf("content is %d bytes, header says %d", n, size)
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := t.buf.Flush(); err != nil {
		return 0, err
	}
	t.buf.Reset(nil) // drop the file reference until the next object
	return cw.n, nil
}

// Commit makes the transaction's objects durable and visible; see
// Transaction for the protocol. Objects are published in the order they
// were written, but callers must not rely on that: nothing refers to them
// until a ref is updated after Commit returns.
func (t *Transaction) Commit() error {
	if t.done {
		return errDone
	}
	t.done = true
	t.abortBlobs()
	t.removeCopies()
	if t.pack != nil && len(t.pack.entries) == 0 {
		t.pack.remove()
		t.pack = nil
	}
	if len(t.pending) == 0 && len(t.present) == 0 && t.pack == nil {
		return nil
	}
	if t.pack != nil {
		if err := t.pack.finish(); err != nil {
			t.removeTemps()
			return fmt.Errorf("commit objects: finish pack: %w", err)
		}
	}

	// 1. Contents first: once a name is visible, its data must be on disk.
	// A large transaction is flushed with one syncfs(2) rather than an
	// fsync per object: 10,000 small files took 10,000 serial fsyncs.
	var files []**os.File
	for i := range t.pending {
		if t.pending[i].f != nil {
			files = append(files, &t.pending[i].f)
		}
	}
	if t.pack != nil {
		files = append(files, t.pack.files()...)
	}
	bulk := t.unsynced
	err := parallel(len(files), func(i int) error {
		f := *files[i]
		*files[i] = nil
		if bulk {
			return f.Close()
		}
		return syncClose(f)
	})
	if err == nil && bulk {
		err = syncFS(t.w.objectsDir)
	}
	t.open = 0
	if err != nil {
		t.removeTemps()
		return fmt.Errorf("commit objects: %w", err)
	}

	// 2. Publish. link fails with EEXIST instead of replacing, which is how
	// git finalizes objects too: a concurrent writer's identical object
	// stays as it is.
	var fanout [256]bool
	for i := range t.pending {
		p := &t.pending[i]
		final := t.w.objectPath(p.oid)
		switch err := os.Link(p.tmp, final); {
		case err == nil:
		case errors.Is(err, fs.ErrExist):
			t.count(p.blob, p.size, -1)
			t.present = append(t.present, p.oid)
		default:
			// Filesystems without hard links: rename, as git falls back to.
			if err := os.Rename(p.tmp, final); err != nil {
				t.removeTemps()
				return fmt.Errorf("commit objects: publish %s: %w", p.oid, err)
			}
			p.tmp = ""
		}
		if p.tmp != "" {
			// A leftover tmp_obj_* is harmless and pruned by git gc.
			_ = os.Remove(p.tmp)
			p.tmp = ""
		}
		fanout[fanoutIndex(p.oid)] = true
	}
	if t.pack != nil {
		if err := t.pack.publish(); err != nil {
			t.removeTemps()
			return fmt.Errorf("commit objects: publish pack: %w", err)
		}
	}

	// 3. Names: a file's fsync need not persist its directory entry (and on
	// ext4 without a journal it doesn't). objects/ is always synced: a
	// fan-out directory another writer just created may not be durable
	// yet, and ours live in it.
	paths := []string{t.w.objectsDir}
	if t.pack != nil {
		paths = append(paths, t.pack.dir)
	}
	for _, oid := range t.present {
		fanout[fanoutIndex(oid)] = true
		paths = append(paths, t.w.objectPath(oid))
	}
	for i, used := range fanout {
		if used {
			paths = append(paths, filepath.Join(t.w.objectsDir, hex.EncodeToString([]byte{byte(i)})))
		}
	}
	if bulk && len(paths) > syncParallelism {
		// As many directories as objects directories: one flush for all.
		if err := syncFS(t.w.objectsDir); err != nil {
			return fmt.Errorf("commit objects: %w", err)
		}
		return nil
	}
	err = parallel(len(paths), func(i int) error {
		// A concurrent repack's prune-packed removes loose objects that are
		// already in a (durable) pack and then their emptied fan-out
		// directories: what vanished is safe elsewhere.
		if err := syncPath(paths[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit objects: %w", err)
	}
	return nil
}

// Abort discards the objects not yet committed and removes their temp
// files. It is a no-op after Commit or Abort.
func (t *Transaction) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.abortBlobs()
	t.removeCopies()
	t.removeTemps()
}

func (t *Transaction) removeCopies() {
	for _, path := range t.copies {
		os.Remove(path)
	}
	t.copies = nil
}

func (t *Transaction) abortBlobs() {
	for b := range t.blobs {
		b.Abort()
	}
}

func (t *Transaction) removeTemps() {
	for i := range t.pending {
		p := &t.pending[i]
		if p.f != nil {
			p.f.Close()
			p.f = nil
		}
		if p.tmp != "" {
			os.Remove(p.tmp)
			p.tmp = ""
			t.count(p.blob, p.size, -1)
		}
	}
	t.open = 0
	if t.pack != nil && !t.pack.published {
		for _, e := range t.pack.entries {
			t.count(e.typ == git.BlobObject, e.size, -1)
		}
	}
	if t.pack != nil {
		t.pack.remove()
	}
}

// objectPath is objects/xx/yyyy… for oid.
func (w *Writer) objectPath(oid git.ObjectID) string {
	return filepath.Join(w.objectsDir, string(oid[:2]), string(oid[2:]))
}

func fanoutIndex(oid git.ObjectID) int {
	b, _ := strconv.ParseUint(string(oid[:2]), 16, 8)
	return int(b)
}

// createTemp creates objects/xx/tmp_obj_* for oid, creating the fan-out
// directory if needed. Mode 0444 and the name prefix are git's: git prune
// deletes stale tmp_obj_* files in fan-out directories.
func (w *Writer) createTemp(oid git.ObjectID) (*os.File, string, error) {
	dir := filepath.Join(w.objectsDir, string(oid[:2]))
	// Retried: git prune removes empty fan-out directories, possibly just
	// after we created one.
	for range 10 {
		f, name, err := createUnique(dir, "tmp_obj_", 0o444)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, name, err
		}
		// 0777 like git: the umask (or core.sharedRepository) decides.
		if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("create temp file in %s: directory keeps disappearing", dir)
}

// createUnique creates a new file dir/prefix<random>, opened read-write.
// perm applies to the name only; the returned descriptor is writable even
// when perm is read-only.
func createUnique(dir, prefix string, perm fs.FileMode) (*os.File, string, error) {
	for range 10 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("create temp file in %s: no unused name", dir)
}

// freshen reports whether path exists, bumping its mtime if so: git prune
// spares recent objects, so an object we are about to reference can't be
// pruned as unreachable before our ref update lands (git's
// freshen_loose_object). An object we can't touch counts as missing and is
// written again; link then finds it and keeps the original.
func freshen(path string) bool {
	now := time.Now()
	return os.Chtimes(path, now, now) == nil
}

func syncClose(f *os.File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncPath fsyncs a file or directory by name.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return syncClose(f)
}

// parallel calls fn(0..n-1) on up to syncParallelism goroutines, all joined
// before it returns, and returns the errors.
func parallel(n int, fn func(i int) error) error {
	if n <= 1 {
		if n == 1 {
			return fn(0)
		}
		return nil
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	for range min(n, syncParallelism) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// hashStream returns the id of size bytes of content read from r.
func hashStream(typ git.ObjectType, size int64, r io.Reader) (git.ObjectID, error) {
	h := sha1.New()
	var hdr [32]byte
	h.Write(appendHeader(hdr[:0], typ, size))
	n, err := io.Copy(h, r)
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("content is %d bytes, expected %d", n, size)
	}
	return sumID(h.Sum(hdr[:0])), nil
}
