package bench

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

var gitEnv = append(os.Environ(),
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
	"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com")

func gitCmd(tb testing.TB, dir string, stdin io.Reader, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
	cmd.Env = gitEnv
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("git %v: %v\n%s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// fixture is a Strata server holding one large repository.
type fixture struct {
	srv   *servertest.Server
	token string
	dir   string // the repository on disk
	repo  string
}

// newFixture creates repo on a fresh server and fills it (fillRepo).
func newFixture(b *testing.B, commits, files int) *fixture {
	b.Helper()
	srv := servertest.Start(b)
	f := &fixture{srv: srv, repo: "bench/big"}
	f.token = srv.Token(f.repo, auth.ScopeRepoWrite, auth.ScopeGitWrite)
	resp := srv.Do("POST", "/api/v1/repos", f.token, strings.NewReader(`{"default_branch":"main"}`))
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("create repo: %d", resp.StatusCode)
	}
	f.dir = srv.RepoDirs()[0]
	fillRepo(b, f.dir, commits, files)
	return f
}

// fillRepo fills the bare repository dir through git-fast-import with
// `commits` commits on main, each adding `files` 1 KiB files under a spread
// of directories (commits*(files+~3) objects in all), then repacks it the
// way a maintained repository is: one pack with bitmaps.
func fillRepo(tb testing.TB, dir string, commits, files int) {
	tb.Helper()
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		content := bytes.Repeat([]byte("strata benchmark line of text.\n"), 40)[:1024]
		for c := 1; c <= commits; c++ {
			fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter Bench <bench@example.com> %d +0000\ndata 8\ncommit %d\n", c, 1700000000+c, c%10)
			if c > 1 {
				fmt.Fprintf(w, "from :%d\n", c-1)
			}
			for i := 0; i < files; i++ {
				blob := append([]byte(fmt.Sprintf("%d/%d\n", c, i)), content[:1000]...)
				fmt.Fprintf(w, "M 100644 inline d%03d/e%02d/f%d_%d.txt\ndata %d\n", (c*7+i)%500, i%37, c, i, len(blob))
				w.Write(blob)
				w.WriteString("\n")
			}
		}
		w.Flush()
		pw.Close()
	}()
	gitCmd(tb, dir, pr, "fast-import", "--quiet")
	// A realistic, maintained repository: one pack with bitmaps.
	gitCmd(tb, dir, nil, "repack", "-adq")
}

func (f *fixture) objectCount(b *testing.B) string {
	return gitCmd(b, f.dir, nil, "count-objects", "-v")
}

// commitPackBody is one commit-pack request adding a 1 KiB file.
func commitPackBody(path string, content []byte) string {
	return branchCommitPackBody("main", path, content)
}

// branchCommitPackBody is commitPackBody onto branch, which is made from
// main if it does not exist.
func branchCommitPackBody(branch, path string, content []byte) string {
	md := map[string]any{
		"target_branch":  branch,
		"commit_message": "bench",
		"author":         map[string]string{"name": "Bench", "email": "bench@example.com"},
		"files":          []map[string]string{{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}
	if branch != "main" {
		md["base_branch"] = "main"
	}
	meta, _ := json.Marshal(map[string]any{"metadata": md})
	chunk, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1", "data": base64.StdEncoding.EncodeToString(content), "eof": true}})
	return string(meta) + "\n" + string(chunk) + "\n"
}

// latencies collects durations and reports percentiles.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func (l latencies) report(b *testing.B) {
	b.ReportMetric(float64(l.pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l.pct(0.99).Microseconds())/1000, "p99-ms")
}

func mustOK(b *testing.B, resp *http.Response, want int) {
	b.Helper()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(resp.Body)
		b.Fatalf("status %d, want %d: %s", resp.StatusCode, want, body)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// benchCommits lets STRATA_BENCH_COMMITS shrink the fixture for a quick run.
func benchCommits(def int) int {
	if v := os.Getenv("STRATA_BENCH_COMMITS"); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
			return n
		}
	}
	return def
}
