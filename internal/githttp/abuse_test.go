package githttp_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
)

// Finding 3: half-sent upload-pack requests (any tenant's git:read token)
// hold no pack slot, so real clones succeed and /healthz answers while
// they stall. The queue timeout is short so that a held slot shows as a
// failed clone rather than a long wait.
func TestUploadPack_stalledRequestsHoldNoSlot(t *testing.T) {
	t.Parallel()
	s := startGitServer(t, func(c *config.Config) {
		c.Transport.MaxConcurrentPacks = 2
		c.Transport.PackQueueTimeout = 3 * time.Second
		c.BodyIdleTimeout = 10 * time.Minute // the attack outlasts the test
	})
	s.createRepo("victim")
	s.createRepo("attacker")
	dir := s.workdir(map[string]string{"a.txt": "hello\n"})
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("victim"), "victim", ""), "main")

	attack := s.Token("attacker", auth.ScopeGitRead)
	for i := 0; i < 8; i++ {
		c, err := tls.Dial("tcp", s.host, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /attacker.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n0032want ", attack)
	}
	time.Sleep(500 * time.Millisecond) // let the server take the stalled requests in

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz under attack: %v", err)
	}
	resp.Body.Close()
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := t.TempDir()
			if r := s.git("", "clone", "-q", s.remote(s.Token("victim", auth.ScopeGitRead), "victim", ""), out); r.err != nil {
				t.Errorf("clone under attack: %v\n%s", r.err, r.stderr)
			}
		}()
	}
	wg.Wait()
}

// Finding 11: what the client got wrong is a 4xx, never a 500 or an ERROR
// in the log.
func TestUploadPack_clientErrorsAre4xx(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "hello\n"})
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("app"), "app", ""), "main")
	pkt := func(l string) string { return fmt.Sprintf("%04x%s", len(l)+4, l) }
	tok := s.Token("app", auth.ScopeGitRead)
	for _, tc := range []struct {
		desc, proto, body string
	}{
		{"garbage", "", "hello world garbage"},
		{"empty", "", ""},
		{"truncated pkt-line", "", "0032want "},
		{"v0 want-ref", "", pkt("want-ref refs/heads/main\n") + "0000" + pkt("done\n")},
		{"v0 unknown want", "", pkt("want 1111111111111111111111111111111111111111 side-band-64k\n") + "0000" + pkt("done\n")},
		{"v2 want-ref", "version=2", pkt("command=fetch\n") + "0001" + pkt("want-ref refs/heads/nope\n") + pkt("done\n") + "0000"},
		{"v2 unknown command", "version=2", pkt("command=bogus\n") + "0000"},
		{"v2 unknown want", "version=2", pkt("command=fetch\n") + "0001" + pkt("want 1111111111111111111111111111111111111111\n") + pkt("done\n") + "0000"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resp := s.Do("POST", "/app.git/git-upload-pack", tok, strings.NewReader(tc.body),
				"Content-Type", "application/x-git-upload-pack-request", "Git-Protocol", tc.proto)
			b, _ := io.ReadAll(bufio.NewReader(resp.Body))
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Errorf("status %d: %s", resp.StatusCode, b)
			}
		})
	}
	if logs := s.Logs(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("client errors logged at ERROR:\n%s", logs)
	}
}
