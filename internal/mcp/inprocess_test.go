package mcp

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestInProcess_closeEndsHandler: a tool that stops reading ends the
// handler (its context is cancelled, its writes fail) before Close returns.
func TestInProcess_closeEndsHandler(t *testing.T) {
	t.Parallel()
	ended := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		w.Header().Set("X-Test", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusPartialContent)
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
				return
			}
		}
	})
	req, _ := http.NewRequest("GET", "http://strata.in-process/api/v1/repos/file?path=a", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := InProcess(h).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("X-Test") != "Bearer t" {
		t.Fatalf("status %d, header %v", resp.StatusCode, resp.Header)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still running after Close")
	}
}

// TestInProcess_panic: a panicking handler answers 500 instead of taking
// the process down.
func TestInProcess_panic(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	req, _ := http.NewRequest("POST", "http://strata.in-process/api/v1/repos/grep", strings.NewReader("{}"))
	resp, err := InProcess(h).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "internal error") {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
}

// TestInProcess_emptyHandler: a handler that writes nothing answers 200
// with an empty body.
func TestInProcess_emptyHandler(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest("DELETE", "http://strata.in-process/x", nil)
	resp, err := InProcess(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || len(b) != 0 {
		t.Fatalf("status %d, body %q", resp.StatusCode, b)
	}
}

func TestReadLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc, in string
		want     []string
	}{
		{"lines", "a\nbb\n", []string{"a", "bb"}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"long line cut on a rune", "ab€€\nc\n", []string{"ab… [line truncated: 6 more bytes]", "c"}},
		{"empty lines", "\n\n", []string{"", ""}},
		{"longer than the buffer", strings.Repeat("x", 40) + "\nd", []string{"xxxx… [line truncated: 36 more bytes]", "d"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			br := newSmallReader(tc.in)
			var got []string
			for {
				l, n, err := readLine(br, 4)
				if n == 0 {
					break
				}
				got = append(got, l)
				if err != nil {
					break
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// newSmallReader has bufio's smallest buffer, so long lines take several
// ReadSlice calls.
func newSmallReader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }
