package resilience

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
)

// ack is one acknowledged write: after it, ref of repo is at sha or past it.
type ack struct {
	repo, ref, sha, how string
}

// acks collects acknowledged writes from the workers.
type acks struct {
	mu   sync.Mutex
	list []ack
}

func (a *acks) add(repo, ref, sha, how string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, ack{repo, ref, sha, how})
}

func (a *acks) all() []ack {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ack(nil), a.list...)
}

// Strata is killed with SIGKILL at a random moment while commit-packs,
// merges and git pushes run concurrently and webhooks are being
// delivered, then restarted on the same data dir, round after round.
// After every crash: each acknowledged write is there (its ref at or past
// the commit, the commit readable), `git fsck --full` is clean on every
// repository, and after the restart (and its reconciliation) the event
// feed has, for every ref, an unbroken chain of updates from creation to
// the ref's value on disk, with exactly one event for each acknowledged
// commit. At the end every event has been delivered to the webhook.
func TestCrash_killDuringWrites(t *testing.T) {
	t.Parallel()
	rounds, work := 3, 3*time.Second
	if soak() {
		rounds, work = 25, 8*time.Second
	}
	rc, ca := newReceiver(t)
	s := newStrata(t, "--upstream-allow-private", "--upstream-ca-file", ca, "--webhook-backoff", "100ms")
	s.start()

	repos := []string{"alpha", "team/beta"}
	for _, r := range repos {
		s.createRepo(r)
		if _, _, err := s.commitPack(r, "main", "README.md", "seed\n"); err != nil {
			t.Fatal(err)
		}
	}
	// A webhook hears of events after its creation: the seeds are not
	// delivered.
	seeded := lastSeq(t, s)
	status, data, err := s.call("POST", "/api/v1/webhooks", s.api.Token("org", auth.ScopeRepoWrite),
		map[string]any{"url": rc.URL, "events": []string{"push"}})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s %v", status, data, err)
	}
	// One local clone per repository for its pusher.
	clones := map[string]string{}
	for _, r := range repos {
		dir := filepath.Join(t.TempDir(), "clone")
		if out, err := git("", "clone", "-q", s.remote(r), dir); err != nil {
			t.Fatal(out, err)
		}
		mustGit(t, dir, "checkout", "-q", "-b", "pushed")
		clones[r] = dir
	}

	var acked acks
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range rounds {
		killAt := time.Duration(float64(work) * (0.2 + 0.8*rng.Float64()))
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, r := range repos {
			for w := range 3 {
				wg.Go(func() { commitWorker(ctx, s, &acked, r, w, round) })
			}
			wg.Go(func() { mergeWorker(ctx, s, &acked, r) })
			wg.Go(func() { pushWorker(ctx, s, &acked, r, clones[r], round) })
		}
		time.Sleep(killAt)
		s.kill()
		cancel()
		wg.Wait()
		t.Logf("round %d: killed after %s; %d writes acknowledged so far", round, killAt.Round(time.Millisecond), len(acked.all()))

		dirs := repoDirs(t, s.dataDir())
		if len(dirs) != len(repos) {
			t.Fatalf("%d repository dirs on disk, want %d", len(dirs), len(repos))
		}
		for _, d := range dirs {
			if out, err := git("", "--git-dir", d, "fsck", "--full", "--no-progress"); err != nil {
				t.Fatalf("round %d: after the crash: %v\n%s", round, err, out)
			}
		}
		s.start()
		checkAcked(t, s, acked.all())
		checkEvents(t, s, acked.all())
	}

	// Every event in the feed reaches the webhook (at least once).
	want := feedKeys(t, s, seeded)
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := rc.pushes()
		var missing []string
		for k := range want {
			if !got[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			t.Logf("%d rounds, %d acknowledged writes, %d events, all delivered", rounds, len(acked.all()), len(want))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never delivered, e.g. %s", len(missing), len(want), missing[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// commitWorker commits to its own branch and, every third write, to main
// (where concurrent commit-packs rebase onto each other).
func commitWorker(ctx context.Context, s *strata, acked *acks, repo string, w, round int) {
	for n := 0; ctx.Err() == nil; n++ {
		branch := fmt.Sprintf("cp-%d", w)
		if n%3 == 2 {
			branch = "main"
		}
		path := fmt.Sprintf("w%d/r%d-%d.txt", w, round, n)
		_, sha, err := s.commitPack(repo, branch, path, fmt.Sprintf("%s %d %d\n", repo, round, n))
		if err != nil {
			return // the server is gone
		}
		if sha != "" {
			acked.add(repo, "refs/heads/"+branch, sha, "commit-pack")
		}
	}
}

// mergeWorker merges the commit workers' branches into main.
func mergeWorker(ctx context.Context, s *strata, acked *acks, repo string) {
	for n := 0; ctx.Err() == nil; n++ {
		status, data, err := s.call("POST", "/api/v1/repos/merge", s.token(repo), map[string]any{
			"source_branch": fmt.Sprintf("cp-%d", n%3), "target_branch": "main", "strategy": "merge",
			"commit_message": "merge", "author": map[string]any{"name": "Ada", "email": "ada@example.com"}})
		if err != nil {
			return
		}
		if status == http.StatusOK {
			var res struct {
				CommitSHA string `json:"commit_sha"`
			}
			if jsonUnmarshal(data, &res) == nil && len(res.CommitSHA) == 40 {
				acked.add(repo, "refs/heads/main", res.CommitSHA, "merge")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pushWorker commits in a local clone and pushes branch "pushed"; only
// this worker writes that branch, so every push is a fast-forward of
// whatever reached the server.
func pushWorker(ctx context.Context, s *strata, acked *acks, repo, dir string, round int) {
	for n := 0; ctx.Err() == nil; n++ {
		name := fmt.Sprintf("p-r%d-%d.txt", round, n)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name+"\n"), 0o644); err != nil {
			return
		}
		if _, err := git(dir, "add", name); err != nil {
			return
		}
		if _, err := git(dir, "commit", "-q", "-m", name); err != nil {
			return
		}
		sha, err := git(dir, "rev-parse", "HEAD")
		if err != nil {
			return
		}
		if _, err := git(dir, "push", "-q", s.remote(repo), "pushed"); err != nil {
			return
		}
		acked.add(repo, "refs/heads/pushed", sha, "push")
	}
}

// repoDirs lists the bare repositories under dataDir.
func repoDirs(t testing.TB, dataDir string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dataDir, "repos", "*", "*.git"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// repoDir finds repo's directory through the metadata store.
func repoDir(t testing.TB, store metadata.Store, dataDir, repo string) string {
	t.Helper()
	r, err := store.Repo(t.Context(), "acme", repo)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dataDir, "repos", r.StorageKey[:2], r.StorageKey+".git")
}

// openStore opens the metadata database beside a running server; the
// tests only read it.
func openStore(t testing.TB, s *strata) metadata.Store {
	t.Helper()
	store, err := metadata.OpenSQLite(filepath.Join(s.dataDir(), "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// checkAcked checks that every acknowledged commit is readable and its
// ref is at it or past it: one `git rev-list` per ref, then membership.
func checkAcked(t testing.TB, s *strata, list []ack) {
	t.Helper()
	store := openStore(t, s)
	defer store.Close()
	dirs := map[string]string{}
	reachable := map[string]map[string]bool{} // "repo ref" → commits
	for _, a := range list {
		d, ok := dirs[a.repo]
		if !ok {
			d = repoDir(t, store, s.dataDir(), a.repo)
			dirs[a.repo] = d
		}
		key := a.repo + " " + a.ref
		revs, ok := reachable[key]
		if !ok {
			out, err := git("", "--git-dir", d, "rev-list", a.ref, "--")
			if err != nil {
				t.Fatalf("%s %s: %v", a.repo, a.ref, err)
			}
			revs = map[string]bool{}
			for sha := range strings.FieldsSeq(out) {
				revs[sha] = true
			}
			reachable[key] = revs
		}
		if revs[a.sha] {
			continue
		}
		if out, err := git("", "--git-dir", d, "cat-file", "-e", a.sha+"^{commit}"); err != nil {
			t.Fatalf("acknowledged %s %s of %s %s is not readable: %v %s", a.how, a.sha, a.repo, a.ref, err, out)
		}
		tip, _ := git("", "--git-dir", d, "rev-parse", a.ref)
		t.Fatalf("lost write: %s %s acknowledged on %s %s, which is now at %s and does not contain it", a.how, a.sha, a.repo, a.ref, tip)
	}
}

// allEvents reads the whole event feed.
func allEvents(t testing.TB, store metadata.Store) []metadata.RefEvent {
	t.Helper()
	var out []metadata.RefEvent
	after := int64(0)
	for {
		evs, err := store.RefEvents(t.Context(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].Seq
	}
}

// checkEvents checks the feed. Per ref, the events must form one chain
// of updates from zero to the ref's value on disk, in Seq order, each
// event used once (nothing missing, nothing twice), and every
// acknowledged commit has exactly one event on its ref.
//
// checkEvents walks each ref's events from zero to the ref on disk: every
// update recorded once, in the order the ref moved, and every acknowledged
// write recorded exactly once.
func checkEvents(t testing.TB, s *strata, list []ack) {
	t.Helper()
	store := openStore(t, s)
	defer store.Close()
	zero := strings.Repeat("0", 40)
	type refKey struct{ key, ns, ref string }
	byRef := map[refKey][]metadata.RefEvent{}
	count := map[string]int{} // "repo ref after" → events
	for _, e := range allEvents(t, store) {
		k := refKey{e.StorageKey, e.Namespace, e.Ref}
		byRef[k] = append(byRef[k], e)
		if e.Namespace == "" {
			count[e.RepoID+" "+e.Ref+" "+e.After]++
		}
	}
	for k, evs := range byRef {
		d := filepath.Join(s.dataDir(), "repos", k.key[:2], k.key+".git")
		ref := k.ref
		if k.ns != "" {
			ref = "refs/namespaces/" + k.ns + "/" + ref
		}
		onDisk, err := git("", "--git-dir", d, "rev-parse", "--verify", "-q", ref)
		if err != nil {
			onDisk = zero
		}
		// Walk the chain by before → event; commits never repeat on these
		// refs, so each before names one update.
		next := map[string]metadata.RefEvent{}
		for _, e := range evs {
			if dup, ok := next[e.Before]; ok {
				t.Fatalf("%s %s: events %d and %d both move it from %s (to %s and %s): an update recorded twice", evs[0].RepoID, k.ref, dup.Seq, e.Seq, e.Before, dup.After, e.After)
			}
			next[e.Before] = e
		}
		at, used, inOrder, lastSeq := zero, 0, true, int64(0)
		for {
			e, ok := next[at]
			if !ok {
				break
			}
			used++
			if e.Seq < lastSeq {
				inOrder = false
			}
			lastSeq = e.Seq
			at = e.After
		}
		if used != len(evs) || at != onDisk {
			var dump []string
			for _, e := range evs {
				dump = append(dump, fmt.Sprintf("  seq %d %s → %s", e.Seq, e.Before, e.After))
			}
			t.Fatalf("%s %s is %s on disk; its events chain from zero to %s using %d of %d events (an update missing or repeated):\n%s",
				evs[0].RepoID, k.ref, onDisk, at, used, len(evs), strings.Join(dump, "\n"))
		}
		if !inOrder {
			t.Fatalf("%s %s: its events are out of order in the feed", evs[0].RepoID, k.ref)
		}
	}
	for _, a := range list {
		if n := count[a.repo+" "+a.ref+" "+a.sha]; n != 1 {
			t.Fatalf("%d events for the acknowledged %s %s on %s %s, want 1", n, a.how, a.sha, a.repo, a.ref)
		}
	}
}

// feedKeys returns the feed's events as "repo ref before after".
func feedKeys(t testing.TB, s *strata, afterSeq int64) map[string]bool {
	t.Helper()
	store := openStore(t, s)
	defer store.Close()
	out := map[string]bool{}
	for _, e := range allEvents(t, store) {
		if e.Namespace == "" && e.Seq > afterSeq {
			out[e.RepoID+" "+e.Ref+" "+e.Before+" "+e.After] = true
		}
	}
	return out
}

// lastSeq is the sequence number of the feed's newest event.
func lastSeq(t testing.TB, s *strata) int64 {
	t.Helper()
	store := openStore(t, s)
	defer store.Close()
	evs := allEvents(t, store)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}
