package repo

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// commitPatch spools patch and commits it as CommitPatch would for a
// diff-commit request.
func (fx *dmFixture) commitPatch(req CommitRequest, patch string) (*CommitResult, error) {
	fx.t.Helper()
	pf, err := NewPatchFile()
	if err != nil {
		fx.t.Fatal(err)
	}
	defer pf.Close()
	if _, err := pf.Write([]byte(patch)); err != nil {
		fx.t.Fatal(err)
	}
	return fx.repo.CommitPatch(fx.ctx, pf, req)
}

// gitPatch is git's own patch from a to b, binary hunks included.
func (fx *dmFixture) gitPatch(a, b git.ObjectID) string {
	fx.t.Helper()
	out, err := fx.git.Output(fx.ctx, fx.dir, git.Command{Name: "diff-tree", Flags: []string{"-p", "-M", "--full-index", "--binary"}, Args: []string{string(a), string(b)}})
	if err != nil {
		fx.t.Fatal(err)
	}
	return string(out)
}

func (fx *dmFixture) readCommit(c git.ObjectID) *Commit {
	fx.t.Helper()
	cm, err := fx.repo.readCommitOID(fx.ctx, c)
	if err != nil {
		fx.t.Fatal(err)
	}
	return cm
}

var dmAuthor = Signature{Name: "Patch Author", Email: "patch@example.com"}

func TestCommitPatch_applies(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	base := fx.commit("base", map[string]string{"a.txt": "1\n2\n3\n", "old.txt": "rename me\nplease\n", "bin": "\x00\x01", "gone": "x\n"})
	fx.branch(git.NormalNamespace, "main", base)
	for _, tc := range []struct {
		desc  string
		files map[string]string
		blobs int
	}{
		{desc: "edit, add, delete", files: map[string]string{"a.txt": "1\n2\n3\n4\n", "old.txt": "rename me\nplease\n", "bin": "\x00\x01", "new/file": "n\n"}, blobs: 2},
		{desc: "pure rename", files: map[string]string{"a.txt": "1\n2\n3\n", "new.txt": "rename me\nplease\n", "bin": "\x00\x01", "gone": "x\n"}, blobs: 0},
		{desc: "binary patch", files: map[string]string{"a.txt": "1\n2\n3\n", "old.txt": "rename me\nplease\n", "bin": "\x00\x02\x03", "gone": "x\n"}, blobs: 1},
		{desc: "mode and symlink", files: map[string]string{"a.txt": "exec:1\n2\n3\n", "old.txt": "rename me\nplease\n", "bin": "\x00\x01", "gone": "link:a.txt"}, blobs: 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			fx := fx.on(t)
			// Each case writes its own branch, seeded from main.
			branch := "apply/" + strings.ReplaceAll(tc.desc, " ", "-")
			branch = strings.ReplaceAll(branch, ",", "")
			want := fx.commit(tc.desc, tc.files, base)
			res, err := fx.commitPatch(CommitRequest{Branch: branch, BaseBranch: "main", Author: dmAuthor, Message: tc.desc}, fx.gitPatch(base, want))
			if err != nil {
				t.Fatal(err)
			}
			if res.Tree != fx.treeOf(want) {
				t.Errorf("tree %s, git's tree %s", res.Tree, fx.treeOf(want))
			}
			if got := fx.tip(git.NormalNamespace, branch); got != res.Commit {
				t.Errorf("branch at %s, commit %s", got, res.Commit)
			}
			c := fx.readCommit(res.Commit)
			if len(c.Parents) != 1 || c.Parents[0] != base || c.Author.Name != dmAuthor.Name || strings.TrimSpace(c.Message) != tc.desc {
				t.Errorf("commit %+v", c)
			}
			if !res.Old.IsZero() || res.BlobCount != tc.blobs {
				t.Errorf("old %s blob count %d, want created and %d", res.Old, res.BlobCount, tc.blobs)
			}
		})
	}
}

