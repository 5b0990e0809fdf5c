// Package servertest starts a real Strata server on loopback for tests:
// a temporary data dir, a fresh ES256 organisation key, real git. Only
// _test.go files import it.
package servertest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/githttp"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/server"
)

// Server is a running Strata.
type Server struct {
	URL     string // http://127.0.0.1:port (https:// with TLS)
	Org     string
	Key     crypto.Signer
	DataDir string
	Client  *http.Client
	t       testing.TB
	logs    *logBuffer
}

// Option adjusts the configuration before start.
type Option func(*config.Config)

// Start runs a server until the test ends, then checks every repository it
// holds with `git fsck --strict`.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	signer, pub := NewKey(t)
	return start(t, signer, pub, opts)
}

// NewKey makes an ES256 organisation key and writes its public half to a
// file of the test's; it returns the key and that file (for --org).
func NewKey(t testing.TB) (crypto.Signer, string) {
	t.Helper()
	signer, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := auth.WriteKeyPair(filepath.Join(t.TempDir(), "keys"), "test", signer)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pub
}

func start(t testing.TB, signer crypto.Signer, pub string, opts []Option) *Server {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Orgs = []config.OrgKey{{Org: "acme", Path: pub}}
	cfg.LogLevel = "warn"
	for _, o := range opts {
		o(&cfg)
	}
	logs := &logBuffer{}
	// cfg.LogLevel ("warn" unless an option lowers it, to see info lines).
	level := slog.LevelWarn
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(testWriter{t, logs}, &slog.HandlerOptions{Level: level}))
	srv, err := server.New(cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	scheme := "http"
	client := &http.Client{Timeout: 5 * time.Minute}
	if cfg.TLSCert != "" {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	s := &Server{URL: scheme + "://" + srv.Addr().String(), Org: "acme", Key: signer, DataDir: cfg.DataDir, Client: client, t: t, logs: logs}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		s.FsckAll()
	})
	return s
}

// Attach returns a Server for a Strata the test runs by other means (its
// own process, to kill it), at url, whose organisation org trusts key.
func Attach(t testing.TB, url, org string, key crypto.Signer) *Server {
	return &Server{URL: url, Org: org, Key: key, Client: &http.Client{Timeout: 5 * time.Minute}, t: t}
}

// WithConfig edits the configuration.
func WithConfig(fn func(*config.Config)) Option { return Option(fn) }

// WithMetadata keeps the metadata in the store spec names (--metadata):
// a postgres:// URL, from pgtest.New, for PostgreSQL.
func WithMetadata(spec string) Option {
	return func(c *config.Config) { c.Metadata = spec }
}

type testWriter struct {
	t    testing.TB
	logs *logBuffer
}

func (w testWriter) Write(p []byte) (int, error) {
	w.logs.write(p)
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// logBuffer keeps what the server logged (warnings and errors, unless
// the configured level is lower).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) write(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
}

// Logs returns what the server has logged so far at level warn and above,
// or the level an option set in LogLevel (empty for a Server from Attach).
func (s *Server) Logs() string {
	if s.logs == nil {
		return ""
	}
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return s.logs.buf.String()
}

// Token mints a one-hour token for repo with scopes.
func (s *Server) Token(repo string, scopes ...auth.Scope) string {
	return s.TokenWith(auth.Claims{Repo: repo, Scopes: scopes})
}

// TokenWith mints a token from c, filling issuer and TTL when unset.
func (s *Server) TokenWith(c auth.Claims) string {
	s.t.Helper()
	if c.Issuer == "" {
		c.Issuer = s.Org
	}
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	tok, err := auth.Mint(s.Key, c)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// Do sends a request to path (e.g. "/api/v1/repos") with a bearer token.
func (s *Server) Do(method, path, token string, body io.Reader, header ...string) *http.Response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// RepoDirs lists the bare repositories on disk.
func (s *Server) RepoDirs() []string {
	dirs, _ := filepath.Glob(filepath.Join(s.DataDir, "repos", "*", "*.git"))
	return dirs
}

// FsckAll runs `git fsck --strict` on every repository.
func (s *Server) FsckAll() {
	for _, d := range s.RepoDirs() {
		cmd := exec.Command("git", "--git-dir", d, "fsck", "--strict", "--no-progress")
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			s.t.Errorf("git fsck %s: %v\n%s", d, err, out)
		}
	}
}

// Main is the TestMain of a package whose servers accept git pushes: the
// servers install `<os.Executable()> hook proc-receive` as receive-pack's
// hook, so the test binary must act as the strata binary when git calls it.
// It also removes the binary Binary built, and stops PostgreSQL.
func Main(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "hook" {
		if err := githttp.RunHook(os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "strata hook:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// pgtest.Run stops the PostgreSQL server a test started, if any.
	code := pgtest.Run(m)
	removeBinary()
	os.Exit(code)
}
