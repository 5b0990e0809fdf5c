package vfscli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/vfs"
)

// webFixture is a repository with a few files on main and a tag v1.
func webFixture(t *testing.T) *vfs.Store {
	t.Helper()
	s, err := vfs.Open(filepath.Join(t.TempDir(), "repo"), vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	snap, err := s.Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	snap, err = snap.Apply(map[string]vfs.WriteEntry{
		"hello.txt":         {Data: []byte("hello\n")},
		"data/a&b.json":     {Data: []byte(`{"a":1}`)},
		"data/<script>.txt": {Data: []byte("x")},
		"data/map.geojson":  {Data: []byte("{}")},
		"data/feed.xml":     {Data: []byte("<a/>")},
		"data/readme.md":    {Data: []byte("# hi")},
		"data/blob.bin":     {Data: []byte{0, 1, 2}},
		"data/q\"uote.txt":  {Data: []byte("q")},
		"data/sp ace.txt":   {Data: []byte("s")},
		"data/link":         {Target: "../hello.txt"},
		"run.sh":            {Data: []byte("#!/bin/sh\n"), Mode: vfs.Executable},
		"a&b/inner.txt":     {Data: []byte("inner")},
	}, nil, vfs.ApplyOptions{Message: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tags().Set("v1", snap); err != nil {
		t.Fatal(err)
	}
	return s
}

// liveHandler serves main's tip in single-ref mode.
func liveHandler(s *vfs.Store, opt webOptions) *webHandler {
	return &webHandler{opt: opt, label: "main", resolve: func() (*vfs.FS, error) { return s.Branches().Get("main") }}
}

type webResponse struct {
	code int
	hdr  http.Header
	body string
}

func webGet(t *testing.T, h http.Handler, method, target string, hdr map[string]string) webResponse {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return webResponse{rec.Code, rec.Result().Header, string(b)}
}

func TestServe_filesAndListings(t *testing.T) {
	t.Parallel()
	s := webFixture(t)
	tip, _ := s.Branches().Get("main")
	h := liveHandler(s, webOptions{})

	r := webGet(t, h, "GET", "/hello.txt", nil)
	if r.code != 200 || r.body != "hello\n" || r.hdr.Get("Content-Length") != "6" {
		t.Fatalf("file: %d %q %v", r.code, r.body, r.hdr)
	}
	if got := r.hdr.Get("ETag"); got != `"`+tip.Hash()+`"` {
		t.Fatalf("ETag %q", got)
	}
	if got := r.hdr.Get("Cache-Control"); got != "no-cache" {
		t.Fatalf("Cache-Control %q", got)
	}
	if r := webGet(t, h, "HEAD", "/hello.txt", nil); r.code != 200 || r.body != "" || r.hdr.Get("Content-Length") != "6" {
		t.Fatalf("HEAD: %d %q %v", r.code, r.body, r.hdr)
	}
	if r := webGet(t, h, "GET", "/data/link", nil); r.body != "../hello.txt" {
		t.Fatalf("symlink served as %q", r.body)
	}

	r = webGet(t, h, "GET", "/", nil)
	want := strings.Join([]string{
		"<html><body>", "<h1>/</h1>", "<ul>",
		`<li><a href="/a%26b">a&amp;b</a></li>`,
		`<li><a href="/data">data</a></li>`,
		`<li><a href="/hello.txt">hello.txt</a></li>`,
		`<li><a href="/run.sh">run.sh</a></li>`,
		"</ul>", "</body></html>"}, "\n")
	if r.code != 200 || r.body != want || r.hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("root listing: %d %s\n%q", r.code, r.hdr.Get("Content-Type"), r.body)
	}
	r = webGet(t, h, "GET", "/a%26b", nil)
	if !strings.Contains(r.body, "<h1>a&amp;b</h1>") || !strings.Contains(r.body, `href="/a%26b/inner.txt"`) {
		t.Fatalf("escaped heading: %s", r.body)
	}
	r = webGet(t, h, "GET", "/data", nil)
	for _, frag := range []string{
		`<a href="/data/%3Cscript%3E.txt">&lt;script&gt;.txt</a>`,
		`<a href="/data/q%22uote.txt">q&#34;uote.txt</a>`,
		`<a href="/data/sp%20ace.txt">sp ace.txt</a>`,
	} {
		if !strings.Contains(r.body, frag) {
			t.Fatalf("listing lacks %s:\n%s", frag, r.body)
		}
	}

	r = webGet(t, h, "GET", "/data", map[string]string{"Accept": "text/html, application/json;q=0.9"})
	if r.body != `{"path":"data","ref":"main","entries":["<script>.txt","a&b.json","blob.bin","feed.xml","link","map.geojson","q\"uote.txt","readme.md","sp ace.txt"],"type":"directory"}` {
		t.Fatalf("dir JSON: %s", r.body)
	}
	r = webGet(t, h, "GET", "/hello.txt", map[string]string{"Accept": "application/json"})
	if r.body != `{"path":"hello.txt","ref":"main","size":6,"type":"file"}` || r.hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("file JSON: %s", r.body)
	}
	r = webGet(t, h, "GET", "/", map[string]string{"Accept": "application/json"})
	if !strings.HasPrefix(r.body, `{"path":"","ref":"main","entries":[`) {
		t.Fatalf("root JSON: %s", r.body)
	}

	r = webGet(t, h, "GET", "/missing.txt", nil)
	if r.code != 404 || r.body != "Not found: missing.txt" || r.hdr.Get("ETag") != "" || r.hdr.Get("Cache-Control") != "" ||
		!strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("404: %d %q %v", r.code, r.body, r.hdr)
	}
	if r := webGet(t, h, "GET", "/hello.txt/x", nil); r.code != 404 {
		t.Fatalf("below a file: %d", r.code)
	}
}

