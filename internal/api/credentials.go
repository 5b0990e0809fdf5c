package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
)

// Git credentials (spec §5.2, API-next.md §1): one per repository, the
// password sealed at rest by gitcred and never sent back, logged or
// quoted in an error.
//
// /api/v1 names the repository in the token (create: repo claim and
// repo_id) and the credential in the body (update, delete: repo claim
// "org", or the credential's own repository). The path-scoped family names
// both in the path, /api/repos/{name}/git-credentials[/{id}], where {name}
// is the token's repository (checked in authenticate).

// credentialBody is the body of every git-credentials route. Username is
// a pointer: absent leaves it unchanged on update, "" sets it empty.
type credentialBody struct {
	ID       string  `json:"id"`
	RepoID   string  `json:"repo_id"`
	RepoName string  `json:"repo_name"`
	Password string  `json:"password"`
	Username *string `json:"username"`
}

var errNoCredentials = errorf(http.StatusNotImplemented, "unsupported", "git credentials are not configured on this server")

// readCredentialBody decodes the body. encoding/json's syntax errors may
// quote what they choke on, and this body holds a password: a bad body
// gets a message of our own, with no cause to log.
func (h *Handler) readCredentialBody(r *http.Request) (credentialBody, error) {
	var body credentialBody
	if err := h.readJSON(r, &body); err != nil {
		var he *httpError
		if errors.As(err, &he) && he.status == http.StatusBadRequest {
			return credentialBody{}, badRequest("invalid JSON body: want an object of strings")
		}
		return credentialBody{}, err
	}
	return body, nil
}

// checkSecret validates the password and username before anything is
// looked up or stored.
func checkSecret(body *credentialBody) error {
	if body.Password == "" {
		return badRequest("password is required")
	}
	username := ""
	if body.Username != nil {
		username = *body.Username
	}
	if err := gitcred.Validate(username, body.Password); err != nil {
		return badRequest("%v", err) // never quotes the values
	}
	return nil
}

func credentialJSON(c gitcred.Info) map[string]any {
	return map[string]any{"id": c.ID, "created_at": c.CreatedAt.UTC().Format(time.RFC3339)}
}

var errCredentialNotFound = errorf(http.StatusNotFound, "not_found", "credential not found")

// POST /api/v1/repos/git-credentials, POST /api/repos/{name}/git-credentials
func (h *Handler) createGitCredential(w http.ResponseWriter, r *http.Request, req *request) error {
	if h.creds == nil {
		return errNoCredentials
	}
	p := req.principal
	body, err := h.readCredentialBody(r)
	if err != nil {
		return err
	}
	// /api/v1 names the repository in the body as well as the token; the
	// path-scoped family in the path, and a body may repeat it.
	if r.PathValue("name") == "" && body.RepoID == "" && body.RepoName == "" {
		return badRequest("repo_id is required")
	}
	if err := checkSecret(&body); err != nil {
		return err
	}
	for _, named := range []string{body.RepoID, body.RepoName} {
		if named != "" && named != p.Repo {
			return errorf(http.StatusForbidden, "forbidden", "the token is not scoped to the repository in the body")
		}
	}
	username := ""
	if body.Username != nil {
		username = *body.Username
	}
	c, err := h.creds.Create(r.Context(), p.Org, p.Repo, username, gitcred.Password(body.Password))
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "repository not found")
	case errors.Is(err, metadata.ErrExists):
		return errorf(http.StatusConflict, "conflict", "a credential already exists for this repository")
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, credentialJSON(c))
	return nil
}

// credentialOf resolves the credential a PUT or DELETE names: the id in
// the path (path-scoped family; a body may repeat it) or in the body
// (/api/v1). It must belong to the caller's organisation and, unless the
// /api/v1 token is organisation-wide (repo claim "org"), to the token's
// repository: anything else is 404, as if it did not exist.
func (h *Handler) credentialOf(r *http.Request, p *auth.Principal, body *credentialBody) (gitcred.Info, error) {
	name := r.PathValue("name")
	id := body.ID
	if name != "" {
		id = r.PathValue("id")
		if body.ID != "" && body.ID != id {
			return gitcred.Info{}, badRequest("the id in the body is not the id in the path")
		}
	}
	if id == "" {
		return gitcred.Info{}, badRequest("id is required")
	}
	c, err := h.creds.Get(r.Context(), p.Org, id)
	if errors.Is(err, metadata.ErrNotFound) {
		return gitcred.Info{}, errCredentialNotFound
	}
	if err != nil {
		return gitcred.Info{}, err
	}
	orgWide := name == "" && p.Repo == "org"
	if !orgWide && c.RepoID != p.Repo {
		return gitcred.Info{}, errCredentialNotFound
	}
	return c, nil
}

// PUT /api/v1/repos/git-credentials, PUT /api/repos/{name}/git-credentials/{id}
func (h *Handler) updateGitCredential(w http.ResponseWriter, r *http.Request, req *request) error {
	if h.creds == nil {
		return errNoCredentials
	}
	body, err := h.readCredentialBody(r)
	if err != nil {
		return err
	}
	if r.PathValue("name") == "" && body.ID == "" {
		return badRequest("id is required")
	}
	if err := checkSecret(&body); err != nil {
		return err
	}
	c, err := h.credentialOf(r, req.principal, &body)
	if err != nil {
		return err
	}
	c, err = h.creds.Update(r.Context(), req.principal.Org, c.ID, body.Username, gitcred.Password(body.Password))
	if errors.Is(err, metadata.ErrNotFound) { // deleted meanwhile
		return errCredentialNotFound
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, credentialJSON(c))
	return nil
}

// DELETE /api/v1/repos/git-credentials, DELETE /api/repos/{name}/git-credentials/{id}
func (h *Handler) deleteGitCredential(w http.ResponseWriter, r *http.Request, req *request) error {
	if h.creds == nil {
		return errNoCredentials
	}
	body, err := h.readCredentialBody(r)
	if err != nil {
		return err
	}
	c, err := h.credentialOf(r, req.principal, &body)
	if err != nil {
		return err
	}
	err = h.creds.Delete(r.Context(), req.principal.Org, c.ID)
	if errors.Is(err, metadata.ErrNotFound) { // deleted meanwhile
		return errCredentialNotFound
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
