package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// Custom notes refs (anything but refs/notes/commits) are always enabled
// (spec Q21); there is no switch yet.

// noteObject resolves the sha of a notes request: a full object id (any
// case) as is, anything else as a commit revision. verify also requires a
// full id to name an existing object (writes; a read just finds no note).
func noteObject(r *http.Request, req *request, sha string, verify bool) (git.ObjectID, error) {
	if sha == "" {
		return "", badRequest("sha is required")
	}
	if lower := strings.ToLower(sha); git.IsFullHex(lower) && !verify {
		return git.ObjectID(lower), nil
	} else if git.IsFullHex(lower) {
		sha = lower
	}
	return req.repo.ResolveObject(r.Context(), sha)
}

// GET /api/v1/repos/notes (spec §5.15.1). The note is returned as stored,
// with its final newline.
func (h *Handler) getNote(w http.ResponseWriter, r *http.Request, req *request) error {
	q := queryOf(r, alias{"object_ref", "sha"}, alias{"notes_ref", "ref"})
	ref, err := repo.ResolveNotesRef(q.str("notes_ref"))
	if err != nil {
		return err
	}
	obj, err := noteObject(r, req, q.str("object_ref"), false)
	if err != nil {
		return err
	}
	note, err := req.repo.ReadNote(r.Context(), ref, obj)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha": string(note.Object), "note": note.Text, "ref_sha": string(note.RefCommit)})
	return nil
}

type noteWriteBody struct {
	ObjectRef           string      `json:"object_ref"`
	Action              string      `json:"action"`
	Note                string      `json:"note"`
	NotesRef            string      `json:"notes_ref"`
	ExpectedNotesRefSHA string      `json:"expected_notes_ref_sha"`
	Author              *signerBody `json:"author"`
}

// noteAliases are the 1.17.1 names of noteWriteBody's fields.
var noteAliases = []alias{{"object_ref", "sha"}, {"notes_ref", "ref"}, {"expected_notes_ref_sha", "expected_ref_sha"}}

// POST /api/v1/repos/notes (spec §5.15.2): add or append.
func (h *Handler) writeNote(w http.ResponseWriter, r *http.Request, req *request) error {
	var body noteWriteBody
	if err := h.readJSON(r, &body, noteAliases...); err != nil {
		return err
	}
	var action repo.NoteAction
	switch strings.TrimSpace(body.Action) {
	case "add":
		action = repo.NoteAdd
	case "append":
		action = repo.NoteAppend
	default:
		return badRequest(`action must be "add" or "append"`)
	}
	if strings.TrimSpace(body.Note) == "" {
		return badRequest("note is required")
	}
	return h.changeNote(w, r, req, body, action)
}

// DELETE /api/v1/repos/notes (spec §5.15.3).
func (h *Handler) deleteNote(w http.ResponseWriter, r *http.Request, req *request) error {
	var body noteWriteBody
	if err := h.readJSON(r, &body, noteAliases...); err != nil {
		return err
	}
	return h.changeNote(w, r, req, body, repo.NoteRemove)
}

