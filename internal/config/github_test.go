package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidate_gitHubApp: --github-app-id and --github-app-key go
// together, and the key must be an RSA private key in PEM (PKCS #1 as
// GitHub issues it, or PKCS #8) of 2048 bits or more.
func TestValidate_gitHubApp(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	der8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	pkcs8 := writePEM(t, "PRIVATE KEY", der8)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ec := writePEM(t, "PRIVATE KEY", ecDER)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	weak := writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("not a key, but a secret-looking line\n"), 0o600)

	for _, tc := range []struct {
		desc string
		edit func(*Sync)
		want string // "" = valid
	}{
		{"neither", func(*Sync) {}, ""},
		{"PKCS #1", func(s *Sync) { s.GitHubAppID, s.GitHubAppKey = "12345", pkcs1 }, ""},
		{"PKCS #8 and a client id", func(s *Sync) { s.GitHubAppID, s.GitHubAppKey = "Iv23liABCdef", pkcs8 }, ""},
		{"GitHub Enterprise API", func(s *Sync) { s.GitHubAPIURL = "https://ghe.example.com/api/v3" }, ""},
		{"id alone", func(s *Sync) { s.GitHubAppID = "12345" }, "go together"},
		{"key alone", func(s *Sync) { s.GitHubAppKey = pkcs1 }, "go together"},
		{"missing file", func(s *Sync) { s.GitHubAppID, s.GitHubAppKey = "1", filepath.Join(t.TempDir(), "none.pem") }, "--github-app-key"},
		{"not PEM", func(s *Sync) { s.GitHubAppID, s.GitHubAppKey = "1", garbage }, "does not hold an RSA private key"},
		{"EC key", func(s *Sync) { s.GitHubAppID, s.GitHubAppKey = "1", ec }, "does not hold an RSA private key"},
		{"short key", func(s *Sync) { s.GitHubAppID, s.GitHubAppKey = "1", weak }, "1024 bits"},
		{"bad id", func(s *Sync) { s.GitHubAppID, s.GitHubAppKey = "12 34", pkcs1 }, "--github-app-id"},
		{"API URL not http", func(s *Sync) { s.GitHubAPIURL = "ftp://api.example.com" }, "--github-api-url"},
		{"API URL with credentials", func(s *Sync) { s.GitHubAPIURL = "https://u:p@api.example.com" }, "--github-api-url"},
	} {
		c := Default()
		tc.edit(&c.Sync)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Validate = %v", tc.desc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Validate = %v, want an error about %q", tc.desc, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "secret-looking"):
			t.Errorf("%s: the error shows the file's content: %v", tc.desc, err)
		}
	}
}

// TestLoad_gitHubAppFromEnv: the GitHub flags read STRATA_GITHUB_*.
func TestLoad_gitHubAppFromEnv(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.Sync.GitHubAPIURL != "https://api.github.com" || c.Sync.GitHubApp() {
		t.Fatalf("defaults: %+v", c.Sync)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := map[string]string{
		"STRATA_GITHUB_API_URL": "https://ghe.example.com/api/v3",
		"STRATA_GITHUB_APP_ID":  "777",
		"STRATA_GITHUB_APP_KEY": "/keys/app.pem",
	}
	if err := c.Load(fs, []string{"--github-app-id", "778"}, mapEnv(env)); err != nil {
		t.Fatal(err)
	}
	if c.Sync.GitHubAPIURL != "https://ghe.example.com/api/v3" || c.Sync.GitHubAppID != "778" || c.Sync.GitHubAppKey != "/keys/app.pem" || !c.Sync.GitHubApp() {
		t.Fatalf("loaded %+v", c.Sync)
	}
}
