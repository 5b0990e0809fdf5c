package repo

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// mergeHistory is a small history to merge in:
//
//	base ── target ── (target2)
//	    └── src1 ── src2          (disjoint edits: merges cleanly)
//	    └── clash                 (edits target's line: conflicts)
//	lone                          (no common history)
type mergeHistory struct {
	base, target, src1, src2, clash, lone git.ObjectID
}

func newMergeHistory(fx *dmFixture) mergeHistory {
	var h mergeHistory
	h.base = fx.commit("base", map[string]string{"shared.txt": "1\n2\n3\n4\n5\n", "t.txt": "t\n"})
	h.target = fx.commit("target", map[string]string{"shared.txt": "1\nTARGET\n3\n4\n5\n", "t.txt": "t\n"}, h.base)
	h.src1 = fx.commit("src1", map[string]string{"shared.txt": "1\n2\n3\n4\nSOURCE\n", "t.txt": "t\n", "s.txt": "s\n"}, h.base)
	h.src2 = fx.commit("src2", map[string]string{"shared.txt": "1\n2\n3\n4\nSOURCE\n", "t.txt": "t\n", "s.txt": "s2\n"}, h.src1)
	h.clash = fx.commit("clash", map[string]string{"shared.txt": "1\nCLASH\n3\n4\n5\n", "t.txt": "t\n", "add.txt": "theirs\n"}, h.base)
	h.lone = fx.commit("lone", map[string]string{"other.txt": "o\n"})
	return h
}

// mergeTree is git's own merged tree: the oracle.
func (fx *dmFixture) mergeTree(a, b git.ObjectID) git.ObjectID {
	fx.t.Helper()
	out := fx.run(git.Command{Name: "merge-tree", Flags: []string{"--write-tree", "--allow-unrelated-histories"}, Args: []string{string(a), string(b)}})
	return git.ObjectID(strings.SplitN(out, "\n", 2)[0])
}

