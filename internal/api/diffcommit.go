package api

import (
	"io"
	"net/http"

	"github.com/strata-storage/strata/internal/repo"
)

// POST /api/v1/repos/diff-commit (spec §5.7): a streamed NDJSON body of
// metadata then diff chunks. The patch is spooled to a temporary file as
// chunks arrive (memory stays flat), then applied to the parent's tree with
// git apply --cached semantics and committed under commit-pack's rules:
// same parent selection, ref policy, compare-and-swap and failure bodies.
func (h *Handler) diffCommit(w http.ResponseWriter, r *http.Request, req *request) error {
	st, err := h.openCommitStream(w, r, req, true)
	if err != nil {
		return err
	}
	fail := st.fail

	patch, err := repo.NewPatchFile()
	if err != nil {
		return fail(err)
	}
	defer patch.Close()
	if err := st.rd.Diff(&cappedWriter{w: patch, left: h.limits.MaxPatch}); err != nil {
		return fail(err)
	}
	res, err := req.repo.CommitPatch(r.Context(), patch, st.creq)
	if err != nil {
		return fail(err)
	}
	writeCommitResult(w, st.meta.TargetBranch, res)
	return nil
}

// cappedWriter refuses to grow a spooled patch past the configured cap.
type cappedWriter struct {
	w    io.Writer
	left int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		return 0, errorf(http.StatusRequestEntityTooLarge, "invalid", "patch is larger than the server allows")
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}
