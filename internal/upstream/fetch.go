package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/repo"
)

// credentialHelper answers git's credential "get" from the child's own
// environment, so the secret is on no command line and in no file.
const credentialHelper = `!f() { test "$1" = get || exit 0; printf 'username=%s\npassword=%s\n' "$STRATA_GIT_USERNAME" "$STRATA_GIT_PASSWORD"; }; f`

// fetch fetches the upstream's branches and tags (or the one ref only)
// into the quarantine q.
func (s *Syncer) fetch(ctx context.Context, q *repo.Quarantine, u *url.URL, cred *gitcred.Credential, only string) error {
	if u.Scheme != "https" && !(u.Scheme == "http" && s.policy.AllowsPrivate()) {
		return fmt.Errorf("upstream %s: only https upstreams are allowed", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	addr, err := s.policy.Resolve(ctx, u.Hostname())
	if err != nil {
		return fmt.Errorf("upstream %s: %w", u.Redacted(), err)
	}
	config := [][2]string{
		{"protocol.allow", "never"},
		{"protocol.https.allow", "always"},
		// Pinned to the checked address: git resolves nothing itself.
		{"http.curloptResolve", u.Hostname() + ":" + port + ":" + curlAddr(addr)},
		{"http.followRedirects", "false"},
		{"http.lowSpeedLimit", "1024"},
		{"http.lowSpeedTime", "60"},
		{"transfer.fsckObjects", "true"},
		// Keep what arrives as a pack: one file to migrate, not thousands.
		{"fetch.unpackLimit", "1"},
		{"fetch.writeCommitGraph", "false"},
		{"credential.helper", ""},
	}
	if s.policy.AllowsPrivate() {
		config = append(config, [2]string{"protocol.http.allow", "always"})
	}
	if s.opts.CABundle != "" {
		config = append(config, [2]string{"http.sslCAInfo", s.opts.CABundle})
	}
	var env []string
	if cred != nil {
		config = append(config, [2]string{"credential.helper", credentialHelper})
		user := cred.Username
		if user == "" {
			user = "x-access-token" // token-only credentials: any name works
		}
		env = append(env, "STRATA_GIT_USERNAME="+user, "STRATA_GIT_PASSWORD="+cred.Password.Reveal())
	}
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	refspecs := []string{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	if only != "" {
		refspecs = []string{"+" + only + ":" + only}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	objects := filepath.Join(q.Path(), "objects")
	defer watchSize(ctx, objects, s.opts.MaxBytes, cancel)()
	err = s.git.Run(ctx, q.Path(), git.Command{
		Name:  "fetch",
		Flags: []string{"--quiet", "--no-write-fetch-head", "--no-tags", "--no-auto-gc", "--no-recurse-submodules"},
		Args:  append([]string{u.String()}, refspecs...),
	}, git.WithEnv(env...))
	if cause := context.Cause(ctx); errors.Is(cause, ErrTooLarge) {
		err = cause
	} else if err == nil {
		err = checkSize(objects, s.opts.MaxBytes) // what arrived between two polls
	}
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u.Redacted(), err)
	}
	return nil
}

// curlAddr spells an address as curl's resolve list wants it.
func curlAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.Unmap().String()
}

// systemBundles are where distributions keep the system's root
// certificates as one PEM file.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",             // openSUSE
	"/etc/ssl/cert.pem",                  // macOS, BSDs
}

// WriteCABundle writes the system roots followed by the extra PEM roots to
// path, for git's http.sslCAInfo (which replaces git's roots rather than
// adding to them).
func WriteCABundle(path, extra string) error {
	pemExtra, err := os.ReadFile(extra)
	if err != nil {
		return fmt.Errorf("upstream CA file: %w", err)
	}
	if !bytes.Contains(pemExtra, []byte("-----BEGIN CERTIFICATE-----")) {
		return fmt.Errorf("upstream CA file %s holds no PEM certificate", extra)
	}
	var bundle []byte
	for _, p := range systemBundles {
		if b, err := os.ReadFile(p); err == nil {
			bundle = append(b, '\n')
			break
		}
	}
	bundle = append(bundle, pemExtra...)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, bundle, 0o644); err != nil {
		return fmt.Errorf("write CA bundle: %w", err)
	}
	return os.Rename(tmp, path)
}
