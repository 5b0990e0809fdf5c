// Package config holds the server's configuration: defaults, then
// STRATA_* environment variables, then command-line flags, then Validate.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// OrgKey registers one verification key for an organisation.
type OrgKey struct {
	Org  string
	Path string // SPKI PEM public key; its file name (sans extension) is the kid
}

// Config is everything `strata serve` needs.
type Config struct {
	Addr     string
	DataDir  string
	Metadata string // the metadata store (metadata.Open): "" = SQLite in DataDir, or a postgres:// URL shared by several Strata
	Orgs     []OrgKey
	TLSCert  string
	TLSKey   string
	LogLevel string // debug, info, warn, error
	LogJSON  bool
	// PprofAddr, when set, serves net/http/pprof on its own listener.
	// Validate accepts only loopback addresses: profiles reveal memory
	// contents and a CPU profile costs the server, so they are never on
	// the public listener.
	PprofAddr string

	// MaxUploadBytes caps one commit-pack/diff-commit request body.
	MaxUploadBytes int64
	// MaxJSONBytes caps an ordinary JSON request body.
	MaxJSONBytes int64
	// ShutdownTimeout bounds how long in-flight requests may finish.
	ShutdownTimeout time.Duration
	// BodyIdleTimeout is the longest a request body read waits for the
	// client's next bytes; the connection is then closed.
	BodyIdleTimeout time.Duration
	// BodyMinRate (bytes/s) is the average rate a request body must keep
	// after a grace of BodyIdleTimeout; 0 disables it.
	BodyMinRate int64
	// GitBinary is the git executable (default: git on PATH).
	GitBinary string
	// OrgSigningKeys maps an organisation to files of keys whose commit
	// signatures satisfy a verify-sig ref policy: SSH allowed-signers files
	// and/or ASCII-armored OpenPGP public keyrings (told apart by content).
	OrgSigningKeys map[string][]string
	// Identity ("Name <email>") authors merges and signs annotated tags
	// and notes commits whose request names no one.
	Identity string
	// Maintenance configures background repository maintenance.
	Maintenance Maintenance
	// Transport limits Git over HTTP.
	Transport Transport
	// Limits bound heavy REST requests and blob sizes (limits.go).
	Limits Limits
	// Outbound governs requests to tenant-chosen targets (webhooks).
	Outbound Outbound
	// Webhooks configures webhook delivery.
	Webhooks Webhooks
	// Sync configures upstream sync.
	Sync Sync
	// Caps are optional operator limits (token lifetime, temp files).
	Caps Caps
	// Cluster configures the clustered mode (cluster.go).
	Cluster Cluster
	// SecretKeyFile holds the 32-byte key that seals upstream credentials
	// at rest (raw, hex or base64; see internal/secretbox). Empty: the
	// key in <data-dir>/secret.key, generated on first start.
	SecretKeyFile string
}

// Default returns the embedded defaults: a server that runs with no flags.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DataDir:         "./strata-data",
		LogLevel:        "info",
		MaxUploadBytes:  2 << 30,
		MaxJSONBytes:    1 << 20,
		ShutdownTimeout: 30 * time.Second,
		BodyIdleTimeout: time.Minute,
		BodyMinRate:     1024,
		Identity:        "Strata <strata@localhost>",
		Maintenance:     defaultMaintenance(),
		Transport:       defaultTransport(),
		Limits:          defaultLimits(),
		Webhooks:        defaultWebhooks(),
		Sync:            defaultSync(),
		Caps:            defaultCaps(),
		Cluster:         defaultCluster(),
	}
}

// orgList is a repeatable --org NAME=PATH flag.
type orgList struct{ c *Config }

func (o orgList) String() string {
	if o.c == nil {
		return ""
	}
	var parts []string
	for _, k := range o.c.Orgs {
		parts = append(parts, k.Org+"="+k.Path)
	}
	return strings.Join(parts, ",")
}

func (o orgList) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(path) == "" {
		return fmt.Errorf("want NAME=PUBLIC_KEY.pem, got %q", v)
	}
	o.c.Orgs = append(o.c.Orgs, OrgKey{Org: strings.TrimSpace(name), Path: strings.TrimSpace(path)})
	return nil
}

