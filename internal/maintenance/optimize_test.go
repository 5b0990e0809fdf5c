package maintenance

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// A repository written the way Strata writes (a pack per commit) plus a
// loose object: the first run is full, later ones incremental; each leaves
// no loose objects, an index with a bitmap and a commit-graph, and the
// same refs.
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
	}
	for i := range 30 {
		commitFile(t, r, "feature", fmt.Sprintf("feature/f%d.txt", i), fmt.Sprintf("feature %d\n", i))
	}
	ephemeral := commitFileNS(t, r, git.EphemeralNamespace, "wip", "wip.txt", "ephemeral only\n")
	young := writeLooseBlob(t, dir, "unreachable, but younger than the grace period\n")
	// A leftover of a killed repack: git 2.39's cruft repack fails while
	// one exists, so the run must clean it first.
	stale := filepath.Join(dir, "objects", "pack", ".tmp-4242-pack-0123.pack")
	writeAged(t, stale, []byte("junk"), 0o444, time.Now().Add(-2*time.Hour))

	before := countObjects(t, dir)
	if before["packs"] != 71 || before["count"] != 1 {
		t.Fatalf("fixture: %v, want 71 packs (one per commit) and a loose object", before)
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

	// More writes: the next run is incremental.
	for p := range 3 {
		for i := range 5 {
			commitFile(t, r, "main", fmt.Sprintf("more%d/f%d.txt", p, i), fmt.Sprintf("more %d %d\n", p, i))
		}
	}
	for i := range 10 {
		commitFile(t, r, "feature", fmt.Sprintf("feature/g%d.txt", i), fmt.Sprintf("again %d\n", i))
	}
	writeLooseBlob(t, dir, "loose again\n")
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
		writeAged(t, filepath.Join(pack, name), nil, 0o644, now.Add(-age))
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
		writeAged(t, filepath.Join(dir, "objects", name), []byte("partial"), 0o444, now.Add(-age))
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

// A git killed mid-transaction while the server went on leaves its ref
// lock; a maintenance run removes those older than an hour, which no live
// transaction holds, and keeps younger ones.
func TestMaintain_removesStaleRefLocks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testOptions())
	r := e.newRepo()
	commitFile(t, r, "main", "a.txt", "a\n")
	now := time.Now()
	locks := map[string]time.Duration{
		"refs/heads/main.lock":  2 * time.Hour, // removed
		"packed-refs.lock":      2 * time.Hour, // removed
		"refs/heads/other.lock": time.Second,   // kept: may be live
	}
	for name, age := range locks {
		writeAged(t, filepath.Join(r.Path(), filepath.FromSlash(name)), nil, 0o644, now.Add(-age))
	}
	if out := runNow(t, e.w, r.Key()); out != ranOK {
		t.Fatalf("run: %v", out)
	}
	for name, age := range locks {
		_, err := os.Stat(filepath.Join(r.Path(), filepath.FromSlash(name)))
		if gone := os.IsNotExist(err); gone != (age > time.Hour) {
			t.Errorf("%s: removed = %v", name, gone)
		}
	}
	commitFile(t, r, "main", "b.txt", "b\n") // main can move again
}

