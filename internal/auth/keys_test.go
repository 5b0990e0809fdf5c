package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKeyPair_roundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		alg     string
		wantAlg string
		check   func(t *testing.T, k crypto.Signer)
	}{
		{alg: "", wantAlg: "ES256"},
		{alg: "ES256", wantAlg: "ES256"},
		{alg: "ES384", wantAlg: "ES384"},
		{alg: "ES512", wantAlg: "ES512"},
		{alg: "EdDSA", wantAlg: "EdDSA"},
		{alg: "RS256", wantAlg: "RS256", check: func(t *testing.T, k crypto.Signer) {
			if bits := k.(*rsa.PrivateKey).N.BitLen(); bits != 3072 {
				t.Errorf("RSA key has %d bits, want 3072", bits)
			}
		}},
	} {
		t.Run(tc.wantAlg+"/"+tc.alg, func(t *testing.T) {
			t.Parallel()
			priv, err := GenerateKey(tc.alg)
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			if tc.check != nil {
				tc.check(t, priv)
			}
			dir := filepath.Join(t.TempDir(), "keys", "acme")
			privPath, pubPath, err := WriteKeyPair(dir, "dev-key-001", priv)
			if err != nil {
				t.Fatalf("WriteKeyPair: %v", err)
			}
			if want := filepath.Join(dir, "dev-key-001.key"); privPath != want {
				t.Errorf("private key path %s, want %s", privPath, want)
			}
			if want := filepath.Join(dir, "dev-key-001.pem"); pubPath != want {
				t.Errorf("public key path %s, want %s", pubPath, want)
			}
			for path, want := range map[string]fs.FileMode{dir: fs.ModeDir | 0o700, privPath: 0o600, pubPath: 0o644} {
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				// The umask may only remove bits; it must never add any.
				if got := st.Mode(); got&^want != 0 || got.IsDir() != want.IsDir() {
					t.Errorf("%s mode %v, want at most %v", path, got, want)
				}
			}
			assertPEMType(t, privPath, "PRIVATE KEY")
			assertPEMType(t, pubPath, "PUBLIC KEY")

			pub, err := LoadPublicKeyFile(pubPath)
			if err != nil {
				t.Fatalf("LoadPublicKeyFile: %v", err)
			}
			if pub.ID != "dev-key-001" {
				t.Errorf("key ID %q, want dev-key-001", pub.ID)
			}
			loaded, err := LoadPrivateKeyFile(privPath)
			if err != nil {
				t.Fatalf("LoadPrivateKeyFile: %v", err)
			}
			if !reflect.DeepEqual(loaded.Public(), priv.Public()) || !reflect.DeepEqual(pub.Public, priv.Public()) {
				t.Fatalf("loaded keys differ from the generated one")
			}

			tok := mustMint(t, loaded, Claims{Issuer: "acme", Repo: "r", KeyID: pub.ID, IssuedAt: t0})
			if alg := headerOf(t, tok)["alg"]; alg != tc.wantAlg {
				t.Errorf("alg = %v, want %s", alg, tc.wantAlg)
			}
			ks := &KeySet{}
			ks.Add("acme", pub)
			if _, err := NewVerifier(ks, WithClock(newTestClock(t0).Now)).Verify(tok); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func assertPEMType(t *testing.T, path, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != want || len(strings.TrimSpace(string(rest))) != 0 {
		t.Errorf("%s: want a single %q PEM block", path, want)
	}
}

func TestWriteKeyPair_refuses(t *testing.T) {
	t.Parallel()
	priv := ecKey(t, elliptic.P256())
	dir := t.TempDir()
	if _, _, err := WriteKeyPair(dir, "k1", priv); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "k1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteKeyPair(dir, "k1", ecKey(t, elliptic.P256())); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second WriteKeyPair: error = %v, want fs.ErrExist", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, "k1.key"))
	if err != nil || string(after) != string(before) {
		t.Errorf("existing private key was changed (err %v)", err)
	}

	// A stray public key alone also blocks the pair, and nothing is written.
	if err := os.WriteFile(filepath.Join(dir, "k2.pem"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteKeyPair(dir, "k2", priv); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteKeyPair over k2.pem: error = %v, want fs.ErrExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "k2.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("k2.key written despite the error")
	}

	for _, name := range []string{"", ".", "..", ".hidden", "a/b", `a\b`, "../escape"} {
		if _, _, err := WriteKeyPair(dir, name, priv); err == nil {
			t.Errorf("WriteKeyPair(%q) succeeded", name)
		}
	}
	if _, _, err := WriteKeyPair(dir, "weak", rsaKey(t, 1024)); err == nil {
		t.Errorf("WriteKeyPair accepted a 1024-bit RSA key")
	}
}

func TestLoadPrivateKeyFile_formats(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	rsaK := rsaKey(t, 2048)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
	for _, tc := range []struct {
		desc string
		data []byte
		want crypto.PublicKey // nil: must fail
	}{
		{desc: "SEC1 after EC PARAMETERS", data: append(ecParams, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), want: ec.Public()},
		{desc: "PKCS#1", data: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaK)}), want: rsaK.Public()},
		{desc: "PKCS#8 Ed25519", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), want: ed.Public()},
		{desc: "weak RSA", data: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey(t, 1024))})},
		{desc: "public key", data: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, ec.Public())})},
		{desc: "corrupt", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")})},
		{desc: "not PEM", data: []byte("hello")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "k.key")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadPrivateKeyFile(path)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("LoadPrivateKeyFile succeeded, want error")
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadPrivateKeyFile: %v", err)
			}
			if !reflect.DeepEqual(got.Public(), tc.want) {
				t.Errorf("loaded a different key")
			}
		})
	}
	if _, err := LoadPrivateKeyFile(filepath.Join(t.TempDir(), "missing.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadPublicKeyFile_formats(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	rsaK := rsaKey(t, 2048)
	spki := func(pub crypto.PublicKey) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, pub)})
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc   string
		file   string
		data   []byte
		wantID string
		want   crypto.PublicKey // nil: must fail
	}{
		{desc: "SPKI EC", file: "k1.pem", data: spki(ec.Public()), wantID: "k1", want: ec.Public()},
		{desc: ".pub.pem name", file: "k1.pub.pem", data: spki(ec.Public()), wantID: "k1", want: ec.Public()},
		{desc: ".pub name", file: "dev-key-001.pub", data: spki(ec.Public()), wantID: "dev-key-001", want: ec.Public()},
		{desc: "dotted ID", file: "acme.2024.pem", data: spki(ec.Public()), wantID: "acme.2024", want: ec.Public()},
		{desc: "SPKI RSA", file: "r.pem", data: spki(rsaK.Public()), wantID: "r", want: rsaK.Public()},
		{desc: "PKCS#1 RSA", file: "r.pem", data: pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaK.PublicKey)}), wantID: "r", want: rsaK.Public()},
		{desc: "weak RSA", file: "w.pem", data: spki(rsaKey(t, 1024).Public())},
		{desc: "P-224", file: "p.pem", data: spki(p224.Public())},
		{desc: "private key", file: "k.pem", data: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: mustSEC1(t, ec)})},
		{desc: "not PEM", file: "k.pem", data: []byte("ssh-ed25519 AAAA")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := LoadPublicKeyFile(path)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("LoadPublicKeyFile succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadPublicKeyFile: %v", err)
			}
			if got.ID != tc.wantID || !reflect.DeepEqual(got.Public, tc.want) {
				t.Errorf("got ID %q key %T, want %q", got.ID, got.Public, tc.wantID)
			}
		})
	}
}

