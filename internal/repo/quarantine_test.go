package repo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestQuarantine: objects fetched into a quarantine are invisible to the
// repository until Migrate; after it they are there, the repository is
// fsck-clean, no ref moved, and the quarantine is gone on Close.
func TestQuarantine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRepo(t)

	up := t.TempDir()
	gitIn(t, up, "init", "-q", "-b", "main")
	for _, n := range []string{"1", "2"} {
		os.WriteFile(filepath.Join(up, "f"+n), []byte(n), 0o644)
		gitIn(t, up, "add", ".")
		gitIn(t, up, "commit", "-qm", "c"+n)
	}
	first := gitIn(t, up, "rev-parse", "HEAD~1")
	// The repository already has the first commit: the quarantine borrows
	// it and receives only what is new.
	gitIn(t, up, "branch", "old", first)
	gitIn(t, r.Path(), "fetch", "-q", "--no-write-fetch-head", up, "refs/heads/old")
	if err := r.UpdateRefs(ctx, refs.Update{Ref: "refs/heads/main", Old: git.ZeroOID, New: git.ObjectID(first)}); err != nil {
		t.Fatal(err)
	}
	second := gitIn(t, up, "rev-parse", "HEAD")

	for range 2 { // a leftover quarantine is cleared by the next one
		if _, err := r.NewQuarantine(ctx); err != nil {
			t.Fatal(err)
		}
	}
	q, err := r.NewQuarantine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(r.Path(), "quarantine-*")); len(left) != 1 {
		t.Fatalf("quarantines in the repository: %v", left)
	}
	gitIn(t, q.Path(), "-c", "fetch.unpackLimit=1", "fetch", "-q", "--no-write-fetch-head", up, "+refs/heads/main:refs/heads/main")
	list, err := q.Refs(ctx, "refs/heads/")
	if err != nil || len(list) != 1 || string(list[0].OID) != second {
		t.Fatalf("quarantine refs = %+v, %v", list, err)
	}
	if out := gitIn(t, q.Path(), "count-objects", "-v"); !strings.Contains(out, "in-pack: 3") {
		t.Errorf("quarantine received more than the new commit, tree and blob:\n%s", out)
	}
	if err := exec.Command("git", "--git-dir="+r.Path(), "cat-file", "-e", second).Run(); err == nil {
		t.Fatal("the repository sees a quarantined object before Migrate")
	}
	if err := q.Migrate(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	gitIn(t, r.Path(), "cat-file", "-e", second)
	gitIn(t, r.Path(), "fsck", "--full", "--strict", "--no-dangling")
	if got := gitIn(t, r.Path(), "rev-parse", "refs/heads/main"); got != first {
		t.Errorf("main moved to %s", got)
	}
	if left, _ := filepath.Glob(filepath.Join(r.Path(), "quarantine-*")); len(left) != 0 {
		t.Errorf("quarantine left behind: %v", left)
	}
}
