package api

import "net/http"

// Placeholder until this resource is implemented (issue 4).

func (h *Handler) getNote(w http.ResponseWriter, r *http.Request, req *request) error {
	return errorf(http.StatusNotImplemented, "internal", "not implemented yet")
}

func (h *Handler) writeNote(w http.ResponseWriter, r *http.Request, req *request) error {
	return errorf(http.StatusNotImplemented, "internal", "not implemented yet")
}

func (h *Handler) deleteNote(w http.ResponseWriter, r *http.Request, req *request) error {
	return errorf(http.StatusNotImplemented, "internal", "not implemented yet")
}

func (h *Handler) listNotesRefs(w http.ResponseWriter, r *http.Request, req *request) error {
	return errorf(http.StatusNotImplemented, "internal", "not implemented yet")
}
