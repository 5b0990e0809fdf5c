package upstream_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
	"github.com/strata-storage/strata/internal/servertest"
	"github.com/strata-storage/strata/internal/upstream"
)

const fakeAppID = "314159"

// fakeGitHub is GitHub as a GitHub App sees it, on loopback over TLS: the
// two REST endpoints of the token exchange under /api/v3 (GitHub
// Enterprise's layout), each checking the App JWT's RS256 signature with
// the App's public key, its issuer and its times; and git http-backend
// for /{owner}/{repo}.git, which asks private repositories for basic auth
// x-access-token:<an unexpired token it minted>. Repositories live in the
// origin's root, so origin's helpers build them.
type fakeGitHub struct {
	t       *testing.T
	o       *origin
	srv     *httptest.Server
	caFile  string
	key     *rsa.PrivateKey
	keyFile string

	// clock is the fake's time (JWT checks, token expiry).
	clock func() time.Time
	// ttl is the lifetime of minted tokens.
	ttl atomic.Int64

	lookups, mints, badJWTs atomic.Int64
	// authedPublic counts git requests for public repositories that
	// carried credentials.
	authedPublic atomic.Int64

	mu            sync.Mutex
	installations map[string]int64     // "owner/repo" -> installation id
	public        map[string]bool      // "owner/repo" served without auth
	tokens        map[string]time.Time // minted token -> expiry
	gitHits       map[string]int       // "owner/repo" -> git requests
	// echo: repositories whose installation lookup fails with a 403
	// whose message repeats the request's Authorization header.
	echo map[string]bool
}

// newFakeGitHub starts the fake; clock, when given, is its time instead
// of time.Now.
func newFakeGitHub(t *testing.T, clock ...func() time.Time) *fakeGitHub {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGitHub{t: t, o: newOrigin(t), key: key, clock: time.Now,
		installations: map[string]int64{}, public: map[string]bool{}, tokens: map[string]time.Time{}, echo: map[string]bool{}, gitHits: map[string]int{}}
	if len(clock) > 0 {
		g.clock = clock[0]
	}
	g.ttl.Store(int64(time.Hour))
	g.keyFile = filepath.Join(t.TempDir(), "app.pem")
	der := x509.MarshalPKCS1PrivateKey(key) // as GitHub issues it
	if err := os.WriteFile(g.keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + g.o.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/installation", g.installation)
	mux.HandleFunc("POST /api/v3/app/installations/{id}/access_tokens", g.accessToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { g.git(w, r, backend) })
	g.srv = httptest.NewTLSServer(mux)
	t.Cleanup(g.srv.Close)
	g.caFile = filepath.Join(t.TempDir(), "github-ca.pem")
	if err := os.WriteFile(g.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *fakeGitHub) apiURL() string { return g.srv.URL + "/api/v3" }

// install puts the App on owner/repo as installation id.
func (g *fakeGitHub) install(owner, repo string, id int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.installations[owner+"/"+repo] = id
}

func (g *fakeGitHub) makePublic(owner, repo string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.public[owner+"/"+repo] = true
}

// minted returns every token minted so far.
func (g *fakeGitHub) minted() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for tok := range g.tokens {
		out = append(out, tok)
	}
	return out
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// checkApp verifies the request is the App's: GitHub's headers and a JWT
// signed with its key, issued by it, valid now and for 10 minutes at most.
func (g *fakeGitHub) checkApp(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		apiError(w, http.StatusBadRequest, "missing GitHub headers")
		return false
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var claims jwt.RegisteredClaims
	if ok {
		_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return &g.key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(fakeAppID), jwt.WithIssuedAt(),
			jwt.WithExpirationRequired(), jwt.WithTimeFunc(g.clock))
		ok = err == nil && claims.IssuedAt != nil && claims.ExpiresAt.Sub(claims.IssuedAt.Time) <= 10*time.Minute
	}
	if !ok {
		g.badJWTs.Add(1)
		apiError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
	}
	return ok
}

func (g *fakeGitHub) installation(w http.ResponseWriter, r *http.Request) {
	if !g.checkApp(w, r) {
		return
	}
	g.lookups.Add(1)
	name := r.PathValue("owner") + "/" + r.PathValue("repo")
	g.mu.Lock()
	id, ok := g.installations[name]
	echo := g.echo[name]
	g.mu.Unlock()
	switch {
	case echo:
		apiError(w, http.StatusForbidden, "you sent "+r.Header.Get("Authorization"))
	case !ok:
		apiError(w, http.StatusNotFound, "Not Found")
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": id, "app_id": fakeAppID, "account": map[string]any{"login": r.PathValue("owner")}})
	}
}

func (g *fakeGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	if !g.checkApp(w, r) {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	g.mu.Lock()
	known := false
	for _, i := range g.installations {
		known = known || i == id
	}
	g.mu.Unlock()
	if !known {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	g.mints.Add(1)
	b := make([]byte, 18)
	rand.Read(b)
	tok := "ghs_" + hex.EncodeToString(b)
	exp := g.clock().Add(time.Duration(g.ttl.Load())).UTC().Truncate(time.Second)
	g.mu.Lock()
	g.tokens[tok] = exp
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339),
		"permissions": map[string]string{"contents": "write", "metadata": "read"}, "repository_selection": "all"})
}

