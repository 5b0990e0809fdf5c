package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// redosFile is a file of near-miss lines for (a+)+$: each line makes a
// backtracking matcher try every split of its run of a's (2^22 ways)
// without reaching PCRE2's default match limit, so only a deadline or a
// lower match limit stops a grep over it.
var redosFile = strings.Repeat(strings.Repeat("a", 22)+"!\n", 2000)

func redosGrep(testing.TB) any {
	return map[string]any{"query": map[string]any{"pattern": "(a+)+$"}, "ref": "main"}
}

// sendWithin sends a request the test gives up on after d, so a server
// without the limit under test fails the test rather than hanging it.
func (e *env) sendWithin(t testing.TB, d time.Duration, method, path, token string, body any) *response {
	t.Helper()
	resp, err := e.trySend(d, method, path, token, jsonBody(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// trySend is sendWithin for other goroutines: it returns the error.
func (e *env) trySend(d time.Duration, method, path, token string, body io.Reader) (*response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.URL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.roundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// wantHealthy checks /healthz answers 200.
func (e *env) wantHealthy(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/healthz", nil)
	resp, err := e.roundTrip(req)
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	wantStatus(t, resp, http.StatusOK)
}

// TestHeavyRequestTimeout: a catastrophically backtracking grep is stopped
// at --heavy-request-timeout and answered 503 "timeout", not left running
// for minutes and not a 500; the server stays responsive (issue 10 #6).
func TestHeavyRequestTimeout(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.WithConfig(func(c *config.Config) {
		c.Limits.HeavyTimeout = time.Second
		c.Limits.GrepMatchLimit = 10_000_000 // PCRE2's default: the deadline must act
	}))
	r, _ := e.seededRepo(t, upsert("redos.txt", redosFile))
	body := jsonBody(t, redosGrep(t))
	type result struct {
		resp *response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := e.trySend(45*time.Second, "POST", "/api/v1/repos/grep", r.Read, body)
		done <- result{resp, err}
	}()
	e.wantHealthy(t)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	resp := res.resp
	m := wantError(t, resp, http.StatusServiceUnavailable)
	if msg := m["error"].(string); !strings.Contains(msg, "time limit") {
		t.Fatalf("error %q does not name the time limit", msg)
	}
	e.wantHealthy(t)
	// An ordinary grep still works.
	ok := e.do(t, "POST", "/api/v1/repos/grep", r.Read, jsonBody(t, map[string]any{"query": map[string]any{"pattern": "a!"}, "ref": "main"}))
	wantStatus(t, ok, http.StatusOK)
}

// TestGrepMatchLimit: with --grep-match-limit, the same pattern fails at
// once as too complex (400), before any deadline.
func TestGrepMatchLimit(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.WithConfig(func(c *config.Config) {
		c.Limits.HeavyTimeout = time.Minute
		c.Limits.GrepMatchLimit = 100_000
	}))
	r, _ := e.seededRepo(t, upsert("redos.txt", redosFile))
	resp := e.sendWithin(t, 45*time.Second, "POST", "/api/v1/repos/grep", r.Read, redosGrep(t))
	m := wantError(t, resp, http.StatusBadRequest)
	if msg := m["error"].(string); !strings.Contains(msg, "too complex") {
		t.Fatalf("error %q, want a too-complex refusal", msg)
	}
}

// TestHeavyQueueFull: with every heavy slot taken, another grep waits at
// most --heavy-queue-timeout and is answered 503 with Retry-After; once
// the slot is free, greps run again (issue 10 #6).
func TestHeavyQueueFull(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.WithConfig(func(c *config.Config) {
		c.Limits.HeavyTimeout = 3 * time.Second
		c.Limits.GrepMatchLimit = 10_000_000
		c.Limits.MaxHeavy, c.Limits.MaxHeavyPerOrg = 1, 1
		c.Limits.HeavyQueueTimeout = 100 * time.Millisecond
	}))
	r, _ := e.seededRepo(t, upsert("redos.txt", redosFile))
	var wg sync.WaitGroup
	wg.Add(1)
	hogDone := make(chan struct{})
	hogBody := jsonBody(t, redosGrep(t))
	go func() {
		defer wg.Done()
		defer close(hogDone)
		_, _ = e.trySend(45*time.Second, "POST", "/api/v1/repos/grep", r.Read, hogBody)
	}()
	defer wg.Wait()
	cheap := map[string]any{"query": map[string]any{"pattern": "a!"}, "ref": "main"}
	var busy *response
	for busy == nil {
		resp := e.sendWithin(t, 45*time.Second, "POST", "/api/v1/repos/grep", r.Read, cheap)
		select {
		case <-hogDone:
			t.Fatalf("no grep was refused while the only slot was taken; last answer %d %s", resp.Status, resp.Body)
		default:
		}
		if resp.Status == http.StatusServiceUnavailable {
			busy = resp
			break
		}
		wantStatus(t, resp, http.StatusOK) // before the hog took the slot
		time.Sleep(20 * time.Millisecond)
	}
	wantError(t, busy, http.StatusServiceUnavailable)
	if busy.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %s", busy.Body)
	}
	e.wantHealthy(t)
	<-hogDone
	wantStatus(t, e.do(t, "POST", "/api/v1/repos/grep", r.Read, jsonBody(t, cheap)), http.StatusOK)
}

