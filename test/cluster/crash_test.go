package cluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// acked is one acknowledged write: ref is at sha or past it, and sha's
// tree holds path with content.
type acked struct {
	ref, sha, path, content, how string
}

// ackList collects acknowledged writes from the workers.
type ackList struct {
	mu   sync.Mutex
	list []acked
}

func (l *ackList) add(a acked) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, a)
}

func (l *ackList) all() []acked {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// pick returns a random acknowledged write.
func (l *ackList) pick(rng *rand.Rand) acked {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.list[rng.IntN(len(l.list))]
}

const crashRepo = "crash"

// Issue 13: a node is killed with SIGKILL while REST commit-packs and git
// pushes run against it, round after round at random moments. Meanwhile
// the two other nodes go on serving reads and writes, during the crash
// and after it; every acknowledged write (201, push exit 0) is readable
// from each surviving node; the killed node's cache, left mid-write,
// passes fsck and, once the node is restarted on it, serves the current
// state. At the end a new node with an empty cache serves everything
// acknowledged, its clone passes `git fsck --strict`, and the event feed
// holds every ref's updates as one unbroken chain with exactly one event
// per acknowledged write.
func TestCrash_killNodeMidWrites(t *testing.T) {
	rounds := 3
	if os.Getenv("STRATA_SOAK") == "1" {
		rounds = 12
	}
	c := startProcCluster(t)
	a, b, cn := c.newNode("a"), c.newNode("b"), c.newNode("c")
	for _, n := range []*procNode{a, b, cn} {
		n.start()
	}
	token := c.token(crashRepo)
	ctx := t.Context()
	if status, body, err := b.call(ctx, "POST", "/api/v1/repos", token, "application/json", []byte(`{"default_branch":"main"}`)); err != nil || status != http.StatusCreated {
		t.Fatalf("create: %d %s %v", status, body, err)
	}
	var acks ackList
	seed := func(n *procNode, branch, base, path string) {
		status, sha, body, err := n.commit(ctx, token, branch, base, path, path+"\n")
		if sha == "" {
			t.Fatalf("seed %s on node %s: %d %s %v", branch, n.name, status, body, err)
		}
		acks.add(acked{"refs/heads/" + branch, sha, path, path + "\n", "seed"})
	}
	seed(b, "main", "", "README.md")
	seed(b, "side-b", "main", "b/seed.txt")
	seed(cn, "side-c", "main", "c/seed.txt")

	// The pusher's clone; only it writes branch "pushed", so every push
	// is a fast-forward of whatever reached the record.
	clone := filepath.Join(t.TempDir(), "pusher")
	gitOK(t, "", "clone", "-q", b.remote(token, crashRepo), clone)
	gitOK(t, clone, "checkout", "-q", "-b", "pushed")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	for round := range rounds {
		var (
			killed             atomic.Bool
			inCommit, inPush   atomic.Int32
			afterKill          [2]atomic.Int32 // writes begun after the kill, per side worker
			aWork, sideWork    sync.WaitGroup
			aCtx, stopA        = context.WithCancel(ctx)
			sideCtx, stopSides = context.WithCancel(ctx)
		)
		aWork.Go(func() { // REST commits on node a
			for i := 0; aCtx.Err() == nil; i++ {
				path := fmt.Sprintf("a/r%d-%d.txt", round, i)
				inCommit.Add(1)
				status, sha, body, err := a.commit(aCtx, token, "main", "", path, path+"\n")
				inCommit.Add(-1)
				if sha == "" {
					if !killed.Load() {
						t.Errorf("round %d: commit-pack on node a before the kill: %d %s %v", round, status, body, err)
					}
					return
				}
				acks.add(acked{"refs/heads/main", sha, path, path + "\n", "commit-pack on a"})
			}
		})
		aWork.Go(func() { // git pushes to node a
			for i := 0; aCtx.Err() == nil; i++ {
				name := fmt.Sprintf("p-r%d-%d.txt", round, i)
				if err := os.WriteFile(filepath.Join(clone, name), []byte(name+"\n"), 0o644); err != nil {
					t.Error(err)
					return
				}
				if out, err := git(clone, "add", name); err != nil {
					t.Errorf("git add: %v\n%s", err, out)
					return
				}
				if out, err := git(clone, "commit", "-q", "-m", name); err != nil {
					t.Errorf("git commit: %v\n%s", err, out)
					return
				}
				sha, _ := git(clone, "rev-parse", "HEAD")
				inPush.Add(1)
				out, err := git(clone, "push", "-q", a.remote(token, crashRepo), "HEAD:refs/heads/pushed")
				inPush.Add(-1)
				if err != nil {
					if !killed.Load() {
						t.Errorf("round %d: push to node a before the kill: %v\n%s", round, err, out)
					}
					return
				}
				acks.add(acked{"refs/heads/pushed", sha, name, name + "\n", "push to a"})
			}
		})
		for i, n := range []*procNode{b, cn} {
			seed := rng.Uint64()
			sideWork.Go(func() { sideWorker(sideCtx, t, n, token, round, &acks, &killed, &afterKill[i], seed) })
		}

		delay := time.Duration(200+rng.IntN(1800)) * time.Millisecond
		time.Sleep(delay)
		// Kill while a commit-pack and a push are both in flight.
		for deadline := time.Now().Add(30 * time.Second); inCommit.Load() == 0 || inPush.Load() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) || t.Failed() {
				t.Fatalf("round %d: no commit and push in flight together (commit %d, push %d)", round, inCommit.Load(), inPush.Load())
			}
		}
		killed.Store(true)
		a.kill()
		stopA()
		aWork.Wait()
		// The others keep serving after the crash: each side worker makes
		// two more writes, begun after the kill.
		for deadline := time.Now().Add(2 * time.Minute); afterKill[0].Load() < 2 || afterKill[1].Load() < 2; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) || t.Failed() {
				stopSides()
				sideWork.Wait()
				t.Fatalf("round %d: the surviving nodes made %d and %d writes after the kill", round, afterKill[0].Load(), afterKill[1].Load())
			}
		}
		stopSides()
		sideWork.Wait()
		if t.Failed() {
			t.FailNow()
		}
		list := acks.all()
		t.Logf("round %d: node a killed after %v with a commit-pack and a push in flight; %d writes acknowledged so far", round, delay, len(list))

		// The killed node's cache, as the crash left it, is a sound
		// repository.
		for _, d := range a.cacheRepos() {
			if out, err := git("", "--git-dir", d, "fsck", "--strict", "--no-progress"); err != nil {
				t.Fatalf("round %d: fsck of node a's cache after the crash: %v\n%s", round, err, out)
			}
		}
		left := a.leftovers()
		checkAckedOn(t, b, token, list)
		checkAckedOn(t, cn, token, list)
		// Restarted on the cache the crash left, node a serves the state
		// of record, and clears what the crash left in it.
		a.start()
		checkAckedOn(t, a, token, list)
		checkSameRefs(t, token, a, b, cn)
		if now := a.leftovers(); len(left) > 0 || len(now) > 0 {
			t.Logf("round %d: the crash left %q in node a's cache; after the restart: %q", round, left, now)
		}
		for _, p := range a.leftovers() {
			if slices.Contains(left, p) {
				t.Errorf("round %d: %s, left by the crash, is still in node a's cache after the restart", round, p)
			}
		}
	}

	d := c.newNode("fresh")
	d.start()
	list := acks.all()
	checkAckedOn(t, d, token, list)
	checkSameRefs(t, token, a, b, cn, d)
	unacked := checkFeed(t, c.ledger(), list)
	t.Logf("%d rounds, %d acknowledged writes, all on every node and in a fresh node's clone; %d updates of record were never acknowledged (the kill came after the database commit)", rounds, len(list), unacked)
}