// Register declares the serve flags on fs, with c's current values as
// defaults. Load registers them and layers the environment under them.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for repositories, metadata and keys")
	fs.StringVar(&c.Metadata, "metadata", c.Metadata, "metadata store: empty = SQLite in the data dir; a postgres:// or postgresql:// URL = that PostgreSQL database, shared by every Strata given it (prefer the environment variable: a password in a flag shows in ps)")
	fs.Var(orgList{c}, "org", "organisation and public key, NAME=PUBLIC_KEY.pem; repeatable")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate (PEM); serve HTTPS with --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&c.LogJSON, "log-json", c.LogJSON, "log JSON lines instead of text")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "loopback address (e.g. 127.0.0.1:6060) serving /debug/pprof/ for profiling; empty = off")
	fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", c.MaxUploadBytes, "largest commit-pack/diff-commit body")
	fs.Int64Var(&c.MaxJSONBytes, "max-json-bytes", c.MaxJSONBytes, "largest JSON request body")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace period for in-flight requests on SIGTERM")
	fs.DurationVar(&c.BodyIdleTimeout, "body-idle-timeout", c.BodyIdleTimeout, "longest wait for the next bytes of a request body before the connection is closed")
	fs.Int64Var(&c.BodyMinRate, "body-min-rate", c.BodyMinRate, "bytes per second a request body must average after the first body-idle-timeout; 0 = no minimum")
	fs.StringVar(&c.GitBinary, "git-binary", c.GitBinary, "git executable")
	fs.StringVar(&c.Identity, "identity", c.Identity, `"Name <email>" that authors merges and signs tags and notes when a request names nobody`)
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", c.SecretKeyFile, "key that encrypts git credentials at rest: 32 bytes raw, hex or base64 (default: <data-dir>/secret.key, generated on first start)")
	c.Maintenance.register(fs)
	c.Transport.register(fs)
	c.Limits.register(fs)
	c.Outbound.register(fs)
	c.Webhooks.register(fs)
	c.Sync.register(fs)
	c.Caps.register(fs)
	c.Cluster.register(fs)
	fs.Func("org-signing-keys", "organisation and commit-signing keys for verify-sig, NAME=FILE (SSH allowed signers and/or armored OpenPGP keyring); repeatable", c.addSigningKeys)
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " (env " + envName(f.Name) + ")"
	})
}

// addSigningKeys records one --org-signing-keys NAME=FILE.
func (c *Config) addSigningKeys(v string) error {
	name, path, ok := strings.Cut(v, "=")
	name, path = strings.TrimSpace(name), strings.TrimSpace(path)
	if !ok || name == "" || path == "" {
		return fmt.Errorf("want NAME=KEY_FILE, got %q", v)
	}
	if c.OrgSigningKeys == nil {
		c.OrgSigningKeys = make(map[string][]string)
	}
	c.OrgSigningKeys[name] = append(c.OrgSigningKeys[name], path)
	return nil
}

// Load registers the serve flags on fs, overlays STRATA_<FLAG> environment
// variables (the flag's name upper-cased, dashes as underscores) and parses
// args: a flag beats the environment, which beats the default. Because the
// environment goes through the flags themselves, every flag has its
// variable. Repeatable flags take a comma-separated list. lookup defaults
// to os.LookupEnv.
func (c *Config) Load(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	c.Register(fs)
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		values := []string{v}
		if repeatable[f.Name] {
			values = strings.Split(v, ",")
		}
		for _, v := range values {
			if repeatable[f.Name] && strings.TrimSpace(v) == "" {
				continue
			}
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fs.Parse(args)
}

// repeatable flags accumulate; their variables hold comma-separated lists.
var repeatable = map[string]bool{"org": true, "org-signing-keys": true}

// envName is the environment variable of a flag: STRATA_ and the name
// upper-cased, dashes as underscores.
func envName(flag string) string {
	return "STRATA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Validate checks the configuration is usable.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("--addr is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	if err := metadata.CheckSpec(c.Metadata); err != nil {
		errs = append(errs, fmt.Errorf("--metadata: %w", err))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.PprofAddr != "" {
		if err := checkLoopback(c.PprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("--pprof-addr: %w", err))
		}
	}
	if c.MaxUploadBytes <= 0 || c.MaxJSONBytes <= 0 {
		errs = append(errs, errors.New("body limits must be positive"))
	}
	if c.BodyIdleTimeout <= 0 || c.BodyMinRate < 0 {
		errs = append(errs, errors.New("--body-idle-timeout must be positive and --body-min-rate not negative"))
	}
	if _, _, err := ParseIdentity(c.Identity); err != nil {
		errs = append(errs, fmt.Errorf("--identity: %w", err))
	}
	errs = append(errs, c.Maintenance.validate(), c.Transport.validate(), c.Limits.validate(), c.Webhooks.validate(), c.Sync.validate(), c.Caps.validate(), c.Cluster.validate(c.Metadata))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("unknown --log-level %q", c.LogLevel))
	}
	return errors.Join(errs...)
}

// checkLoopback accepts host:port whose host is a loopback IP or
// "localhost": an empty host or a public address would listen beyond
// this machine.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if port == "" {
		return fmt.Errorf("%q has no port", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

// ParseIdentity splits "Name <email>".
func ParseIdentity(s string) (name, email string, err error) {
	s = strings.TrimSpace(s)
	lt, gt := strings.IndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if lt < 0 || gt != len(s)-1 || gt < lt {
		return "", "", fmt.Errorf("want \"Name <email>\", got %q", s)
	}
	name, email = strings.TrimSpace(s[:lt]), strings.TrimSpace(s[lt+1:gt])
	if name == "" || email == "" || strings.ContainsAny(name+email, "<>\n\x00") {
		return "", "", fmt.Errorf("want \"Name <email>\" with both parts, got %q", s)
	}
	return name, email, nil
}
