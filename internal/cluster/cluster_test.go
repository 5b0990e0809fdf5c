package cluster_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/cluster"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/objstore"
	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/s3test"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is one cluster's shared stores: a PostgreSQL database and an
// S3-compatible server, both real.
type env struct {
	t      *testing.T
	store  *metadata.PostgresStore
	s3     *s3test.Server
	bucket *objstore.Bucket
	opts   cluster.Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dsn := pgtest.New(t)
	s3 := s3test.Start(t)
	store, err := metadata.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bucket, err := objstore.Open(t.Context(), s3.URL, s3.Getenv, objstore.WithTimeouts(objstore.Timeouts{Dial: time.Second, Stall: 2 * time.Second, Call: 3 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	return &env{t: t, store: store, s3: s3, bucket: bucket}
}

// node is one Strata node: its own cache directory and git processes.
type node struct {
	m *repo.Manager
	c *cluster.Cluster
}

func (e *env) node() *node { return e.nodeAt(e.t.TempDir()) }

// nodeAt is a node on the cache directory root, as a node restarted on its
// old cache is.
func (e *env) nodeAt(root string) *node {
	t := e.t
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	m, err := repo.NewManager(root, f, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := refs.NewUpdater(f)
	c := cluster.New(e.store, e.bucket, f, cache, up, slog.New(slog.NewTextHandler(io.Discard, nil)), e.opts)
	m.SetRecord(c)
	t.Cleanup(func() {
		c.Close()
		up.Close()
		m.Close()
		cache.Stop()
	})
	return &node{m: m, c: c}
}

// create registers a repository as the API does: metadata row, then the
// repository.
func (e *env) create(n *node, id string) string {
	e.t.Helper()
	r, err := e.store.CreateRepo(e.t.Context(), metadata.Repo{Org: "acme", ID: id, DefaultBranch: "main"})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := n.m.Create(e.t.Context(), r.StorageKey, "main"); err != nil {
		e.t.Fatal(err)
	}
	return r.StorageKey
}

// commit writes path=content on main, expecting head (empty: any).
func commit(ctx context.Context, r *repo.Repo, path, content string, head git.ObjectID) (git.ObjectID, error) {
	w, err := r.BeginWrite()
	if err != nil {
		return "", err
	}
	bw := w.NewBlob()
	io.Copy(bw, strings.NewReader(content))
	oid, err := bw.Close()
	if err != nil {
		w.Abort()
		return "", err
	}
	res, err := r.CommitChanges(ctx, w, repo.CommitRequest{Branch: "main", ExpectedHead: head, Message: "set " + path,
		Author:  repo.Signature{Name: "A", Email: "a@example.com"},
		Changes: []repo.FileChange{{Path: path, Mode: "100644", OID: oid}}})
	if err != nil {
		return "", err
	}
	return res.Commit, nil
}

func (n *node) open(t *testing.T, key string) *repo.Repo {
	t.Helper()
	r, err := n.m.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, r *repo.Repo, path string) string {
	t.Helper()
	head, err := r.ResolveBranch(git.NormalNamespace, "main")
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.ReadFile(t.Context(), head, path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fsck(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("git", "--git-dir", dir, "fsck", "--strict", "--no-progress", "--no-dangling")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fsck %s: %v\n%s", dir, err, out)
	}
}

// A write on one node is read on another, and a node with an empty cache
// serves the whole history.
func TestCluster_writeOnOneReadOnAnother(t *testing.T) {
	e := newEnv(t)
	a, b := e.node(), e.node()
	key := e.create(a, "r")
	ra := a.open(t, key)
	var last git.ObjectID
	for i := range 3 {
		c, err := commit(t.Context(), ra, fmt.Sprintf("f%d", i), fmt.Sprintf("v%d\n", i), "")
		if err != nil {
			t.Fatal(err)
		}
		last = c
	}
	rb := b.open(t, key)
	if got, _ := rb.ResolveBranch(git.NormalNamespace, "main"); got != last {
		t.Fatalf("node b sees main at %s, want %s", got, last)
	}
	if got := readFile(t, rb, "f2"); got != "v2\n" {
		t.Fatalf("node b reads %q", got)
	}
	// b writes, a reads without being told.
	c, err := commit(t.Context(), rb, "f0", "changed\n", last)
	if err != nil {
		t.Fatal(err)
	}
	ra = a.open(t, key)
	if got, _ := ra.ResolveBranch(git.NormalNamespace, "main"); got != c {
		t.Fatalf("node a sees main at %s, want %s", got, c)
	}
	if got := readFile(t, ra, "f0"); got != "changed\n" {
		t.Fatalf("node a reads %q", got)
	}
	// HEAD of record travels too.
	if err := ra.SetDefaultBranch(t.Context(), "dev"); err != nil {
		t.Fatal(err)
	}
	if br, err := b.open(t, key).DefaultBranch(); err != nil || br != "dev" {
		t.Fatalf("node b's HEAD: %q %v", br, err)
	}
	fresh := e.node()
	rc := fresh.open(t, key)
	if got := readFile(t, rc, "f1"); got != "v1\n" {
		t.Fatalf("fresh node reads %q", got)
	}
	fsck(t, rc.Path())
	// Events of record: one per ref update, in order.
	evs, err := e.store.RefEvents(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[3].After != string(c) || evs[0].Before != string(git.ZeroOID) {
		t.Fatalf("events: %+v", evs)
	}
	// A conflict is the usual one.
	if _, err := commit(t.Context(), ra, "x", "x", last); !errors.Is(err, repo.ErrConflict) && !errors.Is(err, repo.ErrPrecondition) {
		t.Fatalf("stale expected head: %v", err)
	}
}

// Two nodes race compare-and-swap commits on one branch: every
// acknowledged commit is in the final history, seen from a fresh node.
func TestCluster_racingNodesLoseNothing(t *testing.T) {
	e := newEnv(t)
	nodes := []*node{e.node(), e.node()}
	key := e.create(nodes[0], "r")
	acked := commitLoops(t, nodes, key, 15, true)
	if len(acked) == 0 {
		t.Fatal("no commit won")
	}
	history := historyOf(t, e.node(), key)
	for _, c := range acked {
		if !slices.Contains(history, string(c)) {
			t.Errorf("acknowledged commit %s is not in the history of record", c)
		}
	}
	if len(history) != len(acked) {
		t.Errorf("history has %d commits, %d were acknowledged", len(history), len(acked))
	}
}

// commitLoops has each node commit rounds files to main at once and
// returns the acknowledged commits. With expect, each commit names the
// head its node saw, and one that loses the race is skipped; without, a
// commit must land (it is rebuilt on the new tip) and a failure fails the
// test.
func commitLoops(t *testing.T, nodes []*node, key string, rounds int, expect bool) []git.ObjectID {
	var mu sync.Mutex
	var acked []git.ObjectID
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for j := range rounds {
				r, err := n.m.Open(t.Context(), key)
				if err != nil {
					t.Error(err)
					return
				}
				var head git.ObjectID
				if expect {
					head, _ = r.ResolveBranch(git.NormalNamespace, "main")
				}
				c, err := commit(t.Context(), r, fmt.Sprintf("n%d/f%d", i, j), "x\n", head)
				if expect && (errors.Is(err, repo.ErrConflict) || errors.Is(err, repo.ErrPrecondition)) {
					continue
				}
				if err != nil {
					t.Errorf("node %d commit %d: %v", i, j, err)
					return
				}
				mu.Lock()
				acked = append(acked, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return acked
}

// historyOf is main's history as a node with an empty cache serves it,
// after git fsck of that cache.
func historyOf(t *testing.T, fresh *node, key string) []string {
	t.Helper()
	r := fresh.open(t, key)
	fsck(t, r.Path())
	head, _ := r.ResolveBranch(git.NormalNamespace, "main")
	out, err := exec.Command("git", "--git-dir", r.Path(), "rev-list", string(head)).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// With the object store down, a write fails with ErrUnavailable and
// changes nothing; reads from a warm cache go on; after the outage, writes
// work again.
func TestCluster_objectStoreOutage(t *testing.T) {
	e := newEnv(t)
	a, b := e.node(), e.node()
	key := e.create(a, "r")
	first, err := commit(t.Context(), a.open(t, key), "f", "1\n", "")
	if err != nil {
		t.Fatal(err)
	}
	b.open(t, key) // warm
	e.s3.Stop()
	_, err = commit(t.Context(), a.open(t, key), "f", "2\n", first)
	if !errors.Is(err, repo.ErrUnavailable) {
		t.Fatalf("commit during the outage: %v, want ErrUnavailable", err)
	}
	rb := b.open(t, key)
	if got, _ := rb.ResolveBranch(git.NormalNamespace, "main"); got != first {
		t.Fatalf("main moved to %s during the outage", got)
	}
	if got := readFile(t, rb, "f"); got != "1\n" {
		t.Fatalf("warm read during the outage: %q", got)
	}
	// A ref move that needs no new object only needs the database.
	if err := rb.UpdateRefs(t.Context(), refs.Update{Ref: "refs/heads/keep", Old: git.ZeroOID, New: first}); err != nil {
		t.Fatalf("branch without new objects during the outage: %v", err)
	}
	e.s3.Start()
	second, err := commit(t.Context(), a.open(t, key), "f", "2\n", first)
	if err != nil {
		t.Fatal(err)
	}
	fresh := e.node().open(t, key)
	if got, _ := fresh.ResolveBranch(git.NormalNamespace, "main"); got != second {
		t.Fatalf("fresh node: main at %s, want %s", got, second)
	}
	fsck(t, fresh.Path())
}

// Past CompactPacks, the manifest's small packs are folded into one by
// one node while a large pack stays as it is; fresh nodes serve from the
// result, and the replaced packs leave object storage after the grace
// period.
func TestCluster_compaction(t *testing.T) {
	e := newEnv(t)
	// Four packs are within the limit and the fifth publish passes it, so
	// the background compaction sees every small pack: one that started
	// earlier would fold three and leave the last, which the geometric
	// rule (a pack twice the size of the smaller ones stays) then keeps.
	e.opts = cluster.Options{CompactPacks: 4, GarbageGrace: time.Nanosecond}
	a := e.node()
	key := e.create(a, "r")
	big := make([]byte, 256<<10)
	rand.Read(big)
	head, err := commit(t.Context(), a.open(t, key), "big", string(big), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		c, err := commit(t.Context(), a.open(t, key), fmt.Sprintf("f%d", i), fmt.Sprintf("%d\n", i), head)
		if err != nil {
			t.Fatal(err)
		}
		head = c
	}
	first, err := e.store.LedgerSnapshot(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	// The last publish started a compaction in the background; run one as
	// well (it does nothing while the other holds the lock) and wait for
	// the small packs to fold.
	deadline := time.Now().Add(30 * time.Second)
	var st metadata.LedgerState
	for {
		if err := a.c.Compact(t.Context(), key, a.open(t, key).Path()); err != nil {
			t.Fatal(err)
		}
		if st, err = e.store.LedgerSnapshot(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		if len(st.Packs) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(st.Packs) != 2 || st.Packs[0].Name != first.Packs[0].Name || len(st.Packs[1].Replaces) < 2 {
		t.Fatalf("manifest after compaction: %+v (before: %+v)", st.Packs, first.Packs)
	}
	fresh := e.node().open(t, key)
	if got := readFile(t, fresh, "f3"); got != "3\n" {
		t.Fatalf("fresh node after compaction reads %q", got)
	}
	if got := readFile(t, fresh, "big"); got != string(big) {
		t.Fatal("fresh node reads another big file")
	}
	fsck(t, fresh.Path())
	packs, _ := filepath.Glob(filepath.Join(fresh.Path(), "objects", "pack", "*.pack"))
	if len(packs) != 2 {
		t.Fatalf("fresh node downloaded %d packs, want the big one and the compacted one", len(packs))
	}
	n, err := a.c.CollectGarbage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Every small pack, and any compacted pack folded again since.
	if n < 4 {
		t.Fatalf("collected %d packs, want at least the 4 small ones", n)
	}
	if st := a.c.Stats(); st.Compactions < 1 || st.GarbageDeleted != uint64(n) || st.Publishes != 5 || st.PacksUploaded < 6 {
		t.Fatalf("stats %+v", st)
	}
	var left []string
	for o, err := range e.bucket.List(t.Context(), key+"/") {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, path.Base(o.Key))
	}
	slices.Sort(left)
	var want []string
	for _, p := range st.Packs {
		want = append(want, p.Name+".idx", p.Name+".pack")
	}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("object storage after collection: %v, want %v", left, want)
	}
}

// Removing a repository makes every node answer not found and queues its
// packs for deletion.
func TestCluster_remove(t *testing.T) {
	e := newEnv(t)
	a, b := e.node(), e.node()
	key := e.create(a, "r")
	if _, err := commit(t.Context(), a.open(t, key), "f", "1\n", ""); err != nil {
		t.Fatal(err)
	}
	bDir := b.open(t, key).Path()
	if err := a.m.Remove(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Open(t.Context(), key); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("open on another node after remove: %v", err)
	}
	if _, err := os.Stat(bDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the other node's cache is still there: %v", err)
	}
	if g, err := e.store.LedgerGarbage(t.Context(), time.Now().Add(time.Minute), 0); err != nil || len(g) != 1 {
		t.Fatalf("garbage after remove: %v %v", g, err)
	}
}

// A commit without an expected head on a node whose cache is behind the
// record is rebuilt on the tip of record, as on one node; it does not fail
// with a conflict.
func TestCluster_staleCacheCommitRebuilds(t *testing.T) {
	e := newEnv(t)
	a, b := e.node(), e.node()
	key := e.create(a, "r")
	first, err := commit(t.Context(), a.open(t, key), "f", "1\n", "")
	if err != nil {
		t.Fatal(err)
	}
	ra := a.open(t, key) // a's cache at first
	second, err := commit(t.Context(), b.open(t, key), "g", "2\n", first)
	if err != nil {
		t.Fatal(err)
	}
	third, err := commit(t.Context(), ra, "h", "3\n", "")
	if err != nil {
		t.Fatalf("commit on the stale node: %v", err)
	}
	out, err := exec.Command("git", "--git-dir", ra.Path(), "rev-parse", string(third)+"^").Output()
	if err != nil || strings.TrimSpace(string(out)) != string(second) {
		t.Fatalf("parent of the rebuilt commit: %s %v, want %s", out, err, second)
	}
	if got := readFile(t, b.open(t, key), "g"); got != "2\n" {
		t.Fatalf("b lost its file: %q", got)
	}
}

// What update-ref refuses is refused before anything is stored, with the
// errors refs.Apply gives on one node.
func TestCluster_refusesWhatGitWould(t *testing.T) {
	e := newEnv(t)
	a := e.node()
	key := e.create(a, "r")
	c, err := commit(t.Context(), a.open(t, key), "f", "1\n", "")
	if err != nil {
		t.Fatal(err)
	}
	r := a.open(t, key)
	blob, err := exec.Command("git", "--git-dir", r.Path(), "rev-parse", string(c)+":f").Output()
	if err != nil {
		t.Fatal(err)
	}
	var missing *refs.MissingObjectError
	if err := r.UpdateRefs(t.Context(), refs.Update{Ref: "refs/heads/x", Old: git.ZeroOID, New: "1234567890123456789012345678901234567890"}); !errors.As(err, &missing) {
		t.Fatalf("missing object: %v", err)
	}
	if err := r.UpdateRefs(t.Context(), refs.Update{Ref: "refs/heads/x", Old: git.ZeroOID, New: git.ObjectID(strings.TrimSpace(string(blob)))}); !errors.Is(err, refs.ErrInvalidUpdate) {
		t.Fatalf("branch at a blob: %v", err)
	}
	var clash *refs.NameClashError
	if err := r.UpdateRefs(t.Context(), refs.Update{Ref: "refs/heads/main/x", Old: git.ZeroOID, New: c}); !errors.As(err, &clash) {
		t.Fatalf("name clash: %v", err)
	}
	if err := r.UpdateRefs(t.Context(), refs.Update{Ref: "refs/heads/bad..name", Old: git.ZeroOID, New: c}); !errors.Is(err, refs.ErrInvalidUpdate) {
		t.Fatalf("bad ref name: %v", err)
	}
	st, err := e.store.LedgerSnapshot(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Refs) != 1 || st.Version != 1 {
		t.Fatalf("refused updates changed the record: %+v", st)
	}
}

// Two nodes commit to one branch in loops without an expected head: each
// commit is rebuilt on the other node's until it lands, none gives up
// with a conflict, and all of them are in the history.
func TestCluster_contendedBranchCommitsLand(t *testing.T) {
	e := newEnv(t)
	nodes := []*node{e.node(), e.node()}
	key := e.create(nodes[0], "r")
	acked := commitLoops(t, nodes, key, 12, false)
	if n := len(historyOf(t, e.node(), key)); n != 24 || len(acked) != 24 {
		t.Fatalf("%d commits in main, %d acknowledged, want 24", n, len(acked))
	}
}

// An engine commit's own pack goes to object storage as it is; when the
// commit reuses an object that exists only loose in the cache (here made by
// hand, as a push that lost its race leaves them), the pack would lack it,
// so the objects are packed anew, and a fresh node still reads everything.
func TestCluster_commitUploadsItsOwnPack(t *testing.T) {
	e := newEnv(t)
	a := e.node()
	key := e.create(a, "r")
	r := a.open(t, key)
	if _, err := commit(t.Context(), r, "f", "one\n", ""); err != nil {
		t.Fatal(err)
	}
	st, err := e.store.LedgerSnapshot(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.Path(), "objects", "pack", st.Packs[0].Name+".pack")); err != nil {
		t.Fatalf("the uploaded pack %s is not the commit's own: %v", st.Packs[0].Name, err)
	}

	cmd := exec.Command("git", "--git-dir", r.Path(), "hash-object", "-w", "--stdin")
	cmd.Stdin = strings.NewReader("loose only\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := commit(t.Context(), r, "g", "loose only\n", ""); err != nil {
		t.Fatal(err)
	}
	if st, err = e.store.LedgerSnapshot(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.Path(), "objects", "pack", st.Packs[1].Name+".pack")); err == nil {
		t.Fatalf("the commit's own pack %s was uploaded though it lacks the reused blob", st.Packs[1].Name)
	}
	fresh := e.node().open(t, key)
	if got := readFile(t, fresh, "g"); got != "loose only\n" {
		t.Fatalf("fresh node reads %q", got)
	}
	fsck(t, fresh.Path())
}