func TestServe_mimeTypes(t *testing.T) {
	t.Parallel()
	h := liveHandler(webFixture(t), webOptions{})
	for path, want := range map[string]string{
		"/data/blob.bin":    "application/octet-stream",
		"/data/a&b.json":    "text/plain; charset=utf-8",
		"/data/map.geojson": "text/plain; charset=utf-8",
		"/data/feed.xml":    "text/xml; charset=utf-8",
		"/hello.txt":        "text/plain; charset=utf-8",
		"/run.sh":           "",
	} {
		got := webGet(t, h, "GET", strings.ReplaceAll(path, "&", "%26"), nil).hdr.Get("Content-Type")
		if want != "" && got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if got := webGet(t, h, "GET", "/data/readme.md", nil).hdr.Get("Content-Type"); !strings.HasPrefix(got, "text/") {
		t.Errorf(".md: %q", got)
	}
	if got := contentType("x.yaml"); got != "text/plain; charset=utf-8" {
		t.Errorf(".yaml: %q", got)
	}
}

func TestServe_etagAndLiveMode(t *testing.T) {
	t.Parallel()
	s := webFixture(t)
	h := liveHandler(s, webOptions{})
	tip, _ := s.Branches().Get("main")
	etag := `"` + tip.Hash() + `"`
	for _, p := range []string{"/hello.txt", "/data"} {
		r := webGet(t, h, "GET", p, map[string]string{"If-None-Match": etag})
		if r.code != 304 || r.body != "" || r.hdr.Get("ETag") != etag {
			t.Fatalf("%s: %d %q %v", p, r.code, r.body, r.hdr)
		}
	}
	if r := webGet(t, h, "GET", "/hello.txt", map[string]string{"If-None-Match": `"0000"`}); r.code != 200 {
		t.Fatalf("stale ETag: %d", r.code)
	}

	// A new commit shows at once in live mode, with a new ETag; a handler
	// pinned to one snapshot keeps the old content.
	pinned := &webHandler{label: "v1", resolve: func() (*vfs.FS, error) { return tip, nil }}
	next, err := tip.WriteText("hello.txt", "changed\n", vfs.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := webGet(t, h, "GET", "/hello.txt", map[string]string{"If-None-Match": etag})
	if r.code != 200 || r.body != "changed\n" || r.hdr.Get("ETag") != `"`+next.Hash()+`"` {
		t.Fatalf("live: %d %q %v", r.code, r.body, r.hdr)
	}
	if r := webGet(t, pinned, "GET", "/hello.txt", nil); r.body != "hello\n" {
		t.Fatalf("pinned: %q", r.body)
	}
}

func TestServe_options(t *testing.T) {
	t.Parallel()
	s := webFixture(t)
	t.Run("no-cache", func(t *testing.T) {
		h := liveHandler(s, webOptions{noStore: true})
		for _, p := range []string{"/hello.txt", "/missing"} {
			if got := webGet(t, h, "GET", p, nil).hdr.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
				t.Fatalf("%s: Cache-Control %q", p, got)
			}
		}
	})
	t.Run("cors", func(t *testing.T) {
		h := liveHandler(s, webOptions{cors: true})
		for _, p := range []string{"/hello.txt", "/missing"} {
			r := webGet(t, h, "GET", p, nil)
			if r.hdr.Get("Access-Control-Allow-Origin") != "*" || r.hdr.Get("Access-Control-Expose-Headers") != "ETag, Content-Length" {
				t.Fatalf("%s: %v", p, r.hdr)
			}
		}
		r := webGet(t, h, "OPTIONS", "/hello.txt", nil)
		if r.code != 204 || r.body != "" || r.hdr.Get("Access-Control-Allow-Methods") != "GET, HEAD, OPTIONS" {
			t.Fatalf("OPTIONS: %d %v", r.code, r.hdr)
		}
	})
	t.Run("methods", func(t *testing.T) {
		h := liveHandler(s, webOptions{})
		for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
			if r := webGet(t, h, m, "/hello.txt", nil); r.code != 405 || r.hdr.Get("Allow") != "GET, HEAD" {
				t.Fatalf("%s: %d %v", m, r.code, r.hdr)
			}
		}
	})
	t.Run("base path", func(t *testing.T) {
		h := liveHandler(s, webOptions{basePath: normBasePath("data/")})
		if r := webGet(t, h, "GET", "/data/hello.txt", nil); r.code != 200 || r.body != "hello\n" {
			t.Fatalf("under base: %d %q", r.code, r.body)
		}
		if r := webGet(t, h, "GET", "/data", nil); !strings.Contains(r.body, `href="/data/hello.txt"`) {
			t.Fatalf("base listing: %s", r.body)
		}
		for _, p := range []string{"/hello.txt", "/database/hello.txt"} {
			if r := webGet(t, h, "GET", p, nil); r.code != 404 || r.body != "Not found" {
				t.Fatalf("%s outside base: %d %q", p, r.code, r.body)
			}
		}
	})
}

