// Package config holds the server's configuration: defaults, then
// STRATA_* environment variables, then command-line flags, then Validate.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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
	Orgs     []OrgKey
	TLSCert  string
	TLSKey   string
	LogLevel string // debug, info, warn, error
	LogJSON  bool

	// MaxUploadBytes caps one commit-pack/diff-commit request body.
	MaxUploadBytes int64
	// MaxJSONBytes caps an ordinary JSON request body.
	MaxJSONBytes int64
	// ShutdownTimeout bounds how long in-flight requests may finish.
	ShutdownTimeout time.Duration
	// GitBinary is the git executable (default: git on PATH).
	GitBinary string
	// OrgSigningKeys maps an organisation to files of keys whose commit
	// signatures satisfy a verify-sig ref policy: SSH allowed-signers files
	// and/or ASCII-armored OpenPGP public keyrings (told apart by content).
	OrgSigningKeys map[string][]string
	// Maintenance configures background repository maintenance.
	Maintenance Maintenance
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
		Maintenance:     defaultMaintenance(),
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
// defaults. Call FromEnv first so the environment sits under the flags.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (env STRATA_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for repositories, metadata and keys (env STRATA_DATA_DIR)")
	fs.Var(orgList{c}, "org", "organisation and public key, NAME=PUBLIC_KEY.pem; repeatable (env STRATA_ORG, comma-separated)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate (PEM); serve HTTPS with --tls-key (env STRATA_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM) (env STRATA_TLS_KEY)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env STRATA_LOG_LEVEL)")
	fs.BoolVar(&c.LogJSON, "log-json", c.LogJSON, "log JSON lines instead of text (env STRATA_LOG_JSON)")
	fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", c.MaxUploadBytes, "largest commit-pack/diff-commit body (env STRATA_MAX_UPLOAD_BYTES)")
	fs.Int64Var(&c.MaxJSONBytes, "max-json-bytes", c.MaxJSONBytes, "largest JSON request body (env STRATA_MAX_JSON_BYTES)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace period for in-flight requests on SIGTERM (env STRATA_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.GitBinary, "git-binary", c.GitBinary, "git executable (env STRATA_GIT_BINARY)")
	c.Maintenance.register(fs)
	fs.Func("org-signing-keys", "organisation and commit-signing keys for verify-sig, NAME=FILE (SSH allowed signers and/or armored OpenPGP keyring); repeatable (env STRATA_ORG_SIGNING_KEYS, comma-separated)", c.addSigningKeys)
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

// FromEnv overlays STRATA_<FLAG> environment variables (flag name upper
// cased, dashes as underscores) onto c.
func (c *Config) FromEnv(lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	str("STRATA_ADDR", &c.Addr)
	str("STRATA_DATA_DIR", &c.DataDir)
	str("STRATA_TLS_CERT", &c.TLSCert)
	str("STRATA_TLS_KEY", &c.TLSKey)
	str("STRATA_LOG_LEVEL", &c.LogLevel)
	str("STRATA_GIT_BINARY", &c.GitBinary)
	errs := []error{c.Maintenance.fromEnv(lookup)}
	if v, ok := lookup("STRATA_LOG_JSON"); ok {
		b, err := strconv.ParseBool(v)
		errs = append(errs, wrapEnv("STRATA_LOG_JSON", err))
		c.LogJSON = b
	}
	for name, dst := range map[string]*int64{"STRATA_MAX_UPLOAD_BYTES": &c.MaxUploadBytes, "STRATA_MAX_JSON_BYTES": &c.MaxJSONBytes} {
		if v, ok := lookup(name); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			errs = append(errs, wrapEnv(name, err))
			*dst = n
		}
	}
	if v, ok := lookup("STRATA_SHUTDOWN_TIMEOUT"); ok {
		d, err := time.ParseDuration(v)
		errs = append(errs, wrapEnv("STRATA_SHUTDOWN_TIMEOUT", err))
		c.ShutdownTimeout = d
	}
	if v, ok := lookup("STRATA_ORG_SIGNING_KEYS"); ok {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) != "" {
				errs = append(errs, wrapEnv("STRATA_ORG_SIGNING_KEYS", c.addSigningKeys(part)))
			}
		}
	}
	if v, ok := lookup("STRATA_ORG"); ok {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			errs = append(errs, wrapEnv("STRATA_ORG", orgList{c}.Set(part)))
		}
	}
	return errors.Join(errs...)
}

func wrapEnv(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
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
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.MaxUploadBytes <= 0 || c.MaxJSONBytes <= 0 {
		errs = append(errs, errors.New("body limits must be positive"))
	}
	errs = append(errs, c.Maintenance.validate())
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("unknown --log-level %q", c.LogLevel))
	}
	return errors.Join(errs...)
}
