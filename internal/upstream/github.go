package upstream

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-storage/strata/internal/gitcred"
)

// Timings of the GitHub App's credentials.
const (
	// jwtBackdate is how far in the past an App JWT's iat lies, so a
	// GitHub clock slightly behind ours still accepts it.
	jwtBackdate = 60 * time.Second
	// jwtLifetime is from iat to exp: GitHub refuses more than 10 minutes.
	jwtLifetime = 10 * time.Minute
	// tokenMargin: a cached installation token is used until this long
	// before it expires, so it never expires during a fetch that starts
	// with it.
	tokenMargin = 5 * time.Minute
	// installationTTL is how long a repository's installation id is
	// remembered: an App uninstalled and installed again gets a new id.
	installationTTL = 10 * time.Minute
)

// GitHubTokenUser is the user name git presents with an installation
// token.
const GitHubTokenUser = "x-access-token"

// Doer sends HTTP requests: the outbound client (policy, timeout, size
// limit).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// GitHubApp mints installation access tokens of a GitHub App, for private
// GitHub repositories: it finds the App's installation on a repository
// (GET /repos/{owner}/{repo}/installation, authenticated with a JWT signed
// by the App's key) and exchanges a JWT for the installation's token
// (POST /app/installations/{id}/access_tokens), which it caches until
// shortly before it expires. Tokens are not narrowed to one repository or
// to read access: one token per installation serves every repository of
// it, for fetches and pushes alike.
//
// Neither the key, a JWT nor a token ever appears in an error. It is safe
// for concurrent use.
type GitHubApp struct {
	api    *url.URL
	appID  string
	key    *rsa.PrivateKey
	client Doer
	now    func() time.Time

	mu            sync.Mutex
	installations map[string]installation // "owner/repo" -> installation
	tokens        map[int64]appToken      // installation id -> token
	minting       map[int64]*mint         // installation id -> mint in flight
}

type installation struct {
	id      int64
	fetched time.Time
}

type appToken struct {
	token     gitcred.Password
	expiresAt time.Time
}

// mint is one token request in flight; others wanting the same
// installation's token wait for it rather than mint their own.
type mint struct {
	done chan struct{}
	tok  appToken
	err  error
}

// NewGitHubApp returns the token source of App appID (its id or client
// id) with key, talking to GitHub's REST API at api (https://api.github.com,
// or https://HOST/api/v3 for GitHub Enterprise) through client.
func NewGitHubApp(api *url.URL, appID string, key *rsa.PrivateKey, client Doer) *GitHubApp {
	return &GitHubApp{api: api, appID: appID, key: key, client: client, now: time.Now,
		installations: map[string]installation{}, tokens: map[int64]appToken{}, minting: map[int64]*mint{}}
}

// LoadGitHubAppKey reads the App's RSA private key from a PEM file
// (PKCS #1, as GitHub issues it, or PKCS #8).
func LoadGitHubAppKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("GitHub App key: %w", err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(b)
	if err != nil {
		return nil, fmt.Errorf("GitHub App key %s: not an RSA private key in PEM", path)
	}
	return key, nil
}

// Credential returns a credential for git to fetch from (or push to) the
// GitHub repository owner/repo: an installation token of the App, with the
// user name x-access-token.
func (a *GitHubApp) Credential(ctx context.Context, owner, repo string) (*gitcred.Credential, error) {
	tok, err := a.Token(ctx, owner, repo)
	if err != nil {
		return nil, err
	}
	return &gitcred.Credential{Info: gitcred.Info{Username: GitHubTokenUser}, Password: tok}, nil
}

