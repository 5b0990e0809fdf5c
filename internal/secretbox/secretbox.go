// Package secretbox seals small secrets, such as the passwords of upstream
// Git credentials, for storage at rest, and owns the key file they are
// sealed with.
//
// A sealed secret is AES-256-GCM (crypto/aes, crypto/cipher) with a random
// 96-bit nonce per seal:
//
//	version (1 byte, 0x01) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// Every seal takes additional data that names what the secret belongs to;
// Open must be given the same bytes, so a sealed value copied to another
// row (another credential, another repository) does not open.
//
// The key is 32 random bytes. A key file holds them raw (exactly 32 bytes),
// as 64 hex digits, or as base64 (standard or URL alphabet, padded or not);
// surrounding whitespace is ignored in the text forms. LoadOrCreateKeyFile
// writes a new key as hex and a newline, mode 0600, the format of
// `openssl rand -hex 32`.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode"

	"github.com/strata-storage/strata/internal/durable"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

const (
	version   = 0x01
	nonceSize = 12
	overhead  = 1 + nonceSize + 16
)

// ErrOpen means a sealed value did not open: it was sealed with another
// key, belongs to something else (other additional data), or was altered.
// It never says which, and carries nothing of the key or the secret.
var ErrOpen = errors.New("secretbox: cannot decrypt: wrong secret key, or the sealed value was altered or belongs to another record")

// ErrKey means a key file does not hold a usable key. Its message never
// contains the file's contents.
var ErrKey = errors.New("secretbox: invalid secret key")

// Box seals and opens secrets with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for key, which must be KeySize bytes. The Box keeps no
// reference to key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: want %d bytes, got %d", ErrKey, KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to ad with a fresh random nonce. Sealing
// the same plaintext twice gives different results.
func (b *Box) Seal(plaintext, ad []byte) []byte {
	out := make([]byte, 1+nonceSize, overhead+len(plaintext))
	out[0] = version
	rand.Read(out[1:]) // never fails (crypto/rand since Go 1.24)
	return b.aead.Seal(out, out[1:1+nonceSize], plaintext, ad)
}

// Open decrypts sealed, which must have been sealed with this key and ad:
// ErrOpen otherwise.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < overhead || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// ParseKey reads a key in any of the key-file forms (see the package doc).
func ParseKey(data []byte) ([]byte, error) {
	// Exactly 32 bytes of binary is a raw key. 32 bytes of text is not:
	// it is far likelier a short hex or base64 key (too weak) than a
	// random key that happens to be printable.
	if len(data) == KeySize && !isText(data) {
		return bytes.Clone(data), nil
	}
	text := string(bytes.TrimSpace(data))
	if len(text) == 2*KeySize {
		if k, err := hex.DecodeString(text); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(text); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: want %d bytes raw, as %d hex digits or in base64", ErrKey, KeySize, 2*KeySize)
}

func isText(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || !(unicode.IsPrint(rune(c)) || unicode.IsSpace(rune(c))) {
			return false
		}
	}
	return true
}

// LoadKeyFile reads and parses the key file at path.
func LoadKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	k, err := ParseKey(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKeyFile loads the key file at path or, if there is none,
// generates a key and writes it there (hex, mode 0600) first; created
// reports which. The file appears complete or not at all, and of two
// processes racing to create it, both end up with the one that won.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = LoadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = make([]byte, KeySize)
	rand.Read(key)
	text := []byte(hex.EncodeToString(key) + "\n")
	defer clear(text)
	dir := filepath.Dir(path)
	// Written whole under a temporary name (CreateTemp uses 0600), then
	// linked into place, which fails rather than replace a key that
	// appeared meanwhile.
	tmp, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("create secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeSynced(tmp, text); err != nil {
		return nil, false, fmt.Errorf("write secret key file: %w", err)
	}
	err = os.Link(tmp.Name(), path)
	if errors.Is(err, fs.ErrExist) {
		key, err = LoadKeyFile(path)
		return key, false, err
	}
	if err != nil {
		// No hard links on this file system: create it exclusively instead.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			key, err = LoadKeyFile(path)
			return key, false, err
		}
		if err != nil {
			return nil, false, fmt.Errorf("create secret key file: %w", err)
		}
		if err := writeSynced(f, text); err != nil {
			os.Remove(path)
			return nil, false, fmt.Errorf("write secret key file: %w", err)
		}
	}
	// Best effort: the file itself is synced, and a file system that
	// cannot sync a directory should not stop the server from starting.
	_ = durable.SyncDir(dir)
	return key, true, nil
}

func writeSynced(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
