package api

import (
	"math"
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

type archiveBody struct {
	Ref          string   `json:"ref"`
	Ephemeral    bool     `json:"ephemeral"`
	IncludeGlobs []string `json:"include_globs"`
	ExcludeGlobs []string `json:"exclude_globs"`
	MaxBlobSize  *float64 `json:"max_blob_size"`
	Archive      *struct {
		Prefix string `json:"prefix"`
	} `json:"archive"`
}

// POST /api/v1/repos/archive (spec §5.13): a tar.gz of the tree, streamed.
// An empty body means the default branch, everything, no prefix.
func (h *Handler) archive(w http.ResponseWriter, r *http.Request, req *request) error {
	var body archiveBody
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	opt := repo.ArchiveOptions{
		MaxBlobSize: -1,
		Filter:      repo.PathFilter{IncludeGlobs: body.IncludeGlobs, ExcludeGlobs: body.ExcludeGlobs},
	}
	if m := body.MaxBlobSize; m != nil {
		if *m < 0 {
			return badRequest("max_blob_size must not be negative")
		}
		// Sizes are whole bytes: size > 10.5 exactly when size > 10.
		opt.MaxBlobSize = int64(math.Min(math.Floor(*m), math.MaxInt64/2))
	}
	if body.Archive != nil {
		opt.Prefix = strings.TrimSpace(body.Archive.Prefix)
	}
	ref := strings.TrimSpace(body.Ref)
	if ref == "" {
		ref = req.meta.DefaultBranch
	}
	commit, err := req.repo.ResolveCommit(r.Context(), git.NamespaceFor(body.Ephemeral), ref)
	if err != nil {
		return err
	}
	a, err := req.repo.Archive(r.Context(), commit, opt)
	if err != nil {
		return err
	}
	defer a.Close()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+commit.Short()+`.tar.gz"`)
	w.Header().Set("X-Commit-Sha", string(commit))
	w.WriteHeader(http.StatusOK)
	if _, err := a.WriteTo(w); err != nil {
		abortStreamedResponse(r, h, err)
	}
	return nil
}
