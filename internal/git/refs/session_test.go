package refs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// sessionRepo is a bare repository with an Updater whose sessions the test
// can inspect.
type sessionRepo struct {
	t   *testing.T
	u   *Updater
	dir string
}

func newSessionRepo(t *testing.T) *sessionRepo {
	t.Helper()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := &sessionRepo{t: t, u: NewUpdater(f), dir: filepath.Join(t.TempDir(), "r.git")}
	t.Cleanup(r.u.Close)
	r.git("init", "-q", "--bare", r.dir)
	return r
}

func (r *sessionRepo) git(args ...string) string {
	r.t.Helper()
	if args[0] != "init" {
		args = append([]string{"--git-dir", r.dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *sessionRepo) commit(msg string, parents ...git.ObjectID) git.ObjectID {
	r.t.Helper()
	args := []string{"commit-tree", string(git.EmptyTreeOID), "-m", msg}
	for _, p := range parents {
		args = append(args, "-p", string(p))
	}
	return git.ObjectID(r.git(args...))
}

func (r *sessionRepo) apply(updates ...Update) error {
	return r.u.Apply(context.Background(), r.dir, updates...)
}

func (r *sessionRepo) parked() []*session {
	r.u.mu.Lock()
	defer r.u.mu.Unlock()
	return append([]*session(nil), r.u.idle[r.dir]...)
}

// TestSession_reusedAcrossOutsideWriters: one session serves many
// transactions while git processes outside Strata write objects, refs,
// packs and packed-refs between them; each transaction still sees the
// repository as it is.
func TestSession_reusedAcrossOutsideWriters(t *testing.T) {
	t.Parallel()
	r := newSessionRepo(t)
	const main = git.ReferenceName("refs/heads/main")
	tip := r.commit("root")
	if err := r.apply(Update{Ref: main, Old: git.ZeroOID, New: tip}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.parked()); n != 1 {
		t.Fatalf("%d parked sessions after one update, want 1", n)
	}
	for i := range 20 {
		// A commit made after the session started, sometimes only in a pack.
		next := r.commit("c", tip)
		if i%5 == 0 {
			r.git("repack", "-adq")
			r.git("pack-refs", "--all")
		}
		if err := r.apply(Update{Ref: main, Old: tip, New: next}); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		tip = next
		// An outside writer moves the ref; the session must notice.
		if i%7 == 3 {
			outside := r.commit("outside", tip)
			r.git("update-ref", string(main), string(outside), string(tip))
			err := r.apply(Update{Ref: main, Old: tip, New: r.commit("stale", tip)})
			var mm *MismatchError
			if !errors.As(err, &mm) || mm.Actual != outside {
				t.Fatalf("stale update after an outside write: %v", err)
			}
			tip = outside
		}
	}
	if got := git.ObjectID(r.git("rev-parse", string(main))); got != tip {
		t.Fatalf("main at %s, want %s", got, tip)
	}
	// (The stale updates ended sessions; the last one served two.)
	if s := r.parked(); len(s) != 1 || s[0].uses < 2 {
		t.Fatalf("sessions were not reused: %d parked", len(s))
	}
	r.git("fsck", "--strict")

	// A ref created outside is a D/F conflict the session must see.
	r.git("update-ref", "refs/heads/dir/file", string(tip))
	var clash *NameClashError
	if err := r.apply(Update{Ref: "refs/heads/dir", Old: git.ZeroOID, New: tip}); !errors.As(err, &clash) {
		t.Fatalf("created refs/heads/dir over refs/heads/dir/file: %v", err)
	}
	r.git("pack-refs", "--all")
	if err := r.apply(Update{Ref: "refs/heads/dir", Old: git.ZeroOID, New: tip}); !errors.As(err, &clash) || clash.Existing != "refs/heads/dir/file" {
		t.Fatalf("created refs/heads/dir over packed refs/heads/dir/file: %v", err)
	}
	if err := r.apply(Update{Ref: "refs/heads/dir/file/deeper", Old: git.ZeroOID, New: tip}); !errors.As(err, &clash) {
		t.Fatalf("created a ref below packed refs/heads/dir/file: %v", err)
	}
	// Deleting a ref that is only packed rewrites packed-refs.
	if err := r.apply(Update{Ref: "refs/heads/dir/file", Old: tip, New: git.ZeroOID}); err != nil {
		t.Fatal(err)
	}
	if out := r.git("for-each-ref", "refs/heads/dir/"); out != "" {
		t.Fatalf("deleted packed ref still listed: %s", out)
	}
	if err := r.apply(Update{Ref: "refs/heads/dir", Old: git.ZeroOID, New: tip}); err != nil {
		t.Fatal(err)
	}
}

// TestSession_failuresAreNotReused: a failed transaction ends its session
// (update-ref dies); a parked session that died is replaced transparently.
func TestSession_failuresAreNotReused(t *testing.T) {
	t.Parallel()
	r := newSessionRepo(t)
	const main = git.ReferenceName("refs/heads/main")
	a := r.commit("a")
	b := r.commit("b", a)
	if err := r.apply(Update{Ref: main, Old: git.ZeroOID, New: a}); err != nil {
		t.Fatal(err)
	}
	if err := r.apply(Update{Ref: main, Old: b, New: a}); !IsConcurrentUpdate(err) {
		t.Fatalf("stale update: %v", err)
	}
	if n := len(r.parked()); n != 0 {
		t.Fatalf("%d sessions parked after a failure, want 0", n)
	}
	if err := r.apply(Update{Ref: main, Old: a, New: b}); err != nil {
		t.Fatal(err)
	}
	// The parked session dies behind the Updater's back.
	parked := r.parked()
	if len(parked) != 1 {
		t.Fatalf("%d parked", len(parked))
	}
	parked[0].stdin.Close()
	if err := r.apply(Update{Ref: main, Old: b, New: a}); err != nil {
		t.Fatalf("update after the parked session died: %v", err)
	}
	// Forget and Close end parked sessions; Close refuses further work.
	r.u.Forget(r.dir)
	if n := len(r.parked()); n != 0 {
		t.Fatalf("%d parked after Forget", n)
	}
	r.u.Close()
	if err := r.apply(Update{Ref: main, Old: a, New: b}); !errors.Is(err, errClosed) {
		t.Fatalf("apply after Close: %v", err)
	}
	if got := git.ObjectID(r.git("rev-parse", string(main))); got != a {
		t.Fatalf("main at %s, want %s", got, a)
	}
}

// TestSession_limits: parked sessions are bounded per repository and idle
// ones expire.
func TestSession_limits(t *testing.T) {
	t.Parallel()
	r := newSessionRepo(t)
	a := r.commit("a")
	var sessions []*session
	for range maxIdlePerRepo + 2 {
		s, _, err := r.u.take(r.dir)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	for i, s := range sessions {
		if _, err := s.transact([]byte("start\nupdate refs/heads/b"+string(rune('0'+i))+" "+string(a)+" "+string(git.ZeroOID)+"\nprepare\n"), nil); err != nil {
			t.Fatal(err)
		}
		r.u.put(s)
	}
	parked := r.parked()
	if len(parked) != maxIdlePerRepo {
		t.Fatalf("%d parked, want %d", len(parked), maxIdlePerRepo)
	}
	r.u.expire(parked[0])
	if n := len(r.parked()); n != maxIdlePerRepo-1 {
		t.Fatalf("%d parked after expiry, want %d", n, maxIdlePerRepo-1)
	}
	if out := r.git("for-each-ref", "--format=%(refname)", "refs/heads/"); strings.Count(out, "\n") != maxIdlePerRepo+1 {
		t.Fatalf("refs: %s", out)
	}
}
