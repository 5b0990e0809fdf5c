package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/strata-storage/strata/internal/durable"
)

// minRSABits is the smallest RSA modulus accepted for signing or verifying.
const minRSABits = 2048

// Key is a public verification key registered for an organisation.
type Key struct {
	// ID is matched against a token's kid header. LoadPublicKeyFile derives
	// it from the file name.
	ID string
	// Public is *ecdsa.PublicKey (P-256, P-384 or P-521), *rsa.PublicKey
	// (at least 2048 bits) or ed25519.PublicKey. Keys of other types or
	// sizes never verify anything.
	Public crypto.PublicKey
}

// KeySource supplies an organisation's verification keys. A nil or empty
// result means the organisation is unknown. Implementations must be safe
// for concurrent use; Verify calls Keys on every uncached token.
type KeySource interface {
	Keys(org string) []Key
}

// KeyRefresher is a KeySource that can look again for keys it lacks, such
// as one that fetches an organisation's JSON Web Key Set. Verify calls
// Refresh when the organisation has no keys or a token's kid names none
// of them, and uses the keys it returns. Refresh may block (a fetch), so
// implementations must bound how long and how often: every refused token
// could otherwise make the server fetch.
type KeyRefresher interface {
	KeySource
	// Refresh returns org's keys after looking for kid ("" when the token
	// has none).
	Refresh(org, kid string) []Key
}

// KeySet is an in-memory KeySource. The zero value is empty and ready to
// use; it is safe for concurrent use.
type KeySet struct {
	mu   sync.RWMutex
	keys map[string][]Key
}

// Add registers k for org, replacing a key of the same ID.
func (s *KeySet) Add(org string, k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = make(map[string][]Key)
	}
	keys := s.keys[org]
	if i := slices.IndexFunc(keys, func(have Key) bool { return have.ID == k.ID }); i >= 0 {
		keys[i] = k
		return
	}
	s.keys[org] = append(keys, k)
}

// Keys returns a copy of org's keys in the order they were added.
func (s *KeySet) Keys(org string) []Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.keys[org])
}

// Orgs returns the organisations that have keys, sorted.
func (s *KeySet) Orgs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	orgs := make([]string, 0, len(s.keys))
	for org := range s.keys {
		orgs = append(orgs, org)
	}
	slices.Sort(orgs)
	return orgs
}

// KeyIDFromPath returns the key ID for a key file: the base name without
// its extension and without a trailing ".pub", so "keys/acme/k1.pem" and
// "keys/acme/k1.pub.pem" both have ID "k1".
func KeyIDFromPath(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return strings.TrimSuffix(base, ".pub")
}

// LoadPublicKeyFile reads a PEM public key: SPKI "PUBLIC KEY" holding an EC
// (P-256, P-384, P-521), RSA (at least 2048 bits) or Ed25519 key, or a
// PKCS#1 "RSA PUBLIC KEY". Other PEM blocks in the file are skipped. The
// key ID is KeyIDFromPath(path).
func LoadPublicKeyFile(path string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("load public key: %w", err)
	}
	pub, err := ParsePublicKeyPEM(data)
	if err != nil {
		return Key{}, fmt.Errorf("load public key %s: %w", path, err)
	}
	return Key{ID: KeyIDFromPath(path), Public: pub}, nil
}

// ParsePublicKeyPEM parses what LoadPublicKeyFile reads, from memory.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PUBLIC KEY PEM block")
		}
		var pub crypto.PublicKey
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := checkPublicKey(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
}

// CheckPublicKey accepts exactly the key types and sizes Verify can use:
// keys from elsewhere (a JWKS) are checked with it.
func CheckPublicKey(pub crypto.PublicKey) error { return checkPublicKey(pub) }

func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("empty EC key")
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("unsupported EC curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("empty RSA key")
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("malformed Ed25519 key")
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}

// LoadPrivateKeyFile reads a PEM private key: PKCS#8 "PRIVATE KEY", SEC1
// "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". Other blocks (such as "EC
// PARAMETERS") are skipped; encrypted keys are not supported. The result is
// *ecdsa.PrivateKey, *rsa.PrivateKey or ed25519.PrivateKey.
func LoadPrivateKeyFile(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	priv, err := parsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("load private key %s: %w", path, err)
	}
	return priv, nil
}

func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PRIVATE KEY PEM block")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		if err := checkPublicKey(signer.Public()); err != nil {
			return nil, err
		}
		return signer, nil
	}
}

// GenerateKey creates a signing key for alg: "ES256" (P-256, the default
// when alg is empty), "ES384" (P-384), "ES512" (P-521), "RS256" (RSA 3072)
// or "EdDSA" (Ed25519). Mint picks the same algorithm back from the key.
func GenerateKey(alg string) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case "", "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("generate key: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return key, nil
}

// WriteKeyPair writes priv to <dir>/<name>.key (PKCS#8 "PRIVATE KEY", mode
// 0600) and its public half to <dir>/<name>.pem (SPKI "PUBLIC KEY", mode
// 0644), creating dir with mode 0700 if needed. The public file's key ID
// (KeyIDFromPath) is therefore name, and a directory of *.pem files holds
// only public keys. Existing files are never overwritten: if either exists,
// WriteKeyPair fails with an error matching fs.ErrExist and writes nothing.
// Both files and the directory are fsynced.
func WriteKeyPair(dir, name string, priv crypto.Signer) (privPath, pubPath string, err error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
		return "", "", fmt.Errorf("write key pair: invalid key name %q", name)
	}
	if err := checkPublicKey(priv.Public()); err != nil {
		return "", "", fmt.Errorf("write key pair %s: %w", name, err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", fmt.Errorf("write key pair %s: encode private key: %w", name, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return "", "", fmt.Errorf("write key pair %s: encode public key: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("write key pair %s: %w", name, err)
	}
	privPath = filepath.Join(dir, name+".key")
	pubPath = filepath.Join(dir, name+".pem")
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("write key pair %s: %s: %w", name, p, os.ErrExist)
		}
	}
	if err := writeNewFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("write key pair %s: %w", name, err)
	}
	if err := writeNewFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		_ = os.Remove(privPath) // leave no half-written pair behind
		return "", "", fmt.Errorf("write key pair %s: %w", name, err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return "", "", fmt.Errorf("write key pair %s: %w", name, err)
	}
	return privPath, pubPath, nil
}

// writeNewFile creates path exclusively (O_EXCL also closes the race with
// the existence check above), writes data and fsyncs it. On failure the
// file is removed.
func writeNewFile(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
