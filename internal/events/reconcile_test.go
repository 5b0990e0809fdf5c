package events_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
)

// gitCLI runs git in the bare repository dir ("" for none), isolated from
// the user's config, with a fixed identity and time: equal commits get equal
// ids in every repository.
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if dir != "" {
		args = append([]string{"--git-dir", dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_AUTHOR_DATE=2025-05-01T10:00:00Z",
		"GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_COMMITTER_DATE=2025-05-01T10:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// diskLister lists refs with `git for-each-ref`, each repository in
// root/<storage key>.git.
type diskLister struct{ root string }

func (l diskLister) dir(key string) string { return filepath.Join(l.root, key+".git") }

func (l diskLister) ListRefs(ctx context.Context, key string) (map[git.ReferenceName]git.ObjectID, error) {
	if _, err := os.Stat(l.dir(key)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, events.ErrNoRepository)
	}
	cmd := exec.CommandContext(ctx, "git", "--git-dir", l.dir(key), "for-each-ref", "--format=%(objectname) %(refname)")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("for-each-ref: %w", err)
	}
	m := map[git.ReferenceName]git.ObjectID{}
	for line := range strings.Lines(string(out)) {
		oid, name, _ := strings.Cut(strings.TrimSpace(line), " ")
		m[git.ReferenceName(name)] = git.ObjectID(oid)
	}
	return m, nil
}

// fixture is a store and a directory of bare repositories.
type fixture struct {
	t      *testing.T
	log    *events.Log
	store  *metadata.SQLiteStore
	lister diskLister
	// c1..c3 are commits present in every repository made by repo, each
	// the parent of the next.
	c1, c2, c3 git.ObjectID
}

func newFixture(t *testing.T) *fixture {
	log, store := setupLog(t)
	return &fixture{t: t, log: log, store: store, lister: diskLister{root: t.TempDir()}}
}

// repo registers a repository and creates it on disk with three commits and
// no refs; it returns the storage key and the directory.
func (f *fixture) repo(id string) (string, string) {
	f.t.Helper()
	r, err := f.store.CreateRepo(f.t.Context(), metadata.Repo{Org: "acme", ID: id, DefaultBranch: "main"})
	if err != nil {
		f.t.Fatal(err)
	}
	dir := f.lister.dir(r.StorageKey)
	gitCLI(f.t, "", "init", "--quiet", "--bare", "--initial-branch=main", dir)
	tree := gitCLI(f.t, dir, "mktree") // empty stdin: the empty tree
	var commits []git.ObjectID
	parent := []string{}
	for i := range 3 {
		c := gitCLI(f.t, dir, append([]string{"commit-tree", tree, "-m", fmt.Sprint("c", i+1)}, parent...)...)
		commits = append(commits, git.ObjectID(c))
		parent = []string{"-p", c}
	}
	if f.c1 == "" {
		f.c1, f.c2, f.c3 = commits[0], commits[1], commits[2]
	} else if commits[0] != f.c1 || commits[1] != f.c2 || commits[2] != f.c3 {
		f.t.Fatalf("commits %v differ from the first repository's", commits)
	}
	return r.StorageKey, dir
}

// record writes the events of one ref transaction that also happened on
// disk (the caller moves the refs).
func (f *fixture) record(key string, updates ...refs.Update) {
	f.t.Helper()
	if _, err := f.log.Record(f.t.Context(), key, updates, time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) feed(after int64) []events.RefUpdate {
	f.t.Helper()
	evs, err := f.log.Since(f.t.Context(), after, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func (f *fixture) lastSeq() int64 {
	evs := f.feed(0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// syncLog is a slog destination safe for the test to read.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) lines(level string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.buf.String()) {
		if strings.Contains(line, "level="+level+" ") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

func (f *fixture) reconcile() (events.ReconcileResult, *syncLog, error) {
	f.t.Helper()
	out := &syncLog{}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res, err := events.Reconcile(f.t.Context(), f.store, f.lister, logger)
	return res, out, err
}

type want struct {
	ns            git.Namespace
	ref           string
	before, after git.ObjectID
}

func checkFeed(t *testing.T, got []events.RefUpdate, key string, ws []want) {
	t.Helper()
	if len(got) != len(ws) {
		for _, e := range got {
			t.Logf("event %+v", e)
		}
		t.Fatalf("%d events, want %d", len(got), len(ws))
	}
	for i, w := range ws {
		e := got[i]
		if e.StorageKey != key || e.Org != "acme" || e.Namespace != w.ns || string(e.Ref) != w.ref || e.Before != w.before || e.After != w.after {
			t.Fatalf("event %d = %+v\nwant %+v", i, e, w)
		}
		// One transaction: consecutive seqs, one time.
		if i > 0 && (e.Seq != got[i-1].Seq+1 || !e.At.Equal(got[0].At)) {
			t.Fatalf("event %d (seq %d, %s) not in one transaction with event %d (seq %d, %s)",
				i, e.Seq, e.At, i-1, got[i-1].Seq, got[i-1].At)
		}
	}
}

// Every way a ref can differ from its last event — moved, created,
// deleted, recreated after a recorded deletion, in either namespace, loose
// or packed — gets exactly one event; refs in step, symbolic refs and other
// repositories get none; a second run appends nothing.
func TestReconcile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, dir := f.repo("team/crashed")
	z := git.ZeroOID
	ephemeral := func(branch string) git.ReferenceName {
		return git.NewBranchReferenceName(git.EphemeralNamespace, branch)
	}
	// The recorded history, which also happened on disk.
	f.record(key,
		refs.Update{Ref: "refs/heads/main", Old: z, New: f.c1},
		refs.Update{Ref: "refs/heads/steady", Old: z, New: f.c1},
		refs.Update{Ref: "refs/tags/v1", Old: z, New: f.c1},
		refs.Update{Ref: ephemeral("scratch"), Old: z, New: f.c1},
		refs.Update{Ref: ephemeral("steady"), Old: z, New: f.c2},
		refs.Update{Ref: "refs/heads/gone", Old: z, New: f.c1},
		refs.Update{Ref: "refs/heads/reborn", Old: z, New: f.c1},
	)
	f.record(key, refs.Update{Ref: "refs/heads/steady", Old: f.c1, New: f.c3})
	f.record(key, refs.Update{Ref: "refs/heads/gone", Old: f.c1, New: z}, refs.Update{Ref: "refs/heads/reborn", Old: f.c1, New: z})
	for ref, oid := range map[string]git.ObjectID{
		"refs/heads/steady": f.c3, "refs/tags/v1": f.c1, string(ephemeral("steady")): f.c2,
		// Moves and creations whose events the crash lost.
		"refs/heads/main": f.c2, "refs/heads/reborn": f.c2, "refs/heads/new": f.c1,
		string(ephemeral("scratch")): f.c3, string(ephemeral("fresh")): f.c2,
	} {
		gitCLI(t, dir, "update-ref", ref, string(oid))
	}
	gitCLI(t, dir, "pack-refs", "--all") // packed-refs are refs too
	gitCLI(t, dir, "update-ref", "-d", "refs/tags/v1")
	gitCLI(t, dir, "update-ref", "refs/heads/main", string(f.c2)) // loose again, same value
	// Symbolic refs are not refs here: HEAD, and a namespace's HEAD.
	gitCLI(t, dir, "symbolic-ref", "refs/namespaces/ephemeral/HEAD", string(ephemeral("scratch")))

	// A repository in step, one deleted (its directory is no concern of
	// ours), and one whose creation the crash interrupted.
	inStep, inStepDir := f.repo("team/fine")
	f.record(inStep, refs.Update{Ref: "refs/heads/main", Old: z, New: f.c1})
	gitCLI(t, inStepDir, "update-ref", "refs/heads/main", string(f.c1))
	_, deletedDir := f.repo("team/deleted")
	gitCLI(t, deletedDir, "update-ref", "refs/heads/main", string(f.c1))
	if _, err := f.store.DeleteRepo(t.Context(), "acme", "team/deleted"); err != nil {
		t.Fatal(err)
	}
	orphan, err := f.store.CreateRepo(t.Context(), metadata.Repo{Org: "acme", ID: "team/orphan", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}

	cursor := f.lastSeq()
	res, logs, err := f.reconcile()
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if res != (events.ReconcileResult{Repos: 3, Reconciled: 1, Events: 6}) {
		t.Fatalf("Reconcile = %+v", res)
	}
	checkFeed(t, f.feed(cursor), key, []want{
		{git.NormalNamespace, "refs/heads/main", f.c1, f.c2},
		{git.NormalNamespace, "refs/heads/new", z, f.c1},
		{git.NormalNamespace, "refs/heads/reborn", z, f.c2},
		{git.NormalNamespace, "refs/tags/v1", f.c1, z},
		{git.EphemeralNamespace, "refs/heads/fresh", z, f.c2},
		{git.EphemeralNamespace, "refs/heads/scratch", f.c1, f.c3},
	})
	warns := logs.lines("WARN")
	if len(warns) != 2 || !strings.Contains(warns[0], "repo=team/crashed") || !strings.Contains(warns[0], "events=6") ||
		!strings.Contains(warns[1], "storage_key="+orphan.StorageKey) {
		t.Fatalf("WARN lines = %q; want one for the reconciled repository with its count, one for the orphan", warns)
	}
	if infos := logs.lines("INFO"); len(infos) != 1 || !strings.Contains(infos[0], "repos=3 reconciled=1 events=6 failed=0") {
		t.Fatalf("INFO lines = %q, want the summary", infos)
	}

	// Idempotent: everything is in step now.
	cursor = f.lastSeq()
	res, logs, err = f.reconcile()
	if err != nil || res != (events.ReconcileResult{Repos: 3}) {
		t.Fatalf("second Reconcile = %+v, %v", res, err)
	}
	if evs := f.feed(cursor); len(evs) != 0 {
		t.Fatalf("second Reconcile appended %+v", evs)
	}
	if warns := logs.lines("WARN"); len(warns) != 1 { // the orphan only
		t.Fatalf("second Reconcile warned %q", warns)
	}
}

// A repository whose refs cannot be read is reported and skipped; the
// others are still reconciled, and a later run picks it up.
func TestReconcile_failureSkipsRepo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	broken, brokenDir := f.repo("broken")
	key, dir := f.repo("fine")
	gitCLI(t, brokenDir, "update-ref", "refs/heads/main", string(f.c1))
	gitCLI(t, dir, "update-ref", "refs/heads/main", string(f.c1))
	// Not a repository any more: git refuses it.
	hidden := brokenDir + ".hidden"
	if err := os.Rename(brokenDir, hidden); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(brokenDir, 0o755); err != nil {
		t.Fatal(err)
	}

	res, logs, err := f.reconcile()
	if err == nil || !strings.Contains(err.Error(), broken) {
		t.Fatalf("Reconcile error = %v, want one naming %s", err, broken)
	}
	if res != (events.ReconcileResult{Repos: 2, Reconciled: 1, Events: 1}) {
		t.Fatalf("Reconcile = %+v", res)
	}
	if !strings.Contains(err.Error(), "acme/broken: reconcile "+broken+": for-each-ref") {
		t.Fatalf("Reconcile error = %v, want one naming the repository and what failed", err)
	}
	if infos := logs.lines("INFO"); len(infos) != 1 || !strings.Contains(infos[0], "repos=2 reconciled=1 events=1 failed=1") {
		t.Fatalf("INFO lines = %q, want the summary", infos)
	}
	checkFeed(t, f.feed(0), key, []want{{git.NormalNamespace, "refs/heads/main", git.ZeroOID, f.c1}})

	if err := os.Remove(brokenDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(hidden, brokenDir); err != nil {
		t.Fatal(err)
	}
	cursor := f.lastSeq()
	if res, _, err := f.reconcile(); err != nil || res != (events.ReconcileResult{Repos: 2, Reconciled: 1, Events: 1}) {
		t.Fatalf("Reconcile after repair = %+v, %v", res, err)
	}
	checkFeed(t, f.feed(cursor), broken, []want{{git.NormalNamespace, "refs/heads/main", git.ZeroOID, f.c1}})
}
