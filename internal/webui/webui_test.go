package webui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/webui"
)

// xss is put where a visitor's browser would run it if anything were
// left unescaped: a file name, file contents, a commit message, an author
// name, a branch and a tag.
const xss = `<script>alert(1)</script>`

// xssName is the same for a file name, which cannot hold "/".
const xssName = `<img src=x onerror=alert(1)>`

func TestLogin(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok := writer(e, "app")
	e.createRepo(t, tok)

	t.Run("sets the cookie", func(t *testing.T) {
		b := newBrowser(t, e)
		p := b.login(tok)
		if loc := p.Header.Get("Location"); loc != "/ui/" {
			t.Errorf("Location %q, want /ui/", loc)
		}
		cookies := p.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("cookies %v, want one", cookies)
		}
		c := cookies[0]
		if c.Value != tok || c.Path != "/ui/" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
			t.Errorf("cookie %+v: want the token, Path=/ui/, HttpOnly, SameSite=Strict, not Secure over plain http", c)
		}
		// The cookie lives as long as the token (one hour), not longer.
		if c.MaxAge < 3500 || c.MaxAge > 3600 {
			t.Errorf("Max-Age %d, want about an hour", c.MaxAge)
		}
		b.get("/ui/").mustStatus(t, http.StatusOK).contains(t, "Repositories", ">app</a>", "Sign out")
	})

	t.Run("a bearer prefix is tolerated", func(t *testing.T) {
		newBrowser(t, e).login("Bearer " + tok)
	})

	t.Run("the front door shows the form", func(t *testing.T) {
		newBrowser(t, e).get("/ui/").mustStatus(t, http.StatusOK).contains(t, `action="/ui/login"`, `name="token"`).lacks(t, `class="error"`)
	})

	for _, tc := range []struct {
		desc, token, msg string
		status           int
	}{
		{desc: "garbage", token: "not-a-token", msg: "This token was not accepted", status: http.StatusUnauthorized},
		{desc: "an unknown organisation's key", token: func() string {
			// acme's name, globex's key: the signature cannot verify.
			tk, err := auth.Mint(e.globex, auth.Claims{Issuer: "acme", Repo: "app", Scopes: []auth.Scope{auth.ScopeGitRead}})
			if err != nil {
				t.Fatal(err)
			}
			return tk
		}(), msg: "This token was not accepted", status: http.StatusUnauthorized},
		{desc: "expired", token: e.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitRead}, IssuedAt: time.Now().Add(-3 * time.Hour), TTL: time.Hour}),
			msg: "This token was not accepted", status: http.StatusUnauthorized},
		{desc: "empty", token: "  ", msg: "Paste a token", status: http.StatusBadRequest},
		{desc: "too long for a cookie", token: strings.Repeat("x", 5000), msg: "too long", status: http.StatusBadRequest},
	} {
		t.Run("wrong token: "+tc.desc, func(t *testing.T) {
			b := newBrowser(t, e)
			p := b.post("/ui/login", url.Values{"token": {tc.token}}).mustStatus(t, tc.status)
			p.contains(t, `class="error"`, tc.msg, `name="token"`)
			if len(p.Cookies()) != 0 {
				t.Errorf("a refused token set cookies: %v", p.Cookies())
			}
			b.get("/ui/").contains(t, `name="token"`).lacks(t, "Sign out")
		})
	}

	t.Run("cross-site sign-in is refused", func(t *testing.T) {
		b := newBrowser(t, e)
		p := b.post("/ui/login", url.Values{"token": {tok}}, "Sec-Fetch-Site", "cross-site")
		p.mustStatus(t, http.StatusForbidden)
		if len(p.Cookies()) != 0 {
			t.Errorf("cookies set: %v", p.Cookies())
		}
	})

	t.Run("sign out clears the cookie", func(t *testing.T) {
		b := newBrowser(t, e)
		b.login(tok)
		p := b.post("/ui/logout", nil).mustStatus(t, http.StatusSeeOther)
		if c := p.Cookies(); len(c) != 1 || c[0].MaxAge >= 0 || c[0].Path != "/ui/" {
			t.Errorf("logout cookies %+v, want one deleting the session", c)
		}
		b.get("/ui/").contains(t, `name="token"`).lacks(t, "Sign out")
		b.get(ui("tree", "repo", "app")).mustStatus(t, http.StatusUnauthorized).contains(t, "Sign in to see this page")
	})

	t.Run("a session whose token expired ends", func(t *testing.T) {
		b := newBrowser(t, e)
		old := e.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitRead}, IssuedAt: time.Now().Add(-3 * time.Hour), TTL: time.Hour})
		u, _ := url.Parse(e.URL + "/ui/")
		b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "strata_ui_token", Value: old, Path: "/ui/"}})
		p := b.get(ui("tree", "repo", "app")).mustStatus(t, http.StatusUnauthorized).contains(t, "Your session has ended")
		if c := p.Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
			t.Errorf("cookies %+v, want the session deleted", c)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := start(t)
	b := newBrowser(t, e)
	for _, path := range []string{"/ui/", "/ui/nope", ui("tree", "repo", "x")} {
		p := b.get(path)
		csp := p.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'nonce-"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		m := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
		if m == nil || !strings.Contains(p.body, `<style nonce="`+m[1]+`">`) {
			t.Errorf("%s: the style element does not carry the CSP nonce", path)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"} {
			if got := p.Header.Get(h); got != want {
				t.Errorf("%s: %s %q, want %q", path, h, got, want)
			}
		}
		p.lacks(t, "<script")
	}
	if p := b.get("/ui/nope"); p.StatusCode != http.StatusUnauthorized && p.StatusCode != http.StatusNotFound {
		t.Errorf("/ui/nope: %s", p.Status)
	}
	// /ui without the slash reaches the view.
	if p := b.get("/ui"); p.StatusCode/100 != 3 || p.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: %s to %q", p.Status, p.Header.Get("Location"))
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok := writer(e, "app")
	e.createRepo(t, tok)
	first := e.commit(t, tok, "main", "first commit", map[string]string{
		"README.md":       "# App\nhello web view\n",
		"src/main.go":     "package main\n\nfunc main() {}\n",
		"src/util/x.go":   "package util\n",
		"data.bin":        "\x00\x01\x02binary",
		"page.html":       "<html><body>" + xss + "</body></html>\n",
		xssName + ".txt":  xss + "\n",
		"big/large.txt":   strings.Repeat("0123456789abcdef\n", 40000), // 680 KB: not inlined
		"latin1.txt":      "caf\xe9\n",
		"deep/a/b/c/d.md": "deep\n",
	})
	second := e.commit(t, tok, "main", "second: "+xss+"\n\nbody line "+xss, map[string]string{
		"README.md": "# App\nhello again\n",
	})
	e.api(t, "POST", "/api/v1/repos/branches/create", tok, fmt.Sprintf(`{"base_branch":"main","target_branch":%q}`, "feature/"+xss))
	e.api(t, "POST", "/api/v1/repos/tags", tok, fmt.Sprintf(`{"name":%q,"ref":"main"}`, "v1-"+xss))
	e.api(t, "POST", "/api/v1/repos/tags", tok, `{"name":"v0","ref":"`+first+`","message":"annotated","tagger":{"name":"T","email":"t@example.com"}}`)

	b := newBrowser(t, e)
	b.login(e.Token("app", auth.ScopeGitRead))
	esc := "&lt;script&gt;alert(1)&lt;/script&gt;"
	escName := "&lt;img src=x onerror=alert(1)&gt;"

	t.Run("repositories", func(t *testing.T) {
		b.get("/ui/").mustStatus(t, http.StatusOK).contains(t, `href="/ui/tree?repo=app"`, "<code>main</code>")
	})
	t.Run("tree", func(t *testing.T) {
		p := b.get(ui("tree", "repo", "app")).mustStatus(t, http.StatusOK)
		p.contains(t, ">README.md</a>", ">src/</a>", ">big/</a>", ">data.bin</a>", ">"+escName+".txt</a>", second[:12])
		p.lacks(t, "<script", "<img", "main.go")
		// Directories come first.
		if strings.Index(p.body, ">src/</a>") > strings.Index(p.body, ">README.md</a>") {
			t.Error("directories are not listed first")
		}
		b.get(ui("tree", "repo", "app", "path", "src")).mustStatus(t, http.StatusOK).contains(t, ">main.go</a>", ">util/</a>").lacks(t, "README")
		b.get(ui("tree", "repo", "app", "path", "deep/a/b")).mustStatus(t, http.StatusOK).contains(t, ">c/</a>", "path=deep%2Fa")
		b.get(ui("tree", "repo", "app", "path", "nope")).mustStatus(t, http.StatusNotFound)
		if p := b.get(ui("tree", "repo", "app", "path", "src/main.go")).mustStatus(t, http.StatusSeeOther); p.Header.Get("Location") != ui("blob", "path", "src/main.go", "repo", "app") {
			t.Errorf("a file's tree page redirects to %q", p.Header.Get("Location"))
		}
		b.get(ui("tree", "repo", "app", "path", "../etc")).mustStatus(t, http.StatusBadRequest)
		// An older revision shows the older README.
		b.get(ui("blob", "repo", "app", "rev", first, "path", "README.md")).mustStatus(t, http.StatusOK).contains(t, "hello web view")
	})
	t.Run("file", func(t *testing.T) {
		b.get(ui("blob", "repo", "app", "path", "src/main.go")).mustStatus(t, http.StatusOK).
			contains(t, `id="L3"`, `href="#L3"`, "func main() {}", "raw?path=src%2Fmain.go").lacks(t, `id="L4"`)
		b.get(ui("blob", "repo", "app", "path", xssName+".txt")).mustStatus(t, http.StatusOK).contains(t, esc, escName).lacks(t, "<script", "<img")
		b.get(ui("blob", "repo", "app", "path", "page.html")).mustStatus(t, http.StatusOK).contains(t, "&lt;html&gt;&lt;body&gt;"+esc).lacks(t, "<script", "<body><")
		b.get(ui("blob", "repo", "app", "path", "data.bin")).mustStatus(t, http.StatusOK).contains(t, "binary file", "raw?").lacks(t, `class="code"`)
		b.get(ui("blob", "repo", "app", "path", "big/large.txt")).mustStatus(t, http.StatusOK).contains(t, "too large", "raw?").lacks(t, "0123456789abcdef")
		b.get(ui("blob", "repo", "app", "path", "latin1.txt")).mustStatus(t, http.StatusOK).contains(t, "caf\uFFFD")
		b.get(ui("blob", "repo", "app", "path", "src")).mustStatus(t, http.StatusNotFound)
	})
	t.Run("raw", func(t *testing.T) {
		for _, tc := range []struct {
			path, ctype, disp, body string
		}{
			{"page.html", "text/plain; charset=utf-8", `inline; filename=page.html`, "<html><body>" + xss},
			{"data.bin", "application/octet-stream", `attachment; filename=data.bin`, "\x00\x01\x02binary"},
			{xssName + ".txt", "text/plain; charset=utf-8", `inline; filename="<img src=x onerror=alert(1)>.txt"`, xss},
		} {
			p := b.get(ui("raw", "repo", "app", "path", tc.path)).mustStatus(t, http.StatusOK)
			if got := p.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("%s: Content-Type %q, want %q", tc.path, got, tc.ctype)
			}
			if got := p.Header.Get("Content-Disposition"); got != tc.disp {
				t.Errorf("%s: Content-Disposition %q, want %q", tc.path, got, tc.disp)
			}
			if got := p.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q", tc.path, got)
			}
			if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("%s: CSP %q", tc.path, csp)
			}
			if !strings.HasPrefix(p.body, tc.body) {
				t.Errorf("%s: body %q", tc.path, p.body)
			}
		}
		p := b.get(ui("raw", "repo", "app", "path", "big/large.txt")).mustStatus(t, http.StatusOK)
		if len(p.body) != 680000 || p.Header.Get("Content-Length") != "680000" {
			t.Errorf("large raw: %d bytes, Content-Length %q", len(p.body), p.Header.Get("Content-Length"))
		}
	})
	t.Run("commits", func(t *testing.T) {
		p := b.get(ui("commits", "repo", "app")).mustStatus(t, http.StatusOK)
		p.contains(t, "second: "+esc, "first commit", "Ada &amp; &#34;Lovelace&#34;", second[:12], first[:12]).lacks(t, "<script", "body line")
		// Newest first.
		if strings.Index(p.body, "second:") > strings.Index(p.body, "first commit") {
			t.Error("commits are not newest first")
		}
		b.get(ui("commits", "repo", "app", "path", "src")).mustStatus(t, http.StatusOK).contains(t, "first commit").lacks(t, "second:")
		b.get(ui("commits", "repo", "app", "page", "-1")).mustStatus(t, http.StatusBadRequest)
	})
	t.Run("commit", func(t *testing.T) {
		p := b.get(ui("commit", "repo", "app", "id", second)).mustStatus(t, http.StatusOK)
		p.contains(t, "second: "+esc+"\n\nbody line "+esc, second, first[:12], `class="del"`, "-hello web view", `class="add"`, "&#43;hello again", "Ada &amp; &#34;Lovelace&#34;").lacks(t, "<script")
		p = b.get(ui("commit", "repo", "app", "id", first)).mustStatus(t, http.StatusOK)
		p.contains(t, "Parents</th><td>none", "&#43;"+esc, escName, "Binary file not shown", "File too large to show", "deep/a/b/c/d.md").lacks(t, "<script", "<img")
		b.get(ui("commit", "repo", "app", "id", "main~1")).mustStatus(t, http.StatusOK).contains(t, first)
		b.get(ui("commit", "repo", "app", "id", strings.Repeat("0", 40))).mustStatus(t, http.StatusNotFound)
	})
	t.Run("branches", func(t *testing.T) {
		p := b.get(ui("branches", "repo", "app")).mustStatus(t, http.StatusOK)
		p.contains(t, ">main</a> <span class=\"note\">default", ">feature/"+esc+"</a>", "rev=feature%2F%3Cscript%3E").lacks(t, "<script")
		b.get(ui("tree", "repo", "app", "rev", "feature/"+xss)).mustStatus(t, http.StatusOK).contains(t, "<code>feature/"+esc+"</code>").lacks(t, "<script")
	})
	t.Run("tags", func(t *testing.T) {
		p := b.get(ui("tags", "repo", "app")).mustStatus(t, http.StatusOK)
		p.contains(t, ">v1-"+esc+"</a>", ">v0</a> <span class=\"note\">annotated", first[:12], second[:12]).lacks(t, "<script")
		b.get(ui("tree", "repo", "app", "rev", "refs/tags/v0")).mustStatus(t, http.StatusOK).contains(t, first[:12])
	})
	t.Run("missing revision", func(t *testing.T) {
		b.get(ui("tree", "repo", "app", "rev", "nope")).mustStatus(t, http.StatusNotFound)
	})
}

