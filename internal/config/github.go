package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"

	"github.com/golang-jwt/jwt/v5"
)

// minAppKeyBits is the smallest RSA key accepted for the GitHub App
// (GitHub generates 2048-bit keys).
const minAppKeyBits = 2048

// appIDRe is a GitHub App's id (digits) or client id (Iv1.…, Iv23…),
// both accepted by GitHub as the App JWT's issuer.
var appIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func (s *Sync) registerGitHub(fs *flag.FlagSet) {
	fs.StringVar(&s.GitHubAPIURL, "github-api-url", s.GitHubAPIURL, "GitHub's REST API root (GitHub Enterprise: https://HOST/api/v3)")
	fs.StringVar(&s.GitHubAppID, "github-app-id", s.GitHubAppID, "id of the GitHub App that syncs private GitHub repositories (with --github-app-key)")
	fs.StringVar(&s.GitHubAppKey, "github-app-key", s.GitHubAppKey, "PEM file of the GitHub App's RSA private key (with --github-app-id)")
}

// GitHubApp reports whether a GitHub App is configured.
func (s *Sync) GitHubApp() bool { return s.GitHubAppID != "" && s.GitHubAppKey != "" }

func (s *Sync) validateGitHub() error {
	var errs []error
	if u, err := url.Parse(s.GitHubAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("--github-api-url must be an http(s) URL, got %q", s.GitHubAPIURL))
	}
	switch {
	case (s.GitHubAppID == "") != (s.GitHubAppKey == ""):
		errs = append(errs, errors.New("--github-app-id and --github-app-key go together"))
	case s.GitHubAppID == "":
	case !appIDRe.MatchString(s.GitHubAppID):
		errs = append(errs, fmt.Errorf("--github-app-id must be the App's id or client id, got %q", s.GitHubAppID))
	default:
		if err := checkAppKey(s.GitHubAppKey); err != nil {
			errs = append(errs, fmt.Errorf("--github-app-key: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkAppKey checks that path holds an RSA private key in PEM. Errors
// name the file, never its content.
func checkAppKey(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(b)
	if err != nil {
		return fmt.Errorf("%s does not hold an RSA private key in PEM (PKCS #1 or PKCS #8)", path)
	}
	if key.N.BitLen() < minAppKeyBits {
		return fmt.Errorf("%s: the RSA key has %d bits, want at least %d", path, key.N.BitLen(), minAppKeyBits)
	}
	return nil
}