// A roll-up packs the packs outside the multi-pack-index into one and
// keeps the index's packs, even a small one that geometric repacking on
// its own would merge into the new pack (it holds fewer than half as many
// objects as the packs after it): removing it would make git delete the
// index and its bitmap. Cruft packs and packs with a bitmap are kept too.
func TestRollUp_keepsWhatTheBitmapCovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testOptions())
	r := e.newRepo()
	dir := r.Path()
	for i := range 20 {
		commitFile(t, r, "main", fmt.Sprintf("base/%d", i), fmt.Sprintf("base %d\n", i))
	}
	gitOut(t, dir, "", "repack", "-a", "-d", "-q")
	commitFile(t, r, "main", "small", "one small pack\n")
	gitOut(t, dir, "", "multi-pack-index", "write", "--bitmap", "--no-progress")
	covered, err := midxPacks(filepath.Join(dir, "objects", "pack"))
	if err != nil || len(covered) != 2 {
		t.Fatalf("multi-pack-index covers %v (%v), want the base pack and the small one", covered, err)
	}
	bitmap := midxBitmap(t, dir)
	for i := range 10 {
		commitFile(t, r, "main", fmt.Sprintf("stream/%d", i), fmt.Sprintf("stream %d\n", i))
	}
	if st, _ := inspect(dir); st.packs != 12 {
		t.Fatalf("fixture: %d packs, want 12", st.packs)
	}

	for _, s := range e.w.steps(dir, RollUp, false) {
		if err := s.run(context.Background()); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	st, err := inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.packs != 3 || !st.midx {
		t.Fatalf("after the roll-up: %+v, want the two covered packs and one new one, and the multi-pack-index", st)
	}
	if got := midxBitmap(t, dir); got != bitmap {
		t.Fatalf("multi-pack-index bitmap %q, was %q", got, bitmap)
	}
	for base := range covered {
		if _, err := os.Stat(filepath.Join(dir, "objects", "pack", base+".pack")); err != nil {
			t.Errorf("covered pack %s: %v", base, err)
		}
	}
	gitOut(t, dir, "", "multi-pack-index", "verify", "--no-progress")
	fsck(t, dir)
}

// A roll-up may rewrite a pack with an index unless the multi-pack-index
// covers it or it has a bitmap, a .keep, a .promisor or .mtimes.
func TestRollUpCandidates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	idx := func(n uint32) []byte {
		b := make([]byte, indexHeader)
		copy(b, []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
		binary.BigEndian.PutUint32(b[indexHeader-4:], n)
		return b
	}
	files := map[string][]byte{
		"pack-aa.pack": nil, "pack-aa.idx": idx(1), "pack-aa.bitmap": nil,
		"pack-bb.pack": nil, "pack-bb.idx": idx(2), "pack-bb.mtimes": nil,
		"pack-cc.pack": nil, "pack-cc.idx": idx(3), "pack-cc.keep": nil,
		"pack-dd.pack": nil, "pack-dd.idx": idx(4), "pack-dd.promisor": nil,
		"pack-ee.pack": nil, "pack-ee.idx": idx(5),
		"pack-ff.pack": nil,    // no index yet
		"pack-gg.idx":  idx(7), // no pack
		"pack-hh.pack": nil, "pack-hh.idx": idx(8),
		"tmp_pack_x": nil, "tmp_idx_y": idx(9),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rollUpCandidates(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b packInfo) int { return strings.Compare(a.base, b.base) })
	if want := []packInfo{{"pack-ee", 5}, {"pack-hh", 8}}; !slices.Equal(got, want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
}

// The split is git repack --geometric=2's.
func TestGeometricRollUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc  string
		packs []uint32
		roll  []uint32
	}{
		{desc: "none", packs: nil, roll: nil},
		{desc: "one", packs: []uint32{5}, roll: nil},
		{desc: "a progression already", packs: []uint32{1, 2, 4, 100}, roll: nil},
		{desc: "equal small packs", packs: []uint32{4, 4, 4, 4}, roll: []uint32{4, 4, 4, 4}},
		{desc: "small packs below a large one", packs: []uint32{1000, 4, 3, 5, 4}, roll: []uint32{3, 4, 4, 5}},
		{desc: "the new pack swallows the next", packs: []uint32{1000, 30, 10, 10, 10}, roll: []uint32{10, 10, 10, 30}},
		{desc: "but not a larger one", packs: []uint32{1000, 61, 10, 10, 10}, roll: []uint32{10, 10, 10}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var packs []packInfo
			for i, n := range tc.packs {
				packs = append(packs, packInfo{base: fmt.Sprintf("pack-%02d", i), objects: n})
			}
			var got []uint32
			for _, p := range geometricRollUp(packs) {
				got = append(got, p.objects)
			}
			if !slices.Equal(got, tc.roll) {
				t.Fatalf("roll up %v, want %v", got, tc.roll)
			}
		})
	}
}

// writeAged writes a file (and its missing directories) last modified at
// mtime, as something a crash left behind.
func writeAged(t *testing.T, path string, data []byte, perm os.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
