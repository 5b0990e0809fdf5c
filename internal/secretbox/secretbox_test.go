package secretbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

func newBox(t *testing.T, key []byte) *Box {
	t.Helper()
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBox_roundTrip(t *testing.T) {
	t.Parallel()
	b := newBox(t, newKey(t))
	for _, pt := range [][]byte{nil, []byte("p"), []byte("glpat-0123456789abcdef"), bytes.Repeat([]byte{0, 0xff}, 5000)} {
		sealed := b.Seal(pt, []byte("ad"))
		if len(sealed) != overhead+len(pt) {
			t.Fatalf("sealed length %d, want %d", len(sealed), overhead+len(pt))
		}
		if len(pt) > 4 && bytes.Contains(sealed, pt) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := b.Open(sealed, []byte("ad"))
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, %v; want %q", got, err, pt)
		}
	}
}

// Every seal draws a fresh nonce: equal secrets do not look equal at rest.
func TestBox_freshNonce(t *testing.T) {
	t.Parallel()
	b := newBox(t, newKey(t))
	seen := map[string]bool{}
	for range 100 {
		s := b.Seal([]byte("same"), []byte("ad"))
		nonce := string(s[1 : 1+nonceSize])
		if seen[nonce] {
			t.Fatal("nonce reused")
		}
		seen[nonce] = true
	}
}

func TestBox_wrongKey(t *testing.T) {
	t.Parallel()
	sealed := newBox(t, newKey(t)).Seal([]byte("secret"), []byte("ad"))
	_, err := newBox(t, newKey(t)).Open(sealed, []byte("ad"))
	if !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with another key: %v, want ErrOpen", err)
	}
	if !strings.Contains(err.Error(), "wrong secret key") {
		t.Fatalf("error %q does not name the likely cause", err)
	}
}

// A value sealed for one record does not open for another.
func TestBox_wrongAdditionalData(t *testing.T) {
	t.Parallel()
	b := newBox(t, newKey(t))
	sealed := b.Seal([]byte("secret"), []byte("cred_1/repoA"))
	for _, ad := range []string{"cred_2/repoA", "cred_1/repoB", "", "cred_1/repoA\x00"} {
		if _, err := b.Open(sealed, []byte(ad)); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open with ad %q: %v, want ErrOpen", ad, err)
		}
	}
}

func TestBox_tampered(t *testing.T) {
	t.Parallel()
	b := newBox(t, newKey(t))
	sealed := b.Seal([]byte("secret"), nil)
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := b.Open(bad, nil); !errors.Is(err, ErrOpen) {
			t.Fatalf("byte %d flipped: %v, want ErrOpen", i, err)
		}
	}
	for _, bad := range [][]byte{nil, {version}, sealed[:overhead-1], append(bytes.Clone(sealed), 0)} {
		if _, err := b.Open(bad, nil); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open(%x): %v, want ErrOpen", bad, err)
		}
	}
}

func TestNew_keySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := New(make([]byte, n)); !errors.Is(err, ErrKey) {
			t.Fatalf("New(%d bytes): %v, want ErrKey", n, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	key[0] = 0xff // binary, whatever rand gave
	for _, tc := range []struct {
		desc string
		data []byte
	}{
		{"raw", key},
		{"hex", []byte(hex.EncodeToString(key))},
		{"hex with newline", []byte(hex.EncodeToString(key) + "\n")},
		{"upper-case hex in spaces", []byte("  " + strings.ToUpper(hex.EncodeToString(key)) + "\r\n")},
		{"base64", []byte(base64.StdEncoding.EncodeToString(key) + "\n")},
		{"base64 unpadded", []byte(base64.RawStdEncoding.EncodeToString(key))},
		{"base64 URL", []byte(base64.URLEncoding.EncodeToString(key))},
	} {
		got, err := ParseKey(tc.data)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: ParseKey = %x, %v; want %x", tc.desc, got, err, key)
		}
	}
}

func TestParseKey_invalid(t *testing.T) {
	t.Parallel()
	short := newKey(t)[:16]
	for _, tc := range []struct {
		desc string
		data []byte
	}{
		{"empty", nil},
		{"whitespace", []byte(" \n")},
		{"31 raw bytes", newKey(t)[:31]},
		{"33 raw bytes", append(newKey(t), 0xff)},
		{"128-bit hex", []byte(hex.EncodeToString(short))},
		{"128-bit hex, newline", []byte(hex.EncodeToString(short) + "\n")},
		{"128-bit base64", []byte(base64.StdEncoding.EncodeToString(short))},
		{"32 characters of text", []byte("correct horse battery staple!!!!")},
		{"hex with a bad digit", []byte("zz" + strings.Repeat("ab", 31))},
		{"512-bit hex", []byte(strings.Repeat("ab", 64))},
	} {
		_, err := ParseKey(tc.data)
		if !errors.Is(err, ErrKey) {
			t.Errorf("%s: ParseKey err = %v, want ErrKey", tc.desc, err)
			continue
		}
		if s := strings.TrimSpace(string(tc.data)); len(s) > 4 && strings.Contains(err.Error(), s) {
			t.Errorf("%s: the error %q quotes the key file", tc.desc, err)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("first call: %d-byte key, created %v, %v", len(key), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if string(data) != hex.EncodeToString(key)+"\n" {
		t.Fatalf("key file holds %d bytes, not the key in hex and a newline", len(data))
	}
	again, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second call: same key %v, created %v, %v", bytes.Equal(again, key), created, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".secret-key-*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %q", left)
	}
}

// Processes racing to create the key all end up with the one key.
func TestLoadOrCreateKeyFile_race(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], _, errs[i] = LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d: %v (same key: %v)", i, errs[i], bytes.Equal(keys[i], keys[0]))
		}
	}
}

// A key file that exists but is unusable is an error, never replaced.
func TestLoadOrCreateKeyFile_invalid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); !errors.Is(err, ErrKey) {
		t.Fatalf("LoadOrCreateKeyFile: %v, want ErrKey", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "not a key\n" {
		t.Fatal("the unusable key file was replaced")
	}
}

func TestLoadKeyFile_missing(t *testing.T) {
	t.Parallel()
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKeyFile of a missing file: %v, want fs.ErrNotExist", err)
	}
}