func TestServe_multiRef(t *testing.T) {
	t.Parallel()
	s := webFixture(t)
	tip, _ := s.Branches().Get("main")
	if _, err := s.Branches().Set("<b>", tip); err != nil {
		t.Skipf("branch name with <> refused by the library: %v", err)
	}
	h := &webHandler{store: s}
	r := webGet(t, h, "GET", "/", nil)
	for _, frag := range []string{"<h1>Branches</h1>", `<a href="/main/">main</a>`, `<a href="/%3Cb%3E/">&lt;b&gt;</a>`,
		"<h1>Tags</h1>", `<a href="/v1/">v1</a>`} {
		if !strings.Contains(r.body, frag) {
			t.Fatalf("refs page lacks %s:\n%s", frag, r.body)
		}
	}
	if r.hdr.Get("ETag") != "" || r.hdr.Get("Cache-Control") != "" {
		t.Fatalf("refs page has cache headers: %v", r.hdr)
	}
	r = webGet(t, h, "GET", "/", map[string]string{"Accept": "application/json"})
	if r.body != `{"branches":["<b>","main"],"tags":["v1"]}` {
		t.Fatalf("refs JSON: %s", r.body)
	}
	if r := webGet(t, h, "GET", "/main/hello.txt", nil); r.body != "hello\n" {
		t.Fatalf("branch file: %q", r.body)
	}
	if r := webGet(t, h, "GET", "/v1/data", nil); !strings.Contains(r.body, `href="/v1/data/blob.bin"`) {
		t.Fatalf("tag listing: %s", r.body)
	}
	r = webGet(t, h, "GET", "/v1/hello.txt", map[string]string{"Accept": "application/json"})
	if r.body != `{"path":"hello.txt","ref":"v1","size":6,"type":"file"}` {
		t.Fatalf("tag JSON: %s", r.body)
	}
	if r := webGet(t, h, "GET", "/nope/x", nil); r.code != 404 || r.body != "Unknown ref: nope" {
		t.Fatalf("unknown ref: %d %q", r.code, r.body)
	}
}

