package odb

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/zlib"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
)

const (
	// compressionLevel is git's default for loose objects
	// (core.looseCompression, defaulting to core.compression, else 1),
	// used for the transaction's pack too: its objects are short-lived
	// there, as maintenance repacks them with deltas, so what a higher
	// level saves is not worth its CPU time. BenchmarkCompression on Go
	// source: zlib's default level is 1.7x slower on 1 KiB for 1.5%
	// smaller output, and 4x slower on 10 MiB for 21% smaller output.
	compressionLevel = zlib.BestSpeed

	// maxPresentSyncs is how many already-present objects Commit fsyncs
	// one by one; past it, one syncfs(2) flushes them all (a transaction
	// that rewrites thousands of existing loose files).
	maxPresentSyncs = 64
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

// Writer writes objects into one repository's object database: the new
// objects of a Transaction go into one pack (objects/pack/pack-*.pack and
// its .idx), published when the transaction commits.
//
// A Writer holds no files and no goroutines. It is safe for concurrent use;
// independent Transactions may run at the same time on one repository, also
// alongside git processes writing to it.
//
// It only looks for existing objects among loose objects: an object that is
// already packed is written again into the transaction's pack, which is
// harmless (the next repack keeps one copy).
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
// WriteObject and BlobWriter.Close append each new object, undeltified, to
// one pack, objects/pack/tmp_pack_* (git's temp name, so git prune and
// maintenance remove it if the process dies). Until Commit, objects are
// neither visible nor durable. Commit completes the pack (object count,
// checksum), writes its index to tmp_idx_* (byte for byte what git
// index-pack writes), fsyncs both (and objects/), renames them to
// pack-<checksum>.pack and then, last, .idx (git uses a pack only once its
// index exists, by which time the pack is whole), and fsyncs objects/pack:
// when it returns nil, every id the transaction returned names a complete
// object that survives a crash. At no point is a partial pack visible to
// git.
//
// One pack per transaction, however small: creating and syncing a file
// costs far more than appending an entry, and an API commit's 5-7 loose
// objects took three times as long as its pack and index
// (docs/benchmarks.md, finding 5). Maintenance folds the small packs
// together (docs/maintenance.md).
//
// Objects that already exist as loose objects are not rewritten; their
// mtime is bumped so a concurrent gc keeps them, and Commit fsyncs them
// too, since the writer that created them may not have finished making
// them durable. Stats counts packed objects as added even if a concurrent
// writer stored the same object meanwhile.
//
// Call Commit or Abort exactly once; after either, further writes fail and
// Abort is a no-op, so `defer tx.Abort()` is the usual pattern. If Commit
// fails, the pack is removed unless it was already published (it is valid,
// merely unreferenced).
//
// A Transaction, including its BlobWriters, is not safe for concurrent use.
type Transaction struct {
	w       *Writer
	present []git.ObjectID            // existed already; synced at Commit
	seen    map[git.ObjectID]struct{} // handled by this transaction
	blobs   map[*BlobWriter]struct{}  // open BlobWriters, aborted by Commit/Abort
	buf     *bufio.Writer
	done    bool
	// pack holds the new objects; nil until the first one.
	pack *packFile
	// copies are loose copies of packed objects made by PendingPath.
	copies map[git.ObjectID]string

	objects, blobCount int
	bytes              int64
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
// that already existed as loose objects are not counted.
func (t *Transaction) Stats() (objects int, blobs int, bytes int64) {
	return t.objects, t.blobCount, t.bytes
}

// Holds reports whether the transaction's pack holds oid: the
// transaction wrote it, rather than finding it already stored loose.
func (t *Transaction) Holds(oid git.ObjectID) bool {
	if _, ok := t.seen[oid]; !ok {
		return false
	}
	return !slices.Contains(t.present, oid)
}

// Reused reports whether an object the transaction was given existed
// already as a loose object, and so is not in its pack.
func (t *Transaction) Reused() bool { return len(t.present) > 0 }

// Pack is the path of the pack the transaction published, once Commit has
// succeeded; "" if it wrote no object.
func (t *Transaction) Pack() string {
	if t.pack == nil || !t.pack.published {
		return ""
	}
	return filepath.Join(t.pack.dir, "pack-"+hex.EncodeToString(t.pack.sum)+".pack")
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
	if t.pack == nil {
		p, err := newPackFile(t.w.objectsDir)
		if err != nil {
			return fmt.Errorf("write object %s: start pack: %w", oid, err)
		}
		t.pack = p
	}
	n, err := t.pack.add(typ, oid, size, src)
	if err != nil {
		return fmt.Errorf("write object %s: %w", oid, err)
	}
	t.seen[oid] = struct{}{}
	t.count(typ == git.BlobObject, n, 1)
	return nil
}

// PendingPath is a temporary loose copy (a complete loose object, not yet
// durable) of oid, an object this transaction wrote and has not
// committed; "" if there is none. It lets git look at an object before it
// becomes visible (a hard link into a scratch object directory).
//
// The copy, objects/xx/tmp_obj_*, is made on the first call and removed by
// Commit or Abort; if making it fails, PendingPath returns "", and git
// will not find the object.
func (t *Transaction) PendingPath(oid git.ObjectID) string {
	if t.done || t.pack == nil {
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
// Transaction for the protocol. Nothing refers to them until a ref is
// updated after Commit returns.
func (t *Transaction) Commit() error {
	wait, err := t.CommitVisible()
	if err != nil {
		return err
	}
	return wait()
}

// CommitVisible is Commit up to its last step: when it returns, the
// objects are complete and visible to git, and the sync that makes their
// names durable is under way. wait waits for it; nothing may refer to
// the objects until it has returned nil. This lets a caller overlap that
// sync with work that must precede the reference, such as git locking
// and preparing the ref (refs.Updater.ApplyWhen).
func (t *Transaction) CommitVisible() (wait func() error, err error) {
	if t.done {
		return nil, errDone
	}
	t.done = true
	t.abortBlobs()
	t.removeCopies()
	if t.pack != nil && len(t.pack.entries) == 0 {
		t.pack.remove()
		t.pack = nil
	}
	if t.pack == nil && len(t.present) == 0 {
		return noWait, nil
	}
	if t.pack != nil {
		if err := t.pack.finish(); err != nil {
			t.discard()
			return nil, fmt.Errorf("commit objects: finish pack: %w", err)
		}
	}

	// 1. Contents first: once a name is visible, its data must be on disk.
	// A file's fsync need not persist its directory entry (on ext4 without
	// a journal it doesn't), so the directories holding our names are
	// synced too. Those whose entries exist already are synced now,
	// alongside the data: objects/ (its entry for objects/pack, made by
	// git init or newPackFile) and, for objects that were already there,
	// the objects themselves and their fan-out directories, which another
	// writer may just have created.
	var files []**os.File
	paths := []string{t.w.objectsDir}
	if t.pack != nil {
		files = t.pack.files()
	}
	bulk := len(t.present) > maxPresentSyncs && haveSyncFS
	if !bulk {
		var fanout [256]bool
		for _, oid := range t.present {
			paths = append(paths, t.w.objectPath(oid))
			if i := fanoutIndex(oid); !fanout[i] {
				fanout[i] = true
				paths = append(paths, filepath.Join(t.w.objectsDir, string(oid[:2])))
			}
		}
	}
	err = durable.Parallel(len(files)+len(paths), func(i int) error {
		if i < len(files) {
			f := *files[i]
			*files[i] = nil
			return syncClose(f)
		}
		// A concurrent repack's prune-packed removes loose objects that are
		// already in a (durable) pack and then their emptied fan-out
		// directories: what vanished is safe elsewhere.
		if err := durable.SyncFile(paths[i-len(files)]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err == nil && bulk {
		err = syncFS(t.w.objectsDir)
	}
	if err != nil {
		t.discard()
		return nil, fmt.Errorf("commit objects: %w", err)
	}
	if t.pack == nil {
		return noWait, nil
	}

	// 2. Publish: the pack, then its index.
	if err := t.pack.publish(); err != nil {
		t.discard()
		return nil, fmt.Errorf("commit objects: publish pack: %w", err)
	}

	// 3. The new names.
	synced := make(chan error, 1)
	go func() { synced <- durable.SyncDir(t.pack.dir) }()
	return sync.OnceValue(func() error {
		if err := <-synced; err != nil {
			return fmt.Errorf("commit objects: %w", err)
		}
		return nil
	}), nil
}

func noWait() error { return nil }

// Abort discards the objects not yet committed and removes their temp
// files. It is a no-op after Commit or Abort.
func (t *Transaction) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.abortBlobs()
	t.removeCopies()
	t.discard()
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

// discard removes the pack unless it is published, and stops counting
// its objects.
func (t *Transaction) discard() {
	if t.pack == nil || t.pack.published {
		return
	}
	for _, e := range t.pack.entries {
		t.count(e.typ == git.BlobObject, e.size, -1)
	}
	t.pack.remove()
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
