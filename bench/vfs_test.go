package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/vfs"
)

// The embedded library (docs/vfs.md) against plain git doing the same job
// in the same run: a small write and a 4 KiB read on a ≥100k-object
// repository, copying and re-syncing 10,000 small files, and a path's
// history.

// newVFSFixture is a bare repository of commits×files files (fillRepo),
// with no server, opened by the library.
func newVFSFixture(b *testing.B, commits, files int) (*vfs.Store, string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "big.git")
	gitRun(b, "", nil, nil, "init", "-q", "--bare", "-b", "main", dir)
	fillRepo(b, dir, commits, files)
	store, err := vfs.Open(dir, vfs.Options{NoCreate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return store, dir
}

// BenchmarkVFSWrite: one 1 KiB file written through the library (blob,
// trees, commit and ref durable, reflog written) vs the same commit by git
// plumbing, one process per step.
func BenchmarkVFSWrite(b *testing.B) {
	store, dir := newVFSFixture(b, benchCommits(4000), 25)
	b.Logf("repository: %s", strings.ReplaceAll(gitCmd(b, dir, nil, "count-objects", "-v"), "\n", ", "))
	content := bytes.Repeat([]byte("v"), 1000)
	b.Run("vfs", func(b *testing.B) {
		snap, err := store.Branches().Get("main")
		if err != nil {
			b.Fatal(err)
		}
		var lat latencies
		b.ResetTimer()
		for range b.N {
			i := seq.Add(1)
			start := time.Now()
			snap, err = snap.Write(fmt.Sprintf("bench/vfs/%d.txt", i), append(content[:1000:1000], fmt.Sprint(i)...), vfs.WriteOptions{})
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		lat.report(b)
	})
	b.Run("git-plumbing", func(b *testing.B) { benchCommitPackPlumbing(b, &fixture{dir: dir}) })
}

// BenchmarkVFSRead: a 4 KiB file read through the library vs a long-lived
// `git cat-file --batch` answering the same blob.
func BenchmarkVFSRead(b *testing.B) {
	store, dir := newVFSFixture(b, 200, 20)
	main, err := store.Branches().Get("main")
	if err != nil {
		b.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789abcdef"), 256)
	snap, err := main.Write(readPath, content, vfs.WriteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("vfs", func(b *testing.B) {
		var lat latencies
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			data, err := snap.Read(readPath)
			if err != nil || len(data) != 4096 {
				b.Fatalf("%d bytes, %v", len(data), err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		lat.report(b)
	})
	// A different 1 KiB file each time: nothing in the library's caches
	// but the trees on its path, so every read is a cat-file round trip.
	b.Run("vfs-uncached", func(b *testing.B) {
		var lat latencies
		b.ResetTimer()
		for n := range b.N {
			c, i := 1+n%200, (n/200)%20
			p := fmt.Sprintf("d%03d/e%02d/f%d_%d.txt", (c*7+i)%500, i%37, c, i)
			start := time.Now()
			if _, err := snap.Read(p); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		lat.report(b)
	})
	b.Run("cat-file-batch", func(b *testing.B) { benchReadCatFile(b, &fixture{dir: dir}) })
}

// smallTree writes n small files under dir, 100 per directory.
func smallTree(b *testing.B, dir string, n int) {
	b.Helper()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.txt", i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d\n", i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVFSCopyAndSync: 10,000 small files copied into a fresh
// repository in one commit (CopyIn) vs `git add -A && git commit` in a
// work tree; then a sync of the unchanged tree (SyncIn, mtime and checksum
// modes) vs `git add -A` + `git status` finding nothing to commit. Each
// run is once per b.N loop with fresh repositories.
func BenchmarkVFSCopyAndSync(b *testing.B) {
	n := envInt("STRATA_BENCH_VFS_FILES", 10000)
	src := b.TempDir()
	smallTree(b, src, n)
	b.Run("vfs-copy", func(b *testing.B) {
		var copyLat, syncMtime, syncSum latencies
		for range b.N {
			store, err := vfs.Open(filepath.Join(b.TempDir(), "r.git"), vfs.Options{})
			if err != nil {
				b.Fatal(err)
			}
			snap, err := store.Branches().Get("main")
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			snap, err = snap.CopyIn([]string{src + "/"}, "", vfs.CopyInOptions{})
			if err != nil {
				b.Fatal(err)
			}
			copyLat = append(copyLat, time.Since(start))
			start = time.Now()
			after, err := snap.SyncIn(src, "", vfs.SyncOptions{Mtime: true})
			if err != nil || after.Hash() != snap.Hash() {
				b.Fatalf("sync of an unchanged tree: %v (commit %s → %s)", err, snap.Hash(), after.Hash())
			}
			syncMtime = append(syncMtime, time.Since(start))
			start = time.Now()
			if _, err := snap.SyncIn(src, "", vfs.SyncOptions{}); err != nil {
				b.Fatal(err)
			}
			syncSum = append(syncSum, time.Since(start))
			store.Close()
		}
		b.ReportMetric(float64(copyLat.pct(0.5).Milliseconds()), "copy-ms")
		b.ReportMetric(float64(syncMtime.pct(0.5).Milliseconds()), "sync-mtime-ms")
		b.ReportMetric(float64(syncSum.pct(0.5).Milliseconds()), "sync-checksum-ms")
	})
	b.Run("git-worktree", func(b *testing.B) {
		var copyLat, syncLat latencies
		for range b.N {
			work := b.TempDir()
			gitRun(b, work, nil, nil, "init", "-q", "-b", "main")
			gitRun(b, work, nil, nil, "commit", "-q", "--allow-empty", "-m", "init")
			if err := exec.Command("cp", "-a", src+"/.", work).Run(); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			gitRun(b, work, nil, nil, "add", "-A")
			gitRun(b, work, nil, nil, "commit", "-q", "-m", "copy")
			copyLat = append(copyLat, time.Since(start))
			start = time.Now()
			gitRun(b, work, nil, nil, "add", "-A")
			if out := gitRun(b, work, nil, nil, "status", "--porcelain"); out != "" {
				b.Fatalf("unchanged tree has changes: %s", out)
			}
			syncLat = append(syncLat, time.Since(start))
		}
		b.ReportMetric(float64(copyLat.pct(0.5).Milliseconds()), "copy-ms")
		b.ReportMetric(float64(syncLat.pct(0.5).Milliseconds()), "sync-ms")
	})
}

// BenchmarkVFSLog: a path's whole history through the library (Log with a
// path filter) vs `git log --format=%H -- path`.
func BenchmarkVFSLog(b *testing.B) {
	store, dir := newVFSFixture(b, benchCommits(4000), 25)
	main, err := store.Branches().Get("main")
	if err != nil {
		b.Fatal(err)
	}
	const path = "d003"
	want := strings.Count(gitCmd(b, dir, nil, "log", "--format=%H", "refs/heads/main", "--", path), "\n") + 1
	b.Run("vfs", func(b *testing.B) {
		var lat latencies
		for range b.N {
			start := time.Now()
			n := 0
			for _, err := range main.Log(vfs.LogOptions{Path: path}) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			lat = append(lat, time.Since(start))
			if n != want {
				b.Fatalf("%d commits, git log says %d", n, want)
			}
		}
		lat.report(b)
	})
	b.Run("git-log", func(b *testing.B) {
		var lat latencies
		for range b.N {
			start := time.Now()
			out := gitCmd(b, dir, nil, "log", "--format=%H", "refs/heads/main", "--", path)
			lat = append(lat, time.Since(start))
			if n := strings.Count(out, "\n") + 1; n != want {
				b.Fatalf("%d commits, want %d", n, want)
			}
		}
		lat.report(b)
	})
}
