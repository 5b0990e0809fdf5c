package githttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/packcache"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/signing"
	"github.com/strata-storage/strata/internal/slots"
)

// TokenVerifier turns a JWT into a Principal; *auth.Verifier is one.
type TokenVerifier interface {
	Verify(token string) (*auth.Principal, error)
}

// Limits bound what one Git request may cost. Zero fields take the value
// in DefaultLimits.
type Limits struct {
	// MaxPushBytes caps the pack of one push (receive.maxInputSize; git
	// reports "pack exceeds maximum allowed size"). The request body as a
	// whole is cut off a little above it.
	MaxPushBytes int64
	// MaxRequestBytes caps an upload-pack request body (wants, haves and
	// arguments) after gzip decoding.
	MaxRequestBytes int64
	// MaxConcurrentPacks caps how many packs are generated at once: with
	// the pack cache, pack-objects runs (a fetch served from the cache
	// needs none); without it, upload-pack processes (each with its
	// pack-objects). Further requests queue. With the cache, upload-pack
	// processes, whose negotiation and relaying are cheap, have their own
	// limit: uploadPackFactor times as many.
	MaxConcurrentPacks int
	// MaxConcurrentPacksPerOrg caps the pack generations of one
	// organisation, so one tenant cannot take every slot; 0: half of
	// MaxConcurrentPacks (at least 1).
	MaxConcurrentPacksPerOrg int
	// PackQueueTimeout is how long a request waits in that queue before it
	// is answered 503 with Retry-After.
	PackQueueTimeout time.Duration
	// RequestTimeout bounds one request end to end; git is killed when it
	// expires.
	RequestTimeout time.Duration
	// PackWindowMemory is pack.windowMemory for the pack-objects that
	// upload-pack runs: the delta window's memory per thread.
	PackWindowMemory string
}

// DefaultLimits are used for zero fields; MaxConcurrentPacks defaults to
// four times the number of CPUs (at least 8). A slot is held for the whole
// download, and git does not retry a 503, so a queued clone waits minutes
// rather than failing: measured, 50 concurrent 100 MB clones on 2 cores
// lost 3–8 of 50 with 4 slots and a 30 s wait.
var DefaultLimits = Limits{
	MaxPushBytes:     2 << 30,
	MaxRequestBytes:  64 << 20,
	PackQueueTimeout: 5 * time.Minute,
	RequestTimeout:   time.Hour,
	PackWindowMemory: "256m",
}

// uploadPackFactor is how many more upload-pack processes than pack
// generations may run at once when the pack cache is on. Such an
// upload-pack negotiates and relays (cheap) and waits, as a process, for
// its pack-objects' slot; the bound keeps a flood of distinct fetches from
// starting processes without limit.
const uploadPackFactor = 8

// Config is what the Git transport needs from the rest of the server.
type Config struct {
	Verifier TokenVerifier
	Store    metadata.Store
	Repos    *repo.Manager
	Git      *git.Factory
	Logger   *slog.Logger
	Limits   Limits

	// HooksDir receives the proc-receive hook script (core.hooksPath of
	// every receive-pack). It must allow executing files.
	HooksDir string
	// HookExecutable is the strata binary the hook script runs as
	// `<HookExecutable> hook proc-receive`; empty means os.Executable().
	// A test binary used here must dispatch that call to RunHook.
	HookExecutable string
	// SocketDir is where each push gets a private directory for the unix
	// socket its hook calls back on; empty means os.TempDir(). Socket paths
	// are limited to about 100 bytes, so it should be short.
	SocketDir string
	// Signing holds the organisations' keys a verify-sig policy accepts
	// (signing.Prepare); the REST API shares it.
	Signing *signing.Keys
	// PackCache serves identical fetches from one pack generation
	// (docs/git-transport.md, "Pack cache"); nil: every fetch runs
	// pack-objects.
	PackCache *packcache.Cache
	// Pushes hears what each push with an applied ref update stored (the
	// maintenance worker, which repacks large ones at once); nil: nobody.
	Pushes PushObserver
}

// Handler serves Git smart HTTP. It is safe for concurrent use.
type Handler struct {
	verifier  TokenVerifier
	store     metadata.Store
	repos     *repo.Manager
	git       *git.Factory
	log       *slog.Logger
	limits    Limits
	hooksDir  string
	socketDir string
	keys      *signing.Keys
	pushes    PushObserver
	packs     *slots.Pool // pack generation slots, global and per organisation
	uploads   *slots.Pool // upload-pack processes, when the pack cache is on
	packCache *packcache.Cache
	hookExe   string // the strata binary, for uploadpack.packObjectsHook
}

// New checks cfg and installs the hook script.
func New(cfg Config) (*Handler, error) {
	if cfg.Verifier == nil || cfg.Store == nil || cfg.Repos == nil || cfg.Git == nil {
		return nil, errors.New("githttp: Verifier, Store, Repos and Git are required")
	}
	if cfg.HooksDir == "" || cfg.Signing == nil {
		return nil, errors.New("githttp: HooksDir and Signing are required")
	}
	h := &Handler{
		verifier:  cfg.Verifier,
		store:     cfg.Store,
		repos:     cfg.Repos,
		git:       cfg.Git,
		log:       cfg.Logger,
		limits:    withDefaults(cfg.Limits),
		socketDir: cfg.SocketDir,
		keys:      cfg.Signing,
		packCache: cfg.PackCache,
		pushes:    cfg.Pushes,
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.socketDir == "" {
		h.socketDir = os.TempDir()
	}
	h.packs = slots.New(h.limits.MaxConcurrentPacks, h.limits.MaxConcurrentPacksPerOrg)
	h.uploads = slots.New(uploadPackFactor*h.limits.MaxConcurrentPacks, uploadPackFactor*h.limits.MaxConcurrentPacksPerOrg)
	var err error
	if h.hooksDir, err = filepath.Abs(cfg.HooksDir); err != nil {
		return nil, fmt.Errorf("githttp: hooks dir: %w", err)
	}
	exe := cfg.HookExecutable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("githttp: locate the strata binary for the push hook: %w", err)
		}
	}
	h.hookExe = exe
	if err := installHook(h.hooksDir, exe); err != nil {
		return nil, err
	}
	return h, nil
}

