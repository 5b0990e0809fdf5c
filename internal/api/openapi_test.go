package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/strata-storage/strata/internal/auth"
)

// Every request the tests of this package send below /api/ and every
// answer they get is checked against openapi.json: a handler change that
// the document does not describe fails the test that exercises it.
//
// The rules (docs/api-decisions.md, "OpenAPI document"):
//   - a request the document accepts must get a documented status, and
//     the answer must match the document;
//   - a request the document refuses (a test sending a malformed body, a
//     missing parameter or no token on purpose) must get a documented 4xx
//     answer that matches the document;
//   - a path or method the document does not have must get 404 or 405
//     with the error envelope;
//   - commit bodies are NDJSON whatever their Content-Type, and a 1.17.1
//     query name sent beside its standard name is not checked: the server
//     reads them so;
//   - bodies are validated when they were read whole and are not larger
//     than the capture limits (a request body of which only a part was
//     sent or read is checked up to its last complete NDJSON line, or not
//     at all when it is not NDJSON).

const (
	maxRequestCapture  = 4 << 20
	maxResponseCapture = 16 << 20
)

// apiSpec is the loaded document plus a ServeMux that finds its
// operations the way the server's mux does (escaped segments included).
type apiSpec struct {
	doc *openapi3.T
	mux *http.ServeMux
}

type matchKey struct{}

// match is filled in by the spec mux's handlers.
type match struct {
	route  *routers.Route
	params map[string]string
}

var (
	specOnce sync.Once
	theSpec  *apiSpec
	specErr  error
)

// loadSpec loads and validates openapi.json once per test binary.
func loadSpec() (*apiSpec, error) {
	specOnce.Do(func() { theSpec, specErr = readSpec("openapi.json") })
	return theSpec, specErr
}

func readSpec(file string) (*apiSpec, error) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate %s: %w", file, err)
	}
	// Commit bodies are NDJSON: validated as the array of their lines,
	// the shape the document gives them.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", ndjsonDecoder)
	s := &apiSpec{doc: doc, mux: http.NewServeMux()}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
			names := pathNames(path)
			s.mux.HandleFunc(method+" "+path, func(_ http.ResponseWriter, r *http.Request) {
				m := r.Context().Value(matchKey{}).(*match)
				m.route = route
				for _, n := range names {
					m.params[n] = r.PathValue(n)
				}
			})
		}
	}
	return s, nil
}

// pathNames lists the {parameters} of an OpenAPI path.
func pathNames(path string) []string {
	var names []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, seg[1:len(seg)-1])
		}
	}
	return names
}

// find returns the operation req addresses, or nil.
func (s *apiSpec) find(req *http.Request) *match {
	m := &match{params: map[string]string{}}
	r := req.Clone(context.WithValue(req.Context(), matchKey{}, m))
	r.Body = http.NoBody
	s.mux.ServeHTTP(discardWriter{}, r)
	if m.route == nil {
		return nil
	}
	return m
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// ndjsonDecoder decodes an NDJSON body into the array of its lines.
func ndjsonDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	dec := json.NewDecoder(body)
	lines := []any{}
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return nil, &openapi3filter.ParseError{Kind: openapi3filter.KindInvalidFormat, Cause: err}
		}
		lines = append(lines, v)
	}
}

// validated returns a copy of c whose requests below /api/ are checked
// against the document, failures reported on t.
func validated(t testing.TB, c *http.Client) *http.Client {
	t.Helper()
	spec, err := loadSpec()
	if err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	if _, done := next.(*validatingTransport); done {
		return c
	}
	cc := *c
	cc.Transport = &validatingTransport{t: t, next: next, spec: spec}
	return &cc
}

