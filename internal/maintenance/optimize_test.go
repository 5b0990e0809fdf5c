package maintenance

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// recordKinds makes the worker remember the kind of each run.
func recordKinds(w *Worker) *[]Kind {
	var kinds []Kind
	w.beforeRun = func(_ string, k Kind) { kinds = append(kinds, k) }
	return &kinds
}

// A repository written the way Strata writes (loose objects per commit)
// plus packs: the first run is full, later ones incremental; each leaves no
// loose objects, an index with a bitmap and a commit-graph, and the same
// refs.
func TestWorker_fullThenIncremental(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testOptions())
	kinds := recordKinds(e.w)
	r := e.newRepo()
	dir := r.Path()

	for p := range 5 {
		for i := range 8 {
			commitFile(t, r, "main", fmt.Sprintf("d%d/f%d.txt", p, i), fmt.Sprintf("pack %d commit %d\n", p, i))
		}
		gitOut(t, dir, "", "repack", "-d", "-q") // one pack per batch, as pushes make
	}
	for i := range 30 {
		commitFile(t, r, "feature", fmt.Sprintf("feature/f%d.txt", i), fmt.Sprintf("loose %d\n", i))
	}
	ephemeral := commitFileNS(t, r, git.EphemeralNamespace, "wip", "wip.txt", "ephemeral only\n")
	young := writeLooseBlob(t, dir, "unreachable, but younger than the grace period\n")
	// A leftover of a killed repack: git 2.39's cruft repack fails while
	// one exists, so the run must clean it first.
	stale := filepath.Join(dir, "objects", "pack", ".tmp-4242-pack-0123.pack")
	if err := os.WriteFile(stale, []byte("junk"), 0o444); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	before := countObjects(t, dir)
	if before["packs"] != 5 || before["count"] < 100 {
		t.Fatalf("fixture: %v, want 5 packs and many loose objects", before)
	}
	refs := refSnapshot(t, dir)

	if out := runNow(t, e.w, r.Key()); out != ranOK {
		t.Fatalf("first run: outcome %d", out)
	}
	if len(*kinds) != 1 || (*kinds)[0] != Full {
		t.Fatalf("first run kinds = %v, want [full]", *kinds)
	}
	st, err := inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	after := countObjects(t, dir)
	if after["count"] != 0 || after["packs"] > 2 || !st.bitmap || !st.commitGraph || st.lastFull.IsZero() {
		t.Fatalf("after the full run: count-objects %v, stats %+v; want no loose objects, one pack (+ cruft), a bitmap, a commit-graph, a stamp", after, st)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary pack still there: %v", err)
	}
	if got := refSnapshot(t, dir); got != refs {
		t.Fatalf("refs changed by the full run:\n%s\nwant\n%s", got, refs)
	}
	if _, err := os.Stat(filepath.Join(dir, "refs", "heads", "main")); !os.IsNotExist(err) {
		t.Fatalf("refs not packed: refs/heads/main is still loose (%v)", err)
	}
	if !hasObject(t, dir, young) || !hasObject(t, dir, ephemeral) {
		t.Fatal("the full run dropped a young unreachable object or the ephemeral namespace's commit")
	}
	fsck(t, dir)

	// More writes and packs: the next run is incremental.
	for p := range 3 {
		for i := range 5 {
			commitFile(t, r, "main", fmt.Sprintf("more%d/f%d.txt", p, i), fmt.Sprintf("more %d %d\n", p, i))
		}
		gitOut(t, dir, "", "repack", "-d", "-q")
	}
	for i := range 10 {
		commitFile(t, r, "feature", fmt.Sprintf("feature/g%d.txt", i), fmt.Sprintf("loose again %d\n", i))
	}
	refs = refSnapshot(t, dir)
	if out := runNow(t, e.w, r.Key()); out != ranOK {
		t.Fatalf("second run: outcome %d", out)
	}
	if len(*kinds) != 2 || (*kinds)[1] != Incremental {
		t.Fatalf("run kinds = %v, want [full incremental]", *kinds)
	}
	st, _ = inspect(dir)
	after = countObjects(t, dir)
	if after["count"] != 0 || !st.midx || !st.bitmap || !st.commitGraph {
		t.Fatalf("after the incremental run: count-objects %v, stats %+v; want no loose objects, a multi-pack-index with bitmap, a commit-graph", after, st)
	}
	if got := refSnapshot(t, dir); got != refs {
		t.Fatalf("refs changed by the incremental run:\n%s\nwant\n%s", got, refs)
	}
	gitOut(t, dir, "", "multi-pack-index", "verify", "--no-progress")
	gitOut(t, dir, "", "commit-graph", "verify", "--no-progress")
	if !hasObject(t, dir, young) {
		t.Fatal("the incremental run dropped an unreachable object")
	}
	fsck(t, dir)
	if log := e.logBuf.String(); !strings.Contains(log, `msg="maintenance run"`) || !strings.Contains(log, "kind=incremental") || !strings.Contains(log, "result=ok") {
		t.Fatalf("runs not logged:\n%s", log)
	}
}

