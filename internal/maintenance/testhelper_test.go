package maintenance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/leakcheck"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// factory runs every git in these tests, fixtures included, so fixtures
// get the same pinned environment as Strata.
var factory *git.Factory

func TestMain(m *testing.M) {
	var err error
	factory, err = git.NewFactory(git.FactoryOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "maintenance tests need git:", err)
		os.Exit(1)
	}
	os.Exit(leakcheck.Run(m))
}

// triggerObserver feeds every ref transaction to a worker, as the server's
// observer does. The worker is set after the manager exists.
type triggerObserver struct {
	mu sync.Mutex
	w  *Worker
}

func (o *triggerObserver) RefsUpdated(_ context.Context, key string, _ []refs.Update) {
	o.mu.Lock()
	w := o.w
	o.mu.Unlock()
	w.Trigger(key)
}

// env is a repository manager on a temporary root with a worker (not yet
// started) that the manager's writes trigger.
type env struct {
	t       testing.TB
	repos   *repo.Manager
	w       *Worker
	logBuf  *syncBuffer
	keySeq  int
	keySeqM sync.Mutex
}

// testOptions are aggressive: every ref update makes a repository due.
func testOptions() Options {
	o := DefaultOptions()
	o.Interval = 0
	o.RefUpdates = 1
	o.LooseObjects = 1
	o.QuietRollUp = 0 // tests that want one turn it on
	o.StopTimeout = 10 * time.Second
	return o
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	cache := catfile.NewCache(factory, catfile.Options{})
	t.Cleanup(cache.Stop)
	obs := &triggerObserver{}
	m, err := repo.NewManager(t.TempDir(), factory, cache, obs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	buf := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(buf, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w := NewWorker(factory, m, opts)
	obs.mu.Lock()
	obs.w = w
	obs.mu.Unlock()
	t.Cleanup(w.Stop) // runs before cache.Stop (cleanups are LIFO)
	return &env{t: t, repos: m, w: w, logBuf: buf}
}

// newRepo creates an empty repository and returns it.
func (e *env) newRepo() *repo.Repo {
	e.t.Helper()
	e.keySeqM.Lock()
	e.keySeq++
	key := fmt.Sprintf("k%031x", e.keySeq)
	e.keySeqM.Unlock()
	r, err := e.repos.Create(context.Background(), key, "main")
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

var fixtureWhen = time.Unix(1700000000, 0).UTC()

// commitFile commits one file on branch through the engine's write path
// (what POST /repos/commit-pack does): loose blob, trees and commit, then
// the compare-and-swap ref update that notifies the observer. A missing
// branch starts from main.
func commitFile(t testing.TB, r *repo.Repo, branch, path, content string) git.ObjectID {
	t.Helper()
	return commitFileNS(t, r, git.NormalNamespace, branch, path, content)
}

// commitFileNS is commitFile in namespace ns.
func commitFileNS(t testing.TB, r *repo.Repo, ns git.Namespace, branch, path, content string) git.ObjectID {
	t.Helper()
	oid, err := tryCommitFile(r, ns, branch, path, content)
	if err != nil {
		t.Fatalf("commit %s on %s: %v", path, branch, err)
	}
	return oid
}

// tryCommitFile is commitFileNS returning the error; safe to call from
// goroutines other than the test's.
func tryCommitFile(r *repo.Repo, ns git.Namespace, branch, path, content string) (git.ObjectID, error) {
	ctx := context.Background()
	wr, err := r.BeginWrite()
	if err != nil {
		return "", err
	}
	bw := wr.NewBlob()
	if _, err := io.WriteString(bw, content); err != nil {
		wr.Abort()
		return "", err
	}
	oid, err := bw.Close()
	if err != nil {
		wr.Abort()
		return "", err
	}
	req := repo.CommitRequest{
		Namespace: ns,
		Branch:    branch,
		Changes:   []repo.FileChange{{Path: path, Mode: "100644", OID: oid}},
		Author:    repo.Signature{Name: "Strata Test", Email: "test@strata.invalid", When: fixtureWhen},
		Message:   "write " + path,
	}
	if ns != git.NormalNamespace || branch != "main" {
		if _, err := r.ReadRef(git.NewBranchReferenceName(ns, branch)); err != nil {
			req.BaseBranch = "main"
		}
	}
	res, err := r.CommitChanges(ctx, wr, req)
	if err != nil {
		return "", err
	}
	return res.Commit, nil
}

// gitOut runs a fixture git command in the repository.
func gitOut(t testing.TB, gitDir string, stdin string, name string, flags ...string) string {
	t.Helper()
	opts := []git.Option{}
	if stdin != "" {
		opts = append(opts, git.WithStdin(strings.NewReader(stdin)))
	}
	out, err := factory.Output(context.Background(), gitDir, git.Command{Name: name, Flags: flags}, opts...)
	if err != nil {
		t.Fatalf("git %s %v: %v", name, flags, err)
	}
	return strings.TrimSpace(string(out))
}

// writeLooseBlob stores content as a loose object nothing references.
func writeLooseBlob(t testing.TB, gitDir, content string) git.ObjectID {
	t.Helper()
	return git.ObjectID(gitOut(t, gitDir, content, "hash-object", "-w", "--stdin"))
}

func loosePath(gitDir string, oid git.ObjectID) string {
	return filepath.Join(gitDir, "objects", string(oid[:2]), string(oid[2:]))
}

func hasObject(t testing.TB, gitDir string, oid git.ObjectID) bool {
	t.Helper()
	err := factory.Run(context.Background(), gitDir, git.Command{Name: "cat-file", Flags: []string{"-e"}, Args: []string{string(oid)}})
	return err == nil
}

// refSnapshot lists every ref with its value.
func refSnapshot(t testing.TB, gitDir string) string {
	t.Helper()
	return gitOut(t, gitDir, "", "for-each-ref", "--format=%(refname) %(objectname)")
}

// countObjects parses `git count-objects -v`.
func countObjects(t testing.TB, gitDir string) map[string]int {
	t.Helper()
	out := gitOut(t, gitDir, "", "count-objects", "-v")
	m := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("count-objects line %q", line)
		}
		m[k] = n
	}
	return m
}

func fsck(t testing.TB, gitDir string) {
	t.Helper()
	var out strings.Builder
	err := factory.Run(context.Background(), gitDir, git.Command{Name: "fsck", Flags: []string{"--strict", "--no-progress", "--no-dangling"}}, git.WithStdout(&out))
	if err != nil {
		t.Fatalf("git fsck --strict: %v\n%s", err, out.String())
	}
}

// runNow checks and, if due, maintains the repository synchronously, as
// one worker would after dequeuing it.
func runNow(t testing.TB, w *Worker, key string) outcome {
	t.Helper()
	w.mu.Lock()
	st := w.state[key]
	if st == nil {
		st = &repoState{}
		w.state[key] = st
	}
	st.queued = true
	st.updates = max(st.updates, w.opts.RefUpdates)
	w.mu.Unlock()
	return w.handle(key)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// midxBitmap is the name of the multi-pack-index bitmap in gitDir (it
// holds the index's checksum), "" if there is none.
func midxBitmap(t testing.TB, gitDir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "multi-pack-index-*.bitmap"))
	if err != nil || len(m) > 1 {
		t.Fatalf("multi-pack-index bitmaps %v: %v", m, err)
	}
	if len(m) == 0 {
		return ""
	}
	return filepath.Base(m[0])
}
