package resilience

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/gittest"
	"github.com/strata-storage/strata/internal/servertest"
)

var soakFlag = flag.Bool("soak", false, "run the long forms of the resilience tests (also STRATA_SOAK=1)")

// soak reports whether the long forms were asked for.
func soak() bool { return *soakFlag || os.Getenv("STRATA_SOAK") == "1" }

// Main removes the strata binary (servertest.Binary) when the tests end.
func TestMain(m *testing.M) { servertest.Main(m) }

// strata is a strata binary run on one data dir, restartable.
type strata struct {
	*servertest.Process
	t       testing.TB
	dir     string             // holds data/, server.log
	api     *servertest.Server // for tokens
	logFile *os.File
}

// newStrata prepares a data dir and an organisation "acme"; args are
// extra serve flags.
func newStrata(t testing.TB, args ...string) *strata {
	t.Helper()
	dir := t.TempDir()
	signer, pub := servertest.NewKey(t)
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &strata{t: t, dir: dir, logFile: log}
	s.Process = &servertest.Process{Name: "strata", Bin: servertest.Binary(t), Log: log,
		Args: append([]string{"--data-dir", s.dataDir(), "--org", "acme=" + pub,
			"--log-level", "warn", "--maintenance=false"}, args...)}
	s.api = servertest.Attach(t, "", "acme", signer)
	t.Cleanup(func() {
		s.Stop()
		log.Close()
		if t.Failed() {
			s.logTail()
		}
	})
	return s
}

func (s *strata) dataDir() string { return filepath.Join(s.dir, "data") }

// start runs the server on a fresh loopback port and waits until /healthz
// answers 200 (crash reconciliation runs before that).
func (s *strata) start() {
	s.t.Helper()
	s.Start(s.t)
}

// kill is a crash: SIGKILL to the server and to the git children it had
// running.
func (s *strata) kill() { s.Kill() }

// pid is the running server's process id.
func (s *strata) pid() int { return s.Pid() }

func (s *strata) logTail() {
	data, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	s.t.Logf("server log (tail):\n%s", data)
}

// token mints a token for repo with every repository scope.
func (s *strata) token(repo string) string {
	return s.api.Token(repo, auth.ScopeGitRead, auth.ScopeGitWrite, auth.ScopeRepoWrite)
}

// client is the HTTP client of the workers: no overall timeout beyond a
// generous one, so a hung server shows up as a failed test, not a hang.
var client = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// call sends a JSON request and returns the status and body; err is a
// transport error (the server died, say).
func (s *strata) call(method, path, token string, body any) (int, []byte, error) {
	var r io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case ndjson:
		r, ct = bytes.NewReader(b), "application/x-ndjson"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ct)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, data, err
	}
	return resp.StatusCode, data, nil
}

type ndjson []byte

// commitPackBody writes path with content on branch (created from main
// when missing).
func commitPackBody(branch, path, content string) ndjson {
	md := map[string]any{
		"target_branch": branch, "commit_message": "write " + path,
		"author": map[string]any{"name": "Ada", "email": "ada@example.com"},
		"files":  []any{map[string]any{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}
	if branch != "main" {
		md["base_branch"] = "main"
	}
	meta := map[string]any{"metadata": md}
	line1, _ := json.Marshal(meta)
	line2, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1",
		"data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}})
	return ndjson(append(append(append(line1, '\n'), line2...), '\n'))
}

// commitPack commits path on branch of repo; sha is set only for a 201
// (an acknowledged write).
func (s *strata) commitPack(repo, branch, path, content string) (status int, sha string, err error) {
	status, data, err := s.call("POST", "/api/v1/repos/commit-pack", s.token(repo), commitPackBody(branch, path, content))
	if err != nil || status != http.StatusCreated {
		return status, "", err
	}
	var ack struct {
		Commit struct {
			CommitSHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	if err := json.Unmarshal(data, &ack); err != nil || len(ack.Commit.CommitSHA) != 40 {
		return status, "", fmt.Errorf("commit-pack 201 without a commit sha: %s", data)
	}
	return status, ack.Commit.CommitSHA, nil
}

// createRepo creates repo with default branch main.
func (s *strata) createRepo(repo string) {
	s.t.Helper()
	status, data, err := s.call("POST", "/api/v1/repos", s.token(repo), map[string]any{"default_branch": "main"})
	if err != nil || (status != http.StatusOK && status != http.StatusCreated) {
		s.t.Fatalf("create repo %s: %d %s %v", repo, status, data, err)
	}
}

// remote is the git URL of repo with a token as the password.
func (s *strata) remote(repo string) string {
	return strings.Replace(s.URL, "http://", "http://t:"+s.token(repo)+"@", 1) + "/" + repo + ".git"
}

// git runs git in dir and returns its trimmed output; the error holds
// the command (tokens redacted) and git's output.
func git(dir string, args ...string) (string, error) {
	out, err := gittest.Run(dir, args...)
	if err != nil {
		return out, fmt.Errorf("git %s: %v\n%s", strings.Join(redact(args), " "), err, out)
	}
	return out, nil
}

// redact drops tokens from URLs in git's arguments for messages.
func redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if at := strings.Index(a, "@"); at > 0 && strings.HasPrefix(a, "http://t:") {
			a = "http://t:***" + a[at:]
		}
		out[i] = a
	}
	return out
}

// mustGit is git for the test goroutine.
func mustGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := git(dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// receiver is a TLS webhook receiver on loopback that answers 200 and
// keeps each delivery's body (by X-Strata-Delivery, so retries count once).
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got map[string][]byte
}

func newReceiver(t testing.TB) (*receiver, string) {
	t.Helper()
	rc := &receiver{got: map[string][]byte{}}
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		rc.mu.Lock()
		rc.got[r.Header.Get("X-Strata-Delivery")] = body
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	ca := filepath.Join(t.TempDir(), "receiver-ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw})
	if err := os.WriteFile(ca, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return rc, ca
}

// pushes returns the push payloads received, keyed "repo ref before after".
func (rc *receiver) pushes() map[string]bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]bool{}
	for _, body := range rc.got {
		var p struct {
			Repository struct {
				ID string `json:"id"`
			} `json:"repository"`
			Ref, Before, After string
		}
		if json.Unmarshal(body, &p) == nil {
			out[p.Repository.ID+" "+p.Ref+" "+p.Before+" "+p.After] = true
		}
	}
	return out
}

// rss reads VmRSS of pid in bytes (0 if unreadable).
func rss(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
