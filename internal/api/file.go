package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// GET and HEAD /api/v1/repos/file (spec §5.10.3): the raw blob, streamed
// from the cat-file pool, with the validators and preconditions of
// RFC 9110 in the order net/http's ServeContent uses. A cat-file stream
// can't seek, so a range skips ahead and then limits.
func (h *Handler) getFile(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r) // decoded once: every request pays for it
	raw := q.raw("path")
	if strings.TrimSpace(raw) == "" {
		return badRequest("path is required")
	}
	path, err := git.CleanPath(raw)
	if err != nil {
		return badRequest("%v", err)
	}
	commit, _, err := h.resolveRefIn(r, q, req)
	if err != nil {
		return err
	}
	// LastChange may need a reader of its own: ask before OpenFile checks
	// one out, so a request never holds one reader while waiting for a
	// second.
	last, err := req.repo.LastChange(ctx, commit, path)
	if err != nil {
		return err
	}
	open := req.repo.OpenFile
	if r.Method == http.MethodGet && !conditional(r) {
		// The body will be sent whole: fetch header and bytes in one go.
		open = req.repo.ReadFile
	}
	f, err := open(ctx, commit, path)
	if err != nil {
		return err
	}
	defer f.Close()
	oid, size := f.OID, f.Size
	etag := `"` + string(oid) + `"`
	modified := last.Committed.UTC().Truncate(time.Second)

	// The header's values share one allocation instead of one per Set;
	// each keeps a capacity of one, so a later Add copies rather than
	// writes into its neighbour. The names are in canonical form.
	vals := [...]string{etag, modified.Format(http.TimeFormat), "bytes", string(oid), string(last.Commit), "application/octet-stream"}
	hv := vals[:]
	hdr := w.Header()
	hdr["Etag"] = hv[0:1:1]
	hdr["Last-Modified"] = hv[1:2:2]
	hdr["Accept-Ranges"] = hv[2:3:3]
	hdr["X-Blob-Sha"] = hv[3:4:4]
	hdr["X-Last-Commit-Sha"] = hv[4:5:5]
	hdr["Content-Type"] = hv[5:6:6]

	if status := preconditions(r, etag, modified); status != 0 {
		if status == http.StatusNotModified {
			hdr.Del("Content-Type")
		}
		w.WriteHeader(status)
		return nil
	}

	start, length, status := int64(0), size, http.StatusOK
	if rng := r.Header.Get("Range"); rng != "" && ifRange(r, etag, modified) {
		s, n, ok, single := parseRange(rng, size)
		switch {
		case !single:
			// Q24: multi-range (or unparsable) requests get the whole body.
		case !ok:
			hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			hdr.Del("Content-Type")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return nil
		default:
			start, length, status = s, n, http.StatusPartialContent
			hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, s+n-1, size))
		}
	}
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}

	if start > 0 {
		if _, err := io.CopyN(io.Discard, f, start); err != nil {
			return fmt.Errorf("skip to range start: %w", err)
		}
	}
	w.WriteHeader(status)
	var n int64
	if start == 0 && length == size {
		// The whole blob: File.WriteTo, one write for a cached blob.
		n, err = io.Copy(w, f)
	} else {
		n, err = io.CopyN(w, f, length)
	}
	if err == nil && n != length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		// Headers are out; all we can do is log and cut the response.
		h.log.Warn("file stream cut", "path", path, "err", err)
	}
	return nil
}

// conditional reports whether the response may be anything but the whole
// body: a precondition or a range.
func conditional(r *http.Request) bool {
	for _, h := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "Range"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// preconditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since (RFC 9110 §13.2.2) and returns 412, 304 or 0.
func preconditions(r *http.Request, etag string, modified time.Time) int {
	if im := r.Header.Get("If-Match"); im != "" {
		if !etagListMatch(im, etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && modified.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagListMatch(inm, etag, false) {
			return http.StatusNotModified
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !modified.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// etagListMatch compares etag with a comma-separated list ("*" matches
// anything). Strong comparison refuses weak tags; weak ignores "W/".
func etagListMatch(list, etag string, strong bool) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		if strings.HasPrefix(t, "W/") {
			if strong {
				continue
			}
			t = t[2:]
		}
		if t == etag {
			return true
		}
	}
	return false
}

// ifRange reports whether a Range header should be honoured.
func ifRange(r *http.Request, etag string, modified time.Time) bool {
	ir := strings.TrimSpace(r.Header.Get("If-Range"))
	if ir == "" {
		return true
	}
	if strings.HasPrefix(ir, `"`) {
		return ir == etag
	}
	t, err := http.ParseTime(ir)
	return err == nil && modified.Equal(t)
}

// parseRange reads one "bytes=" range against size. single is false for
// multi-range or malformed headers (serve the whole body); ok is false when
// the one range can't be satisfied (416).
func parseRange(h string, size int64) (start, length int64, ok, single bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == "" && b == "":
		return 0, 0, false, false
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, false, true
		}
		if n > size {
			n = size
		}
		return size - n, n, true, true
	default:
		s, err := strconv.ParseInt(a, 10, 64)
		if err != nil || s < 0 {
			return 0, 0, false, false
		}
		if s >= size {
			return 0, 0, false, true
		}
		e := size - 1
		if b != "" {
			e, err = strconv.ParseInt(b, 10, 64)
			if err != nil || e < s {
				return 0, 0, false, false
			}
			if e >= size {
				e = size - 1
			}
		}
		return s, e - s + 1, true, true
	}
}