func withDefaults(l Limits) Limits {
	d := DefaultLimits
	if l.MaxPushBytes <= 0 {
		l.MaxPushBytes = d.MaxPushBytes
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	if l.MaxConcurrentPacks <= 0 {
		l.MaxConcurrentPacks = max(8, 4*runtime.NumCPU())
	}
	if l.MaxConcurrentPacksPerOrg <= 0 {
		l.MaxConcurrentPacksPerOrg = max(1, l.MaxConcurrentPacks/2)
	}
	l.MaxConcurrentPacksPerOrg = min(l.MaxConcurrentPacksPerOrg, l.MaxConcurrentPacks)
	if l.PackQueueTimeout <= 0 {
		l.PackQueueTimeout = d.PackQueueTimeout
	}
	if l.RequestTimeout <= 0 {
		l.RequestTimeout = d.RequestTimeout
	}
	if l.PackWindowMemory == "" {
		l.PackWindowMemory = d.PackWindowMemory
	}
	return l
}

// request is an authorised Git request on one repository.
type request struct {
	route     route
	service   string
	principal *auth.Principal
	meta      metadata.Repo
	repo      *repo.Repo
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, err := parseRoute(r.URL.EscapedPath())
	if err != nil {
		h.fail(w, r, &httpError{status: http.StatusNotFound, msg: "not found"})
		return
	}
	svc := rt.service
	if rt.infoRefs {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			h.fail(w, r, &httpError{status: http.StatusMethodNotAllowed, msg: "method not allowed"})
			return
		}
		svc = r.URL.Query().Get("service")
		if svc != serviceUploadPack && svc != serviceReceivePack {
			h.fail(w, r, &httpError{status: http.StatusForbidden, msg: "only the smart HTTP protocol is served: use git 1.6.6 or newer"})
			return
		}
	} else if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		h.fail(w, r, &httpError{status: http.StatusMethodNotAllowed, msg: "method not allowed"})
		return
	}
	req, herr := h.authorize(r, rt, svc)
	if herr != nil {
		h.fail(w, r, herr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.limits.RequestTimeout)
	defer cancel()
	switch {
	case rt.infoRefs:
		h.advertise(ctx, w, r, req)
	case svc == serviceUploadPack:
		h.uploadPack(ctx, w, r, req)
	default:
		h.receivePack(ctx, w, r, req)
	}
}

// authorize applies spec §6.2 in order: credentials (401 with a Basic
// challenge, which libcurl needs before it sends the token embedded in the
// URL), scope and repo claim (403), the push-only import remote (403), then
// the repository itself (404).
func (h *Handler) authorize(r *http.Request, rt route, svc string) (*request, *httpError) {
	token, ok := credentials(r)
	if !ok {
		return nil, &httpError{status: http.StatusUnauthorized, msg: "authentication required: use the token as the password"}
	}
	p, err := h.verifier.Verify(token)
	if err != nil {
		return nil, &httpError{status: http.StatusUnauthorized, msg: "invalid token", cause: err}
	}
	scope := auth.ScopeGitRead
	if svc == serviceReceivePack {
		scope = auth.ScopeGitWrite
	}
	if !p.Has(scope) {
		return nil, &httpError{status: http.StatusForbidden, msg: fmt.Sprintf("token lacks the %s scope", scope)}
	}
	if p.Repo != rt.repoID {
		return nil, &httpError{status: http.StatusForbidden, msg: "token is not valid for this repository"}
	}
	if rt.remote == remoteImport && svc == serviceUploadPack {
		return nil, &httpError{status: http.StatusForbidden, msg: "the +import remote is push-only"}
	}
	meta, err := h.store.Repo(r.Context(), p.Org, rt.repoID)
	if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrDeleted) {
		return nil, &httpError{status: http.StatusNotFound, msg: "repository not found"}
	}
	if err != nil {
		return nil, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err}
	}
	rp, err := h.repos.Open(r.Context(), meta.StorageKey)
	if errors.Is(err, repo.ErrUnavailable) {
		return nil, &httpError{status: http.StatusServiceUnavailable, msg: "storage temporarily unavailable; retry", cause: err}
	}
	if errors.Is(err, repo.ErrNotFound) {
		return nil, &httpError{status: http.StatusNotFound, msg: "repository not found"}
	}
	if err != nil {
		return nil, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err}
	}
	return &request{route: rt, service: svc, principal: p, meta: meta, repo: rp}, nil
}

// credentials returns the token from HTTP Basic (any user name, the token
// as password, as the SDK's remote URLs carry it) or from a Bearer header.
func credentials(r *http.Request) (string, bool) {
	scheme, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch strings.ToLower(scheme) {
	case "basic":
		_, pw, ok := r.BasicAuth()
		pw = strings.TrimSpace(pw)
		return pw, ok && pw != ""
	case "bearer":
		t := strings.TrimSpace(rest)
		return t, t != ""
	}
	return "", false
}
