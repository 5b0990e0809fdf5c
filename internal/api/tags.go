package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/signing"
)

// signerBody is an optional {name, email} in a request.
type signerBody struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// signerOf returns the first given identity, trimmed, or the server's
// identity. A half-given identity is a 400.
func (h *Handler) signerOf(field string, ids ...*signerBody) (repo.Signature, error) {
	for _, id := range ids {
		if id == nil {
			continue
		}
		name, email := strings.TrimSpace(id.Name), strings.TrimSpace(id.Email)
		if name == "" || email == "" {
			return repo.Signature{}, badRequest("%s name and email are required when %s is given", field, field)
		}
		if strings.ContainsAny(name+email, "<>\n\x00") {
			return repo.Signature{}, badRequest("%s name and email must not contain '<', '>', newline or NUL", field)
		}
		return repo.Signature{Name: name, Email: email}, nil
	}
	return h.identity, nil
}

// tagName trims and checks a tag name from a body (spec §4.3: short names,
// never refs/...).
func tagName(s string) (string, error) {
	name := strings.TrimSpace(s)
	if name == "" {
		return "", badRequest("name is required")
	}
	if strings.HasPrefix(name, "refs/") {
		return "", badRequest("tag name must not start with refs/")
	}
	if err := git.ValidateTagName(name); err != nil {
		return "", badRequest("%v", err)
	}
	return name, nil
}

// GET /api/v1/repos/tags (spec §5.14.1): by name, byte order; the cursor
// is the last tag's name.
func (h *Handler) listTags(w http.ResponseWriter, r *http.Request, req *request) error {
	q := queryOf(r)
	limit, err := q.limit(20, 1000)
	if err != nil {
		return err
	}
	list, more, err := req.repo.ListTags(r.Context(), q.str("cursor"), limit)
	if err != nil {
		return err
	}
	tags := make([]map[string]any, 0, len(list))
	for _, t := range list {
		tags = append(tags, map[string]any{"cursor": t.Name, "name": t.Name, "sha": string(t.Target)})
	}
	resp := map[string]any{"tags": tags, "has_more": more, "next_cursor": nil}
	if more {
		resp["next_cursor"] = list[len(list)-1].Name
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// GET /api/v1/repos/tag?name= (API-next.md §1, getTag): one tag, its sha
// peeled to the commit (or whatever object it finally names).
func (h *Handler) getTag(w http.ResponseWriter, r *http.Request, req *request) error {
	name, err := tagName(queryOf(r).str("name"))
	if err != nil {
		return err
	}
	t, err := req.repo.Tag(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tag": map[string]any{"name": t.Name, "sha": string(t.Target)}})
	return nil
}

type createTagBody struct {
	Name    string      `json:"name"`
	Ref     string      `json:"ref"`
	Message string      `json:"message"`
	Tagger  *signerBody `json:"tagger"`
	Author  *signerBody `json:"author"`
}

// POST /api/v1/repos/tags (spec §5.14.2): lightweight, or annotated when
// a message is given. 200, not 201: the Python SDK accepts nothing else,
// 1.17.1 any 2xx.
func (h *Handler) createTag(w http.ResponseWriter, r *http.Request, req *request) error {
	var body createTagBody
	if err := h.readJSON(r, &body, alias{"ref", "target"}); err != nil {
		return err
	}
	name, err := tagName(body.Name)
	if err != nil {
		return err
	}
	target := strings.TrimSpace(body.Ref)
	if target == "" {
		return badRequest("ref (or target) is required")
	}
	var annotation *repo.TagAnnotation
	if strings.TrimSpace(body.Message) != "" {
		tagger, err := h.signerOf("tagger", body.Tagger, body.Author)
		if err != nil {
			return err
		}
		annotation = &repo.TagAnnotation{Tagger: tagger, Message: body.Message}
	}
	if err := checkPolicy(req.principal, "refs/tags/"+name, auth.UpdateCreate); err != nil {
		return err
	}
	// Q25: a full commit id, or any revision that resolves to a commit.
	commit, err := req.repo.ResolveCommit(r.Context(), git.NormalNamespace, target)
	if err != nil {
		return err
	}
	if err := h.checkSignatures(r.Context(), req, signing.Update{Ref: "refs/tags/" + name, New: commit}); err != nil {
		return err
	}
	tag, err := req.repo.CreateTag(r.Context(), name, commit, annotation)
	if err != nil {
		return err
	}
	resp := map[string]any{"name": tag.Name, "sha": string(tag.Target), "message": "tag created", "annotated": tag.Annotated}
	if tag.Annotated {
		resp["tag_sha"] = string(tag.OID)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type deleteTagBody struct {
	Name string `json:"name"`
}

// DELETE /api/v1/repos/tags (spec §5.14.3) names the tag in the body;
// DELETE /api/repos/{name}/tags/{tag} in the path.
func (h *Handler) deleteTag(w http.ResponseWriter, r *http.Request, req *request) error {
	body := deleteTagBody{Name: r.PathValue("tag")}
	if body.Name == "" {
		if err := h.readJSON(r, &body); err != nil {
			return err
		}
	}
	name, err := tagName(body.Name)
	if err != nil {
		return err
	}
	old, err := req.repo.ReadTag(name)
	if errors.Is(err, repo.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "tag %s not found", name)
	}
	if err != nil {
		return err
	}
	if err := checkPolicy(req.principal, "refs/tags/"+name, auth.UpdateDelete); err != nil {
		return err
	}
	if err := req.repo.DeleteTag(r.Context(), name, old); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "message": "tag deleted"})
	return nil
}