// TestMaxBlobBytes: blobs over --max-blob-bytes are refused on
// commit-pack (413) and diff-commit (413), and a blob already stored over
// the cap is never loaded: blame and a diff-commit touching it answer 422,
// grep skips it (issue 10 #8).
func TestMaxBlobBytes(t *testing.T) {
	t.Parallel()
	const max = 64 << 10
	e := start(t, servertest.WithConfig(func(c *config.Config) { c.Limits.MaxBlobBytes = max }))
	r, _ := e.seededRepo(t, upsert("small.txt", "needle\n"))

	t.Run("commit-pack", func(t *testing.T) {
		resp := r.commitPack(t, r.Write, packBody(newMeta("main"), upsert("big.txt", strings.Repeat("0", max+1))))
		wantRefFailure(t, resp, http.StatusRequestEntityTooLarge, "too_large")
		// At the cap is fine.
		r.commit(t, newMeta("main"), upsert("exact.txt", strings.Repeat("0", max)))
	})

	t.Run("diff-commit creates", func(t *testing.T) {
		body := strings.Repeat("x\n", max/2+1)
		patch := fmt.Sprintf("diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,%d @@\n%s",
			max/2+1, strings.ReplaceAll(body, "x\n", "+x\n"))
		meta := map[string]any{"target_branch": "main", "commit_message": "big", "author": map[string]string{"name": "Dee", "email": "dee@example.com"}}
		resp := e.do(t, "POST", "/api/v1/repos/diff-commit", r.Write, strings.NewReader(diffCommitBody(t, meta, patch, 32<<10)))
		wantRefFailure(t, resp, http.StatusRequestEntityTooLarge, "too_large")
	})

	// A blob over the cap stored behind Strata's back (before the cap
	// was lowered, say).
	dir := r.Dir(t)
	big := gitRun(t, dir, []byte(strings.Repeat("needle\n", max)), "hash-object", "-w", "--stdin")
	small := gitRun(t, dir, []byte("needle\n"), "hash-object", "-w", "--stdin")
	tree := gitRun(t, dir, []byte("100644 blob "+big+"\tbig.txt\n100644 blob "+small+"\tsmall.txt\n"), "mktree")
	commit := gitRun(t, dir, nil, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit-tree", tree, "-m", "big")
	gitRun(t, dir, nil, "update-ref", "refs/heads/big", commit)

	t.Run("blame", func(t *testing.T) {
		resp := e.do(t, "GET", "/api/v1/repos/blame?path=big.txt&ref=big", r.Read, nil)
		m := wantError(t, resp, http.StatusUnprocessableEntity)
		if msg := m["error"].(string); !strings.Contains(msg, "maximum blob size") {
			t.Fatalf("error %q does not name the cap", msg)
		}
		wantStatus(t, e.do(t, "GET", "/api/v1/repos/blame?path=small.txt&ref=big", r.Read, nil), http.StatusOK)
	})

	t.Run("grep skips", func(t *testing.T) {
		var got grepResponse
		resp := e.do(t, "POST", "/api/v1/repos/grep", r.Read, jsonBody(t, map[string]any{"query": map[string]any{"pattern": "needle"}, "ref": "big"}))
		wantStatus(t, resp, http.StatusOK)
		decode(t, resp, &got)
		if len(got.Matches) != 1 || got.Matches[0].Path != "small.txt" {
			t.Fatalf("grep matches %+v, want small.txt only", got.Matches)
		}
	})

	t.Run("diff renames", func(t *testing.T) {
		// Rename detection would load both blobs whole: over the cap the
		// pair is shown as a deletion and an addition instead.
		moved := gitRun(t, dir, []byte(strings.Repeat("needle\n", max)+"x\n"), "hash-object", "-w", "--stdin")
		tree2 := gitRun(t, dir, []byte("100644 blob "+moved+"\tmoved.txt\n100644 blob "+small+"\tsmall.txt\n"), "mktree")
		c2 := gitRun(t, dir, nil, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit-tree", tree2, "-p", commit, "-m", "move")
		resp := e.do(t, "GET", "/api/v1/repos/diff?sha="+c2, r.Read, nil)
		wantStatus(t, resp, http.StatusOK)
		files, filtered, _ := diffShape(t, object(t, resp))
		for _, set := range []map[string]map[string]any{files, filtered} {
			for path, f := range set {
				if strings.HasPrefix(f["state"].(string), "R") {
					t.Errorf("%s diffed as a rename of a blob over the cap: %v", path, f)
				}
			}
		}
		if len(files)+len(filtered) != 2 {
			t.Errorf("files %v filtered %v, want big.txt deleted and moved.txt added", files, filtered)
		}
	})

	t.Run("diff-commit preimage", func(t *testing.T) {
		patch := "diff --git a/big.txt b/big.txt\n--- a/big.txt\n+++ b/big.txt\n@@ -1,3 +1,3 @@\n-needle\n+pin\n needle\n needle\n"
		meta := map[string]any{"target_branch": "big", "commit_message": "edit", "author": map[string]string{"name": "Dee", "email": "dee@example.com"}}
		resp := e.do(t, "POST", "/api/v1/repos/diff-commit", r.Write, strings.NewReader(diffCommitBody(t, meta, patch, 1024)))
		wantRefFailure(t, resp, http.StatusUnprocessableEntity, "too_large")
	})
}
