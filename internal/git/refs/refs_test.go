package refs_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
)

var env = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH"),
	"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
	"GIT_AUTHOR_DATE=1700000000 +0000", "GIT_COMMITTER_DATE=1700000000 +0000"}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// setup returns a bare repository with two commits, a (root) and b (child).
func setup(t *testing.T) (*refs.Updater, string, git.ObjectID, git.ObjectID) {
	t.Helper()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "r.git")
	run(t, "", "init", "-q", "--bare", dir)
	a := git.ObjectID(run(t, dir, "commit-tree", string(git.EmptyTreeOID), "-m", "a"))
	b := git.ObjectID(run(t, dir, "commit-tree", string(git.EmptyTreeOID), "-p", string(a), "-m", "b"))
	u := refs.NewUpdater(f)
	t.Cleanup(u.Close)
	return u, dir, a, b
}

func TestApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, dir, a, b := setup(t)
	const main = git.ReferenceName("refs/heads/main")

	// Create, then compare-and-swap forward.
	if err := u.Apply(ctx, dir, refs.Update{Ref: main, Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	if err := u.Apply(ctx, dir, refs.Update{Ref: main, Old: a, New: b}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, dir, "rev-parse", "refs/heads/main"); got != string(b) {
		t.Fatalf("main at %s, want %s", got, b)
	}

	var mismatch *refs.MismatchError
	// A stale old value is refused with the actual value reported.
	err := u.Apply(ctx, dir, refs.Update{Ref: main, Old: a, New: a})
	if !errors.As(err, &mismatch) || mismatch.Actual != b || !refs.IsConcurrentUpdate(err) {
		t.Fatalf("stale update: %v", err)
	}
	// Creating an existing ref is a mismatch too.
	if err := u.Apply(ctx, dir, refs.Update{Ref: main, Old: git.ZeroOID, New: a}); !errors.As(err, &mismatch) {
		t.Fatalf("create existing: %v", err)
	}
	// A lock held by another writer (a git process mid-update) is reported.
	lock := filepath.Join(dir, "refs", "heads", "main.lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var locked *refs.LockedError
	if err := u.Apply(ctx, dir, refs.Update{Ref: main, Old: b, New: a}); !errors.As(err, &locked) {
		t.Fatalf("locked: %v", err)
	}
	os.Remove(lock)
	// A missing object is refused.
	var missing *refs.MissingObjectError
	if err := u.Apply(ctx, dir, refs.Update{Ref: "refs/heads/x", Old: git.ZeroOID, New: "1234567890123456789012345678901234567890"}); !errors.As(err, &missing) {
		t.Fatalf("missing object: %v", err)
	}
	// Bad names never reach git.
	if err := u.Apply(ctx, dir, refs.Update{Ref: "refs/heads/a..b", Old: git.ZeroOID, New: a}); !errors.Is(err, refs.ErrInvalidUpdate) {
		t.Fatalf("bad name: %v", err)
	}
	// Atomicity: one bad update, nothing moves.
	err = u.Apply(ctx, dir,
		refs.Update{Ref: "refs/heads/new", Old: git.ZeroOID, New: a},
		refs.Update{Ref: main, Old: a, New: a}) // stale
	if err == nil {
		t.Fatal("atomic transaction with a stale update succeeded")
	}
	if out := run(t, dir, "for-each-ref", "--format=%(refname)", "refs/heads/new"); out != "" {
		t.Fatalf("half a transaction applied: %s", out)
	}
	// Delete with compare-and-swap; packed refs are handled as git does.
	run(t, dir, "pack-refs", "--all")
	if err := u.Apply(ctx, dir, refs.Update{Ref: main, Old: b, New: git.ZeroOID}); err != nil {
		t.Fatal(err)
	}
	if out := run(t, dir, "for-each-ref", "refs/heads/main"); out != "" {
		t.Fatalf("main survived deletion: %s", out)
	}
}

// TestApply_race: many writers racing to advance one ref from the same
// observed value: exactly one wins each round, the others get a typed
// concurrent-update error.
func TestApply_race(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, dir, a, b := setup(t)
	const ref = git.ReferenceName("refs/heads/race")
	if err := u.Apply(ctx, dir, refs.Update{Ref: ref, Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, losses := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := u.Apply(ctx, dir, refs.Update{Ref: ref, Old: a, New: b})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case refs.IsConcurrentUpdate(err):
				losses++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || losses != 7 {
		t.Fatalf("%d wins, %d losses; want 1 and 7", wins, losses)
	}
}

// TestApplyLogged: a logged transaction writes a reflog entry with the
// message (creating the reflog) and fails with the same typed errors as
// Apply.
func TestApplyLogged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, dir, a, b := setup(t)
	const ref = git.ReferenceName("refs/heads/logged")
	if err := u.ApplyLogged(ctx, dir, refs.Reflog{Message: "branch: Created from a", Name: "Log Writer", Email: "lw@example.com"}, refs.Update{Ref: ref, Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	if err := u.ApplyLogged(ctx, dir, refs.Reflog{Message: "commit: b"}, refs.Update{Ref: ref, Old: a, New: b}); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "logs", "refs", "heads", "logged"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], string(git.ZeroOID)+" "+string(a)) ||
		!strings.Contains(lines[0], " Log Writer <lw@example.com> ") ||
		!strings.HasSuffix(lines[0], "\tbranch: Created from a") || !strings.HasSuffix(lines[1], "\tcommit: b") {
		t.Fatalf("reflog:\n%s", log)
	}
	var mismatch *refs.MismatchError
	err = u.ApplyLogged(ctx, dir, refs.Reflog{Message: "commit: stale"}, refs.Update{Ref: ref, Old: a, New: a})
	if !errors.As(err, &mismatch) || mismatch.Actual != b || mismatch.Expect != a {
		t.Fatalf("stale logged update: %v", err)
	}
	if err := u.ApplyLogged(ctx, dir, refs.Reflog{Message: "x"}, refs.Update{Ref: ref, Old: git.ZeroOID, New: a}); !errors.As(err, &mismatch) {
		t.Fatalf("create existing: %v", err)
	}
	var missing *refs.MissingObjectError
	if err := u.ApplyLogged(ctx, dir, refs.Reflog{Message: "x"}, refs.Update{Ref: "refs/heads/y", Old: git.ZeroOID, New: "1234567890123456789012345678901234567890"}); !errors.As(err, &missing) {
		t.Fatalf("missing object: %v", err)
	}
	if err := u.ApplyLogged(ctx, dir, refs.Reflog{Message: "x"}, refs.Update{Ref: "refs/heads/a..b", Old: git.ZeroOID, New: a}); !errors.Is(err, refs.ErrInvalidUpdate) {
		t.Fatalf("bad name: %v", err)
	}
	// A message that looks like an option stays a message.
	if err := u.ApplyLogged(ctx, dir, refs.Reflog{Message: "--stdin"}, refs.Update{Ref: ref, Old: b, New: a}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, dir, "rev-parse", string(ref)); got != string(a) {
		t.Fatalf("ref at %s, want %s", got, a)
	}
}

// TestApplyWhen: git has locked the ref and prepared its new value when
// Prepared runs, the ref moves only after it returns nil, and a failing
// Prepared leaves it (and its lock) as they were; Committed runs once,
// after the move, and only for a committed transaction.
func TestApplyWhen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, dir, a, b := setup(t)
	const main = git.ReferenceName("refs/heads/main")
	if err := u.Apply(ctx, dir, refs.Update{Ref: main, Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "refs", "heads", "main.lock")
	value := func() git.ObjectID { return git.ObjectID(run(t, dir, "rev-parse", "refs/heads/main")) }

	notYet := errors.New("objects not durable")
	err := u.ApplyWhen(ctx, dir, refs.When{Prepared: func() error {
		if _, err := os.Stat(lock); err != nil {
			t.Errorf("Prepared runs without the ref locked: %v", err)
		}
		return notYet
	}, Committed: func() { t.Error("Committed called for an aborted transaction") }}, refs.Update{Ref: main, Old: a, New: b})
	if !errors.Is(err, notYet) {
		t.Fatalf("ApplyWhen with a failing ready = %v, want its error", err)
	}
	if got := value(); got != a {
		t.Errorf("main moved to %s though ready failed", got)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock left after the abort: %v", err)
	}

	committed := 0
	err = u.ApplyWhen(ctx, dir, refs.When{Prepared: func() error {
		if got := value(); got != a {
			t.Errorf("main is %s before Prepared returned, want %s", got, a)
		}
		return nil
	}, Committed: func() {
		committed++
		if got := value(); got != b {
			t.Errorf("main is %s when Committed runs, want %s", got, b)
		}
	}}, refs.Update{Ref: main, Old: a, New: b})
	if err != nil {
		t.Fatal(err)
	}
	if committed != 1 {
		t.Errorf("Committed ran %d times, want once", committed)
	}
	if got := value(); got != b {
		t.Errorf("main = %s after ApplyWhen, want %s", got, b)
	}
	// A stale old value fails in prepare, before Prepared is asked.
	err = u.ApplyWhen(ctx, dir, refs.When{Prepared: func() error {
		t.Error("Prepared called for a transaction git refused")
		return nil
	}, Committed: func() { t.Error("Committed called for a transaction git refused") }}, refs.Update{Ref: main, Old: a, New: a})
	if !refs.IsConcurrentUpdate(err) {
		t.Errorf("stale compare-and-swap = %v, want a concurrent update error", err)
	}
}
