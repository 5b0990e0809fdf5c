package api

import (
	"net/http"
)

type pullUpstreamBody struct {
	Ref string `json:"ref"`
}

// POST /api/v1/repos/pull-upstream (spec §5.3.1): the sync is queued
// durably and runs in the background (internal/upstream); 202 exactly.
func (h *Handler) pullUpstream(w http.ResponseWriter, r *http.Request, req *request) error {
	var body pullUpstreamBody
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	if err := h.syncs.Enqueue(r.Context(), req.meta, body.Ref); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": "sync queued"})
	return nil
}

// DELETE /api/v1/repos/base (spec §5.3.2): forget the base repository,
// upstream or fork source. Idempotent; 409 while a sync of it runs.
func (h *Handler) detachUpstream(w http.ResponseWriter, r *http.Request, req *request) error {
	running, err := h.syncs.Running(r.Context(), req.meta)
	if err != nil {
		return err
	}
	if running {
		return errorf(http.StatusConflict, "conflict", "a sync of this repository is running; retry when it has finished")
	}
	if req.meta.BaseRepo != nil {
		if err := h.store.SetBaseRepo(r.Context(), req.meta.Org, req.meta.ID, nil); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "repository detached"})
	return nil
}