// startCLIServer runs a serving command with -p 0 until the test ends and
// returns its base URL, from the startup line.
func startCLIServer(t *testing.T, repo string, args ...string) (url string, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout syncBuffer
	stderr = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runCLIContext(ctx, &stdout, stderr, append([]string{"-r", repo}, append(args, "-p", "0")...)...)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("%v: exit %d\n%s", args, code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%v did not stop", args)
		}
		if !strings.HasSuffix(stderr.String(), "\nStopped.\n") {
			t.Errorf("no stop line:\n%s", stderr.String())
		}
	})
	waitForOutput(t, stderr, `Press Ctrl\+C to stop\.`, 1)
	m := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)(\S*)/\n`).FindStringSubmatch(stderr.String())
	if m == nil || strings.HasSuffix(m[1], ":0") {
		t.Fatalf("no real address in:\n%s", stderr.String())
	}
	return m[1], stderr
}

func TestServe_command(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	url, stderr := startCLIServer(t, repo, "serve", "--base-path", "/x/", "--cors")
	if !strings.Contains(stderr.String(), "Serving "+repo+" (branch main (live)) at "+url+"/x/\n") {
		t.Fatalf("banner:\n%s", stderr.String())
	}
	resp, err := http.Get(url + "/x/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello\n" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("%d %q %v", resp.StatusCode, b, resp.Header)
	}
	waitForOutput(t, stderr, `127\.0\.0\.1 - GET /x/hello\.txt 200\n`, 1)

	multi, stderr2 := startCLIServer(t, repo, "serve", "--all", "-q")
	if !strings.Contains(stderr2.String(), "(multi-ref)") {
		t.Fatalf("banner:\n%s", stderr2.String())
	}
	resp, err = http.Get(multi + "/v1/dir/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "a\n" || strings.Contains(stderr2.String(), " - GET ") {
		t.Fatalf("multi-ref: %q; log:\n%s", b, stderr2.String())
	}
	failCLI(t, repo, "--all cannot be combined with --ref, --path, --match, --before, or --back", "serve", "--all", "--back", "1")
	failCLI(t, filepath.Join(t.TempDir(), "missing"), "Repository not found", "serve")

	back, stderr3 := startCLIServer(t, repo, "serve", "--back", "1")
	if !strings.Contains(stderr3.String(), "(branch main (live) ~1)") {
		t.Fatalf("banner:\n%s", stderr3.String())
	}
	resp, err = http.Get(back + "/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("~1 is the empty root commit, got %d", resp.StatusCode)
	}
}

func TestServe_helpListsFlags(t *testing.T) {
	t.Parallel()
	out := mustCLI(t, "unused", "serve", "--help")
	for _, flag := range []string{"--host", "--port", "--branch", "--ref", "--path", "--match", "--before", "--back",
		"--all", "--cors", "--no-cache", "--base-path", "--open", "--quiet"} {
		if !strings.Contains(out, flag) {
			t.Errorf("serve --help lacks %s", flag)
		}
	}
}