// git serves /{owner}/{repo}.git/...: public repositories to anyone,
// private ones to x-access-token with a live minted token.
func (g *fakeGitHub) git(w http.ResponseWriter, r *http.Request, backend http.Handler) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) < 3 || !strings.HasSuffix(parts[1], ".git") {
		http.NotFound(w, r)
		return
	}
	name := parts[0] + "/" + strings.TrimSuffix(parts[1], ".git")
	user, pass, hasAuth := r.BasicAuth()
	g.mu.Lock()
	g.gitHits[name]++
	public := g.public[name]
	exp, minted := g.tokens[pass]
	g.mu.Unlock()
	if public {
		if hasAuth || r.Header.Get("Authorization") != "" {
			g.authedPublic.Add(1)
		}
	} else if !hasAuth || user != upstream.GitHubTokenUser || !minted || !g.clock().Before(exp) {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		http.Error(w, "Invalid username or token.", http.StatusUnauthorized)
		return
	}
	backend.ServeHTTP(w, r)
}

// startWithApp runs a Strata whose GitHub is the fake, with the App
// configured when app.
func startWithGitHub(t *testing.T, g *fakeGitHub, app bool) *strata {
	t.Helper()
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.Outbound.AllowPrivate = true
		c.Outbound.CAFile = g.caFile
		c.Sync.GitHubURL = g.srv.URL
		c.Sync.GitHubAPIURL = g.apiURL()
		if app {
			c.Sync.GitHubAppID = fakeAppID
			c.Sync.GitHubAppKey = g.keyFile
		}
	}))
	return &strata{Server: srv, t: t}
}

// createGitHub creates repository id following GitHub's owner/name;
// authType "" asks for the App.
func (s *strata) createGitHub(id, owner, name, authType string) (int, map[string]any) {
	s.t.Helper()
	base := map[string]any{"provider": "github", "owner": owner, "name": name, "default_branch": "main"}
	if authType != "" {
		base["auth"] = map[string]any{"auth_type": authType}
	}
	return s.call("POST", "/api/repos", s.Token(id, auth.ScopeRepoWrite), map[string]any{"default_branch": "main", "base_repo": base})
}

