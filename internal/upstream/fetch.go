package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/repo"
)

// fetch fetches the upstream's branches and tags (or the one ref only)
// into the quarantine q.
func (s *Syncer) fetch(ctx context.Context, q *repo.Quarantine, u *url.URL, cred *gitcred.Credential, only string) error {
	env, err := transportEnv(ctx, s.policy, s.opts.CABundle, u, cred,
		[2]string{"transfer.fsckObjects", "true"},
		// Keep what arrives as a pack: one file to migrate, not thousands.
		[2]string{"fetch.unpackLimit", "1"},
		[2]string{"fetch.writeCommitGraph", "false"})
	if err != nil {
		return err
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
