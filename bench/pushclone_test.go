package bench

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/config"
)

// BenchmarkCloneAfterPush measures the first clones of a repository right
// after a large push, which makes the maintenance worker repack it with a
// bitmap at once (docs/maintenance.md), against `git daemon` serving the
// same data repacked with a bitmap (the reference of issue 11's target).
// The repository is STRATA_BENCH_PUSHCLONE_MB (default 200) MB of random
// blobs of about STRATA_BENCH_PUSHCLONE_BLOB (default 1200) bytes: ~170k
// objects, the shape of issue 11's repository, where counting objects is
// what a bitmap saves (with 256 KiB blobs there are too few objects for a
// bitmap to matter). It is pushed over HTTPS with the server's default
// maintenance options.
//
// Per run, interleaved so that the load of the shared machine hits every
// variant alike:
//
//   - git-daemon-bitmap: `git clone --bare git://…` of the reference
//   - git-daemon-nobitmap: the same pack without its bitmap (what an
//     un-maintained fresh push gives)
//   - fresh/immediate: push into a new, empty Strata repository, then clone
//     at once, racing the repack the push triggered
//   - fresh/after-repack: clone again once that run has finished
//   - onto-bitmap/immediate, onto-bitmap/after-repack: the same when the
//     repository already had the first half of the history, with a bitmap,
//     and the push adds the second half
//
// repack-wait-s is how long after the push answered the triggered run
// had finished (polled after the immediate clone, so never less than it). MB/s is of the reference's pack size. b.N is ignored (-benchtime
// 1x); STRATA_BENCH_PUSHCLONE_RUNS (default 5) runs, medians reported.
func BenchmarkCloneAfterPush(b *testing.B) {
	runs := envInt("STRATA_BENCH_PUSHCLONE_RUNS", 5)
	size := int64(envInt("STRATA_BENCH_PUSHCLONE_MB", 200)) * 1e6
	blob := int64(envInt("STRATA_BENCH_PUSHCLONE_BLOB", 1200))

	work := b.TempDir()
	daemonRoot := filepath.Join(work, "daemon")
	src := filepath.Join(daemonRoot, "bitmap.git")
	gitRun(b, "", nil, nil, "init", "--bare", "--quiet", src)
	start := time.Now()
	pack := writeManyObjects(b, src, size, blob, 7)
	generated := time.Since(start)
	if bm, _ := filepath.Glob(filepath.Join(src, "objects", "pack", "*.bitmap")); len(bm) != 1 {
		b.Fatalf("reference has bitmaps %v, want one", bm)
	}
	tip := gitRun(b, "", nil, nil, "--git-dir", src, "rev-parse", "refs/heads/main")
	commits := strings.TrimSpace(gitRun(b, "", nil, nil, "--git-dir", src, "rev-list", "--count", "refs/heads/main"))
	var n int
	fmt.Sscan(commits, &n)
	half := gitRun(b, "", nil, nil, "--git-dir", src, "rev-parse", fmt.Sprintf("refs/heads/main~%d", n/2))
	objects := strings.ReplaceAll(gitRun(b, "", nil, nil, "--git-dir", src, "count-objects", "-v"), "\n", ", ")

	// The same pack and index, no bitmap.
	plain := filepath.Join(daemonRoot, "nobitmap.git")
	gitRun(b, "", nil, nil, "init", "--bare", "--quiet", plain)
	for _, ext := range []string{"*.pack", "*.idx"} {
		files, _ := filepath.Glob(filepath.Join(src, "objects", "pack", ext))
		for _, f := range files {
			if err := os.Link(f, filepath.Join(plain, "objects", "pack", filepath.Base(f))); err != nil {
				b.Fatal(err)
			}
		}
	}
	gitRun(b, "", nil, nil, "--git-dir", plain, "update-ref", "refs/heads/main", tip)
	daemon := startGitDaemon(b, daemonRoot)

	// The default threshold (50 MiB) is below the 110 MB second half of
	// the default size; a quick run with a smaller size lowers it.
	srv := startTLSServer(b, func(c *config.Config) {
		c.LogLevel = "info"
		c.Maintenance.PushBytes = min(c.Maintenance.PushBytes, size/4)
		// The clones after the repack ask for what the immediate ones
		// asked, at the same refs: the pack cache would answer them
		// without pack-objects, and measure the cache, not the bitmap.
		c.Transport.PackCache = false
	})
	env := srv.gitEnvTLS()

	clone := func(from string) time.Duration {
		dst := filepath.Join(work, "clone.git")
		defer os.RemoveAll(dst)
		wall := timedGit(b, "", env, "clone", "--bare", "--quiet", from, dst)
		if got := gitRun(b, "", nil, nil, "--git-dir", dst, "rev-parse", "refs/heads/main"); got != tip {
			b.Fatalf("clone of %s has main at %s, want %s", from, got, tip)
		}
		return wall
	}
	// runsDone counts the server's finished maintenance runs; waitRun
	// waits for the next one and returns when it ended.
	runsDone := func() int { return strings.Count(srv.Logs(), `msg="maintenance run"`) }
	waitRun := func(before int) {
		start := time.Now()
		for runsDone() <= before {
			if time.Since(start) > 5*time.Minute {
				b.Fatal("no maintenance run after the push")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	push := func(url, ref string) {
		gitRun(b, "", env, nil, "--git-dir", src, "push", "--quiet", url, ref+":refs/heads/main")
	}

	lat := map[string]latencies{}
	waits := map[string][]float64{}
	for i := range runs {
		lat["git-daemon-bitmap"] = append(lat["git-daemon-bitmap"], clone(daemon+"bitmap.git"))
		lat["git-daemon-nobitmap"] = append(lat["git-daemon-nobitmap"], clone(daemon+"nobitmap.git"))

		for _, onto := range []bool{false, true} {
			label := "fresh"
			id := fmt.Sprintf("bench/pushclone-%d-%d", i, len(lat))
			tok, _ := createRepo(b, srv.Server, id)
			url := srv.remote(tok, id)
			if onto {
				label = "onto-bitmap"
				before := runsDone()
				push(url, half)
				waitRun(before)
			}
			before := runsDone()
			push(url, tip)
			pushed := time.Now()
			lat[label+"/immediate"] = append(lat[label+"/immediate"], clone(url))
			waitRun(before)
			waits[label] = append(waits[label], time.Since(pushed).Seconds())
			lat[label+"/after-repack"] = append(lat[label+"/after-repack"], clone(url))
			deleteRepo(b, srv.Server, tok)
		}
	}
	var runLines []string
	for _, l := range strings.Split(srv.Logs(), "\n") {
		if strings.Contains(l, `msg="maintenance run"`) {
			runLines = append(runLines, l)
		}
	}
	ref := lat["git-daemon-bitmap"].pct(0.5)
	for _, name := range []string{"git-daemon-bitmap", "git-daemon-nobitmap", "fresh/immediate", "fresh/after-repack", "onto-bitmap/immediate", "onto-bitmap/after-repack"} {
		b.Run(name, func(b *testing.B) {
			l := lat[name]
			reportThroughput(b, l, pack)
			b.ReportMetric(ref.Seconds()/l.pct(0.5).Seconds(), "x-git-daemon-bitmap")
			b.Logf("%s: %v", name, l)
			if label, ok := strings.CutSuffix(name, "/after-repack"); ok {
				// From the push's answer to the end of the run it triggered.
				b.ReportMetric(median(waits[label]), "repack-wait-s")
			}
			if name == "git-daemon-bitmap" {
				b.Logf("repository: pack of %.1f MB, %s commits, %s; generated in %v", mb(pack), commits, objects, generated.Round(time.Second))
			}
			if name == "onto-bitmap/after-repack" {
				b.Logf("maintenance runs:\n%s", strings.Join(runLines, "\n"))
			}
		})
	}
}

// writeManyObjects fills the bare repository gitDir through git
// fast-import with about totalBytes of random blobs, sizes spread evenly
// around blobBytes, 400 to a commit under d<nn>/c<nnnnn>/ so that no tree
// grows with the history, then repacks it into one pack with a bitmap
// (repack.writeBitmaps is on in bare repositories). It returns the pack's
// size.
func writeManyObjects(tb testing.TB, gitDir string, totalBytes, blobBytes int64, seed uint64) int64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	src := rand.NewChaCha8([32]byte{byte(seed), 'm', 'a', 'n', 'y'})
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		buf := make([]byte, 2*blobBytes)
		var written int64
		for c := 1; written < totalBytes; c++ {
			fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata 6\nbatch\n", 1700000000+c)
			for i := 0; i < 400 && written < totalBytes; i++ {
				n := blobBytes/4 + rng.Int64N(blobBytes*3/2+1)
				src.Read(buf[:n])
				fmt.Fprintf(w, "M 100644 inline d%02d/c%05d/f%03d\ndata %d\n", c%100, c, i, n)
				w.Write(buf[:n])
				w.WriteString("\n")
				written += n
			}
		}
		w.Flush()
		pw.Close()
	}()
	gitRun(tb, "", nil, pr, "--git-dir", gitDir, "fast-import", "--quiet")
	gitRun(tb, "", nil, nil, "--git-dir", gitDir, "repack", "-adq")
	return packBytes(tb, gitDir)
}
