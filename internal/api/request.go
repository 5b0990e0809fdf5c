package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// request is an authenticated call on one repository.
type request struct {
	principal *auth.Principal
	meta      metadata.Repo
	repo      *repo.Repo
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, req *request) error

var errMissingToken = errors.New("missing bearer token")

// authenticate verifies the bearer token (401 on any failure) and, on a
// path-scoped route, that it is the named repository's (403).
func (h *Handler) authenticate(r *http.Request) (*auth.Principal, error) {
	hdr := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(hdr, "Bearer ")
	if !ok {
		// Tolerate the scheme's case, as RFC 9110 says it is case-insensitive.
		if len(hdr) > 7 && strings.EqualFold(hdr[:7], "bearer ") {
			token, ok = hdr[7:], true
		}
	}
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return nil, &httpError{status: http.StatusUnauthorized, label: "unauthorized", msg: errMissingToken.Error()}
	}
	p, err := h.verifier.Verify(token)
	if err != nil {
		return nil, &httpError{status: http.StatusUnauthorized, label: "unauthorized", msg: "invalid token", cause: err}
	}
	// A path-scoped route names its repository twice, in the path and in
	// the token; they must agree (API-next.md §1).
	if name := r.PathValue("name"); name != "" && name != p.Repo {
		return nil, errorf(http.StatusForbidden, "forbidden", "the repository in the path (%q) is not the token's repository", name)
	}
	return p, nil
}

func requireScope(p *auth.Principal, scope auth.Scope) error {
	if !p.Has(scope) {
		return errorf(http.StatusForbidden, "forbidden", "token lacks the %s scope", scope)
	}
	return nil
}

// lookup resolves the token's repository (404 when missing or deleted).
func (h *Handler) lookup(r *http.Request, p *auth.Principal) (*request, error) {
	if p.Repo == "" {
		return nil, errorf(http.StatusForbidden, "forbidden", "token is not scoped to a repository")
	}
	meta, err := h.store.Repo(r.Context(), p.Org, p.Repo)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrDeleted) {
			return nil, errorf(http.StatusNotFound, "not_found", "repository not found")
		}
		return nil, err
	}
	rp, err := h.repos.Open(r.Context(), meta.StorageKey)
	if err != nil {
		return nil, err
	}
	return &request{principal: p, meta: meta, repo: rp}, nil
}

// repoRoute serves an endpoint on the token's repository.
func (h *Handler) repoRoute(scope auth.Scope, fn handlerFunc) http.Handler {
	return h.route(writeError, func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.authenticate(r)
		if err != nil {
			return err
		}
		if err := requireScope(p, scope); err != nil {
			return err
		}
		req, err := h.lookup(r, p)
		if err != nil {
			return err
		}
		return fn(w, r, req)
	})
}

// tokenRoute serves an endpoint that needs only a verified token with
// scope: organisation-level calls (repo claim "org"), and create/delete,
// which handle the repository themselves.
func (h *Handler) tokenRoute(scope auth.Scope, fn handlerFunc) http.Handler {
	return h.route(writeError, func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.authenticate(r)
		if err != nil {
			return err
		}
		if err := requireScope(p, scope); err != nil {
			return err
		}
		return fn(w, r, &request{principal: p})
	})
}

// writeRoute serves the commit family (commit-pack, restore): like
// repoRoute, but every failure carries the ref-update result object the
// SDK turns into a RefUpdateError (spec §5.6.6).
func (h *Handler) writeRoute(fn handlerFunc) http.Handler {
	return h.route(writeRefError, func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.authenticate(r)
		if err != nil {
			return err
		}
		if err := requireScope(p, auth.ScopeGitWrite); err != nil {
			return err
		}
		req, err := h.lookup(r, p)
		if err != nil {
			return err
		}
		return fn(w, r, req)
	})
}

// route adapts an error-returning handler, sending failures through the
// given writer.
func (h *Handler) route(onError func(http.ResponseWriter, *http.Request, *slog.Logger, error), fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			onError(w, r, h.log, err)
		}
	})
}
