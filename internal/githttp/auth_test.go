package githttp_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

func TestAuth_gitCLI(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("app"), "app", ""), "main")
	clone := func(url string) string {
		return s.failGit("", "clone", "-q", url, filepath.Join(t.TempDir(), "c"))
	}

	t.Run("read-only token cannot push", func(t *testing.T) {
		s := s.with(t)
		s.mustGit("", "ls-remote", s.remote(s.Token("app", auth.ScopeGitRead), "app", ""))
		stderr := s.failGit(dir, "push", s.remote(s.Token("app", auth.ScopeGitRead), "app", ""), "main:other")
		wantContains(t, stderr, "403")
	})
	t.Run("write-only token can clone", func(t *testing.T) {
		s := s.with(t)
		s.mustGit("", "clone", "-q", s.remote(s.Token("app", auth.ScopeGitWrite), "app", ""), filepath.Join(t.TempDir(), "c"))
	})
	t.Run("expired token", func(t *testing.T) {
		s := s.with(t)
		tok := s.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitRead},
			IssuedAt: time.Now().Add(-3 * time.Hour), TTL: time.Hour})
		wantContains(t, clone(s.remote(tok, "app", "")), "Authentication failed")
	})
	t.Run("garbage token", func(t *testing.T) {
		s := s.with(t)
		wantContains(t, clone(s.remote("not.a.jwt", "app", "")), "Authentication failed")
	})
	t.Run("no credentials", func(t *testing.T) {
		s := s.with(t)
		stderr := clone(s.remote("", "app", ""))
		if !strings.Contains(stderr, "terminal prompts disabled") && !strings.Contains(stderr, "Authentication failed") {
			t.Fatalf("no auth failure reported:\n%s", stderr)
		}
	})
	t.Run("token for another repository", func(t *testing.T) {
		s := s.with(t)
		wantContains(t, clone(s.remote(s.Token("other", auth.ScopeGitRead), "app", "")), "403")
	})
	t.Run("unknown repository", func(t *testing.T) {
		s := s.with(t)
		wantContains(t, clone(s.remote(s.Token("missing", auth.ScopeGitRead), "missing", "")), "not found")
	})
	t.Run("deleted repository", func(t *testing.T) {
		s := s.with(t)
		s.createRepo("gone")
		resp := s.Do("DELETE", "/api/v1/repos/delete", s.Token("gone", auth.ScopeRepoWrite), nil)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("delete: %d", resp.StatusCode)
		}
		wantContains(t, clone(s.remote(s.Token("gone", auth.ScopeGitRead), "gone", "")), "not found")
	})
}

func TestAuth_http(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("team/app")
	read := s.Token("team/app", auth.ScopeGitRead)
	write := s.Token("team/app", auth.ScopeGitWrite)

	for _, tc := range []struct {
		desc      string
		method    string
		path      string
		auth      string // "Basic:<token>", "Bearer:<token>" or raw header
		ctype     string
		want      int
		wantCType string
	}{
		{desc: "no credentials", method: "GET", path: "/team/app.git/info/refs?service=git-upload-pack", want: 401},
		{desc: "bad token", method: "GET", path: "/team/app.git/info/refs?service=git-upload-pack", auth: "Basic:xx", want: 401},
		{desc: "basic", method: "GET", path: "/team/app.git/info/refs?service=git-upload-pack", auth: "Basic:" + read, want: 200,
			wantCType: "application/x-git-upload-pack-advertisement"},
		{desc: "bearer", method: "GET", path: "/team/app.git/info/refs?service=git-upload-pack", auth: "Bearer:" + read, want: 200},
		{desc: "receive-pack advertisement needs git:write", method: "GET", path: "/team/app.git/info/refs?service=git-receive-pack", auth: "Basic:" + read, want: 403},
		{desc: "receive-pack advertisement", method: "GET", path: "/team/app.git/info/refs?service=git-receive-pack", auth: "Basic:" + write, want: 200,
			wantCType: "application/x-git-receive-pack-advertisement"},
		{desc: "import refuses upload-pack advertisement", method: "GET", path: "/team/app+import.git/info/refs?service=git-upload-pack", auth: "Basic:" + write, want: 403},
		{desc: "import refuses upload-pack", method: "POST", path: "/team/app+import.git/git-upload-pack", auth: "Basic:" + write,
			ctype: "application/x-git-upload-pack-request", want: 403},
		{desc: "import serves receive-pack advertisement", method: "GET", path: "/team/app+import.git/info/refs?service=git-receive-pack", auth: "Basic:" + write, want: 200},
		{desc: "dumb protocol", method: "GET", path: "/team/app.git/info/refs", auth: "Basic:" + read, want: 403},
		{desc: "unknown repository", method: "GET", path: "/team/nope.git/info/refs?service=git-upload-pack", auth: "Basic:" + s.Token("team/nope", auth.ScopeGitRead), want: 404},
		{desc: "wrong method", method: "GET", path: "/team/app.git/git-upload-pack", auth: "Basic:" + read, want: 405},
		{desc: "wrong content type", method: "POST", path: "/team/app.git/git-upload-pack", auth: "Basic:" + read, ctype: "text/plain", want: 415},
		{desc: "not a git path", method: "GET", path: "/team/app/info/refs", auth: "Basic:" + read, want: 404},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := s.with(t)
			req, err := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader("0000"))
			if err != nil {
				t.Fatal(err)
			}
			if scheme, tok, ok := strings.Cut(tc.auth, ":"); ok {
				if scheme == "Basic" {
					req.SetBasicAuth("anyone", tok)
				} else {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="Strata"` {
				t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if !strings.Contains(resp.Header.Get("Cache-Control"), "no-cache") {
				t.Fatalf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
			if tc.wantCType != "" {
				if got := resp.Header.Get("Content-Type"); got != tc.wantCType {
					t.Fatalf("Content-Type = %q, want %q", got, tc.wantCType)
				}
				if svc := strings.TrimPrefix(strings.TrimSuffix(tc.wantCType, "-advertisement"), "application/x-"); !strings.HasPrefix(string(body), "001e# service="+svc+"\n0000") && !strings.HasPrefix(string(body), "001f# service="+svc+"\n0000") {
					t.Fatalf("advertisement does not start with the service line: %q", body[:min(len(body), 60)])
				}
			}
		})
	}

	t.Run("protocol v2 advertisement has no service line", func(t *testing.T) {
		s := s.with(t)
		req, _ := http.NewRequest("GET", s.URL+"/team/app.git/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth("t", read)
		req.Header.Set("Git-Protocol", "version=2")
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "000eversion 2\n") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("Git-Protocol allowlist", func(t *testing.T) {
		s := s.with(t)
		req, _ := http.NewRequest("GET", s.URL+"/team/app.git/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth("t", read)
		req.Header.Set("Git-Protocol", "version=3:GIT_DIR=/etc")
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "# service=git-upload-pack") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
}