// Pruning honours the grace period: unreachable objects older than it go,
// loose or packed; younger ones and everything reachable from any ref
// (ephemeral namespace included) stay.
func TestWorker_pruneGrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc      string
		grace     time.Duration
		keepYoung bool
	}{
		{"two weeks", 14 * 24 * time.Hour, true},
		{"expire now", 0, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.PruneGrace = tc.grace
			e := newEnv(t, opts)
			r := e.newRepo()
			dir := r.Path()
			tip := commitFile(t, r, "main", "a.txt", "reachable\n")
			eph := commitFileNS(t, r, git.EphemeralNamespace, "scratch", "b.txt", "only in the ephemeral namespace\n")
			month := time.Now().Add(-30 * 24 * time.Hour)

			oldLoose := writeLooseBlob(t, dir, "old unreachable loose\n")
			if err := os.Chtimes(loosePath(dir, oldLoose), month, month); err != nil {
				t.Fatal(err)
			}
			young := writeLooseBlob(t, dir, "young unreachable loose\n")
			// An old unreachable object in a pack: a pack's objects are as
			// old as the pack file.
			oldPacked := writeLooseBlob(t, dir, "old unreachable packed\n")
			packName := gitOut(t, dir, string(oldPacked)+"\n", "pack-objects", "-q", filepath.Join(dir, "objects", "pack", "pack"))
			gitOut(t, dir, "", "prune-packed")
			for _, ext := range []string{".pack", ".idx"} {
				if err := os.Chtimes(filepath.Join(dir, "objects", "pack", "pack-"+packName+ext), month, month); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(loosePath(dir, oldPacked)); !os.IsNotExist(err) {
				t.Fatalf("fixture: old packed object still loose")
			}

			if out := runNow(t, e.w, r.Key()); out != ranOK {
				t.Fatalf("run: outcome %d", out)
			}
			if hasObject(t, dir, oldLoose) {
				t.Error("old unreachable loose object survived")
			}
			if hasObject(t, dir, oldPacked) {
				t.Error("old unreachable packed object survived")
			}
			if got := hasObject(t, dir, young); got != tc.keepYoung {
				t.Errorf("young unreachable object present = %v, want %v", got, tc.keepYoung)
			}
			for _, oid := range []git.ObjectID{tip, eph} {
				if !hasObject(t, dir, oid) {
					t.Errorf("reachable commit %s pruned", oid)
				}
			}
			if n := countObjects(t, dir)["count"]; n != 0 {
				t.Errorf("%d loose objects left", n)
			}
			fsck(t, dir)
		})
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pack := filepath.Join(dir, "objects", "pack")
	if err := os.MkdirAll(pack, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	files := map[string]time.Duration{
		".tmp-1-pack-old.pack": 2 * time.Hour,    // stale: removed
		".tmp-2-pack-new.pack": time.Minute,      // a running repack's: kept
		"tmp_pack_abc":         2 * time.Hour,    // index-pack's (a push): not ours
		"pack-1.pack":          100 * time.Hour,  // real packs: kept
		"pack-1.idx":           100 * time.Hour,  //
		".tmp-3-old.bitmap":    3 * staleTempAge, // stale: removed
	}
	for name, age := range files {
		p := filepath.Join(pack, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeStaleTemp(dir, now); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		_, err := os.Stat(filepath.Join(pack, name))
		wantGone := name == ".tmp-1-pack-old.pack" || name == ".tmp-3-old.bitmap"
		if gone := os.IsNotExist(err); gone != wantGone {
			t.Errorf("%s: removed = %v, want %v", name, gone, wantGone)
		}
	}
	if err := removeStaleTemp(filepath.Join(dir, "missing"), now); err != nil {
		t.Fatalf("missing repository: %v", err)
	}
}

func TestApproxidate(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                   "now",
		-time.Second:        "now",
		14 * 24 * time.Hour: "1209600.seconds.ago",
		90 * time.Second:    "90.seconds.ago",
	} {
		if got := approxidate(d); got != want {
			t.Errorf("approxidate(%s) = %q, want %q", d, got, want)
		}
	}
}

// A crash between an object write's temp file and its rename leaves
// objects/xx/tmp_obj_* behind; git prune only removes them after the
// 14-day prune grace. A maintenance run removes those older than
// TmpObjectGrace and keeps younger ones (a write in flight).
func TestMaintain_removesStaleObjectTemps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testOptions())
	r := e.newRepo()
	commitFile(t, r, "main", "a.txt", "a\n")
	dir := r.Path()
	now := time.Now()
	files := map[string]time.Duration{
		"ab/tmp_obj_stale": 2 * time.Hour,   // removed
		"cd/tmp_obj_young": time.Second,     // kept: a write in flight
		"ef/tmp_idx_other": 100 * time.Hour, // not an object temp: kept
		"pack/tmp_pack_a":  2 * time.Hour,   // a big transaction's pack: removed
		"pack/tmp_idx_a":   2 * time.Hour,   // and its index: removed
		"pack/tmp_pack_b":  time.Second,     // kept: a write in flight
	}
	for name, age := range files {
		p := filepath.Join(dir, "objects", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if out := runNow(t, e.w, r.Key()); out != ranOK {
		t.Fatalf("run: %v", out)
	}
	for name := range files {
		_, err := os.Stat(filepath.Join(dir, "objects", name))
		wantGone := name == "ab/tmp_obj_stale" || name == "pack/tmp_pack_a" || name == "pack/tmp_idx_a"
		if gone := os.IsNotExist(err); gone != wantGone {
			t.Errorf("%s: removed = %v, want %v", name, gone, wantGone)
		}
	}
}
