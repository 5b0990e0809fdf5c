package bench

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/servertest"
)

// BenchmarkPackCache measures the pack cache (docs/git-transport.md, "Pack
// cache") on the CI fan-out case: one source-like repository
// (STRATA_BENCH_PACKCACHE_COMMITS commits, default 3000, of
// STRATA_BENCH_PACKCACHE_FILES files, default 3000; repacked with a
// bitmap, as a maintained repository is) fetched whole again and again
// with one identical protocol-v2 clone request (want main, thin-pack,
// ofs-delta, include-tag, no-progress, done), whole and shallow:
//
//   - sequential/strata-https: STRATA_BENCH_PACKCACHE_CLONES (default 20)
//     requests one after another, POSTed to Strata's git-upload-pack over
//     HTTPS, the response drained; the first one generates the pack
//   - sequential/strata-http: the same against a second server listening
//     plain HTTP (Strata's default listener, TLS left to a proxy) on a
//     copy of the repository
//   - sequential/git-upload-pack: the same request piped into `git
//     upload-pack --stateless-rpc <dir>` as many times, one after another
//   - concurrent/strata-https and concurrent/git-upload-pack: the same with
//     STRATA_BENCH_PACKCACHE_CONCURRENT (default 50) requests at once,
//     Strata's starting from an empty entry (a request variant not sent
//     before), so one generation serves them all
//
// Clones per second and MB/s of the whole batch are reported; the ratio
// strata/git is the cache's gain. Only the server side is measured: a real
// `git clone` adds index-pack and checkout on the client, the same for
// both. After the runs one real `git clone` from Strata is checked with
// git fsck. b.N is ignored: run with -benchtime 1x.
func BenchmarkPackCache(b *testing.B) {
	commits := envInt("STRATA_BENCH_PACKCACHE_COMMITS", 3000)
	files := envInt("STRATA_BENCH_PACKCACHE_FILES", 3000)
	clones := envInt("STRATA_BENCH_PACKCACHE_CLONES", 20)
	concurrent := envInt("STRATA_BENCH_PACKCACHE_CONCURRENT", 50)
	const id = "bench/packcache"
	srv := startTLSServer(b)
	token, dir := createRepo(b, srv.Server, id)
	start := time.Now()
	writeHistory(b, dir, commits, files)
	gitRun(b, "", nil, nil, "--git-dir", dir, "tag", "-a", "-m", "release", "v1", "refs/heads/main")
	gitRun(b, "", nil, nil, "--git-dir", dir, "repack", "-adbq")
	tip := gitRun(b, "", nil, nil, "--git-dir", dir, "rev-parse", "refs/heads/main")
	// The same repository behind a plain-HTTP server (Strata's default
	// listener, with TLS left to a proxy in front): a copy, made before
	// anything reads it.
	plain := servertest.Start(b)
	plainToken, plainDir := createRepo(b, plain, id)
	if err := os.RemoveAll(plainDir); err != nil {
		b.Fatal(err)
	}
	gitRun(b, "", nil, nil, "clone", "--bare", "--mirror", "--quiet", "--no-local", dir, plainDir)
	gitRun(b, "", nil, nil, "--git-dir", plainDir, "repack", "-adbq")
	b.Logf("repository: %d commits, %s; generated in %v", commits,
		strings.ReplaceAll(gitRun(b, "", nil, nil, "--git-dir", dir, "count-objects", "-v"), "\n", ", "), time.Since(start).Round(time.Millisecond))

	request := func(caps ...string) []byte {
		var body []byte
		body = pkt(body, "command=fetch\n")
		body = pkt(body, "agent=git/2.39.2\n")
		body = append(body, "0001"...)
		for _, c := range caps {
			body = pkt(body, c+"\n")
		}
		body = pkt(body, "want "+tip+"\n")
		body = pkt(body, "done\n")
		return append(body, "0000"...)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: concurrent}}
	b.Cleanup(client.CloseIdleConnections)
	fetch := func(url, token string, body []byte) (int64, error) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.SetBasicAuth("t", token)
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		req.Header.Set("Git-Protocol", "version=2")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return n, err
	}
	strata := func(body []byte) (int64, error) {
		return fetch("https://"+srv.host+"/"+id+".git/git-upload-pack", token, body)
	}
	strataHTTP := func(body []byte) (int64, error) {
		return fetch(plain.URL+"/"+id+".git/git-upload-pack", plainToken, body)
	}
	raw := func(body []byte) (int64, error) {
		cmd := exec.Command("git", "upload-pack", "--stateless-rpc", dir)
		cmd.Env = append(slices.Clone(gitEnv), "GIT_PROTOCOL=version=2")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return 0, err
		}
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, out)
		if werr := cmd.Wait(); err == nil {
			err = werr
		}
		return n, err
	}
	// batch runs n requests, at most par at once, and reports the batch's
	// clones/s and MB/s; the first request's time (in a sequential batch
	// the one that generates), the median request's time, and the CPU time
	// per clone of this process (server and client) and of its children
	// (git, and Strata's hook).
	batch := func(b *testing.B, n, par int, do func([]byte) (int64, error), body []byte) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var total, first int64
		var errs []error
		var lat latencies
		sem := make(chan struct{}, par)
		cpu0 := cpuNow()
		t0 := time.Now()
		firstDone := time.Duration(0)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				start := time.Now()
				got, err := do(body)
				took := time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				lat = append(lat, took)
				if i == 0 {
					firstDone = took
				}
				if first == 0 {
					first = got
				}
				// Side-band framing follows pipe reads, so sizes differ
				// a little; a truncated or wrong pack would differ a lot.
				if err == nil && (got < first*99/100 || got > first*101/100) {
					err = fmt.Errorf("response of %d bytes, the first was %d", got, first)
				}
				total += got
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		wall := time.Since(t0)
		cpu := cpuNow()
		if len(errs) > 0 {
			b.Fatalf("%d of %d requests failed, e.g. %v", len(errs), n, errs[0])
		}
		b.ReportMetric(float64(n)/wall.Seconds(), "clones/s")
		b.ReportMetric(mb(total)/wall.Seconds(), "MB/s")
		b.ReportMetric(mb(first), "pack-MB")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(firstDone.Microseconds())/1000, "first-ms")
		b.ReportMetric(float64(lat.pct(0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64((cpu.self-cpu0.self).Microseconds())/1000/float64(n), "self-cpu-ms/clone")
		b.ReportMetric(float64((cpu.children-cpu0.children).Microseconds())/1000/float64(n), "child-cpu-ms/clone")
	}
	// full: a whole clone, which a bitmapped repository answers mostly by
	// reusing its pack as it is; shallow: `--depth 1`, what CI checkouts
	// fetch, for which pack-objects walks the tip's trees and cannot use
	// the bitmap. The concurrent batches send a variant never sent before
	// (no include-tag), so Strata's starts cold.
	full := []string{"thin-pack", "no-progress", "ofs-delta"}
	shallow := append(slices.Clone(full), "deepen 1")
	for _, kind := range []struct {
		name string
		caps []string
	}{{"full", full}, {"shallow", shallow}} {
		seq := request(append(slices.Clone(kind.caps), "include-tag")...)
		conc := request(kind.caps...)
		b.Run("sequential-"+kind.name+"/strata-https", func(b *testing.B) { batch(b, clones, 1, strata, seq) })
		b.Run("sequential-"+kind.name+"/strata-http", func(b *testing.B) { batch(b, clones, 1, strataHTTP, seq) })
		b.Run("sequential-"+kind.name+"/git-upload-pack", func(b *testing.B) { batch(b, clones, 1, raw, seq) })
		b.Run("concurrent-"+kind.name+"/strata-https", func(b *testing.B) { batch(b, concurrent, concurrent, strata, conc) })
		b.Run("concurrent-"+kind.name+"/git-upload-pack", func(b *testing.B) { batch(b, concurrent, concurrent, raw, conc) })
	}

	dst := filepath.Join(b.TempDir(), "clone.git")
	gitRun(b, "", srv.gitEnvTLS(), nil, "clone", "--bare", "--quiet", srv.remote(token, id), dst)
	gitRun(b, "", nil, nil, "--git-dir", dst, "fsck", "--no-progress")
	gitRun(b, "", nil, nil, "--git-dir", dir, "fsck", "--no-progress")
}

func pkt(dst []byte, s string) []byte { return append(fmt.Appendf(dst, "%04x", len(s)+4), s...) }
