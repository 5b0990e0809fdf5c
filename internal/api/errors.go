package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/commitpack"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/upstream"
	"github.com/strata-storage/strata/internal/webhook"
)

// httpError is an error with a chosen status, label and client message.
type httpError struct {
	status int
	label  string // result.status label (spec §8.2)
	msg    string
	cause  error // logged, never sent
	extra  map[string]any
	// retryAfter, when positive, is sent as Retry-After (seconds).
	retryAfter int
}

func (e *httpError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.cause }

func errorf(status int, label, format string, a ...any) *httpError {
	return &httpError{status: status, label: label, msg: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) *httpError {
	return errorf(http.StatusBadRequest, "invalid", format, a...)
}

// classify is the one mapping from errors to HTTP statuses. The engine's
// errors know nothing of HTTP; their kinds are translated here.
func classify(err error) *httpError {
	var he *httpError
	var denied *auth.DeniedError
	var cpErr *commitpack.Error
	var maxErr *http.MaxBytesError
	var pre *repo.PreconditionError
	var mc *repo.MergeConflictError
	var pc *repo.PatchConflictError
	var tooLarge *repo.TooLargeError
	var blobMax *odb.BlobTooLargeError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &denied):
		return &httpError{status: http.StatusForbidden, label: "forbidden", msg: denied.Error()}
	case errors.As(err, &maxErr):
		return &httpError{status: http.StatusRequestEntityTooLarge, label: "invalid", msg: fmt.Sprintf("request body exceeds %d bytes", maxErr.Limit)}
	case errors.As(err, &tooLarge):
		status := http.StatusUnprocessableEntity // a read that would load it
		if tooLarge.Write {
			status = http.StatusRequestEntityTooLarge
		}
		return &httpError{status: status, label: "too_large", msg: tooLarge.Error(), cause: err}
	case errors.As(err, &blobMax):
		return &httpError{status: http.StatusRequestEntityTooLarge, label: "too_large", msg: blobMax.Error(), cause: err}
	case errors.As(err, &cpErr):
		return &httpError{status: http.StatusBadRequest, label: "invalid", msg: cpErr.Error()}
	case errors.As(err, &pre):
		return &httpError{status: http.StatusConflict, label: "precondition_failed", msg: pre.Error()}
	case errors.Is(err, auth.ErrInvalidToken):
		return &httpError{status: http.StatusUnauthorized, label: "unauthorized", msg: "invalid token"}
	case errors.Is(err, repo.ErrUnavailable):
		// Before not-found: the cause may be an object the store could not
		// give, which is not the client's missing resource.
		return &httpError{status: http.StatusServiceUnavailable, label: "unavailable", msg: "storage temporarily unavailable; retry", cause: err}
	case errors.Is(err, repo.ErrNotFound), errors.Is(err, metadata.ErrNotFound):
		return &httpError{status: http.StatusNotFound, label: "not_found", msg: err.Error()}
	case errors.As(err, &mc):
		extra := map[string]any{"conflict_paths": mc.Paths}
		if mc.MergeBase != "" {
			extra["merge_base_sha"] = string(mc.MergeBase)
		}
		return &httpError{status: http.StatusConflict, label: "conflict", msg: "merge conflict", cause: err, extra: extra}
	case errors.Is(err, repo.ErrNotFastForward):
		return &httpError{status: http.StatusConflict, label: "conflict", msg: "fast-forward not possible: the target branch has commits the source lacks", cause: err}
	case errors.Is(err, repo.ErrUnrelatedHistories):
		return &httpError{status: http.StatusBadRequest, label: "invalid", msg: "refusing to merge unrelated histories (set allow_unrelated_histories)", cause: err}
	case errors.As(err, &pc):
		// Not a lost race: the patch itself does not fit the branch.
		return &httpError{status: http.StatusConflict, label: "conflict", msg: pc.Error(), cause: err}
	case errors.Is(err, repo.ErrConflict):
		return &httpError{status: http.StatusConflict, label: "conflict", msg: "the branch was updated concurrently; retry"}
	case errors.Is(err, repo.ErrExists), errors.Is(err, metadata.ErrExists):
		return &httpError{status: http.StatusConflict, label: "conflict", msg: err.Error()}
	case errors.Is(err, repo.ErrInvalid), errors.Is(err, git.ErrInvalidPath), errors.Is(err, git.ErrInvalidRefName), errors.Is(err, odb.ErrInvalidObject):
		return &httpError{status: http.StatusBadRequest, label: "invalid", msg: err.Error()}
	case errors.Is(err, upstream.ErrNotLinked), errors.Is(err, upstream.ErrInvalidRef):
		return &httpError{status: http.StatusBadRequest, label: "invalid", msg: err.Error()}
	case errors.Is(err, webhook.ErrInvalid):
		return &httpError{status: http.StatusBadRequest, label: "invalid", msg: err.Error()}
	case errors.Is(err, repo.ErrUnsupported):
		return &httpError{status: http.StatusNotImplemented, label: "unsupported", msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &httpError{status: http.StatusGatewayTimeout, label: "timeout", msg: "request timed out"}
	case errors.Is(err, context.Canceled):
		return &httpError{status: 499, label: "timeout", msg: "request cancelled"}
	}
	return &httpError{status: http.StatusInternalServerError, label: "internal", msg: "internal error", cause: err}
}

