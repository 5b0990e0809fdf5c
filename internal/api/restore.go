package api

import (
	"net/http"

	"github.com/strata-storage/strata/internal/commitpack"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// POST /api/v1/repos/restore-commit (spec §5.8): a new commit on top of
// the branch whose tree is that of an earlier commit. History is kept.
func (h *Handler) restoreCommit(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	meta, err := commitpack.ReadRestore(r.Body, h.limits.MaxJSONBody)
	if err != nil {
		return err
	}
	fail := func(old git.ObjectID, err error) error {
		return &refFailure{branch: meta.TargetBranch, old: old, err: err}
	}
	tip, err := req.repo.ResolveBranch(git.NormalNamespace, meta.TargetBranch)
	if err != nil {
		return fail("", err)
	}
	src, err := req.repo.ReadCommit(ctx, git.NormalNamespace, meta.TargetCommitSHA)
	if err != nil {
		return fail(tip, err)
	}
	msg := meta.CommitMessage
	if msg == "" {
		msg = "Restore " + meta.TargetBranch + " to " + src.OID.Short()
	}
	creq := repo.CommitRequest{
		Namespace:    git.NormalNamespace,
		Branch:       meta.TargetBranch,
		ExpectedHead: git.ObjectID(meta.ExpectedHeadSHA),
		Tree:         src.Tree,
		Author:       repo.Signature{Name: meta.Author.Name, Email: meta.Author.Email},
		Message:      msg,
	}
	if c := meta.Committer; c != nil {
		creq.Committer = repo.Signature{Name: c.Name, Email: c.Email}
	}
	target, err := req.repo.ResolveTarget(ctx, creq)
	if err != nil {
		return fail(tip, err)
	}
	if err := checkCommitPolicy(req.principal, meta.TargetBranch, target); err != nil {
		return fail(tip, err)
	}
	wr, err := req.repo.BeginWrite()
	if err != nil {
		return fail(tip, err)
	}
	res, err := req.repo.CommitChanges(ctx, wr, creq)
	if err != nil {
		return fail(tip, err)
	}
	writeCommitResult(w, meta.TargetBranch, res)
	return nil
}
