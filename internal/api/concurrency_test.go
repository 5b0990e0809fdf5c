package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// outsideWriter moves a branch behind Strata's back the way another git
// process on the same disk would: commit-tree on the current tip, then a
// compare-and-swap with git update-ref.
type outsideWriter struct {
	dir    string
	branch string
	index  string // private index file
}

func newOutsideWriter(t *testing.T, dir, branch string) *outsideWriter {
	return &outsideWriter{dir: dir, branch: branch, index: filepath.Join(t.TempDir(), "index")}
}

// commitMany makes n commits (outside/NNN.txt), retrying lost races, and
// records each acknowledged one; it stops at the first error anywhere.
func (w *outsideWriter) commitMany(n int, errs *firstErr, record func(sha, path string)) {
	done, attempts := 0, 0
	for done < n && errs.get() == nil {
		attempts++
		if attempts > n*50 {
			errs.set(fmt.Errorf("outside writer made %d commits in %d attempts", done, attempts))
			return
		}
		path := fmt.Sprintf("outside/%03d.txt", done)
		sha, ok, err := w.commit(path, "outside "+path)
		if err != nil {
			errs.set(err)
			return
		}
		if ok {
			record(sha, path)
			done++
		}
	}
}

// commit adds path to the current tip and tries once to move the branch.
// It returns the new commit, or ok=false when the branch moved meanwhile
// (or the ref was locked by another writer).
func (w *outsideWriter) commit(path, content string) (sha string, ok bool, err error) {
	ref := "refs/heads/" + w.branch
	out, err := gitOutput(w.dir, nil, "rev-parse", "--verify", ref)
	if err != nil {
		return "", false, err
	}
	old := strings.TrimSpace(string(out))
	env := []string{"GIT_INDEX_FILE=" + w.index}
	if _, err := gitOutputEnv(w.dir, nil, env, "read-tree", old); err != nil {
		return "", false, err
	}
	out, err = gitOutputEnv(w.dir, []byte(content), env, "hash-object", "-w", "--stdin")
	if err != nil {
		return "", false, err
	}
	blob := strings.TrimSpace(string(out))
	if _, err := gitOutputEnv(w.dir, nil, env, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+path); err != nil {
		return "", false, err
	}
	out, err = gitOutputEnv(w.dir, nil, env, "write-tree")
	if err != nil {
		return "", false, err
	}
	tree := strings.TrimSpace(string(out))
	out, err = gitOutput(w.dir, nil, "commit-tree", tree, "-p", old, "-m", "outside "+path)
	if err != nil {
		return "", false, err
	}
	sha = strings.TrimSpace(string(out))
	if _, err := gitOutput(w.dir, nil, "update-ref", ref, sha, old); err != nil {
		// Lost the race (the ref moved or was locked): the caller retries.
		return "", false, nil
	}
	return sha, true, nil
}

// tipOf reads a branch's head through GET /repos/branches.
func (e *env) tipOf(r *testRepo, branch string) (string, error) {
	resp, err := e.send("GET", "/api/v1/repos/branches?limit=100", r.Read, nil)
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusOK {
		return "", fmt.Errorf("list branches: %s", resp)
	}
	var p branchPage
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		return "", err
	}
	for _, b := range p.Branches {
		if b.Name == branch {
			return b.HeadSHA, nil
		}
	}
	return "", fmt.Errorf("branch %s not listed: %s", branch, resp.Body)
}

// apiCommit is an acknowledged commit-pack.
type apiCommit struct {
	sha, old, path string
}

