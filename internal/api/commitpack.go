package api

import (
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/commitpack"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/repo"
)

// POST /api/v1/repos/commit-pack (spec §5.6): a streamed NDJSON body of
// metadata then blob chunks. Blobs go straight into temporary object files
// as chunks arrive, so memory stays flat whatever the upload size.
func (h *Handler) commitPack(w http.ResponseWriter, r *http.Request, req *request) error {
	st, err := h.openCommitStream(w, r, req, false)
	if err != nil {
		return err
	}
	ctx, meta, creq := r.Context(), st.meta, st.creq
	fail := st.fail

	wr, err := req.repo.BeginWrite()
	if err != nil {
		return fail(err)
	}
	defer wr.Abort() // a no-op once the commit is made
	ids := make(map[string]git.ObjectID, len(meta.Files))
	err = st.rd.Blobs(func(op commitpack.FileOp) (commitpack.BlobSink, error) {
		if op.Mode == "160000" {
			return &gitlinkSink{done: func(oid git.ObjectID) { ids[op.ContentID] = oid }}, nil
		}
		return &blobSink{bw: wr.NewBlob(), done: func(oid git.ObjectID) { ids[op.ContentID] = oid }}, nil
	})
	if err != nil {
		return fail(err)
	}
	for _, op := range meta.Files {
		if op.Operation == commitpack.OpDelete {
			creq.Changes = append(creq.Changes, repo.FileChange{Path: op.Path, Delete: true})
			continue
		}
		oid, ok := ids[op.ContentID]
		if !ok {
			return fail(badRequest("no content received for %s", op.Path))
		}
		creq.Changes = append(creq.Changes, repo.FileChange{Path: op.Path, Mode: op.Mode, OID: oid})
	}
	res, err := req.repo.CommitChanges(ctx, wr, creq)
	if err != nil {
		return fail(err)
	}
	writeCommitResult(w, meta.TargetBranch, res)
	return nil
}

// commitStream is a commit-family upload whose metadata has been read and
// whose target has been checked.
type commitStream struct {
	rd     *commitpack.Reader
	meta   *commitpack.Metadata
	creq   repo.CommitRequest
	target repo.Target
}

// fail attaches the branch and its observed tip to a failure.
func (st *commitStream) fail(err error) error {
	return &refFailure{branch: st.meta.TargetBranch, old: st.target.Old, err: err}
}

// openCommitStream reads the metadata line of a commit-pack (or, with
// diff, a diff-commit) body and fails fast — before a long upload — on a
// ref policy, a missing branch or a stale expected head.
func (h *Handler) openCommitStream(w http.ResponseWriter, r *http.Request, req *request, diff bool) (*commitStream, error) {
	rd := commitpack.NewReader(http.MaxBytesReader(w, r.Body, h.limits.MaxUploadBody), h.limits.MaxLine)
	read := rd.Metadata
	if diff {
		read = rd.DiffMetadata
	}
	meta, err := read()
	if err != nil {
		return nil, err
	}
	st := &commitStream{rd: rd, meta: meta, creq: commitRequest(meta)}
	if st.target, err = req.repo.ResolveTarget(r.Context(), st.creq); err != nil {
		return nil, st.fail(err)
	}
	if err := checkCommitPolicy(req.principal, meta.TargetBranch, st.target); err != nil {
		return nil, st.fail(err)
	}
	return st, nil
}

// commitRequest maps validated metadata onto the engine's request.
func commitRequest(meta *commitpack.Metadata) repo.CommitRequest {
	creq := repo.CommitRequest{
		Namespace:     git.NamespaceFor(meta.Ephemeral),
		Branch:        meta.TargetBranch,
		BaseNamespace: git.NamespaceFor(meta.EphemeralBase),
		BaseBranch:    meta.BaseBranch,
		ExpectedHead:  git.ObjectID(meta.ExpectedHeadSHA),
		Author:        repo.Signature{Name: meta.Author.Name, Email: meta.Author.Email},
		Message:       meta.CommitMessage,
	}
	if c := meta.Committer; c != nil {
		creq.Committer = repo.Signature{Name: c.Name, Email: c.Email}
	}
	return creq
}

// checkCommitPolicy applies ref policies to a commit Strata itself makes.
// Such commits are unsigned, so a verify-sig rule denies them.
func checkCommitPolicy(p *auth.Principal, branch string, t repo.Target) error {
	ref := "refs/heads/" + branch
	kind := auth.UpdateFastForward
	if t.Old.IsZero() {
		kind = auth.UpdateCreate
	}
	if err := p.Policy.Check(ref, kind); err != nil {
		return err
	}
	if p.Policy.Has(ref, auth.OpVerifySig) {
		return &auth.DeniedError{Op: auth.OpVerifySig, Ref: ref, Reason: unsignedReason}
	}
	return nil
}

// unsignedReason is why verify-sig refuses every commit Strata writes
// (commit-pack, diff-commit, restore, merge, notes): the server holds no
// signing key.
const unsignedReason = "commits written by the server are unsigned"

// writeCommitResult sends the success body of the commit family (§5.6.5).
func writeCommitResult(w http.ResponseWriter, branch string, res *repo.CommitResult) {
	old := res.Old
	if old.IsZero() {
		old = git.ZeroOID
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"commit": map[string]any{
			"commit_sha":    string(res.Commit),
			"tree_sha":      string(res.Tree),
			"target_branch": branch,
			"pack_bytes":    res.PackBytes,
			"blob_count":    res.BlobCount,
		},
		"result": map[string]any{
			"target_branch": branch,
			"branch":        branch, // 1.17.1's name
			"old_sha":       string(old),
			"new_sha":       string(res.Commit),
			"success":       true,
			"status":        "ok",
		},
	})
}

// blobSink feeds one upsert's chunks into a streamed blob.
type blobSink struct {
	bw   *odb.BlobWriter
	done func(git.ObjectID)
}

func (s *blobSink) Write(p []byte) (int, error) { return s.bw.Write(p) }
func (s *blobSink) Abort()                      { s.bw.Abort() }
func (s *blobSink) Close() error {
	oid, err := s.bw.Close()
	if err != nil {
		return err
	}
	s.done(oid)
	return nil
}

// gitlinkSink reads a mode-160000 entry's content: the submodule commit id
// it records (spec Q10), not a blob.
type gitlinkSink struct {
	buf  []byte
	done func(git.ObjectID)
}

func (s *gitlinkSink) Write(p []byte) (int, error) {
	if len(s.buf)+len(p) > 64 {
		return 0, &commitpack.Error{Msg: "a 160000 (gitlink) entry must contain a 40-hex commit id"}
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *gitlinkSink) Abort() {}

func (s *gitlinkSink) Close() error {
	id := strings.TrimSpace(string(s.buf))
	if !git.IsFullHex(id) {
		return &commitpack.Error{Msg: "a 160000 (gitlink) entry must contain a 40-hex commit id"}
	}
	s.done(git.ObjectID(id))
	return nil
}
