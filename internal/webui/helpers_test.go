package webui_test

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/leakcheck"
	"github.com/strata-storage/strata/internal/servertest"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

// env is a real server with two organisations: acme (servertest's) and
// globex, whose key the test holds.
type env struct {
	*servertest.Server
	globex crypto.Signer
}

func start(t *testing.T, opts ...servertest.Option) *env {
	t.Helper()
	key, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := auth.WriteKeyPair(filepath.Join(t.TempDir(), "keys"), "globex", key)
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, servertest.WithConfig(func(c *config.Config) {
		c.Orgs = append(c.Orgs, config.OrgKey{Org: "globex", Path: pub})
	}))
	return &env{Server: servertest.Start(t, opts...), globex: key}
}

// globexToken mints a token of the second organisation.
func (e *env) globexToken(t *testing.T, repo string, scopes ...auth.Scope) string {
	t.Helper()
	tok, err := auth.Mint(e.globex, auth.Claims{Issuer: "globex", Repo: repo, Scopes: scopes, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// writer is a token allowed to create and fill repository id.
func writer(e *env, id string) string {
	return e.Token(id, auth.ScopeRepoWrite, auth.ScopeGitRead, auth.ScopeGitWrite)
}

// api calls the REST API and fails the test unless it answers 2xx.
func (e *env) api(t *testing.T, method, path, token, body string, header ...string) []byte {
	t.Helper()
	resp := e.Do(method, path, token, strings.NewReader(body), header...)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, data)
	}
	return data
}

func (e *env) createRepo(t *testing.T, token string) {
	t.Helper()
	e.api(t, "POST", "/api/v1/repos", token, `{"default_branch":"main"}`)
}

// commit writes files (path → content) to branch in one commit-pack and
// returns the commit id.
func (e *env) commit(t *testing.T, token, branch, message string, files map[string]string) string {
	t.Helper()
	type file struct {
		Path      string `json:"path"`
		ContentID string `json:"content_id"`
		Operation string `json:"operation"`
		Mode      string `json:"mode"`
	}
	var list []file
	var chunks []string
	i := 0
	for p, content := range files {
		id := "c" + string(rune('a'+i))
		i++
		list = append(list, file{Path: p, ContentID: id, Operation: "upsert", Mode: "100644"})
		c, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": id, "data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}})
		chunks = append(chunks, string(c))
	}
	meta, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"target_branch":  branch,
		"commit_message": message,
		"author":         map[string]string{"name": "Ada & \"Lovelace\"", "email": "ada@example.com"},
		"files":          list,
	}})
	data := e.api(t, "POST", "/api/v1/repos/commit-pack", token, string(meta)+"\n"+strings.Join(chunks, "\n")+"\n", "Content-Type", "application/x-ndjson")
	var ack struct {
		Commit struct {
			SHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	if err := json.Unmarshal(data, &ack); err != nil || len(ack.Commit.SHA) != 40 {
		t.Fatalf("commit-pack: no commit id in %s", data)
	}
	return ack.Commit.SHA
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each answer as it is.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newBrowser(t *testing.T, e *env) *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.Client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, base: e.URL, client: &c}
}

// page is one answer, its body read.
type page struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{Response: resp, body: string(data)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// login signs in with token and fails unless it is accepted.
func (b *browser) login(token string) page {
	b.t.Helper()
	p := b.post("/ui/login", url.Values{"token": {token}})
	if p.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: %s\n%s", p.Status, p.body)
	}
	return p
}

// ui builds a /ui/ path with a query.
func ui(page string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return "/ui/" + page + "?" + q.Encode()
}

// mustStatus fails unless the page answered status.
func (p page) mustStatus(t *testing.T, status int) page {
	t.Helper()
	if p.StatusCode != status {
		t.Fatalf("%s %s: status %s, want %d\n%s", p.Request.Method, p.Request.URL, p.Status, status, p.body)
	}
	return p
}

// contains fails unless the body holds every string.
func (p page) contains(t *testing.T, want ...string) page {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Errorf("%s: body lacks %q\n%s", p.Request.URL, w, p.body)
		}
	}
	return p
}

// lacks fails if the body holds any of the strings.
func (p page) lacks(t *testing.T, unwanted ...string) page {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(p.body, u) {
			t.Errorf("%s: body holds %q\n%s", p.Request.URL, u, p.body)
		}
	}
	return p
}