type validatingTransport struct {
	t    testing.TB
	next http.RoundTripper
	spec *apiSpec
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(collapseSlashes(req.URL.Path), "/api/") {
		return v.next.RoundTrip(req)
	}
	var reqBody *capture
	sent := req
	if req.Body != nil && req.Body != http.NoBody {
		reqBody = &capture{r: req.Body, max: maxRequestCapture}
		sent = req.Clone(req.Context())
		sent.Body = reqBody
		sent.GetBody = nil
	}
	resp, err := v.next.RoundTrip(sent)
	if err != nil {
		return resp, err
	}
	resp.Body = &checkedBody{rc: resp.Body, buf: capture{max: maxResponseCapture}, done: func(body []byte, whole bool) {
		v.check(req, reqBody, resp, body, whole)
	}}
	return resp, nil
}

// check validates one exchange and reports a mismatch on v.t.
func (v *validatingTransport) check(req *http.Request, reqBody *capture, resp *http.Response, body []byte, whole bool) {
	if err := v.validate(req, reqBody, resp, body, whole); err != nil {
		defer func() { _ = recover() }() // a request that outlived its test reports nothing
		v.t.Errorf("OpenAPI: %s %s → %d: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
}

func (v *validatingTransport) validate(req *http.Request, reqBody *capture, resp *http.Response, body []byte, whole bool) error {
	ctx := context.Background()
	probe := req.Clone(ctx)
	// As the server's middleware: collapse the escaped path, so an
	// escaped slash inside a repository name survives.
	if esc := probe.URL.EscapedPath(); strings.Contains(esc, "//") {
		esc = collapseSlashes(esc)
		if p, err := url.PathUnescape(esc); err == nil {
			probe.URL.Path, probe.URL.RawPath = p, esc
		}
	}
	m := v.spec.find(probe)
	if m == nil {
		// Exception: an endpoint the API does not have.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			return errors.New("the document has no such operation, and the server did not answer 404 or 405")
		}
		if whole {
			var env struct {
				Error *string `json:"error"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
				return fmt.Errorf("an unknown endpoint's answer is not the error envelope: %q", body)
			}
		}
		return nil
	}

	opts := &openapi3filter.Options{AuthenticationFunc: bearerPresent, SkipSettingDefaults: true}
	if reqBody != nil {
		data, complete := reqBody.snapshot()
		if !complete {
			data = completeLines(data, m.route.Operation)
		}
		if data == nil {
			opts.ExcludeRequestBody = true
		}
		probe.Body = io.NopCloser(bytes.NewReader(data))
		// The server reads a commit body as NDJSON whatever its
		// Content-Type; the document names what the SDKs send.
		if ndjsonOnly(m.route.Operation) {
			probe.Header.Set("Content-Type", "application/x-ndjson")
		}
	} else {
		probe.Body = http.NoBody
	}
	dropShadowedAliases(probe, m.route.Operation)
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: m.params, Route: m.route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	status := resp.StatusCode
	if reqErr != nil && (status < 400 || status > 499) {
		return fmt.Errorf("the document refuses the request, yet the server answered %d: %v", status, reqErr)
	}
	if m.route.Operation.Responses.Status(status) == nil {
		return fmt.Errorf("status %d is not documented for %s %s (body %.300q)", status, m.route.Method, m.route.Path, body)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: !whole},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response: %v", err)
	}
	return nil
}

// ndjsonOnly reports whether op's request body is NDJSON only.
func ndjsonOnly(op *openapi3.Operation) bool {
	rb := op.RequestBody
	if rb == nil || rb.Value == nil || len(rb.Value.Content) != 1 {
		return false
	}
	return rb.Value.Content.Get("application/x-ndjson") != nil
}

// dropShadowedAliases removes the query parameters the server ignores:
// a 1.17.1 name (x-alias-of) sent together with its standard name
// (vocabulary.go), so its value is never read.
func dropShadowedAliases(r *http.Request, op *openapi3.Operation) {
	q := r.URL.Query()
	changed := false
	for _, p := range op.Parameters {
		if p.Value == nil || p.Value.In != "query" {
			continue
		}
		standard, _ := p.Value.Extensions["x-alias-of"].(string)
		if standard != "" && q.Has(standard) && q.Has(p.Value.Name) {
			q.Del(p.Value.Name)
			changed = true
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
}

// bearerPresent is the document's bearerAuth check: the token's validity
// is the server's business, its presence the document's.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && strings.TrimSpace(h[7:]) != "" {
		return nil
	}
	return errors.New("no bearer token")
}

// completeLines returns the complete NDJSON lines of a partly sent body,
// or nil when there are none or the body is not NDJSON.
func completeLines(data []byte, op *openapi3.Operation) []byte {
	if !ndjsonOnly(op) {
		return nil
	}
	i := bytes.LastIndexByte(data, '\n')
	if i < 0 {
		return nil
	}
	return data[:i+1]
}

// collapseSlashes is what the server's middleware does to a path.
func collapseSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// capture passes a body through, keeping its first max bytes.
type capture struct {
	r   io.ReadCloser
	max int

	mu   sync.Mutex
	buf  []byte
	over bool // more than max bytes went through
	eof  bool
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.keep(p[:n], err == io.EOF)
	return n, err
}

func (c *capture) keep(p []byte, eof bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.buf); room < len(p) {
		p, c.over = p[:max(room, 0)], true
	}
	c.buf = append(c.buf, p...)
	c.eof = c.eof || eof
}

func (c *capture) Close() error { return c.r.Close() }

// snapshot returns what went through so far and whether that is the whole
// body.
func (c *capture) snapshot() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf), c.eof && !c.over
}

// checkedBody is a response body that is validated once it has been read
// to the end (or closed before that: then without its body).
type checkedBody struct {
	rc   io.ReadCloser
	buf  capture
	once sync.Once
	done func(body []byte, whole bool)
}

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.buf.keep(p[:n], err == io.EOF)
	if err == io.EOF {
		b.finish()
	}
	return n, err
}

func (b *checkedBody) Close() error {
	err := b.rc.Close()
	b.finish()
	return err
}

func (b *checkedBody) finish() {
	b.once.Do(func() {
		data, whole := b.buf.snapshot()
		b.done(data, whole)
	})
}

// TestOpenAPI_document checks the document loads as OpenAPI 3.1 and that
// the server serves exactly it, without a token, on both route families.
func TestOpenAPI_document(t *testing.T) {
	t.Parallel()
	spec, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if !spec.doc.IsOpenAPI31OrLater() || spec.doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", spec.doc.OpenAPI)
	}
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t)
	for _, path := range []string{"/api/v1/openapi.json", "/api/openapi.json"} {
		r := e.do(t, "GET", path, "", nil)
		wantStatus(t, r, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type = %q", path, ct)
		}
		if !bytes.Equal(r.Body, want) {
			t.Errorf("%s: served document differs from openapi.json", path)
		}
	}
}

// TestOpenAPI_lessUsedRoutes sends the routes no other test of this
// package exercises (webhooks, detach; their behaviour is tested in
// internal/server) through the validating client, on both families.
func TestOpenAPI_lessUsedRoutes(t *testing.T) {
	t.Parallel()
	e := start(t)
	org := e.Token("org", auth.ScopeRepoWrite, auth.ScopeOrgRead)
	r := e.newRepo(t)
	for _, prefix := range []string{"/api/v1", "/api"} {
		created := e.do(t, "POST", prefix+"/webhooks", org, jsonBody(t, map[string]any{"url": "https://hooks.example.com/x", "events": []string{"push"}}))
		id := "wh_missing"
		if created.Status == http.StatusCreated {
			id, _ = object(t, created)["id"].(string)
		} else {
			wantError(t, created, http.StatusBadRequest) // the SSRF guard could not resolve the host
		}
		wantStatus(t, e.do(t, "GET", prefix+"/webhooks", org, nil), http.StatusOK)
		e.do(t, "GET", prefix+"/webhooks/deliveries?webhook_id="+url.QueryEscape(id), org, nil)
		e.do(t, "DELETE", prefix+"/webhooks", org, jsonBody(t, map[string]any{"id": id}))
	}
	wantStatus(t, e.do(t, "DELETE", "/api/v1/repos/base", r.Write, nil), http.StatusOK)
	wantStatus(t, e.do(t, "DELETE", "/api/repos/"+url.PathEscape(r.ID)+"/base", r.Write, nil), http.StatusOK)
}