func TestGenerateKey_unknownAlg(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"HS256", "none", "es256", "PS256"} {
		if _, err := GenerateKey(alg); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", alg)
		}
	}
}

func TestKeySet(t *testing.T) {
	t.Parallel()
	a, b := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	var ks KeySet
	if ks.Keys("acme") != nil || len(ks.Orgs()) != 0 {
		t.Fatalf("zero KeySet is not empty")
	}
	ks.Add("globex", Key{ID: "g", Public: a.Public()})
	ks.Add("acme", Key{ID: "k1", Public: a.Public()})
	ks.Add("acme", Key{ID: "k2", Public: a.Public()})
	ks.Add("acme", Key{ID: "k1", Public: b.Public()}) // replaces k1 in place
	got := ks.Keys("acme")
	want := []Key{{ID: "k1", Public: b.Public()}, {ID: "k2", Public: a.Public()}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Keys = %+v, want %+v", got, want)
	}
	got[0].ID = "mutated"
	if ks.Keys("acme")[0].ID != "k1" {
		t.Errorf("Keys result aliases the set")
	}
	if orgs := ks.Orgs(); !reflect.DeepEqual(orgs, []string{"acme", "globex"}) {
		t.Errorf("Orgs = %v", orgs)
	}
}

func TestMint_claims(t *testing.T) {
	t.Parallel()
	ec := ecKey(t, elliptic.P256())
	tok := mustMint(t, ec, Claims{
		Issuer:   "acme",
		Repo:     "team/project",
		Scopes:   []Scope{ScopeGitWrite},
		IssuedAt: t0,
		Refs:     []RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}, {Pattern: "*"}},
		Ops:      []Op{OpNoForcePush},
		KeyID:    "dev-key-001",
	})
	if h := headerOf(t, tok); h["kid"] != "dev-key-001" || h["typ"] != "JWT" {
		t.Errorf("header = %v", h)
	}
	payload := payloadOf(t, tok)
	want := `{"iss":"acme","sub":"strata-cli","repo":"team/project","scopes":["git:write"],"iat":1723453189,"exp":1723456789,"refs":[["main",["no-push"]],["*",[]]],"ops":["no-force-push"]}`
	if payload != want {
		t.Errorf("payload\n got %s\nwant %s", payload, want)
	}

	minimal := payloadOf(t, mustMint(t, ec, Claims{Issuer: "acme", Repo: "r", Subject: "me", IssuedAt: t0, TTL: -time.Second}))
	if want := `{"iss":"acme","sub":"me","repo":"r","scopes":[],"iat":1723453189,"exp":1723456789}`; minimal != want {
		t.Errorf("minimal payload\n got %s\nwant %s", minimal, want)
	}

	for _, tc := range []struct {
		desc string
		priv crypto.Signer
		c    Claims
	}{
		{desc: "no issuer", priv: ec, c: Claims{Repo: "r"}},
		{desc: "no repo", priv: ec, c: Claims{Issuer: "acme"}},
		{desc: "empty pattern", priv: ec, c: Claims{Issuer: "acme", Repo: "r", Refs: []RawRule{{Pattern: ""}}}},
		{desc: "no key", priv: nil, c: Claims{Issuer: "acme", Repo: "r"}},
		{desc: "weak RSA", priv: rsaKey(t, 1024), c: Claims{Issuer: "acme", Repo: "r"}},
		{desc: "P-224", priv: ecKey(t, elliptic.P224()), c: Claims{Issuer: "acme", Repo: "r"}},
	} {
		if _, err := Mint(tc.priv, tc.c); err == nil {
			t.Errorf("%s: Mint succeeded", tc.desc)
		}
	}
}

func payloadOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustPKIX(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustSEC1(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
