package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// hangDetect only detects a hang; the assertions never depend on timing.
const hangDetect = 60 * time.Second

// stall sends the head of a request announcing a body it never sends.
func stall(t *testing.T, addr, method, path, auth string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hdr := ""
	if auth != "" {
		hdr = "Authorization: " + auth + "\r\n"
	}
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n", method, path, hdr)
	return c
}

// Finding 4: a POST announcing a body and sending nothing is answered (the
// 401 comes at once, as authentication never needs the body) and its
// connection closed, instead of being held forever.
func TestStalledBody_answeredAndClosed(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) { c.BodyIdleTimeout = time.Second }))
	addr := strings.TrimPrefix(s.URL, "http://")
	tok := s.Token("stall", auth.ScopeRepoWrite, auth.ScopeGitRead)
	resp := s.Do("POST", "/api/v1/repos", tok, strings.NewReader(`{}`))
	resp.Body.Close()
	for _, tc := range []struct {
		desc, path, auth string
		status           int
	}{
		{"REST without a token", "/api/v1/repos", "", 401},
		{"REST with a token", "/api/v1/repos", "Bearer " + s.Token("other", auth.ScopeRepoWrite), 408},
		{"git without a token", "/stall.git/git-upload-pack", "", 401},
		{"git with a token", "/stall.git/git-upload-pack", "Bearer " + tok, 408},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			c := stall(t, addr, "POST", tc.path, tc.auth)
			c.SetDeadline(time.Now().Add(hangDetect))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			var b [1]byte
			if _, err := c.Read(b[:]); err != io.EOF {
				t.Errorf("connection not closed after the answer: %v", err)
			}
		})
	}
}

// Finding 4: many stalled bodies are all cut off, and /healthz answers
// while they are open.
func TestStalledBodies_healthz(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) { c.BodyIdleTimeout = 2 * time.Second }))
	addr := strings.TrimPrefix(s.URL, "http://")
	tok := s.Token("x", auth.ScopeRepoWrite)
	var conns []net.Conn
	for i := 0; i < 100; i++ {
		// A valid token on a route that reads its body: the stall is in
		// the body read itself.
		conns = append(conns, stall(t, addr, "POST", "/api/v1/repos", "Bearer "+tok))
	}
	client := &http.Client{Timeout: hangDetect}
	resp, err := client.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz under attack: %v", err)
	}
	resp.Body.Close()
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(hangDetect))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("stalled connection %d not closed by the server: %v", i, err)
		}
	}
}

// Finding 5: the method is a metrics label, so it must come from a fixed
// set: random methods must not each add a series.
func TestMetrics_methodLabelBounded(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(hangDetect))
		method := fmt.Sprintf("RANDOMMETHOD%d%s", i, strings.Repeat("X", 2000))
		fmt.Fprintf(c, "%s /api/v1/repos HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method)
		io.Copy(io.Discard, c)
		c.Close()
	}
	resp := s.Do("GET", "/metrics", "", nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	if strings.Contains(text, "RANDOMMETHOD") {
		t.Fatal("a client-chosen method became a metrics label")
	}
	if !strings.Contains(text, `method="other"`) {
		t.Fatal(`unknown methods are not counted as method="other"`)
	}
}
