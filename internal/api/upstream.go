package api

import (
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/metadata"
)

// hasUpstream reports whether a repository mirrors an outside host: a
// fork or snapshot source on this server is not an upstream.
func hasUpstream(m metadata.Repo) bool {
	b := m.BaseRepo
	return b != nil && b.Provider != "" && b.Provider != "code" && b.Provider != "code.storage"
}

type pullUpstreamBody struct {
	Ref string `json:"ref"`
}

// POST /api/v1/repos/pull-upstream (spec §5.3.1). Strata does not fetch
// from upstreams yet: a linked repository answers 503, as the spec asks
// of a server that cannot reach its upstream, rather than accepting a
// sync that would never run.
func (h *Handler) pullUpstream(w http.ResponseWriter, r *http.Request, req *request) error {
	var body pullUpstreamBody
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	if ref := strings.TrimSpace(body.Ref); ref != "" && (strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, "\x00\n\r :")) {
		return badRequest("invalid ref %q", ref)
	}
	if !hasUpstream(req.meta) {
		return badRequest("repository has no upstream")
	}
	return errorf(http.StatusServiceUnavailable, "unavailable", "this server does not sync from upstreams")
}

// DELETE /api/v1/repos/base (spec §5.3.2): forget the base repository,
// upstream or fork source. Idempotent.
func (h *Handler) detachUpstream(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.meta.BaseRepo != nil {
		if err := h.store.SetBaseRepo(r.Context(), req.meta.Org, req.meta.ID, nil); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "repository detached"})
	return nil
}
