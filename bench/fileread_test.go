package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const readPath = "docs/read-4k.txt"

// BenchmarkFileRead compares GET /repos/file of a 4 KiB file with a
// long-lived `git cat-file --batch` reading the same blob.
func BenchmarkFileRead(b *testing.B) {
	f := newFixture(b, 200, 20)
	content := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	resp := f.srv.Do("POST", "/api/v1/repos/commit-pack", f.token,
		strings.NewReader(commitPackBody(readPath, content)), "Content-Type", "application/x-ndjson")
	mustOK(b, resp, 201)
	b.Run("strata-1client", func(b *testing.B) { benchReadStrata1(b, f) })
	b.Run("strata-64conns", func(b *testing.B) { benchReadStrata64(b, f) })
	b.Run("cat-file-batch", func(b *testing.B) { benchReadCatFile(b, f) })
}

// benchReadStrata1: GET /repos/file of a 4 KiB file,
// sequential requests on one keep-alive connection.
func benchReadStrata1(b *testing.B, f *fixture) {
	url := f.srv.URL + "/api/v1/repos/file?path=" + readPath
	client := &http.Client{}
	var lat latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != 4096 {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
}

// benchReadStrata64: requests/s with 64 concurrent
// keep-alive connections for a fixed duration (b.N is ignored beyond 1).
func benchReadStrata64(b *testing.B, f *fixture) {
	url := f.srv.URL + "/api/v1/repos/file?path=" + readPath
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	const conns = 64
	dur := 5 * time.Second
	var count atomic.Int64
	var failed atomic.Int64
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+f.token)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d failed requests", failed.Load())
	}
	b.ReportMetric(float64(count.Load())/dur.Seconds(), "req/s")
}

// benchReadCatFile: the reference — one long-lived
// `git cat-file --batch` answering the same blob, sequentially.
func benchReadCatFile(b *testing.B, f *fixture) {
	cmd := exec.Command("git", "--git-dir", f.dir, "cat-file", "--batch")
	cmd.Env = gitEnv
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	br := bufio.NewReader(stdout)
	rev := "refs/heads/main:" + readPath
	var lat latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		fmt.Fprintln(stdin, rev)
		hdr, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		var oid, typ string
		var size int64
		fmt.Sscanf(hdr, "%s %s %d", &oid, &typ, &size)
		if _, err := io.CopyN(io.Discard, br, size+1); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