// sideWorker writes and reads through one surviving node until ctx ends:
// a commit-pack to its own branch, a REST read of a random acknowledged
// write (any node's, so across nodes), `git ls-remote`. Every request must
// succeed; writes begun after the kill are counted in afterKill.
func sideWorker(ctx context.Context, t *testing.T, n *procNode, token string, round int, acks *ackList, killed *atomic.Bool, afterKill *atomic.Int32, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	branch := "side-" + n.name
	for i := 0; ctx.Err() == nil; i++ {
		path := fmt.Sprintf("%s/r%d-%d.txt", n.name, round, i)
		after := killed.Load()
		// Not ctx: a write the test stops must still get its answer.
		status, sha, body, err := n.commit(context.Background(), token, branch, "", path, path+"\n")
		if sha == "" {
			t.Errorf("round %d: commit-pack on node %s: %d %s %v", round, n.name, status, body, err)
			return
		}
		acks.add(acked{"refs/heads/" + branch, sha, path, path + "\n", "commit-pack on " + n.name})
		if after {
			afterKill.Add(1)
		}
		w := acks.pick(rng)
		status, got, err := n.read(context.Background(), token, w.path, w.sha)
		if err != nil || status != http.StatusOK || got != w.content {
			t.Errorf("round %d: node %s reads %s at %s (%s): %d %q %v", round, n.name, w.path, w.sha, w.how, status, got, err)
			return
		}
		if out, err := git("", "ls-remote", n.remote(token, crashRepo)); err != nil {
			t.Errorf("round %d: ls-remote on node %s: %v\n%s", round, n.name, err, out)
			return
		}
	}
}

