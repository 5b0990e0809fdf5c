package githttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/strata-storage/strata/internal/auth"
)

// httpError is a failure answered before any Git output went out. Once
// git has written to the response, the status is fixed and failures travel
// in-band as git's own messages.
type httpError struct {
	status int
	msg    string // sent to the client; git shows a text/plain body as "remote: <msg>"
	cause  error  // logged, never sent
}

// fail sends e as text/plain. A 401 carries the Basic challenge: libcurl
// sends the credentials embedded in a remote URL only after one.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, e *httpError) {
	// Every clone starts with a 401 (the challenge libcurl waits for), so
	// client errors are debug noise; 503 is back-pressure, not a fault.
	level := slog.LevelDebug
	args := []any{"method", r.Method, "path", r.URL.Path, "status", e.status, "msg", e.msg, "err", e.cause}
	// A token that was presented and refused is worth an operator's
	// attention, unlike the challenge: its reason goes out as fields.
	var te *auth.TokenError
	switch {
	case errors.As(e.cause, &te):
		level = slog.LevelInfo
		args = append(args, "token", te)
	case e.status == http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case e.status >= 500:
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "git request failed", args...)
	hdr := w.Header()
	if e.status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", `Basic realm="Strata"`)
	}
	setNoCache(hdr)
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(e.msg + "\n"))
}

// setNoCache forbids caching, as git-http-backend(1) does for every
// dynamic response.
func setNoCache(h http.Header) {
	h.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
}

// statusClientClosed is the status logged (never seen by the client) for
// a request whose client went away: not a server error.
const statusClientClosed = 499

func errClientGone(err error) *httpError {
	return &httpError{status: statusClientClosed, msg: "client closed the request", cause: err}
}

// bodyError maps a failed read of a request body: too large (413), too
// slow (408, the body deadline), the client gone, or malformed (400).
// None of them is the server's fault.
func bodyError(r *http.Request, err error) *httpError {
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit), cause: err}
	case errors.As(err, &ne) && ne.Timeout():
		return &httpError{status: http.StatusRequestTimeout, msg: "request body not received in time", cause: err}
	case r.Context().Err() != nil:
		return errClientGone(err)
	}
	return &httpError{status: http.StatusBadRequest, msg: "bad request body", cause: err}
}
