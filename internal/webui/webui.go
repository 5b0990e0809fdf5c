// Package webui is the read-only web view under /ui/: server-rendered
// html/template pages (every value auto-escaped, no script, no external
// asset) for a person who wants to look at a repository — its files,
// history, diffs, branches and tags — with the token they would give the
// API. A token pasted into the sign-in form is verified, then kept in a
// cookie scoped to /ui/; every page verifies it again and applies the
// API's rules (organisation from the token, the repository lookup by org
// and id, git:read on the token's own repository).
package webui

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// Verifier checks a token; *auth.Verifier is one.
type Verifier interface {
	Verify(token string) (*auth.Principal, error)
}

// Store is the part of the metadata store the web view reads.
type Store interface {
	Repo(ctx context.Context, org, id string) (metadata.Repo, error)
	ListRepos(ctx context.Context, org string, opt metadata.ListReposOptions) ([]metadata.Repo, bool, error)
}

// Repos opens a repository by storage key; *repo.Manager is one.
type Repos interface {
	Open(ctx context.Context, key string) (*repo.Repo, error)
}

// Config is what the web view needs from the composition root: the
// API's own verifier, store and repository manager, so that both doors
// decide alike.
type Config struct {
	Verifier Verifier
	Store    Store
	Repos    Repos
	Logger   *slog.Logger
}

// Handler serves /ui/. It is safe for concurrent use.
type Handler struct {
	verifier Verifier
	store    Store
	repos    Repos
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
}

//go:embed templates/*.html
var templateFS embed.FS

// New builds the handler; its templates are parsed once here.
func New(cfg Config) *Handler {
	h := &Handler{verifier: cfg.Verifier, store: cfg.Store, repos: cfg.Repos, log: cfg.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.pages = parsePages()
	// Sign-in and sign-out are the only requests that change anything, so
	// they are the only ones that need CSRF protection. Without it another
	// site could sign a visitor in with the attacker's token.
	csrf := http.NewCrossOriginProtection()
	h.mux.HandleFunc("GET /ui/{$}", h.page(h.home))
	h.mux.HandleFunc("GET /ui/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	})
	h.mux.Handle("POST /ui/login", csrf.Handler(http.HandlerFunc(h.login)))
	h.mux.Handle("POST /ui/logout", csrf.Handler(http.HandlerFunc(h.logout)))
	h.mux.HandleFunc("GET /ui/tree", h.page(h.repoPage(h.tree)))
	h.mux.HandleFunc("GET /ui/blob", h.page(h.repoPage(h.blob)))
	h.mux.HandleFunc("GET /ui/raw", h.page(h.repoPage(h.raw)))
	h.mux.HandleFunc("GET /ui/commits", h.page(h.repoPage(h.commits)))
	h.mux.HandleFunc("GET /ui/commit", h.page(h.repoPage(h.commit)))
	h.mux.HandleFunc("GET /ui/branches", h.page(h.repoPage(h.branches)))
	h.mux.HandleFunc("GET /ui/tags", h.page(h.repoPage(h.tags)))
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, nil, &pageError{status: http.StatusNotFound, msg: "There is no such page."})
	})
	return h
}

// ServeHTTP sets the headers every answer carries, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// No script may run and nothing may load from anywhere; render adds
	// its one inline style element by nonce.
	hd.Set("Content-Security-Policy", cspFor(""))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	// Pages show private repositories: no shared cache may keep them, and
	// after signing out the back button must not show them either.
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// cspFor is the pages' policy, allowing the style element with nonce.
func cspFor(nonce string) string {
	style := ""
	if nonce != "" {
		style = "style-src 'nonce-" + nonce + "'; "
	}
	return "default-src 'none'; " + style + "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
}

func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) // plain alphanumerics: nothing for the template to escape
}

// pageError is a failure the visitor is told about as it is.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// errSignedOut: no session cookie; the sign-in page is the answer.
var errSignedOut = errors.New("signed out")

// page adapts a handler that needs a signed-in principal: without a
// valid session it answers with the sign-in page, on failure with an
// error page.
func (h *Handler) page(fn func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := h.session(w, r)
		switch {
		case errors.Is(err, errSignedOut) && r.URL.Path == "/ui/":
			// The front door: not an error, just the form.
			h.renderLogin(w, r, http.StatusOK, "")
			return
		case errors.Is(err, errSignedOut):
			h.renderLogin(w, r, http.StatusUnauthorized, "Sign in to see this page.")
			return
		case err != nil:
			h.renderLogin(w, r, http.StatusUnauthorized, sessionEndedMsg)
			return
		}
		if err := fn(w, r, p); err != nil {
			h.renderError(w, r, p, err)
		}
	}
}

// view is what every page template gets.
type view struct {
	Title     string
	Nonce     string
	Principal *auth.Principal
	Repo      *repoNav // set on the pages of one repository
	Error     string
	Data      any
}

// repoNav is the repository header: its id, the revision being looked at
// and which tab is open.
type repoNav struct {
	ID            string
	DefaultBranch string
	Rev           string
	Tab           string
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, v view) {
	v.Nonce = newNonce()
	t := h.pages[name]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		h.log.Error("web view: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", cspFor(v.Nonce))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// renderError maps an error to a page, the way internal/api/errors.go maps
// it to a status: typed engine and store errors are told, anything else
// is "internal error" and logged.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, p *auth.Principal, err error) {
	status, msg := http.StatusInternalServerError, "Internal error."
	var pe *pageError
	var nf *repo.NotFoundError
	switch {
	case errors.As(err, &pe):
		status, msg = pe.status, pe.msg
	case errors.As(err, &nf):
		status, msg = http.StatusNotFound, "Not found: "+nf.Kind+" "+nf.Name+"."
	case errors.Is(err, repo.ErrNotFound), errors.Is(err, metadata.ErrNotFound), errors.Is(err, metadata.ErrDeleted):
		status, msg = http.StatusNotFound, "Not found."
	case errors.Is(err, git.ErrInvalidPath):
		status, msg = http.StatusBadRequest, "Invalid path."
	case errors.Is(err, context.Canceled):
		return // the visitor left
	default:
		h.log.Error("web view", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h.render(w, status, "error", view{Title: http.StatusText(status), Principal: p, Error: msg})
}

// parsePages builds one template set per page: the shared layout plus
// that page's "content".
func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"link":      link,
		"short":     func(id git.ObjectID) string { return id.Short() },
		"when":      func(t time.Time) string { return t.Format("2006-01-02 15:04 -0700") },
		"size":      humanSize,
		"firstLine": firstLine,
		"base":      path.Base,
		"inc":       func(i int) int { return i + 1 },
		"add":       func(a, b int) int { return a + b },
		"canRead":   canRead,
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "error", "repos", "tree", "blob", "commits", "commit", "branches", "tags"} {
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// link builds a /ui/ URL from a page name and key/value pairs; empty
// values are left out. Values go in the query, percent-encoded, so ids,
// revisions and paths may hold any character, "/" included.
func link(page string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	u := "/ui/" + page
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for ; v >= 1024 && unit < 4; unit++ {
		v /= 1024
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[unit])
}