// checkAckedOn checks every acknowledged write on node n: its file reads
// back at its commit through REST, and its commit is in the history of
// its ref in a clone from n, which passes `git fsck --strict`.
func checkAckedOn(t *testing.T, n *procNode, token string, list []acked) {
	t.Helper()
	ctx := t.Context()
	for _, w := range list {
		status, got, err := n.read(ctx, token, w.path, w.sha)
		if err != nil || status != http.StatusOK || got != w.content {
			t.Fatalf("node %s reads %s at %s (%s): %d %q %v", n.name, w.path, w.sha, w.how, status, got, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "clone")
	gitOK(t, "", "clone", "-q", "--bare", n.remote(token, crashRepo), dir)
	gitOK(t, dir, "fsck", "--strict", "--no-progress")
	history := map[string]map[string]bool{}
	for _, w := range list {
		if history[w.ref] == nil {
			history[w.ref] = map[string]bool{}
			for _, sha := range strings.Fields(gitOK(t, dir, "rev-list", w.ref)) {
				history[w.ref][sha] = true
			}
		}
		if !history[w.ref][w.sha] {
			t.Fatalf("node %s: acknowledged %s %s is not in %s of a clone", n.name, w.how, w.sha, w.ref)
		}
	}
}

// checkSameRefs checks that every node advertises the same refs.
func checkSameRefs(t *testing.T, token string, nodes ...*procNode) {
	t.Helper()
	var first string
	for i, n := range nodes {
		refs := gitOK(t, "", "ls-remote", n.remote(token, crashRepo))
		if i == 0 {
			first = refs
		} else if refs != first {
			t.Fatalf("node %s advertises\n%s\nnode %s\n%s", nodes[0].name, first, n.name, refs)
		}
	}
}

// checkFeed checks the event feed against the refs of record: per ref,
// the events form one chain of updates from zero to the ref's value of
// record, each used once, in feed order; every acknowledged write has
// exactly one event. It returns how many events no acknowledgement
// names: writes of record whose answer the kill cut off.
func checkFeed(t *testing.T, store *metadata.PostgresStore, list []acked) int {
	t.Helper()
	ctx := t.Context()
	var events []metadata.RefEvent
	for after := int64(0); ; {
		evs, err := store.RefEvents(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		events = append(events, evs...)
		after = evs[len(evs)-1].Seq
	}
	zero := strings.Repeat("0", 40)
	byRef := map[string][]metadata.RefEvent{}
	count := map[string]int{} // "ref after"
	var key string
	for _, e := range events {
		if e.RepoID != crashRepo || e.Namespace != "" {
			continue
		}
		key = e.StorageKey
		byRef[e.Ref] = append(byRef[e.Ref], e)
		count[e.Ref+" "+e.After]++
	}
	if key == "" {
		t.Fatal("no events for the repository")
	}
	record, err := store.LedgerSnapshot(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(record.Refs) != len(byRef) {
		t.Errorf("%d refs of record, events for %d", len(record.Refs), len(byRef))
	}
	for ref, evs := range byRef {
		next := map[string]metadata.RefEvent{}
		for _, e := range evs {
			if dup, ok := next[e.Before]; ok {
				t.Fatalf("%s: events %d and %d both move it from %s", ref, dup.Seq, e.Seq, e.Before)
			}
			next[e.Before] = e
		}
		at, used, last := zero, 0, int64(0)
		for e, ok := next[at]; ok; e, ok = next[at] {
			if e.Seq < last {
				t.Fatalf("%s: events out of feed order at seq %d", ref, e.Seq)
			}
			used, last, at = used+1, e.Seq, e.After
		}
		want := record.Refs[ref]
		if want == "" {
			want = zero
		}
		if used != len(evs) || at != want {
			t.Fatalf("%s is %s of record; its %d events chain from zero to %s using %d", ref, want, len(evs), at, used)
		}
	}
	unacked := 0
	for _, evs := range byRef {
		unacked += len(evs)
	}
	for _, w := range list {
		if n := count[w.ref+" "+w.sha]; n != 1 {
			t.Errorf("%d events for the acknowledged %s %s on %s, want 1", n, w.how, w.sha, w.ref)
		}
		unacked--
	}
	return unacked
}