func TestPages_emptyRepository(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.createRepo(t, writer(e, "empty"))
	b := newBrowser(t, e)
	b.login(e.Token("empty", auth.ScopeGitRead))
	b.get(ui("tree", "repo", "empty")).mustStatus(t, http.StatusOK).contains(t, "no commits yet")
	b.get(ui("commits", "repo", "empty")).mustStatus(t, http.StatusOK).contains(t, "no commits yet")
	b.get(ui("branches", "repo", "empty")).mustStatus(t, http.StatusOK).contains(t, "No branches")
	b.get(ui("tags", "repo", "empty")).mustStatus(t, http.StatusOK).contains(t, "No tags")
}

func TestCommits_paginated(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok := writer(e, "log")
	e.createRepo(t, tok)
	for i := range 55 {
		e.commit(t, tok, "main", fmt.Sprintf("change %02d", i), map[string]string{"n.txt": fmt.Sprint(i)})
	}
	b := newBrowser(t, e)
	b.login(tok)
	p := b.get(ui("commits", "repo", "log")).mustStatus(t, http.StatusOK)
	p.contains(t, "change 54", "change 05", "page=1", "Older").lacks(t, "change 04<", "Newer")
	p = b.get(ui("commits", "repo", "log", "page", "1")).mustStatus(t, http.StatusOK)
	p.contains(t, "change 04", "change 00", "Newer", "page=0").lacks(t, "change 05<", "Older")
}

