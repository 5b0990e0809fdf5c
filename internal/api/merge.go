package api

import "net/http"

// Placeholder until this resource is implemented (issue 4).

func (h *Handler) previewMerge(w http.ResponseWriter, r *http.Request, req *request) error {
	return errorf(http.StatusNotImplemented, "internal", "not implemented yet")
}

func (h *Handler) merge(w http.ResponseWriter, r *http.Request, req *request) error {
	return errorf(http.StatusNotImplemented, "internal", "not implemented yet")
}
