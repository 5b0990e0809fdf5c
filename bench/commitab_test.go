package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

// BenchmarkCommitPackAB compares the commit path of two strata binaries,
// STRATA_BENCH_AB_A and STRATA_BENCH_AB_B (e.g. before and after a change
// to it; skipped unless both are set): each runs `strata serve` over HTTPS
// on its own copy of the CommitPack fixture, and STRATA_BENCH_AB_COMMITS
// (400) commit-packs go to them alternately, the order swapped every
// other pair, so that the machine's other load meets both alike. The 60
// commits before are a warm-up that takes both past their first scheduled
// maintenance run, which is waited out. With STRATA_BENCH_AB_CLIENTS = c
// (1), each of those commit-packs is c at once, one per client, each
// client on a branch of its own (made from main by its first commit), so
// that they contend for the server and the disk but not for a ref; with
// STRATA_BENCH_AB_SHARED set, all on main, each commit-pack retried on
// the new tip when another one moved it first. It ignores b.N.
func BenchmarkCommitPackAB(b *testing.B) {
	bins := []string{os.Getenv("STRATA_BENCH_AB_A"), os.Getenv("STRATA_BENCH_AB_B")}
	if bins[0] == "" || bins[1] == "" {
		b.Skip("set STRATA_BENCH_AB_A and STRATA_BENCH_AB_B to two strata binaries")
	}
	type side struct {
		name, bin string
		s         *strataProcess
		token     string
		dir       string
		lat       latencies
		busy      time.Duration // wall time of the measured rounds
	}
	var sides []*side
	for i, bin := range bins {
		b.Setenv("STRATA_BENCH_BINARY", bin)
		sd := &side{name: string(rune('A' + i)), bin: bin, s: startStrataProcess(b)}
		sd.token = sd.s.token(b, "bench/ab", auth.ScopeRepoWrite, auth.ScopeGitWrite)
		sd.s.createRepo(b, sd.token)
		dirs, _ := filepath.Glob(filepath.Join(sd.s.dataDir, "repos", "*", "*.git"))
		sd.dir = dirs[0]
		fillRepo(b, sd.dir, benchCommits(4000), 25)
		sides = append(sides, sd)
	}
	content := bytes.Repeat([]byte("x"), 1024)
	clients := envInt("STRATA_BENCH_AB_CLIENTS", 1)
	shared := os.Getenv("STRATA_BENCH_AB_SHARED") != ""
	commit := func(sd *side, branch, path string, i int) time.Duration {
		body := branchCommitPackBody(branch, path, append(content[:1000:1000], []byte(fmt.Sprint(i))...))
		req, _ := http.NewRequest("POST", "https://"+sd.s.addr+"/api/v1/repos/commit-pack", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+sd.token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		start := time.Now()
		resp, err := sd.s.client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		defer resp.Body.Close()
		// Not mustOK: this may run off the benchmark's goroutine.
		if resp.StatusCode != http.StatusCreated {
			msg, _ := io.ReadAll(resp.Body)
			b.Errorf("commit-pack: status %d: %s", resp.StatusCode, msg)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		return time.Since(start)
	}
	// round makes one commit-pack per client on sd at once.
	round := func(sd *side, dir string, i int) []time.Duration {
		lat := make([]time.Duration, clients)
		var wg sync.WaitGroup
		for c := range clients {
			branch := "main"
			if clients > 1 && !shared {
				branch = fmt.Sprintf("ab-%d", c)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				lat[c] = commit(sd, branch, fmt.Sprintf("%s/%d/%d.txt", dir, c, i), i)
			}()
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		return lat
	}
	for i := range 60 {
		for _, sd := range sides {
			round(sd, "warm", i)
		}
	}
	for _, sd := range sides {
		quiet, last := time.Now(), ""
		for time.Since(quiet) < 10*time.Second {
			time.Sleep(200 * time.Millisecond)
			if st := packDirState(b, sd.dir); st != last {
				last, quiet = st, time.Now()
			}
		}
	}
	n := envInt("STRATA_BENCH_AB_COMMITS", 400)
	for i := range n {
		for j := range sides {
			sd := sides[(i/2+j)%2]
			start := time.Now()
			sd.lat = append(sd.lat, round(sd, "bench/ab", i)...)
			sd.busy += time.Since(start)
		}
	}
	for _, sd := range sides {
		rate := float64(len(sd.lat)) / sd.busy.Seconds()
		b.Logf("%s (%s): p50 %v p90 %v p99 %v, %.0f commits/s with %d clients; %s", sd.name, sd.bin, sd.lat.pct(0.5).Round(10*time.Microsecond),
			sd.lat.pct(0.9).Round(10*time.Microsecond), sd.lat.pct(0.99).Round(10*time.Microsecond), rate, clients, packDirSummary(b, sd.dir))
		b.ReportMetric(rate, sd.name+"-commits/s")
		b.ReportMetric(sd.lat.pct(0.5).Seconds()*1000, sd.name+"-p50-ms")
		b.ReportMetric(sd.lat.pct(0.99).Seconds()*1000, sd.name+"-p99-ms")
	}
	b.ReportMetric(float64(sides[1].lat.pct(0.5))/float64(sides[0].lat.pct(0.5)), "B/A-p50")
}
