package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGetFile(t *testing.T) {
	t.Parallel()
	e := start(t)

	data := make([]byte, 100)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	r, _ := e.seededRepo(t, upsert("README.md", "hi\n"))
	touched := r.commit(t, newMeta("main", "commit_message", "add data"), fileOp{Path: "dir/data.bin", Data: data, Mode: "100644"}).Commit.CommitSHA
	// A later commit changes another file: the tip is not the last change.
	tip := r.commit(t, newMeta("main", "commit_message", "other"), upsert("other.txt", "o")).Commit.CommitSHA
	blob := r.git(t, "rev-parse", "main:dir/data.bin")
	etag := `"` + blob + `"`
	committed, err := strconv.ParseInt(r.git(t, "show", "-s", "--format=%ct", touched), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	lastMod := time.Unix(committed, 0).UTC()
	size := strconv.Itoa(len(data))
	if touched == tip {
		t.Fatal("fixture: the tip must differ from the touching commit")
	}

	get := func(t *testing.T, method, query string, header ...string) *response {
		t.Helper()
		header = append([]string{"Accept-Encoding", "identity"}, header...)
		return e.do(t, method, "/api/v1/repos/file?path=dir/data.bin"+query, r.Read, nil, header...)
	}
	wantValidators := func(t *testing.T, resp *response) {
		t.Helper()
		h := resp.Header
		if h.Get("ETag") != etag {
			t.Errorf("ETag = %q, want %q", h.Get("ETag"), etag)
		}
		if h.Get("X-Blob-Sha") != blob {
			t.Errorf("X-Blob-Sha = %q, want %s", h.Get("X-Blob-Sha"), blob)
		}
		if h.Get("X-Last-Commit-Sha") != touched {
			t.Errorf("X-Last-Commit-Sha = %q, want %s (the commit that touched the file, not the tip %s)", h.Get("X-Last-Commit-Sha"), touched, tip)
		}
		lm, err := http.ParseTime(h.Get("Last-Modified"))
		if err != nil || !lm.Equal(lastMod) {
			t.Errorf("Last-Modified = %q (%v), want %s", h.Get("Last-Modified"), err, lastMod.Format(http.TimeFormat))
		}
	}

	t.Run("GET", func(t *testing.T) {
		t.Parallel()
		resp := get(t, "GET", "")
		wantStatus(t, resp, http.StatusOK)
		if !bytes.Equal(resp.Body, data) {
			t.Errorf("body = %q, want %q", resp.Body, data)
		}
		h := resp.Header
		if h.Get("Content-Type") != "application/octet-stream" || h.Get("Content-Length") != size ||
			h.Get("Accept-Ranges") != "bytes" || h.Get("Content-Encoding") != "" {
			t.Errorf("headers = %v", h)
		}
		wantValidators(t, resp)
	})
	t.Run("HEAD", func(t *testing.T) {
		t.Parallel()
		resp := get(t, "HEAD", "")
		wantStatus(t, resp, http.StatusOK)
		if len(resp.Body) != 0 {
			t.Errorf("HEAD body of %d bytes", len(resp.Body))
		}
		if resp.Header.Get("Content-Length") != size {
			t.Errorf("HEAD Content-Length = %q, want %s", resp.Header.Get("Content-Length"), size)
		}
		wantValidators(t, resp)
	})
	t.Run("ref at the touching commit", func(t *testing.T) {
		t.Parallel()
		resp := get(t, "GET", "&ref="+touched)
		wantStatus(t, resp, http.StatusOK)
		wantValidators(t, resp)
	})

	for _, tc := range []struct {
		desc         string
		header       []string
		status       int
		body         []byte // nil: no body expected
		contentRange string
	}{
		{desc: "first ten bytes", header: []string{"Range", "bytes=0-9"}, status: 206, body: data[:10], contentRange: "bytes 0-9/" + size},
		{desc: "middle", header: []string{"Range", "bytes=10-19"}, status: 206, body: data[10:20], contentRange: "bytes 10-19/" + size},
		{desc: "suffix", header: []string{"Range", "bytes=-5"}, status: 206, body: data[95:], contentRange: "bytes 95-99/" + size},
		{desc: "suffix longer than the file", header: []string{"Range", "bytes=-500"}, status: 206, body: data, contentRange: "bytes 0-99/" + size},
		{desc: "open end", header: []string{"Range", "bytes=10-"}, status: 206, body: data[10:], contentRange: "bytes 10-99/" + size},
		{desc: "end past the size", header: []string{"Range", "bytes=90-200"}, status: 206, body: data[90:], contentRange: "bytes 90-99/" + size},
		{desc: "last byte", header: []string{"Range", "bytes=99-99"}, status: 206, body: data[99:], contentRange: "bytes 99-99/" + size},
		{desc: "unsatisfiable", header: []string{"Range", "bytes=999999-"}, status: 416, contentRange: "bytes */" + size},
		{desc: "start at the size", header: []string{"Range", "bytes=100-"}, status: 416, contentRange: "bytes */" + size},
		{desc: "end before start is ignored", header: []string{"Range", "bytes=5-2"}, status: 200, body: data},
		{desc: "empty suffix", header: []string{"Range", "bytes=-0"}, status: 416, contentRange: "bytes */" + size},
		{desc: "multi-range", header: []string{"Range", "bytes=0-1,5-6"}, status: 200, body: data},
		{desc: "not bytes", header: []string{"Range", "lines=1-2"}, status: 200, body: data},

		{desc: "If-None-Match current", header: []string{"If-None-Match", etag}, status: 304},
		{desc: "If-None-Match weak", header: []string{"If-None-Match", "W/" + etag}, status: 304},
		{desc: "If-None-Match star", header: []string{"If-None-Match", "*"}, status: 304},
		{desc: "If-None-Match list", header: []string{"If-None-Match", `"nope", ` + etag}, status: 304},
		{desc: "If-None-Match other", header: []string{"If-None-Match", `"` + strings.Repeat("0", 40) + `"`}, status: 200, body: data},
		{desc: "If-None-Match beats Range", header: []string{"If-None-Match", etag, "Range", "bytes=0-9"}, status: 304},
		{desc: "If-Modified-Since now", header: []string{"If-Modified-Since", time.Now().UTC().Format(http.TimeFormat)}, status: 304},
		{desc: "If-Modified-Since long ago", header: []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, status: 200, body: data},

		{desc: "If-Match other", header: []string{"If-Match", `"` + strings.Repeat("0", 40) + `"`}, status: 412},
		{desc: "If-Match weak is not strong", header: []string{"If-Match", "W/" + etag}, status: 412},
		{desc: "If-Match current", header: []string{"If-Match", etag}, status: 200, body: data},
		{desc: "If-Match star", header: []string{"If-Match", "*"}, status: 200, body: data},
		{desc: "If-Unmodified-Since long ago", header: []string{"If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, status: 412},
		{desc: "If-Unmodified-Since now", header: []string{"If-Unmodified-Since", time.Now().UTC().Format(http.TimeFormat)}, status: 200, body: data},

		{desc: "If-Range mismatch ignores Range", header: []string{"Range", "bytes=0-9", "If-Range", `"` + strings.Repeat("0", 40) + `"`}, status: 200, body: data},
		{desc: "If-Range match honours Range", header: []string{"Range", "bytes=0-9", "If-Range", etag}, status: 206, body: data[:10], contentRange: "bytes 0-9/" + size},
		{desc: "If-Range old date ignores Range", header: []string{"Range", "bytes=0-9", "If-Range", "Mon, 02 Jan 2006 15:04:05 GMT"}, status: 200, body: data},
		{desc: "If-Range exact date honours Range", header: []string{"Range", "bytes=0-9", "If-Range", lastMod.Format(http.TimeFormat)}, status: 206, body: data[:10], contentRange: "bytes 0-9/" + size},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			for _, method := range []string{"GET", "HEAD"} {
				resp := get(t, method, "", tc.header...)
				if resp.Status != tc.status {
					t.Fatalf("%s: status %d, want %d; headers %v body %q", method, resp.Status, tc.status, resp.Header, resp.Body)
				}
				if cr := resp.Header.Get("Content-Range"); cr != tc.contentRange {
					t.Errorf("%s: Content-Range = %q, want %q", method, cr, tc.contentRange)
				}
				if tc.status == 304 || tc.status == 412 {
					if resp.Header.Get("ETag") != etag {
						t.Errorf("%s: %d without the ETag", method, tc.status)
					}
				}
				wantBody := tc.body
				if method == "HEAD" {
					if tc.body != nil && resp.Header.Get("Content-Length") != strconv.Itoa(len(tc.body)) {
						t.Errorf("HEAD Content-Length = %q, want %d", resp.Header.Get("Content-Length"), len(tc.body))
					}
					wantBody = nil
				}
				if !bytes.Equal(resp.Body, wantBody) {
					t.Errorf("%s: body = %q, want %q", method, resp.Body, wantBody)
				}
			}
		})
	}

	for _, tc := range []struct {
		desc   string
		query  string
		status int
	}{
		{"missing path parameter", "", http.StatusBadRequest},
		{"empty path", "?path=", http.StatusBadRequest},
		{"dot-dot path", "?path=" + url.QueryEscape("../etc/passwd"), http.StatusBadRequest},
		{"inner dot-dot", "?path=" + url.QueryEscape("dir/../README.md"), http.StatusBadRequest},
		{".git path", "?path=.git/config", http.StatusBadRequest},
		{"absolute path", "?path=/etc/passwd", http.StatusBadRequest},
		{"NUL in path", "?path=a%00b", http.StatusBadRequest},
		{"directory", "?path=dir", http.StatusNotFound},
		{"unknown path", "?path=nope.txt", http.StatusNotFound},
		{"below a file", "?path=README.md/x", http.StatusNotFound},
		{"unknown ref", "?path=README.md&ref=nope", http.StatusNotFound},
		{"file not yet present at ref", "?path=other.txt&ref=" + touched, http.StatusNotFound},
		{"bad ephemeral flag", "?path=README.md&ephemeral=perhaps", http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			wantError(t, e.do(t, "GET", "/api/v1/repos/file"+tc.query, r.Read, nil), tc.status)
			head := e.do(t, "HEAD", "/api/v1/repos/file"+tc.query, r.Read, nil)
			if head.Status != tc.status || len(head.Body) != 0 {
				t.Errorf("HEAD: status %d with %d body bytes, want %d and none", head.Status, len(head.Body), tc.status)
			}
		})
	}

	t.Run("repeated slashes in the URL", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"//api/v1/repos/file", "/api//v1/repos/file", "/api/v1/repos//file"} {
			req, err := http.NewRequest("GET", e.URL+p+"?path=dir/data.bin", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+r.Read)
			// A redirect would drop nothing here, but it must not be needed.
			resp, err := e.roundTripNoRedirect(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusOK || !bytes.Equal(resp.Body, data) {
				t.Errorf("%s: %d %q, want 200 and the file", p, resp.Status, resp.Body)
			}
		}
	})
	t.Run("ephemeral", func(t *testing.T) {
		t.Parallel()
		own, _ := e.seededRepo(t, upsert("f.txt", "normal"))
		own.commit(t, newMeta("main", "base_branch", "main", "ephemeral", true), upsert("f.txt", "ephemeral"))
		for _, q := range []string{"&ephemeral=true", "&ref=main&ephemeral=true", "&ephemeral_base=true"} {
			if got := string(own.getFile(t, "f.txt", q)); got != "ephemeral" {
				t.Errorf("%s: %q, want the ephemeral content", q, got)
			}
		}
		if got := string(own.getFile(t, "f.txt", "&ephemeral=false")); got != "normal" {
			t.Errorf("ephemeral=false: %q", got)
		}
	})
	t.Run("symlink and empty file", func(t *testing.T) {
		t.Parallel()
		own, _ := e.seededRepo(t, upsertMode("link", "target", "120000"), upsert("empty", ""))
		if got := string(own.getFile(t, "link", "")); got != "target" {
			t.Errorf("symlink body = %q, want its target", got)
		}
		resp := e.do(t, "HEAD", "/api/v1/repos/file?path=empty", own.Read, nil)
		wantStatus(t, resp, http.StatusOK)
		if resp.Header.Get("Content-Length") != "0" || resp.Header.Get("X-Blob-Sha") != hashObject(t, nil) {
			t.Errorf("empty file headers: %v", resp.Header)
		}
		rng := e.do(t, "GET", "/api/v1/repos/file?path=empty", own.Read, nil, "Range", "bytes=0-0")
		if rng.Status != http.StatusRequestedRangeNotSatisfiable || rng.Header.Get("Content-Range") != "bytes */0" {
			t.Errorf("range on an empty file: %d %q", rng.Status, rng.Header.Get("Content-Range"))
		}
	})
}

