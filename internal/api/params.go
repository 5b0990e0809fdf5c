package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// readJSON decodes a JSON request body into v, after renaming the old
// names of aliases to their standard names (vocabulary.go). An empty body
// is {} (the SDK sends body-less POST/DELETE with a JSON content type).
func (h *Handler) readJSON(r *http.Request, v any, aliases ...alias) error {
	body := http.MaxBytesReader(nil, r.Body, h.limits.MaxJSONBody)
	data, err := io.ReadAll(body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return err
		}
		// The server's body deadline (the client stopped sending).
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return &httpError{status: http.StatusRequestTimeout, label: "timeout", msg: "request body not received in time", cause: err}
		}
		return badRequest("read request body: %v", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	if len(aliases) > 0 {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return badRequest("invalid JSON body: %v", err)
		}
		normalise(fields, aliases)
		if data, err = json.Marshal(fields); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

// query wraps the form-decoded query string (spec §1.3).
type query struct{ v map[string][]string }

// queryOf decodes the query string, renaming the old names of aliases to
// their standard names (vocabulary.go).
func queryOf(r *http.Request, aliases ...alias) query {
	v := r.URL.Query()
	normalise(v, aliases)
	return query{v}
}

// str returns the first value of key, trimmed.
func (q query) str(key string) string {
	if vs := q.v[key]; len(vs) > 0 {
		return strings.TrimSpace(vs[0])
	}
	return ""
}

// raw returns the first value of key untouched.
func (q query) raw(key string) string {
	if vs := q.v[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// all returns every value of a repeated key.
func (q query) all(key string) []string { return q.v[key] }

// boolean parses "true"/"false" (the SDK's spelling); absent is def.
func (q query) boolean(key string, def bool) (bool, error) {
	s := q.str(key)
	if s == "" {
		return def, nil
	}
	switch strings.ToLower(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, badRequest("%s must be true or false, got %q", key, s)
}

// limit parses a page size: absent, zero or negative → def; above max → max
// (spec Q20: clamp rather than fail).
func (q query) limit(def, max int) (int, error) {
	s := q.str("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest("limit must be an integer, got %q", s)
	}
	return clampLimit(n, def, max), nil
}

func clampLimit(n, def, max int) int {
	if n <= 0 {
		return def
	}
	if n > max {
		return max
	}
	return n
}

// Cursors are opaque to clients: base64url of a small JSON object, so
// their shape can change without breaking anyone who treats them as opaque.
func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return badRequest("invalid cursor")
	}
	return nil
}

// nullable returns nil (JSON null) for "", for the few fields the spec
// makes nullable.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