// Token returns an installation access token of the App's installation on
// owner/repo, cached until tokenMargin before it expires.
func (a *GitHubApp) Token(ctx context.Context, owner, repo string) (gitcred.Password, error) {
	id, err := a.installation(ctx, owner, repo)
	if err != nil {
		return "", err
	}
	for {
		a.mu.Lock()
		if t, ok := a.tokens[id]; ok && a.now().Before(t.expiresAt.Add(-tokenMargin)) {
			a.mu.Unlock()
			return t.token, nil
		}
		m, inFlight := a.minting[id]
		if !inFlight {
			m = &mint{done: make(chan struct{})}
			a.minting[id] = m
		}
		a.mu.Unlock()
		if inFlight {
			select {
			case <-m.done:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if m.err == nil {
				return m.tok.token, nil
			}
			continue // its caller's context may have ended it: try ourselves
		}
		m.tok, m.err = a.mint(ctx, id)
		a.mu.Lock()
		delete(a.minting, id)
		if m.err == nil {
			a.tokens[id] = m.tok
		}
		a.mu.Unlock()
		close(m.done)
		if m.err != nil {
			return "", fmt.Errorf("GitHub App: installation token for %s/%s: %w", owner, repo, m.err)
		}
		return m.tok.token, nil
	}
}

// installation returns the id of the App's installation on owner/repo.
func (a *GitHubApp) installation(ctx context.Context, owner, repo string) (int64, error) {
	name := owner + "/" + repo
	now := a.now()
	a.mu.Lock()
	inst, ok := a.installations[name]
	a.mu.Unlock()
	if ok && now.Sub(inst.fetched) < installationTTL {
		return inst.id, nil
	}
	var body struct {
		ID int64 `json:"id"`
	}
	path := "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/installation"
	if err := a.call(ctx, http.MethodGet, path, http.StatusOK, &body); err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusNotFound {
			err = fmt.Errorf("the App is not installed on the repository, or the repository does not exist (%w)", err)
		}
		return 0, fmt.Errorf("GitHub App: find the installation on %s: %w", name, err)
	}
	if body.ID <= 0 {
		return 0, fmt.Errorf("GitHub App: find the installation on %s: the answer has no installation id", name)
	}
	a.mu.Lock()
	for n, i := range a.installations { // forget stale entries
		if now.Sub(i.fetched) >= installationTTL {
			delete(a.installations, n)
		}
	}
	a.installations[name] = installation{id: body.ID, fetched: now}
	a.mu.Unlock()
	return body.ID, nil
}

// mint asks GitHub for a new token of installation id.
func (a *GitHubApp) mint(ctx context.Context, id int64) (appToken, error) {
	var body struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := a.call(ctx, http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", id), http.StatusCreated, &body); err != nil {
		return appToken{}, err
	}
	if body.Token == "" || body.ExpiresAt.IsZero() {
		return appToken{}, errors.New("the answer has no token or no expires_at")
	}
	if strings.ContainsFunc(body.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// git's credential protocol is line-based: never feed it one.
		return appToken{}, errors.New("the answer's token holds control characters or spaces")
	}
	return appToken{token: gitcred.Password(body.Token), expiresAt: body.ExpiresAt}, nil
}

// statusError is an API answer with an unexpected status.
type statusError struct {
	status  int
	message string // GitHub's "message", sanitised
}

func (e *statusError) Error() string {
	if e.message == "" {
		return fmt.Sprintf("HTTP %d", e.status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.message)
}

// call sends an App-authenticated request to the API and decodes the JSON
// answer into out when the status is want.
func (a *GitHubApp) call(ctx context.Context, method, path string, want int, out any) error {
	signed, err := a.jwt()
	if err != nil {
		return err
	}
	u := *a.api
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+signed)
	resp, err := a.client.Do(req)
	if err != nil {
		// *url.Error names the URL, never a header.
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var msg struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&msg)
		return &statusError{status: resp.StatusCode, message: sanitize(msg.Message, signed)}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %v", method, u.Redacted(), err)
	}
	return nil
}

// jwt signs a fresh App JWT (RS256): iss the App, iat a minute ago, exp
// jwtLifetime after iat.
func (a *GitHubApp) jwt() (string, error) {
	iat := a.now().Add(-jwtBackdate).Truncate(time.Second)
	claims := jwt.RegisteredClaims{
		Issuer:    a.appID,
		IssuedAt:  jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(iat.Add(jwtLifetime)),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.key)
	if err != nil {
		return "", errors.New("GitHub App: sign the App JWT failed")
	}
	return signed, nil
}

// sanitize keeps an API error message short and printable, and never lets
// a server that echoes our JWT put it into an error.
func sanitize(msg, secret string) string {
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	msg = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, msg)
	if r := []rune(msg); len(r) > 200 {
		msg = string(r[:200]) + "…"
	}
	return strings.TrimSpace(msg)
}