// commitUntilAcked commits path through commit-pack with expected_head_sha,
// re-reading the tip and retrying on 409 until the server acknowledges it.
func (e *env) commitUntilAcked(r *testRepo, path string, tip string, maxAttempts int) (apiCommit, string, int, error) {
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if tip == "" {
			var err error
			if tip, err = e.tipOf(r, "main"); err != nil {
				return apiCommit{}, "", attempt, err
			}
		}
		body := packBody(newMeta("main", "commit_message", "api "+path, "expected_head_sha", tip), upsert(path, "content of "+path))
		resp, err := e.send("POST", "/api/v1/repos/commit-pack", r.Write, bytes.NewReader(body), "Content-Type", "application/x-ndjson")
		if err != nil {
			return apiCommit{}, "", attempt, err
		}
		switch resp.Status {
		case http.StatusCreated, http.StatusOK:
			var ack commitAck
			if err := json.Unmarshal(resp.Body, &ack); err != nil {
				return apiCommit{}, "", attempt, err
			}
			if !ack.Result.Success || ack.Result.OldSHA != tip || ack.Result.NewSHA != ack.Commit.CommitSHA {
				return apiCommit{}, "", attempt, fmt.Errorf("ack for %s with expected head %s: %s", path, tip, resp.Body)
			}
			return apiCommit{sha: ack.Commit.CommitSHA, old: ack.Result.OldSHA, path: path}, ack.Commit.CommitSHA, attempt, nil
		case http.StatusConflict:
			var f refFailure
			if err := json.Unmarshal(resp.Body, &f); err != nil {
				return apiCommit{}, "", attempt, err
			}
			if f.Result.Status != "precondition_failed" && f.Result.Status != "conflict" {
				return apiCommit{}, "", attempt, fmt.Errorf("409 with result.status %q: %s", f.Result.Status, resp.Body)
			}
			tip = "" // re-read
		default:
			return apiCommit{}, "", attempt, fmt.Errorf("commit %s: %s", path, resp)
		}
	}
	return apiCommit{}, "", maxAttempts, fmt.Errorf("commit %s not acknowledged after %d attempts", path, maxAttempts)
}

// verifyHistory checks the final state: every acknowledged commit is
// reachable from main, every acknowledged file is in main's tree, and the
// history is linear and holds exactly the expected number of commits.
func verifyHistory(t *testing.T, r *testRepo, wantCommits int, shas []string, paths []string) {
	t.Helper()
	dir := r.Dir(t)
	tip := r.tip(t, "refs/heads/main")
	// One rev-list answers `git merge-base --is-ancestor <sha> main` for all.
	reachable := map[string]bool{}
	for _, line := range strings.Split(gitRun(t, dir, nil, "rev-list", "--parents", tip), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 {
			t.Errorf("merge commit %s in a history of single-parent commits", f[0])
		}
		reachable[f[0]] = true
	}
	for _, sha := range shas {
		if !reachable[sha] {
			t.Errorf("acknowledged commit %s is not an ancestor of main (%s): lost update", sha, tip)
		}
	}
	if len(reachable) != wantCommits {
		t.Errorf("main has %d commits, want %d (seed + acknowledged)", len(reachable), wantCommits)
	}
	inTree := map[string]bool{}
	for _, p := range treePaths(t, dir, tip) {
		inTree[p] = true
	}
	for _, p := range paths {
		if !inTree[p] {
			t.Errorf("acknowledged file %s is missing from main's tree", p)
		}
	}
	if len(inTree) != len(paths)+1 {
		t.Errorf("main's tree has %d files, want %d", len(inTree), len(paths)+1)
	}
	// Spot-check the oracle the brief names on the oldest and newest.
	for _, sha := range []string{shas[0], shas[len(shas)-1]} {
		if _, err := gitOutput(dir, nil, "merge-base", "--is-ancestor", sha, tip); err != nil {
			t.Errorf("git merge-base --is-ancestor %s %s: %v", sha, tip, err)
		}
	}
}

// TestCommitPack_concurrentWithGitUpdateRef races commit-pack writers using
// expected_head_sha against each other and against an outside git process
// moving the same branch; no acknowledged update may be lost.
func TestCommitPack_concurrentWithGitUpdateRef(t *testing.T) {
	t.Parallel()
	const (
		writers      = 8
		outsideTotal = 100
		maxAttempts  = 2000
	)
	// 8 × 100 API commits: about a minute under -race on 2 cores (the
	// writers lose thousands of compare-and-swaps between them).
	const perWriter = 100
	e := start(t)
	r, seed := e.seededRepo(t, upsert("seed.txt", "seed"))
	dir := r.Dir(t)

	var (
		mu      sync.Mutex
		shas    []string
		paths   []string
		errs    firstErr
		retries int
		wg      sync.WaitGroup
	)
	record := func(sha, path string) {
		mu.Lock()
		defer mu.Unlock()
		shas = append(shas, sha)
		paths = append(paths, path)
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tip := ""
			for i := range perWriter {
				if errs.get() != nil {
					return
				}
				path := fmt.Sprintf("api/w%d/%03d.txt", w, i)
				c, next, attempts, err := e.commitUntilAcked(r, path, tip, maxAttempts)
				if err != nil {
					errs.set(err)
					return
				}
				record(c.sha, c.path)
				mu.Lock()
				retries += attempts - 1
				mu.Unlock()
				tip = next // the previous response is the freshest tip we know
			}
		}()
	}
	ow := newOutsideWriter(t, dir, "main")
	wg.Add(1)
	go func() {
		defer wg.Done()
		ow.commitMany(outsideTotal, &errs, record)
	}()
	wg.Wait()
	if err := errs.get(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d API commits needed %d retries", writers*perWriter, retries)
	if len(shas) != writers*perWriter+outsideTotal {
		t.Fatalf("%d acknowledged commits, want %d", len(shas), writers*perWriter+outsideTotal)
	}
	verifyHistory(t, r, 1+len(shas), append([]string{seed}, shas...), paths)
	// The listing agrees with the disk.
	if got, want := r.branchHeads(t, false)["main"], r.tip(t, "refs/heads/main"); got != want {
		t.Errorf("GET /repos/branches main = %s, disk says %s", got, want)
	}
}

