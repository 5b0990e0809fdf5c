package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

// TestOrphans_gitDiesWithServer: a git process running for a request
// (here a grep whose pattern backtracks for many seconds) dies with the
// server, whether the server is killed with SIGKILL (Pdeathsig) or shuts
// down on SIGTERM while the request is still running (the close path
// kills every process group).
func TestOrphans_gitDiesWithServer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the strata binary")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	build := exec.Command("go", "build", "-o", bin, "./cmd/strata")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		desc string
		stop func(*os.Process) error
	}{
		{desc: "kill -9", stop: func(p *os.Process) error { return p.Kill() }},
		{desc: "SIGTERM", stop: func(p *os.Process) error { return p.Signal(syscall.SIGTERM) }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			signer, err := auth.GenerateKey("ES256")
			if err != nil {
				t.Fatal(err)
			}
			_, pub, err := auth.WriteKeyPair(filepath.Join(dir, "keys"), "test", signer)
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			data := filepath.Join(dir, "data")
			cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", data, "--org", "acme="+pub,
				"--log-level", "error", "--maintenance=false", "--shutdown-timeout", "1s")
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := false
			t.Cleanup(func() {
				if !exited {
					cmd.Process.Kill()
					cmd.Wait()
				}
				// Never leave a runaway grep behind, whatever the outcome.
				for _, pid := range gitProcesses(t, data) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			s := servertest.Attach(t, "http://"+addr, "acme", signer)
			for deadline := time.Now().Add(time.Minute); ; {
				resp, err := http.Get(s.URL + "/healthz")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("server did not become healthy")
				}
				time.Sleep(20 * time.Millisecond)
			}
			resp := s.Do("POST", "/api/v1/repos", s.Token("slow", auth.ScopeRepoWrite), strings.NewReader(`{"default_branch":"main"}`))
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				t.Fatalf("create repo: %d", resp.StatusCode)
			}
			// (a.*){5}\d backtracks through every way of splitting each
			// line into five (under PCRE2's match limit) before failing:
			// over a minute of CPU for the file.
			content := strings.Repeat(strings.Repeat("a", 35)+"b\n", 40000)
			commitFile(t, s, "slow", "big.txt", content)

			greq, _ := http.NewRequest("POST", s.URL+"/api/v1/repos/grep", strings.NewReader(`{"ref":"main","query":{"pattern":"(a.*){5}\\d"}}`))
			greq.Header.Set("Authorization", "Bearer "+s.Token("slow", auth.ScopeGitRead))
			greq.Header.Set("Content-Type", "application/json")
			answered := make(chan string, 1)
			go func() {
				resp, err := http.DefaultClient.Do(greq)
				if err != nil {
					answered <- err.Error()
					return
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				answered <- resp.Status + " " + string(data)
			}()
			for deadline := time.Now().Add(time.Minute); !slices.ContainsFunc(gitProcesses(t, data), isGrep); {
				select {
				case a := <-answered:
					t.Fatalf("the grep ended before the server did: %s", a)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("the grep never started")
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // the grep is busy now
			if err := tc.stop(cmd.Process); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			exited = true
			var left []int
			for deadline := time.Now().Add(5 * time.Second); ; {
				if left = gitProcesses(t, data); len(left) == 0 {
					return
				}
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for _, pid := range left {
				cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				t.Errorf("git process %d outlived the server: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			}
		})
	}
}

func isGrep(pid int) bool {
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return bytes.Contains(cmdline, []byte("\x00grep\x00"))
}

// gitProcesses lists the live (not zombie) processes whose environment
// points GIT_DIR into dataDir: the git processes of that server.
func gitProcesses(t testing.TB, dataDir string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	needle := []byte("GIT_DIR=" + dataDir)
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, needle) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Field 3, after the parenthesised command name, is the state.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// commitFile writes path on main of repo through commit-pack.
func commitFile(t testing.TB, s *servertest.Server, repo, path, content string) {
	t.Helper()
	line1, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"target_branch": "main", "commit_message": "write " + path,
		"author": map[string]any{"name": "Ada", "email": "ada@example.com"},
		"files":  []any{map[string]any{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}})
	line2, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1",
		"data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}})
	body := append(append(append(line1, '\n'), line2...), '\n')
	resp := s.Do("POST", "/api/v1/repos/commit-pack", s.Token(repo, auth.ScopeGitWrite), bytes.NewReader(body),
		"Content-Type", "application/x-ndjson")
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("commit %s: %d %s", path, resp.StatusCode, data)
	}
}