func TestCommit_hugeDiffTruncated(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok := writer(e, "huge")
	e.createRepo(t, tok)
	// Three files of 400 KB each: each under the engine's per-file limit,
	// together over the page's 1 MiB budget.
	files := map[string]string{}
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		files[name] = strings.Repeat(name+" line of text here\n", 16000)
	}
	sha := e.commit(t, tok, "main", "huge", files)
	b := newBrowser(t, e)
	b.login(tok)
	p := b.get(ui("commit", "repo", "huge", "id", sha)).mustStatus(t, http.StatusOK)
	p.contains(t, "a.txt", "b.txt", "c.txt", "Diff truncated", "+48000")
	if n := strings.Count(p.body, "<td>&#43;"); n >= 48000 || n < 30000 {
		t.Errorf("%d added lines shown, want the 1 MiB budget's worth", n)
	}
}

func TestAuthorisation(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, id := range []string{"app", "other"} {
		tok := writer(e, id)
		e.createRepo(t, tok)
		e.commit(t, tok, "main", "acme "+id, map[string]string{"secret.txt": "acme secret of " + id + "\n"})
	}
	// globex has its own "app".
	gtok := e.globexToken(t, "app", auth.ScopeRepoWrite, auth.ScopeGitRead, auth.ScopeGitWrite)
	e.createRepo(t, gtok)
	e.commit(t, gtok, "main", "globex app", map[string]string{"globex.txt": "globex data\n"})

	t.Run("a repository token sees its repository only", func(t *testing.T) {
		b := newBrowser(t, e)
		b.login(e.Token("app", auth.ScopeGitRead))
		b.get("/ui/").mustStatus(t, http.StatusOK).contains(t, ">app</a>").lacks(t, "other")
		b.get(ui("tree", "repo", "other")).mustStatus(t, http.StatusForbidden).lacks(t, "secret.txt")
		b.get(ui("raw", "repo", "other", "path", "secret.txt")).mustStatus(t, http.StatusForbidden).lacks(t, "acme secret")
		b.get(ui("commits", "repo", "other")).mustStatus(t, http.StatusForbidden)
	})
	t.Run("cross-organisation access is refused", func(t *testing.T) {
		b := newBrowser(t, e)
		b.login(e.globexToken(t, "app", auth.ScopeGitRead))
		// globex's "app" is globex's, whatever acme has under that name.
		b.get(ui("tree", "repo", "app")).mustStatus(t, http.StatusOK).contains(t, "globex.txt").lacks(t, "secret.txt")
		b.get(ui("raw", "repo", "app", "path", "secret.txt")).mustStatus(t, http.StatusNotFound).lacks(t, "acme secret")
		b.get(ui("tree", "repo", "other")).mustStatus(t, http.StatusForbidden)
		b.get("/ui/").lacks(t, "other")

		ob := newBrowser(t, e)
		ob.login(e.globexToken(t, "org", auth.ScopeOrgRead))
		ob.get("/ui/").mustStatus(t, http.StatusOK).contains(t, "app").lacks(t, "other")
		// A globex token for a repository only acme has finds nothing.
		nb := newBrowser(t, e)
		nb.login(e.globexToken(t, "other", auth.ScopeGitRead))
		nb.get(ui("tree", "repo", "other")).mustStatus(t, http.StatusNotFound).contains(t, "Repository not found").lacks(t, "secret")
	})
	t.Run("an organisation token lists but does not read", func(t *testing.T) {
		b := newBrowser(t, e)
		b.login(e.Token("org", auth.ScopeOrgRead))
		p := b.get("/ui/").mustStatus(t, http.StatusOK)
		p.contains(t, "<td>app</td>", "<td>other</td>").lacks(t, `href="/ui/tree`)
		b.get(ui("tree", "repo", "app")).mustStatus(t, http.StatusForbidden)
		b.get("/ui/?q=oth").contains(t, "<td>other</td>").lacks(t, "<td>app</td>")
	})
	t.Run("a token without read rights sees nothing", func(t *testing.T) {
		b := newBrowser(t, e)
		b.login(e.Token("app", auth.ScopeRepoWrite))
		b.get("/ui/").mustStatus(t, http.StatusOK).contains(t, "grants no read access").lacks(t, ">app<")
		b.get(ui("tree", "repo", "app")).mustStatus(t, http.StatusForbidden).lacks(t, "secret.txt")
		b.get(ui("blob", "repo", "app", "path", "secret.txt")).mustStatus(t, http.StatusForbidden).lacks(t, "acme secret")
	})
	t.Run("a deleted repository is gone", func(t *testing.T) {
		b := newBrowser(t, e)
		b.login(e.Token("other", auth.ScopeGitRead))
		e.api(t, "DELETE", "/api/v1/repos/delete", writer(e, "other"), "")
		b.get(ui("tree", "repo", "other")).mustStatus(t, http.StatusNotFound)
	})
	t.Run("write requests do not exist", func(t *testing.T) {
		b := newBrowser(t, e)
		b.login(writer(e, "app"))
		for _, path := range []string{ui("tree", "repo", "app"), ui("blob", "repo", "app", "path", "secret.txt"), "/ui/commit-pack"} {
			b.post(path, nil).mustStatus(t, http.StatusNotFound).lacks(t, "secret")
		}
	})
}

// oneToken accepts exactly one token.
type oneToken string

func (v oneToken) Verify(token string) (*auth.Principal, error) {
	if token != string(v) {
		return nil, auth.ErrInvalidToken
	}
	return &auth.Principal{Org: "acme", Repo: "app", Scopes: []auth.Scope{auth.ScopeGitRead}, Expires: time.Now().Add(time.Hour)}, nil
}

func TestLogin_secureOverTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(webui.New(webui.Config{Verifier: oneToken("good")}))
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {"good"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("%s, cookies %+v: want one Secure, HttpOnly, SameSite=Strict cookie", resp.Status, cs)
	}
}
