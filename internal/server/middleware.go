package server

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
)

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	body   *deadlineBody // nil for a request without a body
	// expectContinue: the client waits for "100 Continue" before the body.
	expectContinue bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		// A failure answered before the body was read (401, 403, 413…)
		// closes the connection: net/http would otherwise read what is
		// left of the body before sending the answer. So does any answer
		// to an unread "Expect: 100-continue" body, as net/http does for
		// the bodies it can see are unread (ours is wrapped).
		if w.body != nil && !w.body.finished() && (code >= 400 || w.expectContinue) {
			w.Header().Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom hands io.Copy to the connection's own ReadFrom, which sends a
// file with sendfile(2) on a plain TCP connection (cached packs).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withMiddleware adds what every request gets: repeated slashes collapsed
// (the SDK turns an apiBaseUrl ending in "/" into "//api/v1", spec §1.2),
// a request id, body-read deadlines, panic recovery, metrics and one
// access-log line.
func withMiddleware(next http.Handler, log *slog.Logger, m *metrics, bl BodyLimits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Collapse the escaped path: an escaped slash (%2F) inside a
		// repository name is not a separator and must survive.
		if esc := r.URL.EscapedPath(); strings.Contains(esc, "//") {
			esc = collapseSlashes(esc)
			if p, err := url.PathUnescape(esc); err == nil {
				r.URL.Path, r.URL.RawPath = p, esc
			}
		}
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			orig := r.Body
			sw.body = newDeadlineBody(w, r, bl)
			sw.expectContinue = strings.EqualFold(r.Header.Get("Expect"), "100-continue")
			r.Body = sw.body
			defer func() {
				sw.body.afterHandler()
				r.Body = orig
			}()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic", "request_id", id, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					sw.Header().Set("Content-Type", "application/json")
					sw.WriteHeader(http.StatusInternalServerError)
					_, _ = sw.Write([]byte(`{"error":"internal error"}` + "\n"))
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			took := time.Since(start)
			m.observe(r, sw.status, took)
			// Attrs, not key-value pairs: numbers boxed into interfaces
			// would cost allocations on every request.
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(took.Microseconds())/1000), slog.String("agent", r.Header.Get("Code-Storage-Agent")))
		}()
		next.ServeHTTP(sw, r)
	})
}

func collapseSlashes(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	prev := byte(0)
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && prev == '/' {
			continue
		}
		prev = p[i]
		b.WriteByte(p[i])
	}
	return b.String()
}
