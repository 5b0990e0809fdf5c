package odb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/strata-storage/strata/internal/git"
)

// spoolMemory is how much of a streamed blob is kept in memory before it
// spills to a spool file.
const spoolMemory = 1 << 20

var errBlobDone = errors.New("blob writer already closed or aborted")

// BlobWriter streams one blob of unknown size into its Transaction. Write
// content, then Close to get the blob's id, or Abort to drop it.
//
// The object header (loose or packed) and the id both need the size before
// the content, so the content is spooled: the first 1 MiB in memory, the
// rest in an unlinked file in the repository's objects directory. Close
// then streams the spool twice, once through SHA-1 and, if the blob is
// new, once through zlib into the transaction's temp file or pack. Memory
// use is bounded whatever the blob's size.
//
// A BlobWriter belongs to its Transaction and shares its rules: not safe
// for concurrent use, and one still open when the transaction commits or
// aborts is aborted (it never produced an id, so nothing can refer to it).
type BlobWriter struct {
	t     *Transaction
	mem   []byte
	spool *os.File
	bw    *bufio.Writer
	size  int64
	max   int64 // 0: no cap
	err   error // sticky write error
	done  bool
}

// NewBlob starts a streamed blob. On a finished transaction the returned
// writer fails every call.
func (t *Transaction) NewBlob() *BlobWriter {
	b := &BlobWriter{t: t}
	if t.done {
		b.err = errDone
		return b
	}
	if t.blobs == nil {
		t.blobs = make(map[*BlobWriter]struct{})
	}
	t.blobs[b] = struct{}{}
	return b
}

// Limit caps the blob at max bytes (0: no cap): a Write past it fails
// with a *BlobTooLargeError, counted as the bytes stream in.
func (b *BlobWriter) Limit(max int64) *BlobWriter {
	b.max = max
	return b
}

// BlobTooLargeError is a streamed blob that grew past its Limit.
type BlobTooLargeError struct{ Max int64 }

func (e *BlobTooLargeError) Error() string {
	return fmt.Sprintf("blob exceeds the maximum size of %d bytes", e.Max)
}

// Write appends p to the blob.
func (b *BlobWriter) Write(p []byte) (int, error) {
	if b.done {
		return 0, errBlobDone
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.max > 0 && b.size+int64(len(p)) > b.max {
		b.err = &BlobTooLargeError{Max: b.max}
		return 0, b.err
	}
	if need := len(b.mem) + len(p); b.spool == nil && need <= spoolMemory {
		if need > cap(b.mem) {
			// Double up to the limit: append's 1.25x growth for large
			// slices would allocate ~4 MiB in steps to reach 1 MiB.
			grown := make([]byte, len(b.mem), min(max(need, 2*cap(b.mem), 4096), spoolMemory))
			copy(grown, b.mem)
			b.mem = grown
		}
		b.mem = append(b.mem, p...)
		b.size += int64(len(p))
		return len(p), nil
	}
	if b.spool == nil {
		if b.err = b.spill(); b.err != nil {
			return 0, b.err
		}
	}
	n, err := b.bw.Write(p)
	b.size += int64(n)
	if err != nil {
		b.err = fmt.Errorf("spool blob: %w", err)
		return n, b.err
	}
	return n, nil
}

// spill moves the in-memory prefix to a new spool file.
func (b *BlobWriter) spill() error {
	// In objects/, not os.TempDir(): the spool is as big as the blob, so it
	// belongs on the repository's volume, not a tmpfs /tmp that is RAM.
	f, name, err := createUnique(b.t.w.objectsDir, "tmp_spool_", 0o600)
	if err != nil {
		return fmt.Errorf("spool blob: %w", err)
	}
	// Unlinked at once: only the descriptor is needed, so neither a crash
	// nor a forgotten Abort can leave the spool behind.
	if err := os.Remove(name); err != nil {
		f.Close()
		return fmt.Errorf("spool blob: %w", err)
	}
	b.spool = f
	b.bw = bufio.NewWriterSize(f, 64<<10)
	if _, err := b.bw.Write(b.mem); err != nil {
		return fmt.Errorf("spool blob: %w", err)
	}
	b.mem = nil
	return nil
}

// Close ends the blob, writes it into the transaction (unless it already
// exists) and returns its id. The blob becomes durable and visible with the
// transaction's Commit.
func (b *BlobWriter) Close() (git.ObjectID, error) {
	if b.done {
		return "", errBlobDone
	}
	defer b.release()
	if b.err != nil {
		return "", b.err
	}
	if b.spool == nil {
		return b.t.WriteObject(git.BlobObject, b.mem)
	}
	if b.t.done {
		return "", errDone
	}
	if err := b.bw.Flush(); err != nil {
		return "", fmt.Errorf("spool blob: %w", err)
	}
	oid, err := b.hashSpool()
	if err != nil {
		return "", err
	}
	if _, err := b.spool.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("rewind blob spool: %w", err)
	}
	if err := b.t.add(git.BlobObject, oid, b.size, b.spool); err != nil {
		return "", err
	}
	return oid, nil
}

func (b *BlobWriter) hashSpool() (git.ObjectID, error) {
	if _, err := b.spool.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("rewind blob spool: %w", err)
	}
	oid, err := hashStream(git.BlobObject, b.size, b.spool)
	if err != nil {
		return "", fmt.Errorf("hash blob spool: %w", err)
	}
	return oid, nil
}

// Abort drops the blob. It is a no-op after Close or Abort.
func (b *BlobWriter) Abort() {
	if !b.done {
		b.release()
	}
}

func (b *BlobWriter) release() {
	b.done = true
	b.mem = nil
	b.bw = nil
	if b.spool != nil {
		b.spool.Close()
		b.spool = nil
	}
	delete(b.t.blobs, b)
}