func TestMerge(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	h := newMergeHistory(fx)
	for i, tc := range []struct {
		desc      string
		target    git.ObjectID // where the target branch starts
		req       MergeRequest
		outcome   MergeOutcome
		parents   []git.ObjectID // of the new tip (merge and squash)
		tree      git.ObjectID   // "" = git's merge of target and source
		promoted  int
		mergeBase git.ObjectID
		err       error
	}{
		{desc: "merge commit", target: h.target, req: MergeRequest{Source: h.src2, Strategy: MergeAlways},
			outcome: MergeCommitted, parents: []git.ObjectID{h.target, h.src2}, promoted: 3, mergeBase: h.base},
		{desc: "merge never fast-forwards", target: h.base, req: MergeRequest{Source: h.src2, Strategy: MergeAlways},
			outcome: MergeCommitted, parents: []git.ObjectID{h.base, h.src2}, tree: fx.treeOf(h.src2), promoted: 3, mergeBase: h.base},
		{desc: "ff_prefer fast-forwards", target: h.base, req: MergeRequest{Source: h.src2, Strategy: MergeFastForwardPrefer},
			outcome: MergeFastForwarded, tree: fx.treeOf(h.src2), promoted: 2, mergeBase: h.base},
		{desc: "ff_prefer merges diverged", target: h.target, req: MergeRequest{Source: h.src1, Strategy: MergeFastForwardPrefer},
			outcome: MergeCommitted, parents: []git.ObjectID{h.target, h.src1}, promoted: 2, mergeBase: h.base},
		{desc: "ff_only fast-forwards", target: h.src1, req: MergeRequest{Source: h.src2, Strategy: MergeFastForwardOnly},
			outcome: MergeFastForwarded, tree: fx.treeOf(h.src2), promoted: 1, mergeBase: h.src1},
		{desc: "ff_only refuses diverged", target: h.target, req: MergeRequest{Source: h.src2, Strategy: MergeFastForwardOnly}, err: ErrNotFastForward},
		{desc: "squash", target: h.target, req: MergeRequest{Source: h.src2, Strategy: MergeAlways, Squash: true},
			outcome: MergeSquashed, parents: []git.ObjectID{h.target}, promoted: 1, mergeBase: h.base},
		{desc: "squash a fast-forward", target: h.base, req: MergeRequest{Source: h.src2, Strategy: MergeFastForwardPrefer, Squash: true},
			outcome: MergeSquashed, parents: []git.ObjectID{h.base}, tree: fx.treeOf(h.src2), promoted: 1, mergeBase: h.base},
		{desc: "squash with ff_only", target: h.target, req: MergeRequest{Source: h.src2, Strategy: MergeFastForwardOnly, Squash: true}, err: ErrInvalid},
		{desc: "already merged", target: h.src2, req: MergeRequest{Source: h.src1, Strategy: MergeAlways},
			outcome: MergeNoOp, tree: fx.treeOf(h.src2), mergeBase: h.src1},
		{desc: "same commit", target: h.src2, req: MergeRequest{Source: h.src2, Strategy: MergeFastForwardOnly},
			outcome: MergeNoOp, tree: fx.treeOf(h.src2), mergeBase: h.src2},
		{desc: "conflict", target: h.target, req: MergeRequest{Source: h.clash, Strategy: MergeAlways}, err: ErrConflict},
		{desc: "unrelated refused", target: h.target, req: MergeRequest{Source: h.lone, Strategy: MergeAlways}, err: ErrUnrelatedHistories},
		{desc: "unrelated allowed", target: h.target, req: MergeRequest{Source: h.lone, Strategy: MergeAlways, AllowUnrelatedHistories: true},
			outcome: MergeCommitted, parents: []git.ObjectID{h.target, h.lone}, promoted: 2},
		{desc: "expected target matches", target: h.target, req: MergeRequest{Source: h.src1, Strategy: MergeAlways, ExpectedTarget: h.target},
			outcome: MergeCommitted, parents: []git.ObjectID{h.target, h.src1}, promoted: 2, mergeBase: h.base},
		{desc: "expected target stale", target: h.target, req: MergeRequest{Source: h.src1, Strategy: MergeAlways, ExpectedTarget: h.base}, err: ErrPrecondition},
		{desc: "unknown strategy", target: h.target, req: MergeRequest{Source: h.src1, Strategy: "octopus"}, err: ErrInvalid},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			fx := fx.on(t)
			branch := fmt.Sprintf("merge-%d", i)
			fx.branch(git.NormalNamespace, branch, tc.target)
			req := tc.req
			req.TargetBranch, req.SourceName = branch, "feature"
			res, err := fx.repo.Merge(fx.ctx, req)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				if tip := fx.tip(git.NormalNamespace, branch); tip != tc.target {
					t.Errorf("failed merge moved the target to %s", tip)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.outcome || res.Old != tc.target || res.Promoted != tc.promoted || res.MergeBase != tc.mergeBase {
				t.Errorf("result %+v, want outcome %s old %s promoted %d base %s", res, tc.outcome, tc.target, tc.promoted, tc.mergeBase)
			}
			if tip := fx.tip(git.NormalNamespace, branch); tip != res.New || res.Commit != res.New {
				t.Errorf("target at %s, result new %s commit %s", tip, res.New, res.Commit)
			}
			wantTree := tc.tree
			if wantTree == "" {
				wantTree = fx.mergeTree(tc.target, tc.req.Source)
			}
			if res.Tree != wantTree || fx.treeOf(res.Commit) != wantTree {
				t.Errorf("tree %s (commit's %s), want %s", res.Tree, fx.treeOf(res.Commit), wantTree)
			}
			if tc.parents != nil {
				c := fx.readCommit(res.Commit)
				if fmt.Sprint(c.Parents) != fmt.Sprint(tc.parents) {
					t.Errorf("parents %v, want %v", c.Parents, tc.parents)
				}
				if c.Author.Name != DefaultIdentity.Name || c.Committer.Email != DefaultIdentity.Email {
					t.Errorf("identity %+v / %+v, want the default", c.Author, c.Committer)
				}
				verb := "Merge"
				if tc.req.Squash {
					verb = "Squash merge"
				}
				if want := verb + " branch 'feature' into " + branch + "\n"; c.Message != want {
					t.Errorf("message %q, want %q", c.Message, want)
				}
			}
		})
	}
}

func TestMerge_conflictDetails(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	h := newMergeHistory(fx)
	fx.branch(git.NormalNamespace, "main", h.target)
	_, err := fx.repo.Merge(fx.ctx, MergeRequest{Source: h.clash, TargetBranch: "main", Strategy: MergeAlways})
	var mc *MergeConflictError
	if !errors.As(err, &mc) {
		t.Fatalf("err %v, want a MergeConflictError", err)
	}
	if fmt.Sprint(mc.Paths) != "[shared.txt]" || mc.MergeBase != h.base {
		t.Errorf("conflict %+v", mc)
	}
}

