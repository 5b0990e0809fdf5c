package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// maxResponse bounds what one tool reads from a JSON answer of the API
// (a diff across thousands of files, say): past it the call fails with a
// hint to narrow the request rather than holding an unbounded body.
const maxResponse = 64 << 20

// rest calls Strata's REST API for one tool call. It knows URLs and
// bodies, never a rule: scopes, ref policies, limits and the error
// mapping are the API's.
type rest struct {
	base string // scheme://host[/prefix], no trailing slash
	rt   http.RoundTripper
}

// APIError is the API's refusal, passed to the agent as a tool error.
type APIError struct {
	Status  int
	Message string         // the envelope's "error"
	Details map[string]any // other members, e.g. a merge's conflict_paths
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("strata API: %s (HTTP %d %s)", e.Message, e.Status, http.StatusText(e.Status))
	if len(e.Details) > 0 {
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b, _ := json.Marshal(e.Details[k])
			msg += fmt.Sprintf("; %s: %s", k, b)
		}
	}
	return msg
}

// call sends one request with the caller's Authorization header value.
// A status ≥ 400 becomes an *APIError; otherwise the caller owns the
// response body.
func (c *rest) call(ctx context.Context, authz, method, path string, query url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := c.base + "/api/v1/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "strata-mcp")
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("reach the Strata API: %w", err)
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	apiErr := &APIError{Status: resp.StatusCode}
	var env map[string]any
	if json.Unmarshal(raw, &env) == nil {
		if m, ok := env["error"].(string); ok {
			apiErr.Message = m
		}
		delete(env, "error")
		// The commit family repeats the message in its ref-update result.
		delete(env, "result")
		if len(env) > 0 {
			apiErr.Details = env
		}
	}
	if apiErr.Message == "" {
		apiErr.Message = strings.TrimSpace(string(raw))
	}
	if apiErr.Message == "" {
		apiErr.Message = http.StatusText(resp.StatusCode)
	}
	return nil, apiErr
}

// json sends in (nil: no body) as JSON and decodes the answer into out.
func (c *rest) json(ctx context.Context, authz, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.call(ctx, authz, method, path, query, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeLimited(resp.Body, out)
}

var errTooLarge = errors.New("the API's answer is larger than 64 MiB: narrow the request (a path filter, a smaller limit)")

func decodeLimited(r io.Reader, out any) error {
	lr := &io.LimitedReader{R: r, N: maxResponse + 1}
	err := json.NewDecoder(lr).Decode(out)
	if lr.N <= 0 {
		return errTooLarge
	}
	if err != nil {
		return fmt.Errorf("decode the API's answer: %w", err)
	}
	return nil
}