// storedBase reads the repository's base repository from the server's
// metadata.
func (s *strata) storedBase(id string) *metadata.BaseRepo {
	s.t.Helper()
	db, err := metadata.OpenSQLite(filepath.Join(s.DataDir, "strata.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	m, err := db.Repo(context.Background(), s.Org, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return m.BaseRepo
}

// checkNoSecrets fails if text holds a minted token, a JWT or the key.
func checkNoSecrets(t *testing.T, what, text string, g *fakeGitHub) {
	t.Helper()
	for _, tok := range g.minted() {
		if strings.Contains(text, tok) {
			t.Errorf("%s holds an installation token", what)
		}
	}
	if strings.Contains(text, "eyJ") || strings.Contains(text, "PRIVATE KEY") {
		t.Errorf("%s holds a JWT or the key:\n%s", what, text)
	}
}

// TestGitHubApp_sync: with a GitHub App, a private GitHub repository
// syncs with an installation token (refs and bytes equal GitHub's); the
// next sync reuses the cached token; a public repository syncs with no
// token and no API call; a repository the App is not installed on fails
// with a clear error and no secret in the logs.
func TestGitHubApp_sync(t *testing.T) {
	t.Parallel()
	g := newFakeGitHub(t)
	g.o.create("octo", "private")
	g.o.commit("private", "main", map[string]string{"README.md": "secret v1\n", "bin/data": "\x00\x01\x02binary\n"})
	g.o.commit("private", "feature", map[string]string{"f.txt": "f\n"})
	g.o.git("private", "checkout", "-q", "main")
	g.o.git("private", "tag", "-a", "-m", "one", "v1")
	g.o.push("private")
	g.install("octo", "private", 42)
	g.o.create("octo", "open")
	g.o.commit("open", "main", map[string]string{"a.txt": "public\n"})
	g.makePublic("octo", "open")
	s := startWithGitHub(t, g, true)

	const id = "gh/private"
	if status, body := s.createGitHub(id, "octo", "private", ""); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	s.waitRefs(id, g.o.peeled("octo", "private"))
	for path, want := range map[string]string{"README.md": "secret v1\n", "bin/data": "\x00\x01\x02binary\n"} {
		resp := s.Do("GET", "/api/repos/"+url.PathEscape(id)+"/file?path="+url.QueryEscape(path), s.Token(id, auth.ScopeGitRead), nil)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != want {
			t.Errorf("%s = %q after sync, want %q", path, got, want)
		}
	}
	if b := s.storedBase(id); b.AuthType != metadata.AuthGitHubApp {
		t.Errorf("stored auth type %q, want %q", b.AuthType, metadata.AuthGitHubApp)
	}

	// The upstream moves; the second sync reuses the token.
	g.o.commit("private", "main", map[string]string{"README.md": "secret v2\n"})
	s.pull(id, nil)
	st := s.syncState(id, 2)
	if st.LastError != "" {
		t.Fatalf("second sync: %s", st.LastError)
	}
	s.waitRefs(id, g.o.peeled("octo", "private"))
	if n := g.mints.Load(); n != 1 {
		t.Errorf("%d tokens minted for two syncs, want 1 (cached)", n)
	}
	if n := g.badJWTs.Load(); n != 0 {
		t.Errorf("%d requests with a bad App JWT", n)
	}

	// A public repository: no lookup, no token, no credentials sent.
	lookups, mints := g.lookups.Load(), g.mints.Load()
	if status, body := s.createGitHub("gh/open", "octo", "open", "public"); status != http.StatusCreated {
		t.Fatalf("create public: %d %v", status, body)
	}
	s.waitRefs("gh/open", g.o.peeled("octo", "open"))
	if g.lookups.Load() != lookups || g.mints.Load() != mints || g.authedPublic.Load() != 0 {
		t.Errorf("public sync: %d lookups, %d mints, %d authenticated git requests; want none",
			g.lookups.Load()-lookups, g.mints.Load()-mints, g.authedPublic.Load())
	}
	if b := s.storedBase("gh/open"); b.AuthType != metadata.AuthPublic {
		t.Errorf("stored auth type %q, want public", b.AuthType)
	}

	// Not installed: the sync fails, says why, and leaks nothing.
	if status, body := s.createGitHub("gh/missing", "octo", "missing", ""); status != http.StatusCreated {
		t.Fatalf("create missing: %d %v", status, body)
	}
	st = s.syncState("gh/missing", 1)
	if !strings.Contains(st.LastError, "not installed") || !strings.Contains(st.LastError, "404") || !strings.Contains(st.LastError, "octo/missing") {
		t.Errorf("sync of a repository without the App: last error %q", st.LastError)
	}
	g.mu.Lock()
	hits := g.gitHits["octo/missing"]
	g.mu.Unlock()
	if hits != 0 {
		t.Error("git was run although no token could be had")
	}
	if refs := s.refs("gh/missing"); len(refs) != 0 {
		t.Errorf("refs after a failed sync: %v", refs)
	}
	logs := s.Logs()
	if !strings.Contains(logs, "not installed") {
		t.Errorf("the failure is not logged:\n%s", logs)
	}
	checkNoSecrets(t, "the logs", logs, g)
	checkNoSecrets(t, "the last error", st.LastError, g)

	// The App's token goes to the configured GitHub only.
	status, body := s.call("POST", "/api/repos", s.Token("gh/elsewhere", auth.ScopeRepoWrite), map[string]any{
		"base_repo": map[string]any{"provider": "github", "owner": "octo", "name": "private", "upstream_host": "evil.example.com"},
	})
	if status != http.StatusBadRequest {
		t.Errorf("App repository with an upstream_host: %d %v, want 400", status, body)
	}
}

// TestGitHubApp_reMintsNearExpiry: a token within five minutes of its
// expiry is not used again: each sync mints a new one.
func TestGitHubApp_reMintsNearExpiry(t *testing.T) {
	t.Parallel()
	g := newFakeGitHub(t)
	g.ttl.Store(int64(4 * time.Minute)) // always inside the margin
	g.o.create("octo", "short")
	g.o.commit("short", "main", map[string]string{"a.txt": "1\n"})
	g.install("octo", "short", 7)
	s := startWithGitHub(t, g, true)

	const id = "short-lived"
	if status, body := s.createGitHub(id, "octo", "short", ""); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	s.waitRefs(id, g.o.peeled("octo", "short"))
	g.o.commit("short", "main", map[string]string{"a.txt": "2\n"})
	s.pull(id, nil)
	if st := s.syncState(id, 2); st.LastError != "" {
		t.Fatalf("second sync: %s", st.LastError)
	}
	s.waitRefs(id, g.o.peeled("octo", "short"))
	if n := g.mints.Load(); n != 2 {
		t.Errorf("%d tokens minted, want 2 (the first was near its expiry)", n)
	}
}

// TestGitHubApp_notConfigured: without an App, a GitHub repository that is
// not public is refused with 412 and nothing is created; a public one
// syncs.
func TestGitHubApp_notConfigured(t *testing.T) {
	t.Parallel()
	g := newFakeGitHub(t)
	g.o.create("octo", "open")
	g.o.commit("open", "main", map[string]string{"a.txt": "public\n"})
	g.makePublic("octo", "open")
	s := startWithGitHub(t, g, false)

	for _, authType := range []string{"", "app", "token"} {
		status, body := s.createGitHub("private", "octo", "private", authType)
		if status != http.StatusPreconditionFailed || !strings.Contains(fmt.Sprint(body), "GitHub App") {
			t.Errorf("create with auth_type %q: %d %v, want 412", authType, status, body)
		}
	}
	if status, _ := s.call("GET", "/api/repos/private", s.Token("private", auth.ScopeGitRead), nil); status != http.StatusNotFound {
		t.Errorf("repository after a 412: GET answers %d, want 404", status)
	}
	if status, body := s.createGitHub("open", "octo", "open", "public"); status != http.StatusCreated {
		t.Fatalf("create public: %d %v", status, body)
	}
	s.waitRefs("open", g.o.peeled("octo", "open"))
	if g.lookups.Load()+g.mints.Load()+g.authedPublic.Load() != 0 {
		t.Error("a public repository used the GitHub API or credentials")
	}
}

// newTestApp is a token source talking to the fake through an outbound
// client, with the fake's clock.
func newTestApp(t *testing.T, g *fakeGitHub, clock func() time.Time) *upstream.GitHubApp {
	t.Helper()
	pool, err := outbound.LoadCAFile(g.caFile)
	if err != nil {
		t.Fatal(err)
	}
	client := outbound.New(outbound.Options{AllowPrivate: true, RootCAs: pool})
	t.Cleanup(client.Close)
	key, err := upstream.LoadGitHubAppKey(g.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := url.Parse(g.apiURL() + "/")
	app := upstream.NewGitHubApp(api, fakeAppID, key, client)
	upstream.SetGitHubAppClock(app, clock)
	return app
}

// TestGitHubApp_tokenCache: tokens are cached per installation until five
// minutes before they expire; concurrent callers share one mint; errors
// are clear and carry no secret.
func TestGitHubApp_tokenCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	g := newFakeGitHub(t, clock)
	g.install("octo", "a", 1)
	g.install("octo", "b", 1) // same installation as a
	g.install("other", "c", 2)
	app := newTestApp(t, g, clock)

	tok := func(owner, repo string) string {
		t.Helper()
		p, err := app.Token(ctx, owner, repo)
		if err != nil {
			t.Fatalf("Token(%s/%s): %v", owner, repo, err)
		}
		return p.Reveal()
	}
	first := tok("octo", "a")
	if !strings.HasPrefix(first, "ghs_") || tok("octo", "a") != first || tok("octo", "b") != first {
		t.Fatalf("one installation's token is not reused")
	}
	if g.mints.Load() != 1 {
		t.Fatalf("%d mints, want 1", g.mints.Load())
	}
	other := tok("other", "c")
	if other == first || g.mints.Load() != 2 {
		t.Fatalf("a second installation: token reused or %d mints", g.mints.Load())
	}
	cred, err := app.Credential(ctx, "octo", "a")
	if err != nil || cred.Username != "x-access-token" || cred.Password.Reveal() != first || fmt.Sprint(cred.Password) != "[redacted]" {
		t.Fatalf("Credential = %+v, %v", cred, err)
	}

	// 54 minutes into an hour: still cached. 55 and a second: re-minted.
	advance(54 * time.Minute)
	if tok("octo", "a") != first || g.mints.Load() != 2 {
		t.Fatalf("token re-minted %v before the margin", 6*time.Minute)
	}
	advance(time.Minute + time.Second)
	second := tok("octo", "a")
	if second == first || g.mints.Load() != 3 {
		t.Fatalf("token within 5 minutes of expiry reused (mints %d)", g.mints.Load())
	}

	// Concurrent callers wanting a fresh token share one mint.
	advance(2 * time.Hour)
	before := g.mints.Load()
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Go(func() {
			p, err := app.Token(ctx, "other", "c")
			if err != nil {
				t.Error(err)
			}
			toks[i] = p.Reveal()
		})
	}
	wg.Wait()
	if n := g.mints.Load() - before; n != 1 {
		t.Errorf("8 concurrent callers minted %d tokens, want 1", n)
	}
	for _, tk := range toks {
		if tk != toks[0] {
			t.Errorf("concurrent callers got different tokens")
		}
	}

	// Failures: not installed, a server repeating our JWT, an App JWT
	// GitHub refuses (another key). None carries a secret.
	_, err = app.Token(ctx, "octo", "nope")
	if err == nil || !strings.Contains(err.Error(), "octo/nope") || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("not installed: %v", err)
	}
	checkNoSecrets(t, "the not-installed error", fmt.Sprint(err), g)
	g.mu.Lock()
	g.installations["octo/echo"], g.echo["octo/echo"] = 3, true
	g.mu.Unlock()
	_, err = app.Token(ctx, "octo", "echo")
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("echoing server: %v", err)
	}
	checkNoSecrets(t, "the echo error", fmt.Sprint(err), g)

	other2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := url.Parse(g.apiURL())
	pool, _ := outbound.LoadCAFile(g.caFile)
	client := outbound.New(outbound.Options{AllowPrivate: true, RootCAs: pool})
	defer client.Close()
	wrong := upstream.NewGitHubApp(api, fakeAppID, other2, client)
	_, err = wrong.Token(ctx, "octo", "a")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("App JWT signed with another key: %v", err)
	}
	checkNoSecrets(t, "the 401 error", fmt.Sprint(err), g)

	// The policy applies: without AllowPrivate the fake on loopback is
	// never contacted.
	strict := outbound.New(outbound.Options{RootCAs: pool})
	defer strict.Close()
	lookups := g.lookups.Load()
	key, _ := upstream.LoadGitHubAppKey(g.keyFile)
	_, err = upstream.NewGitHubApp(api, fakeAppID, key, strict).Token(ctx, "octo", "a")
	if !errors.Is(err, outbound.ErrRefused) || g.lookups.Load() != lookups {
		t.Errorf("loopback API without AllowPrivate: %v", err)
	}
}
