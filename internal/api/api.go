package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/signing"
	"github.com/strata-storage/strata/internal/slots"
	"github.com/strata-storage/strata/internal/upstream"
	"github.com/strata-storage/strata/internal/webhook"
)

// Limits bound what one request may cost.
type Limits struct {
	// MaxJSONBody caps ordinary JSON request bodies.
	MaxJSONBody int64
	// MaxUploadBody caps a commit-pack or diff-commit stream.
	MaxUploadBody int64
	// MaxLine caps one NDJSON line.
	MaxLine int
	// MaxPatch caps a diff-commit patch: git apply holds it in memory.
	MaxPatch int64
	// HeavyTimeout bounds one grep, blame, archive or diff (heavy.go).
	HeavyTimeout time.Duration
	// MaxHeavy caps heavy requests running at once (0: 2 per CPU, at
	// least 4); MaxHeavyPerOrg one organisation's (0: half, at least 1).
	MaxHeavy, MaxHeavyPerOrg int
	// HeavyQueueTimeout is the longest wait for a heavy slot.
	HeavyQueueTimeout time.Duration
}

// DefaultLimits are used for zero fields.
var DefaultLimits = Limits{MaxJSONBody: 1 << 20, MaxUploadBody: 2 << 30, MaxLine: 8 << 20, MaxPatch: 128 << 20,
	HeavyTimeout: 2 * time.Minute, HeavyQueueTimeout: 30 * time.Second}

// Config is what the API needs from the rest of the server.
type Config struct {
	Verifier *auth.Verifier
	Store    metadata.Store
	Repos    *repo.Manager
	Logger   *slog.Logger
	Limits   Limits
	// Identity authors merges and signs annotated tags and notes commits
	// whose request names no one; zero: repo.DefaultIdentity.
	Identity repo.Signature
	// Signing holds the organisations' keys a verify-sig policy accepts;
	// nil: every update verify-sig governs is refused (fail closed).
	Signing *signing.Keys
	// Credentials stores upstream git credentials (sealed at rest); nil:
	// the git-credentials routes answer 501.
	Credentials *gitcred.Vault
	// Syncs queues upstream syncs.
	Syncs *upstream.Syncer
	// Webhooks manages webhook subscriptions; nil: the webhook routes
	// answer 501.
	Webhooks *webhook.Registry
}

// Handler is the REST API.
type Handler struct {
	verifier *auth.Verifier
	store    metadata.Store
	repos    *repo.Manager
	log      *slog.Logger
	limits   Limits
	identity repo.Signature
	signing  *signing.Keys
	creds    *gitcred.Vault
	syncs    *upstream.Syncer
	hooks    *webhook.Registry
	mux      *http.ServeMux
	// heavySlots bounds concurrent heavy requests (heavy.go).
	heavySlots *slots.Pool
}

// New returns the REST API handler; mount it at the server root (it routes
// /api/v1/... itself).
func New(cfg Config) *Handler {
	h := &Handler{verifier: cfg.Verifier, store: cfg.Store, repos: cfg.Repos, log: cfg.Logger, limits: cfg.Limits, identity: cfg.Identity, signing: cfg.Signing, creds: cfg.Credentials, syncs: cfg.Syncs, mux: http.NewServeMux()}
	h.hooks = cfg.Webhooks
	if h.identity.Name == "" {
		h.identity = repo.DefaultIdentity
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.limits.MaxJSONBody == 0 {
		h.limits.MaxJSONBody = DefaultLimits.MaxJSONBody
	}
	if h.limits.MaxUploadBody == 0 {
		h.limits.MaxUploadBody = DefaultLimits.MaxUploadBody
	}
	if h.limits.MaxPatch == 0 {
		h.limits.MaxPatch = DefaultLimits.MaxPatch
	}
	if h.limits.MaxLine == 0 {
		h.limits.MaxLine = DefaultLimits.MaxLine
	}
	if h.limits.HeavyTimeout == 0 {
		h.limits.HeavyTimeout = DefaultLimits.HeavyTimeout
	}
	if h.limits.HeavyQueueTimeout == 0 {
		h.limits.HeavyQueueTimeout = DefaultLimits.HeavyQueueTimeout
	}
	if h.limits.MaxHeavy <= 0 {
		h.limits.MaxHeavy = defaultHeavy()
	}
	if h.limits.MaxHeavyPerOrg <= 0 {
		h.limits.MaxHeavyPerOrg = max(h.limits.MaxHeavy/2, 1)
	}
	h.heavySlots = slots.New(h.limits.MaxHeavy, h.limits.MaxHeavyPerOrg)
	h.routes()
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}
