package roundrobin

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// backends starts n servers that answer with their index and the Host
// they were asked for.
func backends(t *testing.T, n int) []*url.URL {
	t.Helper()
	var urls []*url.URL
	for i := range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", fmt.Sprint(i))
			w.Header().Set("X-Host", r.Host)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, parse(t, srv.URL))
	}
	return urls
}

func parse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNew_rotates(t *testing.T) {
	p, err := New(backends(t, 3), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	defer front.Close()
	var got []string
	for range 6 {
		resp, err := http.Get(front.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.Header.Get("X-Backend"))
		if h, want := resp.Header.Get("X-Host"), front.Listener.Addr().String(); h != want {
			t.Errorf("backend saw Host %q, want the client's %q", h, want)
		}
	}
	if fmt.Sprint(got) != "[0 1 2 0 1 2]" {
		t.Errorf("backends in order %v, want [0 1 2 0 1 2]", got)
	}
}

// TestNew_streams checks that neither body is held back: the backend sees
// the first line of the request before the client sends the rest, and
// the client sees the first line of the answer before the backend writes
// the rest. A buffering proxy fails the test by a timeout.
func TestNew_streams(t *testing.T) {
	gotFirst := make(chan struct{})  // the backend read the request's first line
	sentFirst := make(chan struct{}) // the client read the answer's first line
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := bufio.NewReader(r.Body)
		if line, err := body.ReadString('\n'); line != "request 1\n" || err != nil {
			t.Errorf("backend read %q, %v", line, err)
			return
		}
		close(gotFirst)
		if rest, err := io.ReadAll(body); string(rest) != "request 2\n" || err != nil {
			t.Errorf("backend read %q, %v", rest, err)
		}
		fmt.Fprintln(w, "answer 1")
		http.NewResponseController(w).Flush()
		select {
		case <-sentFirst:
		case <-time.After(20 * time.Second): // the test failed
		}
		fmt.Fprintln(w, "answer 2")
	}))
	defer backend.Close()
	p, err := New([]*url.URL{parse(t, backend.URL)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	defer front.Close()

	pr, pw := io.Pipe()
	defer pw.Close() // a failed test leaves no handler waiting
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(front.URL, "text/plain", pr)
		done <- result{resp, err}
	}()
	fmt.Fprintln(pw, "request 1")
	wait(t, gotFirst, "the backend to see the request's first line")
	fmt.Fprintln(pw, "request 2")
	pw.Close()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	lines := bufio.NewReader(res.resp.Body)
	first := make(chan string, 1)
	go func() {
		line, _ := lines.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if line != "answer 1\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the answer's first line was held back")
	}
	close(sentFirst)
	if rest, err := io.ReadAll(lines); string(rest) != "answer 2\n" || err != nil {
		t.Errorf("rest of the answer %q, %v", rest, err)
	}
}

func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestNew_noBackends(t *testing.T) {
	if _, err := New(nil, nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}
