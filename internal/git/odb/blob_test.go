package odb

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// blobContent generates size deterministic bytes into chunks of chunk bytes
// from one reused buffer, so the generator allocates nothing per chunk.
// Half the content is text-like, half random, so compression does real work.
func blobContent(size, chunk int, emit func([]byte) error) error {
	buf := make([]byte, chunk)
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < size; {
		n := min(chunk, size-done)
		for i := range n {
			if (done+i)/4096%2 == 0 {
				buf[i] = "the quick brown fox jumps over the lazy dog\n"[(done+i)%44]
			} else {
				buf[i] = byte(rng.Uint32())
			}
		}
		if err := emit(buf[:n]); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// TestBlobWriter_largeStreamedBoundedMemory is not parallel: it measures the
// process's heap, which other tests would disturb.
func TestBlobWriter_largeStreamedBoundedMemory(t *testing.T) {
	const size = 20 << 20
	gitDir := newRepo(t)

	// The oracle hashes the same bytes from a file.
	file := filepath.Join(t.TempDir(), "blob")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := blobContent(size, 1<<20, func(p []byte) error { _, err := f.Write(p); return err }); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := gitOID(t, gitDir, nil, nil, "hash-object", file)

	for _, chunk := range []int{37, 1 << 20} {
		t.Run(strconv.Itoa(chunk)+"-byte writes", func(t *testing.T) {
			tx := begin(t, gitDir)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base, totalBase := ms.HeapAlloc, ms.TotalAlloc
			var peak uint64
			writes := 0

			bw := tx.NewBlob()
			err := blobContent(size, chunk, func(p []byte) error {
				if _, err := bw.Write(p); err != nil {
					return err
				}
				// Sample the heap every ~2 MiB written (ReadMemStats stops
				// the world, so not on every 37-byte write).
				if writes++; writes%(2<<20/chunk+1) == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := bw.Close()
			if err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			allocated := ms.TotalAlloc - totalBase

			if got != want {
				t.Errorf("streamed blob id = %s, git hash-object = %s", got, want)
			}
			// Spool buffer (1 MiB + append slack), bufio, compressor: a few
			// MiB at most, never the 20 MiB blob.
			const bound = 8 << 20
			if peak > base+bound {
				t.Errorf("heap grew by %d MiB while streaming a %d MiB blob", (peak-base)>>20, size>>20)
			}
			if allocated > bound {
				t.Errorf("allocated %d MiB in total while streaming a %d MiB blob", allocated>>20, size>>20)
			}
			t.Logf("heap growth %d KiB, total allocated %d KiB", (max(peak, base)-base)>>10, allocated>>10)

			mustCommit(t, tx)
			if s := runGit(t, gitDir, nil, nil, "cat-file", "-s", string(got)); strings.TrimSpace(s) != strconv.Itoa(size) {
				t.Errorf("cat-file -s = %s", s)
			}
		})
	}
	// The content itself, not just its size, reads back.
	out := runGit(t, gitDir, nil, nil, "cat-file", "blob", string(want))
	onDisk, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(onDisk) {
		t.Error("cat-file blob differs from the streamed content")
	}
	fsck(t, gitDir)
}

func TestBlobWriter_sizesAroundSpoolThreshold(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	for _, size := range []int{0, 1, 4096, spoolMemory - 1, spoolMemory, spoolMemory + 1, 3*spoolMemory + 17} {
		for _, chunk := range []int{1000, spoolMemory + 5} {
			t.Run(strconv.Itoa(size)+"/"+strconv.Itoa(chunk), func(t *testing.T) {
				var content bytes.Buffer
				blobContent(size, chunk, func(p []byte) error { content.Write(p); return nil })
				want := HashObject(git.BlobObject, content.Bytes())

				tx := begin(t, gitDir)
				bw := tx.NewBlob()
				if _, err := io.CopyBuffer(bw, struct{ io.Reader }{bytes.NewReader(content.Bytes())}, make([]byte, chunk)); err != nil {
					t.Fatal(err)
				}
				got, err := bw.Close()
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("id = %s, want %s", got, want)
				}
				if _, err := bw.Close(); err == nil {
					t.Error("second Close succeeded")
				}
				mustCommit(t, tx)
				if out := runGit(t, gitDir, nil, nil, "cat-file", "blob", string(got)); out != content.String() {
					t.Errorf("cat-file returned %d bytes, want %d", len(out), content.Len())
				}
			})
		}
	}
	if want := gitOID(t, gitDir, nil, nil, "hash-object", "--stdin"); !exists(gitDir, want) {
		t.Errorf("empty blob %s not written", want)
	}
	fsck(t, gitDir)
}

func TestBlobWriter_abortAndUnclosed(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)

	aborted := tx.NewBlob()
	aborted.Write([]byte("aborted\n"))
	aborted.Abort()
	aborted.Abort() // idempotent
	if _, err := aborted.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}

	unclosed := tx.NewBlob()
	unclosed.Write(bytes.Repeat([]byte("unclosed\n"), spoolMemory/4))
	kept := mustWrite(t, tx, git.BlobObject, []byte("kept\n"))
	mustCommit(t, tx)

	if _, err := unclosed.Close(); err == nil {
		t.Error("Close of a blob left open across Commit succeeded")
	}
	if !exists(gitDir, kept) {
		t.Error("committed blob missing")
	}
	for _, content := range []string{"aborted\n", strings.Repeat("unclosed\n", spoolMemory/4)} {
		if exists(gitDir, oidOf(content)) {
			t.Errorf("dropped blob %.10q was written", content)
		}
	}
	if objs, blobs, _ := tx.Stats(); objs != 1 || blobs != 1 {
		t.Errorf("Stats = %d, %d; want 1, 1", objs, blobs)
	}
	if files := objectFiles(t, gitDir); len(files) != 2 || !strings.HasPrefix(files[0], "pack/pack-") || !strings.HasPrefix(files[1], "pack/pack-") {
		t.Errorf("files = %v, want only the kept blob's pack and index", files)
	}
}
