package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/servertest"
)

// BenchmarkGitTransport compares clone and push of one large repository
// (STRATA_BENCH_CLONE_MB, default 220 MB of incompressible blobs: a pack of
// ≥ 200 MB) through Strata over HTTPS with plain git moving the same data:
//
//   - clone/strata-https: `git clone --bare https://…` from Strata
//   - clone/strata-http: the same from a second Strata serving plain HTTP
//     (same pack, hard-linked): what TLS costs, apart from Strata
//   - clone/git-pipe: `git clone --bare --no-local <dir>` of the same
//     directory, i.e. upload-pack over a pipe
//   - clone/git-daemon: the same over git:// from `git daemon` on loopback
//   - clone/git-http-backend-https: the same over HTTPS from git's own
//     smart-HTTP server, git-http-backend run as CGI by a Go net/http
//     server in this process (HTTP/1.1 and Go's TLS stack, as Strata)
//   - push/strata-https, push/strata-http: `git push` of the whole history
//     into a new, empty Strata repository
//   - push/git-pipe: the same push into a new bare repository over
//     file://, i.e. receive-pack over a pipe
//
// There is no push through git-http-backend: net/http/cgi refuses chunked
// request bodies, which is how git sends a large push over HTTP/1.1.
//
// Each runs STRATA_BENCH_TRANSPORT_RUNS times (default 5) and reports MB/s
// of the median run; b.N is ignored, so run it with -benchtime 1x
// (bench/run.sh does). Clients run on the same cores as the server, and
// their work (index-pack: inflating and hashing every object) is part of
// every figure, Strata's and git's alike. The *-cpu-s metrics (medians
// over the runs) split the CPU time: the git client with everything it ran
// (client-cpu-s; for git-pipe that includes upload-pack/receive-pack), the
// in-process HTTP server (server-cpu-s: Strata, or the CGI host) and the
// git processes that server ran (server-git-cpu-s).
func BenchmarkGitTransport(b *testing.B) {
	runs := envInt("STRATA_BENCH_TRANSPORT_RUNS", 5)
	size := int64(envInt("STRATA_BENCH_CLONE_MB", 220)) * 1e6
	const id = "bench/transport"

	tlsSrv := startTLSServer(b)
	tlsToken, dir := createRepo(b, tlsSrv.Server, id)
	start := time.Now()
	pack := writeRandomRepo(b, dir, size, 256<<10, 1)
	tip := gitRun(b, "", nil, nil, "--git-dir", dir, "rev-parse", "refs/heads/main")
	b.Logf("repository: pack of %.1f MB, %s; generated in %v",
		mb(pack), strings.ReplaceAll(gitRun(b, "", nil, nil, "--git-dir", dir, "count-objects", "-v"), "\n", ", "), time.Since(start).Round(time.Millisecond))

	// The same repository on a plain-HTTP server: its pack hard-linked.
	plainSrv := servertest.Start(b)
	plainToken, plainDir := createRepo(b, plainSrv, id)
	linkPacks(b, dir, plainDir)
	gitRun(b, "", nil, nil, "--git-dir", plainDir, "update-ref", "refs/heads/main", tip)
	plainURL := func(token, id string) string {
		return strings.Replace(plainSrv.URL, "http://", "http://t:"+token+"@", 1) + "/" + id + ".git"
	}

	work := b.TempDir()
	daemon := startGitDaemon(b, filepath.Join(tlsSrv.DataDir, "repos"))
	rel, _ := filepath.Rel(filepath.Join(tlsSrv.DataDir, "repos"), dir)
	backendRepos := filepath.Join(work, "http-backend")
	backend, backendCA := startHTTPBackend(b, backendRepos)
	backendEnv := []string{"GIT_SSL_CAINFO=" + backendCA, "GIT_TERMINAL_PROMPT=0"}
	os.MkdirAll(filepath.Join(backendRepos, "clone.git"), 0o755)
	gitRun(b, "", nil, nil, "init", "--bare", "--quiet", filepath.Join(backendRepos, "clone.git"))
	linkPacks(b, dir, filepath.Join(backendRepos, "clone.git"))
	gitRun(b, "", nil, nil, "--git-dir", filepath.Join(backendRepos, "clone.git"), "update-ref", "refs/heads/main", tip)

	clone := func(b *testing.B, strata bool, env []string, from ...string) {
		var lat latencies
		var cpu cpuRuns
		for i := range runs {
			dst := filepath.Join(work, fmt.Sprintf("clone-%d.git", i))
			args := append(append([]string{"clone", "--bare", "--quiet"}, from...), dst)
			wall, c := timedCPU(b, env, args...)
			lat, cpu = append(lat, wall), append(cpu, c)
			if got := gitRun(b, "", nil, nil, "--git-dir", dst, "rev-parse", "refs/heads/main"); got != tip {
				b.Fatalf("clone has main at %s, want %s", got, tip)
			}
			os.RemoveAll(dst)
		}
		reportThroughput(b, lat, pack)
		cpu.report(b, strata)
	}
	b.Run("clone/strata-https", func(b *testing.B) { clone(b, true, tlsSrv.gitEnvTLS(), tlsSrv.remote(tlsToken, id)) })
	b.Run("clone/strata-http", func(b *testing.B) { clone(b, true, nil, plainURL(plainToken, id)) })
	b.Run("clone/git-pipe", func(b *testing.B) { clone(b, false, nil, "--no-local", dir) })
	b.Run("clone/git-daemon", func(b *testing.B) { clone(b, false, nil, daemon+rel) })
	b.Run("clone/git-http-backend-https", func(b *testing.B) { clone(b, true, backendEnv, backend+"clone.git") })

	// The push source: a local clone sharing the objects (hard links), so
	// no server's repository is the one pack-objects reads.
	src := filepath.Join(work, "src.git")
	gitRun(b, "", nil, nil, "clone", "--bare", "--quiet", "--local", dir, src)

	// pushStrata pushes main into a new repository of srv per run and
	// deletes it after checking it arrived.
	pushStrata := func(b *testing.B, srv *servertest.Server, env []string, remote func(token, id string) string) {
		var lat latencies
		var cpu cpuRuns
		for i := range runs {
			id := fmt.Sprintf("bench/push-%d-%d", time.Now().UnixNano(), i)
			tok, _ := createRepo(b, srv, id)
			url := remote(tok, id)
			wall, c := timedCPU(b, env, "--git-dir", src, "push", "--quiet", url, "refs/heads/main:refs/heads/main")
			lat, cpu = append(lat, wall), append(cpu, c)
			if got := gitRun(b, "", env, nil, "ls-remote", url, "refs/heads/main"); !strings.HasPrefix(got, tip) {
				b.Fatalf("pushed main is %q, want %s", got, tip)
			}
			deleteRepo(b, srv, tok)
		}
		reportThroughput(b, lat, pack)
		cpu.report(b, true)
	}
	b.Run("push/strata-https", func(b *testing.B) { pushStrata(b, tlsSrv.Server, tlsSrv.gitEnvTLS(), tlsSrv.remote) })
	b.Run("push/strata-http", func(b *testing.B) { pushStrata(b, plainSrv, nil, plainURL) })
	b.Run("push/git-pipe", func(b *testing.B) {
		var lat latencies
		var cpu cpuRuns
		for i := range runs {
			dst := filepath.Join(work, fmt.Sprintf("push-%d.git", i))
			gitRun(b, "", nil, nil, "init", "--bare", "--quiet", dst)
			wall, c := timedCPU(b, nil, "--git-dir", src, "push", "--quiet", "file://"+dst, "refs/heads/main:refs/heads/main")
			lat, cpu = append(lat, wall), append(cpu, c)
			if got := gitRun(b, "", nil, nil, "--git-dir", dst, "rev-parse", "refs/heads/main"); got != tip {
				b.Fatalf("pushed main is %s, want %s", got, tip)
			}
			os.RemoveAll(dst)
		}
		reportThroughput(b, lat, pack)
		cpu.report(b, false)
	})
}

// linkPacks hard-links the packs (and their indexes, bitmaps, reverse
// indexes) of gitDir into dst.
func linkPacks(tb testing.TB, gitDir, dst string) {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "pack-*"))
	for _, f := range files {
		if err := os.Link(f, filepath.Join(dst, "objects", "pack", filepath.Base(f))); err != nil {
			tb.Fatal(err)
		}
	}
}
