// Package server is Strata's composition root: it builds every owner (git
// factory, cat-file pool, metadata store, key set, verifier, engine, REST
// API), serves them on one listener and shuts them down in order.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/api"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/githttp"
	"github.com/strata-storage/strata/internal/maintenance"
	"github.com/strata-storage/strata/internal/mcp"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/orgkeys"
	"github.com/strata-storage/strata/internal/packcache"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/signing"
	"github.com/strata-storage/strata/internal/upstream"
	"github.com/strata-storage/strata/internal/webui"
)

// Server is a configured, not yet serving, Strata.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	out      io.Writer
	store    metadata.Store
	git      *git.Factory
	cache    *catfile.Cache
	packs    *packcache.Cache // nil when the pack cache is off
	repos    *repo.Manager
	maint    *maintenance.Worker // nil when maintenance is disabled
	hooks    *webhooks
	keys     *orgkeys.Source // nil until built
	syncs    *upstream.Syncer
	mirror   *upstream.Mirror
	mirrorM  *mirrorMetrics
	http     *http.Server
	listener net.Listener
	pprof    *pprofServer // nil unless --pprof-addr
	cluster  *clusterMode // nil unless --objects
	// keepMarker leaves the run marker after shutdown, so the next start
	// reconciles again: this start's reconciliation did not finish.
	keepMarker bool
}