// TestCommitPack_noExpectedHeadRacingOutside: without expected_head_sha the
// server rebuilds a commit on a tip that moved underneath it, so a commit
// only fails with "conflict" once its retry budget is spent, and never
// drops the outside writer's commits.
func TestCommitPack_noExpectedHeadRacingOutside(t *testing.T) {
	t.Parallel()
	const (
		writers      = 2
		perWriter    = 30
		outsideTotal = 60
		// The client's own budget per commit for "conflict" answers. The
		// server rebuilds a commit up to 6 times itself, so a client sees
		// "conflict" only when the outside writer won every one of them
		// (a few times per run on a loaded 2-core machine).
		clientRetries = 5
	)
	e := start(t)
	r, seed := e.seededRepo(t, upsert("seed.txt", "seed"))
	dir := r.Dir(t)

	var (
		mu        sync.Mutex
		shas      []string
		paths     []string
		conflicts int
		errs      firstErr
		wg        sync.WaitGroup
	)
	record := func(sha, path string) {
		mu.Lock()
		defer mu.Unlock()
		shas = append(shas, sha)
		paths = append(paths, path)
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				path := fmt.Sprintf("api/w%d/%03d.txt", w, i)
				acked := false
				for try := 0; try <= clientRetries && !acked; try++ {
					if errs.get() != nil {
						return
					}
					body := packBody(newMeta("main", "commit_message", "api "+path), upsert(path, "content of "+path))
					resp, err := e.send("POST", "/api/v1/repos/commit-pack", r.Write, bytes.NewReader(body), "Content-Type", "application/x-ndjson")
					if err != nil {
						errs.set(err)
						return
					}
					switch resp.Status {
					case http.StatusCreated, http.StatusOK:
						var ack commitAck
						if err := json.Unmarshal(resp.Body, &ack); err != nil {
							errs.set(err)
							return
						}
						// The reported old_sha must be the real parent even when
						// the server rebuilt the commit on a newer tip.
						parent, err := gitOutput(dir, nil, "rev-parse", ack.Commit.CommitSHA+"^")
						if err != nil {
							errs.set(err)
							return
						}
						if got := strings.TrimSpace(string(parent)); got != ack.Result.OldSHA {
							errs.set(fmt.Errorf("commit %s: old_sha %s but parent %s", ack.Commit.CommitSHA, ack.Result.OldSHA, got))
							return
						}
						record(ack.Commit.CommitSHA, path)
						acked = true
					case http.StatusConflict:
						var f refFailure
						_ = json.Unmarshal(resp.Body, &f)
						if f.Result.Status != "conflict" {
							errs.set(fmt.Errorf("409 without expected_head_sha must be \"conflict\": %s", resp))
							return
						}
						mu.Lock()
						conflicts++
						mu.Unlock()
					default:
						errs.set(fmt.Errorf("commit %s: %s", path, resp))
						return
					}
				}
				if !acked {
					errs.set(fmt.Errorf("commit %s failed with conflict %d times", path, clientRetries+1))
					return
				}
			}
		}()
	}
	ow := newOutsideWriter(t, dir, "main")
	wg.Add(1)
	go func() {
		defer wg.Done()
		ow.commitMany(outsideTotal, &errs, record)
	}()
	wg.Wait()
	if err := errs.get(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d conflicts seen by clients", conflicts)
	verifyHistory(t, r, 1+len(shas), append([]string{seed}, shas...), paths)
}