func TestMerge_identityAndNamespace(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	h := newMergeHistory(fx)
	fx.branch(git.EphemeralNamespace, "main", h.target)
	fx.branch(git.NormalNamespace, "main", h.base)
	res, err := fx.repo.Merge(fx.ctx, MergeRequest{
		Source: h.src1, TargetNamespace: git.EphemeralNamespace, TargetBranch: "main", Strategy: MergeAlways,
		Message: "custom", Author: Signature{Name: "A", Email: "a@x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := fx.readCommit(res.Commit)
	if c.Author.Name != "A" || c.Committer.Name != "A" || c.Message != "custom\n" {
		t.Errorf("commit %+v", c)
	}
	if fx.tip(git.EphemeralNamespace, "main") != res.Commit || fx.tip(git.NormalNamespace, "main") != h.base {
		t.Error("the wrong namespace moved")
	}
	if _, err := fx.repo.Merge(fx.ctx, MergeRequest{Source: h.src1, TargetBranch: "missing", Strategy: MergeAlways}); !errors.Is(err, ErrNotFound) {
		t.Errorf("merge into a missing branch: %v", err)
	}
}

func TestPreviewMerge(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	h := newMergeHistory(fx)
	addAdd := fx.commit("add/add", map[string]string{"shared.txt": "1\nTARGET\n3\n4\n5\n", "t.txt": "t\n", "add.txt": "ours\n"}, h.target)
	for _, tc := range []struct {
		desc           string
		target, source git.ObjectID
		outcome        MergeOutcome
		clean          bool
		conflicts      []string
		mergeBase      git.ObjectID
	}{
		{desc: "clean merge", target: h.target, source: h.src2, outcome: MergeCommitted, clean: true, mergeBase: h.base},
		{desc: "fast-forward", target: h.base, source: h.src2, outcome: MergeFastForwarded, clean: true, mergeBase: h.base},
		{desc: "no-op", target: h.src2, source: h.src1, outcome: MergeNoOp, clean: true, mergeBase: h.src1},
		{desc: "conflicts", target: addAdd, source: h.clash, outcome: MergeCommitted, conflicts: []string{"add.txt", "shared.txt"}, mergeBase: h.base},
		{desc: "unrelated", target: h.target, source: h.lone, outcome: MergeCommitted, clean: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			fx := fx.on(t)
			pv, err := fx.repo.PreviewMerge(fx.ctx, tc.target, tc.source)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, c := range pv.Conflicts {
				paths = append(paths, c.Path)
			}
			if pv.Outcome != tc.outcome || pv.Clean != tc.clean || pv.MergeBase != tc.mergeBase || fmt.Sprint(paths) != fmt.Sprint(tc.conflicts) {
				t.Errorf("preview %+v (paths %v), want %s clean=%v %v base %s", pv, paths, tc.outcome, tc.clean, tc.conflicts, tc.mergeBase)
			}
		})
	}

	pv, err := fx.repo.PreviewMerge(fx.ctx, addAdd, h.clash)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pv.Conflicts {
		switch c.Path {
		case "add.txt": // added on both sides: no base
			if c.Base != nil || c.Ours == nil || c.Theirs == nil || c.Result == "" {
				t.Errorf("add/add stages %+v", c)
			}
		case "shared.txt":
			if c.Base == nil || c.Ours == nil || c.Theirs == nil || c.Result == "" {
				t.Fatalf("stages %+v", c)
			}
			s, err := fx.repo.SampleBlob(fx.ctx, c.Result, 1<<10)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(s.Data), "<<<<<<< ") || !strings.Contains(string(s.Data), "CLASH") || s.Truncated || s.Binary {
				t.Errorf("result blob %+v %q", s, s.Data)
			}
			s, err = fx.repo.SampleBlob(fx.ctx, c.Result, 5)
			if err != nil || string(s.Data) != "1\n<<<" || !s.Truncated {
				t.Errorf("truncated sample %q %+v %v", s.Data, s, err)
			}
		}
	}
	// Nothing moved: previews write no refs.
	if refs, err := fx.repo.ListRefs(fx.ctx, "refs/"); err != nil || len(refs) != 0 {
		t.Errorf("refs after previews: %v %v", refs, err)
	}
}

func TestSampleBlob_binary(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	oid := fx.blob("text\x00more")
	s, err := fx.repo.SampleBlob(fx.ctx, oid, 100)
	if err != nil || !s.Binary || s.Data != nil || s.Size != 9 {
		t.Errorf("sample %+v %v", s, err)
	}
	s, err = fx.repo.SampleBlob(fx.ctx, fx.blob("plain"), 0)
	if err != nil || s.Binary || s.Data != nil || s.Truncated {
		t.Errorf("kind-only sample %+v %v", s, err)
	}
}

// Merges racing for one target without an expected tip are each redone on
// the tip the others left, so all land and none is lost.
func TestMerge_concurrentRetries(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	base := fx.commit("base", map[string]string{"base.txt": "b\n"})
	fx.branch(git.NormalNamespace, "main", base)
	const n = 4
	sources := make([]git.ObjectID, n)
	for i := range sources {
		sources[i] = fx.commit(fmt.Sprint("src", i), map[string]string{"base.txt": "b\n", fmt.Sprintf("f%d.txt", i): "x\n"}, base)
	}
	errs := make(chan error, n)
	for _, s := range sources {
		go func() {
			_, err := fx.repo.Merge(fx.ctx, MergeRequest{Source: s, SourceName: "s", TargetBranch: "main", Strategy: MergeAlways})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	tip := fx.tip(git.NormalNamespace, "main")
	for _, s := range sources {
		if ok, err := fx.repo.IsAncestor(fx.ctx, s, tip); err != nil || !ok {
			t.Errorf("source %s not merged into %s: %v", s, tip, err)
		}
	}
}
