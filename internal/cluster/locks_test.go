package cluster_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
)

// A node killed in the middle of a ref transaction on its cache leaves
// git's lock files there (test/cluster's TestCrash_killNodeMidWrites hit
// refs/heads/pushed.lock), and killed in a Publish or a compaction, their
// temporary directories with a pack in each. Restarted on that cache, the
// node must not fail every Refresh of the repository on the locks, nor
// keep the packs forever: what the previous run left goes, what this run
// makes stays.
func TestCluster_leftoversOfAPreviousRun(t *testing.T) {
	e := newEnv(t)
	root := t.TempDir()
	a := e.nodeAt(root)
	key := e.create(a, "r")
	first, err := commit(t.Context(), a.open(t, key), "f", "1\n", "")
	if err != nil {
		t.Fatal(err)
	}
	gitDir := a.open(t, key).Path()
	// The crash: a ref transaction and a HEAD change that never finished.
	stale := []string{"refs/heads/main.lock", "HEAD.lock", "packed-refs.lock", "publish-123/pack-1.pack", "compact-456/pack-2.pack"}
	for _, p := range stale {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(gitDir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(gitDir, p), []byte(first+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The directories' times are their last change, which is older than
	// the restart.
	stale = append(stale, "publish-123", "compact-456")
	// Meanwhile another node moves main and HEAD.
	b := e.node()
	rb := b.open(t, key)
	second, err := commit(t.Context(), rb, "f", "2\n", first)
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.UpdateRefs(t.Context(), refs.Update{Ref: "refs/heads/dev", Old: git.ZeroOID, New: second}); err != nil {
		t.Fatal(err)
	}
	if err := rb.SetDefaultBranch(t.Context(), "dev"); err != nil {
		t.Fatal(err)
	}

	restarted := e.nodeAt(root)
	// A lock this process's own git takes (file times are coarser than
	// the clock: wait past a tick).
	time.Sleep(50 * time.Millisecond)
	young := filepath.Join(gitDir, "refs", "heads", "young.lock")
	if err := os.WriteFile(young, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	youngDir := filepath.Join(gitDir, "publish-789")
	if err := os.Mkdir(youngDir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := restarted.open(t, key)
	if got, err := r.ResolveBranch(git.NormalNamespace, "main"); err != nil || got != second {
		t.Fatalf("restarted node: main at %s (%v), want %s", got, err, second)
	}
	if got, err := r.DefaultBranch(); err != nil || got != "dev" {
		t.Fatalf("restarted node: HEAD names %q (%v), want dev", got, err)
	}
	if _, err := commit(t.Context(), r, "f", "3\n", second); err != nil {
		t.Fatalf("commit on the restarted node: %v", err)
	}
	for _, p := range stale {
		if _, err := os.Stat(filepath.Join(gitDir, p)); !os.IsNotExist(err) {
			t.Errorf("%s of the previous run is still there (%v)", p, err)
		}
	}
	for _, p := range []string{young, youngDir} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s, made after the start, was removed: %v", p, err)
		}
		os.Remove(p)
	}
	fsck(t, gitDir)
}