// changeNote runs one note write. Bad input, policy denials and missing
// objects or notes get the plain error envelope; the concurrency failures
// (409) get the full write shape with success false, so the SDK raises a
// RefUpdateError with a precise reason (spec §5.15.4).
func (h *Handler) changeNote(w http.ResponseWriter, r *http.Request, req *request, body noteWriteBody, action repo.NoteAction) error {
	ctx := r.Context()
	ref, err := repo.ResolveNotesRef(strings.TrimSpace(body.NotesRef))
	if err != nil {
		return err
	}
	var expected git.ObjectID
	if e := strings.ToLower(strings.TrimSpace(body.ExpectedNotesRefSHA)); e != "" {
		if !git.IsFullHex(e) {
			return badRequest("expected_notes_ref_sha (or expected_ref_sha) must be a full 40-character object id")
		}
		expected = git.ObjectID(e)
	}
	author, err := h.signerOf("author", body.Author)
	if err != nil {
		return err
	}
	kind := auth.UpdateFastForward // a notes commit always descends from the last
	if _, err := req.repo.ReadNotesRef(ref); errors.Is(err, repo.ErrNotFound) {
		kind = auth.UpdateCreate
	} else if err != nil {
		return err
	}
	if err := checkPolicy(req.principal, string(ref), kind); err != nil {
		return err
	}
	if req.principal.Policy.Has(string(ref), auth.OpVerifySig) {
		// Notes commits are Strata's own, hence unsigned (as checkCommitPolicy).
		return &auth.DeniedError{Op: auth.OpVerifySig, Ref: string(ref), Reason: unsignedReason}
	}
	obj, err := noteObject(r, req, strings.TrimSpace(body.ObjectRef), true)
	if err != nil {
		return err
	}
	res, err := req.repo.WriteNote(ctx, repo.NoteWrite{
		Ref:      ref,
		Object:   obj,
		Action:   action,
		Text:     body.Note,
		Expected: expected,
		Author:   author,
	})
	if err != nil {
		var pre *repo.PreconditionError
		switch {
		case res == nil:
			return err
		case errors.As(err, &pre):
			h.logNoteFailure(r, err)
			writeJSON(w, http.StatusConflict, noteWriteJSON(res, false, "precondition_failed", "expected_notes_ref_sha does not match the current notes ref"))
			return nil
		case errors.Is(err, repo.ErrExists):
			h.logNoteFailure(r, err)
			writeJSON(w, http.StatusConflict, noteWriteJSON(res, false, "conflict", "a note already exists for this object; append to it or delete it first"))
			return nil
		case errors.Is(err, repo.ErrConflict):
			h.logNoteFailure(r, err)
			writeJSON(w, http.StatusConflict, noteWriteJSON(res, false, "conflict", "the notes ref was updated concurrently; retry"))
			return nil
		}
		return err
	}
	status, msg := http.StatusOK, "note appended"
	switch action {
	case repo.NoteAdd:
		status, msg = http.StatusCreated, "note added"
	case repo.NoteRemove:
		msg = "note deleted"
	}
	writeJSON(w, status, noteWriteJSON(res, true, "ok", msg))
	return nil
}

func (h *Handler) logNoteFailure(r *http.Request, err error) {
	h.log.Info("request failed", "method", r.Method, "path", r.URL.Path, "status", http.StatusConflict, "err", err)
}

// noteWriteJSON is the write shape of spec §5.15.4: base_commit omitted
// (never null) when the notes ref did not exist.
func noteWriteJSON(res *repo.NoteWriteResult, ok bool, status, msg string) map[string]any {
	out := map[string]any{
		"sha":         string(res.Object),
		"target_ref":  string(res.Ref), // 1.17.1's name
		"notes_ref":   string(res.Ref),
		"new_ref_sha": string(res.New),
		"result":      map[string]any{"success": ok, "status": status, "message": msg},
	}
	if res.Base != "" {
		out["base_commit"] = string(res.Base)
	}
	if !ok {
		// Every error body carries the envelope too (spec §4.1).
		out["error"] = msg
	}
	return out
}

// GET /api/v1/repos/notes/refs (spec §5.15.5).
func (h *Handler) listNotesRefs(w http.ResponseWriter, r *http.Request, req *request) error {
	q := queryOf(r)
	prefix, err := repo.ResolveNotesPrefix(q.str("prefix"))
	if err != nil {
		return err
	}
	limit, err := q.limit(20, 1000)
	if err != nil {
		return err
	}
	list, more, err := req.repo.ListNotesRefs(r.Context(), prefix, q.str("cursor"), limit)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(list))
	for _, n := range list {
		items = append(items, map[string]any{"cursor": string(n.Name), "ref": string(n.Name), "sha": string(n.OID)})
	}
	resp := map[string]any{"refs": items, "has_more": more, "next_cursor": nil, "prefix": prefix}
	if more {
		resp["next_cursor"] = string(list[len(list)-1].Name)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
