package githttp_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

// A push and REST commits racing on one branch go through the same
// compare-and-swap: each write either lands or is refused, and no
// acknowledged commit is ever lost. servertest runs git fsck --strict on
// the repository when the test ends.
func TestPushRacesREST(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("race")
	url := s.remote(s.writeToken("race"), "race", "")
	seed := s.workdir(map[string]string{"seed.txt": "seed\n"})
	s.mustGit(seed, "push", "-q", url, "main")
	restToken := s.Token("race", auth.ScopeGitWrite)

	const restCommits, restPause, pushers = 40, 40 * time.Millisecond, 2
	var (
		mu         sync.Mutex
		acked      []string
		restOK     int
		pushOK     int
		restLost   int // commit-packs refused with 409: another writer won
		pushLost   int // pushes refused, by the client (stale advertisement) or the server
		casRefused int // ...of which by the server's compare-and-swap
		failures   []string
		fail       = func(format string, a ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(format, a...))
			mu.Unlock()
		}
		wg       sync.WaitGroup
		restDone = make(chan struct{})
	)

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(restDone)
		for i := 0; i < restCommits; i++ {
			time.Sleep(restPause)
			sha, status, err := restCommit(s, restToken, fmt.Sprintf("rest/%d.txt", i))
			mu.Lock()
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("commit-pack: %v", err))
			case status == http.StatusConflict:
				restLost++
			case status != http.StatusCreated:
				failures = append(failures, fmt.Sprintf("commit-pack: status %d", status))
			default:
				acked = append(acked, sha)
				restOK++
			}
			mu.Unlock()
		}
	}()
	// Pushers push as fast as they can while the REST writer runs, then
	// until one more push of theirs lands.
	for p := 0; p < pushers; p++ {
		dir := filepath.Join(t.TempDir(), "w")
		s.mustGit("", "clone", "-q", url, dir)
		wg.Add(1)
		go func() {
			defer wg.Done()
			racing := true
			for attempt := 0; ; attempt++ {
				if !racing && attempt > 20 {
					fail("pusher %d: no push landed after the REST writer stopped", p)
					return
				}
				select {
				case <-restDone:
					if racing {
						racing, attempt = false, 0
					}
				default:
				}
				if r := s.git(dir, "fetch", "-q", "origin"); r.err != nil {
					fail("fetch: %v\n%s", r.err, r.stderr)
					return
				}
				s.git(dir, "reset", "-q", "--hard", "origin/main")
				if r := s.git(dir, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("push %d/%d", p, attempt)); r.err != nil {
					fail("commit: %v\n%s", r.err, r.stderr)
					return
				}
				sha := s.git(dir, "rev-parse", "HEAD").stdout
				r := s.git(dir, "push", "origin", "HEAD:main")
				mu.Lock()
				switch {
				case r.err == nil:
					acked = append(acked, sha)
					pushOK++
				case strings.Contains(r.stderr, "changed concurrently"):
					pushLost++
					casRefused++
				case strings.Contains(r.stderr, "rejected"):
					pushLost++
				default:
					failures = append(failures, fmt.Sprintf("push failed unexpectedly: %v\n%s", r.err, r.stderr))
				}
				mu.Unlock()
				if r.err == nil && !racing {
					return
				}
				if r.err != nil && !strings.Contains(r.stderr, "rejected") {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatal(strings.Join(failures, "\n"))
	}

	tip := s.branches("race", false)["main"]
	check := filepath.Join(t.TempDir(), "check")
	s.mustGit("", "clone", "-q", "--bare", url, check)
	for _, sha := range acked {
		if r := s.git(check, "merge-base", "--is-ancestor", sha, tip); r.err != nil {
			t.Errorf("acknowledged commit %s is not an ancestor of the tip %s", sha, tip)
		}
	}
	t.Logf("acknowledged: %d commit-packs, %d pushes; refused: %d commit-packs, %d pushes (%d by the server's compare-and-swap)",
		restOK, pushOK, restLost, pushLost, casRefused)
	if pushOK < pushers || restOK+restLost != restCommits {
		t.Fatalf("acknowledged %d pushes and %d commit-packs", pushOK, restOK)
	}
}

// restCommit adds one file to main through commit-pack.
func restCommit(s *gitServer, token, path string) (sha string, status int, err error) {
	meta, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"target_branch":  "main",
		"commit_message": "rest " + path,
		"author":         map[string]string{"name": "REST", "email": "rest@example.com"},
		"files":          []map[string]string{{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}})
	chunk, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1", "data": base64.StdEncoding.EncodeToString([]byte(path + "\n")), "eof": true}})
	req, err := http.NewRequest("POST", s.URL+"/api/v1/repos/commit-pack", strings.NewReader(string(meta)+"\n"+string(chunk)+"\n"))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.Client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Commit struct {
			SHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	if resp.StatusCode == http.StatusCreated {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return "", 0, err
		}
	}
	return body.Commit.SHA, resp.StatusCode, nil
}