// classifyFor is classify for one request: when the client has gone, a
// failure (typically git killed by the cancelled context) is the
// cancellation, not a server error.
func classifyFor(r *http.Request, err error) *httpError {
	he := classify(err)
	if he.status >= 500 && errors.Is(r.Context().Err(), context.Canceled) {
		return &httpError{status: 499, label: "timeout", msg: "request cancelled", cause: err}
	}
	return he
}

// writeError sends the error envelope {"error": ...} (spec §4.1).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	he := classifyFor(r, err)
	logError(r, log, he, err)
	body := map[string]any{"error": he.msg}
	for k, v := range he.extra {
		body[k] = v
	}
	setRetryAfter(w, he)
	writeJSON(w, he.status, body)
}

func logError(r *http.Request, log *slog.Logger, he *httpError, err error) {
	level := slog.LevelInfo
	if he.status >= 500 {
		level = slog.LevelError
	}
	args := []any{"method", r.Method, "path", r.URL.Path, "status", he.status, "err", err}
	// A refused token gets its reason as fields (token.reason, token.org,
	// token.kid, token.known_kids, token.expired_by), never the token.
	var te *auth.TokenError
	if errors.As(err, &te) {
		args = append(args, "token", te)
	}
	log.Log(r.Context(), level, "request failed", args...)
}

// refFailure carries the ref context of a failed commit-family write.
type refFailure struct {
	branch string
	old    git.ObjectID
	err    error
}

func (e *refFailure) Error() string { return e.err.Error() }
func (e *refFailure) Unwrap() error { return e.err }

// writeRefError sends the commit-pack failure body (spec §5.6.6): the
// envelope plus a result object whose status becomes RefUpdateError.reason.
func writeRefError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	he := classifyFor(r, err)
	logError(r, log, he, err)
	result := map[string]any{"success": false, "status": he.label, "message": he.msg}
	var rf *refFailure
	if errors.As(err, &rf) {
		if rf.branch != "" {
			result["target_branch"] = rf.branch
			result["branch"] = rf.branch
		}
		if rf.old != "" {
			result["old_sha"] = string(rf.old)
		}
	}
	setRetryAfter(w, he)
	writeJSON(w, he.status, map[string]any{"error": he.msg, "result": result})
}

func setRetryAfter(w http.ResponseWriter, he *httpError) {
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
	}
}

// writeJSON sends v with the JSON content type every response needs.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
