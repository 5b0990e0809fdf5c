package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/orgkeys"
	"github.com/strata-storage/strata/internal/outbound"
	"github.com/strata-storage/strata/internal/secretbox"
)

// devOrg is the organisation a first run creates when no --org is given.
const devOrg = "dev"

// newVerifier builds the live key source (the --org keys merged with the
// store's organisations and their JWKS, see internal/orgkeys) and the one
// verifier REST, git and the other doors share, which the source purges
// whenever keys change. The caller starts and stops the source.
func newVerifier(cfg config.Config, store metadata.Store, client *outbound.Client, log *slog.Logger, out io.Writer) (*orgkeys.Source, *auth.Verifier, error) {
	ctx := context.Background()
	stored, err := store.Orgs(ctx)
	if err != nil {
		return nil, nil, err
	}
	static, err := loadKeys(cfg, len(stored) > 0, out)
	if err != nil {
		return nil, nil, err
	}
	var verifier *auth.Verifier
	src, err := orgkeys.New(ctx, orgkeys.Options{
		Static:   static,
		Store:    store,
		Client:   client,
		Logger:   log,
		OnChange: func() { verifier.Purge() }, // called only after Start
	})
	if err != nil {
		return nil, nil, err
	}
	verifier = auth.NewVerifier(src, auth.WithMaxTTL(cfg.Caps.MaxTokenTTL))
	if len(stored) > 0 {
		log.Info("organisations from the metadata store", "count", len(stored))
	}
	return src, verifier, nil
}

// loadKeys builds the verification key set from --org flags. With none,
// and no organisation in the store (haveStored), it creates (once) an
// ES256 key pair for org "dev" in the data dir and tells the operator how
// to mint a token with it.
func loadKeys(cfg config.Config, haveStored bool, out io.Writer) (*auth.KeySet, error) {
	keys := &auth.KeySet{}
	for _, o := range cfg.Orgs {
		k, err := auth.LoadPublicKeyFile(o.Path)
		if err != nil {
			return nil, fmt.Errorf("--org %s: %w", o.Org, err)
		}
		keys.Add(o.Org, k)
	}
	if len(cfg.Orgs) > 0 || haveStored {
		return keys, nil
	}
	dir := filepath.Join(cfg.DataDir, "keys")
	priv := filepath.Join(dir, devOrg+".key")
	pub := filepath.Join(dir, devOrg+".pem")
	if _, err := os.Stat(pub); errors.Is(err, fs.ErrNotExist) {
		signer, err := auth.GenerateKey("ES256")
		if err != nil {
			return nil, err
		}
		if priv, pub, err = auth.WriteKeyPair(dir, devOrg, signer); err != nil {
			return nil, err
		}
	}
	k, err := auth.LoadPublicKeyFile(pub)
	if err != nil {
		return nil, fmt.Errorf("load dev key: %w", err)
	}
	keys.Add(devOrg, k)
	abs, _ := filepath.Abs(priv)
	fmt.Fprintf(out, "No --org given: serving organisation %q with the development key\n  %s\nMint a token with:\n  strata token --key %s --org %s --repo my-repo --scopes repo:write,git:read,git:write --ttl 1h\n\n",
		devOrg, abs, abs, devOrg)
	return keys, nil
}

// secretKeyName is the generated secret key's file in the data dir.
const secretKeyName = "secret.key"

// loadSecretBox loads the key that seals git credentials at rest: from
// --secret-key-file, which must exist, or else from the data dir, where
// the first start generates it (mode 0600) and later starts reuse it.
// Losing or changing the key makes stored credentials unreadable, so it
// is never replaced.
func loadSecretBox(cfg config.Config, log *slog.Logger) (*secretbox.Box, error) {
	path := cfg.SecretKeyFile
	var key []byte
	var err error
	if path != "" {
		key, err = secretbox.LoadKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("--secret-key-file: %w", err)
		}
	} else {
		path = filepath.Join(cfg.DataDir, secretKeyName)
		var created bool
		if key, created, err = secretbox.LoadOrCreateKeyFile(path); err != nil {
			return nil, err
		}
		if created {
			log.Info("generated the secret key that encrypts git credentials; back it up with the data", "path", path)
		}
	}
	defer clear(key)
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the secret key file is readable by other users; chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
	}
	return secretbox.New(key)
}