// roundTripNoRedirect is roundTrip with redirects reported, not followed.
func (e *env) roundTripNoRedirect(req *http.Request) (*response, error) {
	c := *e.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return fmt.Errorf("redirected to %s", req.URL) }
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b.Bytes()}, nil
}

// A file read served from every cache (repository lookup, directory,
// blob, last change) stops the moment its repository is deleted: reads
// racing the delete may see either answer, but once DELETE has answered
// every read is 404, and a recreated repository of the same id serves
// nothing of the old one.
func TestGetFile_deletedRepositoryAtOnce(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, _ := e.seededRepo(t, upsert("hot.txt", "hot\n"))
	const path = "/api/v1/repos/file?path=hot.txt"
	for i := 0; i < 3; i++ {
		wantStatus(t, e.do(t, "GET", path, r.Read, nil), http.StatusOK)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := e.send("GET", path, r.Read, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if resp.Status != http.StatusOK && resp.Status != http.StatusNotFound {
					t.Errorf("read racing the delete: %s", resp)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	wantStatus(t, e.do(t, "DELETE", "/api/v1/repos/delete", r.Admin, nil), http.StatusOK)
	for i := 0; i < 20; i++ {
		wantError(t, e.do(t, "GET", path, r.Read, nil), http.StatusNotFound)
	}
	close(stop)
	wg.Wait()

	wantStatus(t, e.do(t, "POST", "/api/v1/repos", r.Admin, jsonBody(t, map[string]any{"default_branch": "main"})), http.StatusCreated)
	wantError(t, e.do(t, "GET", path, r.Read, nil), http.StatusNotFound)
	r.commit(t, newMeta("main"), upsert("other.txt", "new\n"))
	wantError(t, e.do(t, "GET", path, r.Read, nil), http.StatusNotFound)
	resp := e.do(t, "GET", "/api/v1/repos/file?path=other.txt", r.Read, nil)
	wantStatus(t, resp, http.StatusOK)
	if string(resp.Body) != "new\n" {
		t.Fatalf("recreated repository serves %q", resp.Body)
	}
}