// New builds everything and binds the listener. out receives the first-run
// instructions (the dev key and a token command).
func New(cfg config.Config, log *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f, err := git.NewFactory(git.FactoryOptions{Binary: cfg.GitBinary})
	if err != nil {
		return nil, err
	}
	log.Info("git found", "binary", f.Binary(), "version", f.Version().String())
	// Only grep needs PCRE2; without it Strata still serves, and grep
	// answers 501. Say so now rather than on the first grep.
	if ok, err := f.HasPCRE(context.Background()); err != nil {
		log.Warn("could not tell whether git has PCRE2; POST /repos/grep may fail", "err", err)
	} else if !ok {
		log.Warn("git was built without PCRE2: POST /repos/grep will answer 501", "binary", f.Binary())
	}
	// git runs inside repositories with GIT_DIR set, so every path handed
	// to it must be absolute.
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	box, err := loadSecretBox(cfg, log)
	if err != nil {
		return nil, err
	}
	// SQLite in the data dir, or PostgreSQL shared with other Strata
	// processes (--metadata).
	db, err := metadata.Open(context.Background(), cfg.Metadata, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	store := metadata.NewCachedStore(db, 0)
	s := &Server{cfg: cfg, log: log, out: out, store: store, git: f}
	s.cache = catfile.NewCache(f, catfile.Options{})
	if s.hooks, err = newWebhooks(cfg, store, box, log); err != nil {
		s.closeOwners()
		return nil, err
	}
	if s.cluster, err = newCluster(cfg, db, f, s.cache, log); err != nil {
		s.closeOwners()
		return nil, err
	}
	repos, maint, err := newRepos(cfg, f, s.cache, store, log, s.hooks.worker, s.cluster)
	if err != nil {
		s.closeOwners()
		return nil, err
	}
	s.repos, s.maint = repos, maint
	// In the clustered mode a ref update and its events are one database
	// transaction: there is nothing to reconcile after a crash.
	if s.cluster == nil {
		if err := s.startRun(repos); err != nil {
			s.closeOwners()
			return nil, err
		}
	}
	s.maint.Start() // stopped by closeOwners, before the pool and the DB
	s.hooks.worker.Start()
	vault := gitcred.New(store, box)
	if s.syncs, err = newSyncer(cfg, store, repos, f, vault, s.hooks, log); err != nil {
		s.closeOwners()
		return nil, err
	}
	if err := s.syncs.Start(context.Background()); err != nil {
		s.closeOwners()
		return nil, err
	}
	s.mirrorM = newMirrorMetrics(store)
	if s.mirror, err = newMirror(cfg, store, repos, f, s.syncs, s.hooks, s.mirrorM, log); err != nil {
		s.closeOwners()
		return nil, err
	}
	s.mirror.Start() // stopped by closeOwners, before the syncer, the repositories and the DB
	name, email, err := config.ParseIdentity(cfg.Identity)
	if err != nil { // Validate checked it
		s.closeOwners()
		return nil, err
	}
	identity := repo.Signature{Name: name, Email: email}
	// One verifier, so REST and git share its cache of verified tokens;
	// its keys follow `strata org` changes while the server runs.
	keys, verifier, err := newVerifier(cfg, store, s.hooks.client, log, out)
	if err != nil {
		s.closeOwners()
		return nil, err
	}
	s.keys = keys
	keys.Start() // stopped by closeOwners, before the DB
	// One set of keyrings for verify-sig, checked by pushes and REST alike.
	signingKeys, err := signing.Prepare(filepath.Join(cfg.DataDir, "signing"), cfg.OrgSigningKeys)
	if err != nil {
		s.closeOwners()
		return nil, err
	}
	rest := api.New(api.Config{
		Verifier: verifier,
		Store:    store,
		Repos:    repos,
		Logger:   log,
		Limits: api.Limits{MaxJSONBody: cfg.MaxJSONBytes, MaxUploadBody: cfg.MaxUploadBytes,
			HeavyTimeout: cfg.Limits.HeavyTimeout, MaxHeavy: cfg.Limits.MaxHeavy, MaxHeavyPerOrg: cfg.Limits.MaxHeavyPerOrg, HeavyQueueTimeout: cfg.Limits.HeavyQueueTimeout},
		Identity: identity,
		Signing:  signingKeys,
		// Upstream credentials are sealed with the secret key before the
		// store sees them.
		Credentials: vault,
		Webhooks:    s.hooks.registry,
		Syncs:       s.syncs,
	})

	if cfg.Transport.PackCache {
		s.packs, err = packcache.New(packcache.Config{
			Dir:      filepath.Join(cfg.DataDir, "cache", "packs"),
			MaxBytes: cfg.Transport.PackCacheMaxBytes,
			MaxAge:   cfg.Transport.PackCacheMaxAge,
		})
		if err != nil {
			s.closeOwners()
			return nil, err
		}
	}
	// Git smart HTTP (/{repo}.git/...): everything /api/ and /healthz don't take.
	gitHTTP, err := githttp.New(githttp.Config{
		Verifier:  verifier,
		Store:     store,
		Repos:     repos,
		Git:       f,
		Logger:    log,
		HooksDir:  filepath.Join(cfg.DataDir, "hooks"),
		Signing:   signingKeys,
		PackCache: s.packs,
		Pushes:    maintenanceTrigger{w: s.maint},
		Limits: githttp.Limits{
			MaxPushBytes:             cfg.Transport.MaxPushBytes,
			MaxConcurrentPacks:       cfg.Transport.MaxConcurrentPacks,
			MaxConcurrentPacksPerOrg: cfg.Transport.MaxConcurrentPacksPerOrg,
			PackQueueTimeout:         cfg.Transport.PackQueueTimeout,
			RequestTimeout:           cfg.Transport.RequestTimeout,
			PackWindowMemory:         cfg.Transport.PackWindowMemory,
		},
	})
	if err != nil {
		s.closeOwners()
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/api/", rest)
	mux.Handle("/", gitHTTP)
	// MCP for agents: its tools call rest in-process with the caller's token.
	mux.Handle("/mcp", mcp.NewHandler(mcp.HandlerConfig{API: rest, Verifier: verifier, Logger: log}))
	// The read-only web view: the API's verifier, store and repositories.
	mux.Handle("/ui/", webui.New(webui.Config{Verifier: verifier, Store: store, Repos: repos, Logger: log}))
	met := newMetrics(s.cache)
	s.hooks.metrics.register(met.reg)
	s.mirrorM.register(met.reg)
	s.cluster.register(met.reg) // nil-safe
	mux.Handle("GET /metrics", met.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	s.http = &http.Server{
		Handler:           withMiddleware(gitFirst(gitHTTP, mux), log, met, BodyLimits{IdleTimeout: cfg.BodyIdleTimeout, MinRate: cfg.BodyMinRate}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No Read/WriteTimeout: uploads and file streams may be long. Slow
		// clients are bounded by the header timeout, and request bodies by
		// the idle timeout and minimum rate of every body read (body.go).
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.closeOwners()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			s.closeOwners()
			return nil, fmt.Errorf("load TLS key pair: %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.http.TLSConfig)
	}
	s.listener = ln
	if s.pprof, err = listenPprof(cfg.PprofAddr, log); err != nil {
		ln.Close()
		s.closeOwners()
		return nil, err
	}
	return s, nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Serve serves until ctx is cancelled, then shuts down gracefully:
// in-flight requests finish (bounded by ShutdownTimeout), then the cat-file
// pool and the database close. Only a shutdown that let every request
// finish counts as clean and removes the run marker: a request still
// running after the timeout may yet move a ref with the store closed.
func (s *Server) Serve(ctx context.Context) error {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	s.log.Info("serving", "addr", s.listener.Addr().String(), "scheme", scheme, "data_dir", s.cfg.DataDir)
	if s.pprof != nil {
		s.log.Info("serving pprof", "addr", s.pprof.listener.Addr().String())
		s.pprof.start()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.listener) }()
	var err error
	clean := false
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		err = s.http.Shutdown(sctx)
		cancel()
		<-errc
		clean = err == nil
	}
	s.closeOwners()
	if clean {
		s.endRun()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) closeOwners() {
	s.pprof.close() // nil-safe
	// Maintenance first: its running task reads repositories and may
	// still be writing them; nil-safe.
	s.maint.Stop()
	// Push-backs in flight are cancelled; they run again at the next
	// start. Nil-safe.
	s.mirror.Stop()
	// Syncs in flight are cancelled; they run again at the next start.
	s.syncs.Stop()
	s.keys.Stop() // nil-safe; its JWKS fetches use the webhooks' client
	// Webhook attempts in flight are cancelled; they run again at the
	// next start.
	s.hooks.stop()
	s.cluster.close() // nil-safe; compactions use the repositories' caches
	if s.repos != nil {
		s.repos.Close()
	}
	// Pack generations still running are cancelled.
	if s.packs != nil {
		s.packs.Stop()
	}
	if s.cache != nil {
		s.cache.Stop()
	}
	// Requests still running after the shutdown grace lose their git
	// processes: none may outlive the server.
	if s.git != nil {
		s.git.KillAll()
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Error("close metadata store", "err", err)
		}
	}
}

// gitFirst sends the smart-HTTP endpoints to git before the mux sees the
// path, so a repository whose id starts with "api/" or equals "metrics" is
// still reachable over git; no REST route ends like these.
func gitFirst(git, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasSuffix(p, "/info/refs") || strings.HasSuffix(p, "/git-upload-pack") || strings.HasSuffix(p, "/git-receive-pack") {
			git.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}