func TestCommitPatch_failures(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	base := fx.commit("base", map[string]string{"a.txt": "1\n2\n3\n"})
	other := fx.commit("other", map[string]string{"a.txt": "x\ny\nz\n"}, base)
	fx.branch(git.NormalNamespace, "main", base)
	edit := fx.gitPatch(base, fx.commit("edit", map[string]string{"a.txt": "1\nTWO\n3\n"}, base))
	revert := fx.gitPatch(fx.commit("edit", map[string]string{"a.txt": "1\nTWO\n3\n"}, base), base)
	for _, tc := range []struct {
		desc     string
		req      CommitRequest
		patch    string
		conflict bool
		want     error
	}{
		{desc: "does not apply", patch: fx.gitPatch(other, fx.commit("o2", map[string]string{"a.txt": "x\nY\nz\n"}, other)), conflict: true},
		{desc: "adds an existing file", patch: fx.gitPatch(fx.commit("e", map[string]string{}), base), conflict: true},
		{desc: "empty", patch: "", want: ErrInvalid},
		{desc: "blank", patch: " \n\n", want: ErrInvalid},
		{desc: "not a patch", patch: "hello world\n", want: ErrInvalid},
		{desc: "corrupt hunk", patch: "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n 1\n-2\n", want: ErrInvalid},
		{desc: "no-op", patch: edit + revert, want: ErrInvalid},
		{desc: ".git path", patch: "diff --git a/.git/config b/.git/config\nnew file mode 100644\n--- /dev/null\n+++ b/.git/config\n@@ -0,0 +1 @@\n+x\n", want: ErrInvalid},
		{desc: "dot-dot path", patch: "diff --git a/../x b/../x\nnew file mode 100644\n--- /dev/null\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n", want: ErrInvalid},
		{desc: "stale expected head", req: CommitRequest{ExpectedHead: other}, patch: edit, want: ErrPrecondition},
		{desc: "missing branch", req: CommitRequest{Branch: "nope"}, patch: edit, want: ErrNotFound},
		{desc: "missing base", req: CommitRequest{Branch: "nope", BaseBranch: "nobase"}, patch: edit, want: ErrNotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			fx := fx.on(t)
			req := tc.req
			if req.Branch == "" {
				req.Branch = "main"
			}
			req.Author, req.Message = dmAuthor, "m"
			_, err := fx.commitPatch(req, tc.patch)
			var pc *PatchConflictError
			switch {
			case tc.conflict && !errors.As(err, &pc):
				t.Errorf("err %v, want a PatchConflictError", err)
			case !tc.conflict && !errors.Is(err, tc.want):
				t.Errorf("err %v, want %v", err, tc.want)
			}
			if tip := fx.tip(git.NormalNamespace, "main"); tip != base {
				t.Errorf("main moved to %s", tip)
			}
		})
	}
}

func TestCommitPatch_rootCommit(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	want := fx.commit("want", map[string]string{"README": "hello\n"})
	res, err := fx.commitPatch(CommitRequest{Branch: "main", Author: dmAuthor, Message: "first"}, fx.gitPatch(git.EmptyTreeOID, want))
	if err != nil {
		t.Fatal(err)
	}
	if c := fx.readCommit(res.Commit); len(c.Parents) != 0 || c.Tree != fx.treeOf(want) {
		t.Errorf("root commit %+v", c)
	}
	if fx.tip(git.NormalNamespace, "main") != res.Commit || res.BlobCount != 1 {
		t.Errorf("result %+v", res)
	}
}

func TestCommitPatch_ephemeral(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	base := fx.commit("base", map[string]string{"a": "a\n"})
	fx.branch(git.EphemeralNamespace, "scratch", base)
	fx.branch(git.NormalNamespace, "main", base)
	res, err := fx.commitPatch(CommitRequest{Namespace: git.EphemeralNamespace, Branch: "scratch", Author: dmAuthor, Message: "m"},
		fx.gitPatch(base, fx.commit("b", map[string]string{"a": "b\n"}, base)))
	if err != nil {
		t.Fatal(err)
	}
	if fx.tip(git.EphemeralNamespace, "scratch") != res.Commit || fx.tip(git.NormalNamespace, "main") != base {
		t.Error("the wrong namespace moved")
	}
}

// Patches racing for one branch without an expected head are re-applied
// to the tip the others left: all land, none overwrites another.
func TestCommitPatch_concurrentRetries(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	base := fx.commit("base", map[string]string{"base.txt": "b\n"})
	fx.branch(git.NormalNamespace, "main", base)
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		patch := fx.gitPatch(base, fx.commit("p", map[string]string{"base.txt": "b\n", fmt.Sprintf("f%d.txt", i): "x\n"}, base))
		go func() {
			_, err := fx.commitPatch(CommitRequest{Branch: "main", Author: dmAuthor, Message: "m"}, patch)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	files := map[string]bool{}
	err := fx.repo.ListTree(fx.ctx, fx.tip(git.NormalNamespace, "main"), ListTreeOptions{Recursive: true}, func(e TreeEntry) bool {
		files[e.Path] = true
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if !files[fmt.Sprintf("f%d.txt", i)] {
			t.Errorf("f%d.txt lost; tree has %v", i, files)
		}
	}
}
