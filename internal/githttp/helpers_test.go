package githttp_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// gitServer is a Strata server over TLS and what the git CLI needs to
// reach it.
type gitServer struct {
	*servertest.Server
	t      testing.TB
	caFile string // the server's self-signed certificate, for http.sslCAInfo
	host   string // 127.0.0.1:port
}

// startGitServer starts a server over HTTPS with a certificate made for
// this test.
func startGitServer(t testing.TB, edit ...func(*config.Config)) *gitServer {
	t.Helper()
	cert, key := writeTLSCert(t)
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.TLSCert, c.TLSKey = cert, key
		for _, e := range edit {
			e(c)
		}
	}))
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &gitServer{Server: srv, t: t, caFile: cert, host: u.Host}
}

// with returns s reporting failures to t: use it in subtests.
func (s *gitServer) with(t testing.TB) *gitServer {
	c := *s
	c.t = t
	return &c
}

// writeTLSCert writes a self-signed ECDSA certificate for 127.0.0.1.
func writeTLSCert(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// createRepo creates repository id (default branch main) through REST.
func (s *gitServer) createRepo(id string) {
	s.t.Helper()
	tok := s.Token(id, auth.ScopeRepoWrite)
	resp := s.Do("POST", "/api/v1/repos", tok, strings.NewReader(`{"default_branch":"main"}`))
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("create repo %s: %d %s", id, resp.StatusCode, b)
	}
}

// remote is the URL of id's remote with suffix ("", "+ephemeral",
// "+import"), the token in the user info as the SDK puts it.
func (s *gitServer) remote(token, id, suffix string) string {
	segs := strings.Split(id, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	u := "https://"
	if token != "" {
		u += "t:" + token + "@"
	}
	return u + s.host + "/" + strings.Join(segs, "/") + suffix + ".git"
}

// writeToken is a one-hour git:read+git:write token for id.
func (s *gitServer) writeToken(id string) string {
	return s.Token(id, auth.ScopeGitRead, auth.ScopeGitWrite)
}

// branches lists a namespace's branches through REST: name → head sha.
func (s *gitServer) branches(id string, ephemeral bool) map[string]string {
	s.t.Helper()
	path := "/api/v1/repos/branches?limit=1000"
	if ephemeral {
		path += "&ephemeral=true"
	}
	resp := s.Do("GET", path, s.Token(id, auth.ScopeGitRead), nil)
	defer resp.Body.Close()
	var body struct {
		Branches []struct {
			Name    string `json:"name"`
			HeadSHA string `json:"head_sha"`
		} `json:"branches"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("list branches: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		s.t.Fatal(err)
	}
	out := make(map[string]string)
	for _, b := range body.Branches {
		out[b.Name] = b.HeadSHA
	}
	return out
}

// gitResult is one git CLI run.
type gitResult struct {
	stdout, stderr string
	err            error
}

// git runs the git CLI in dir against servers that trust s's certificate,
// with no user or system configuration and no prompts.
func (s *gitServer) git(dir string, args ...string) gitResult {
	s.t.Helper()
	return s.gitEnv(nil, dir, args...)
}

// gitEnv is git with extra environment variables.
func (s *gitServer) gitEnv(env []string, dir string, args ...string) gitResult {
	s.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_SSL_CAINFO="+s.caFile, "GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z",
		"LANG=C", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return gitResult{stdout: strings.TrimSpace(out.String()), stderr: errb.String(), err: err}
}

// mustGit runs git and fails the test if it fails.
func (s *gitServer) mustGit(dir string, args ...string) string {
	s.t.Helper()
	r := s.git(dir, args...)
	if r.err != nil {
		s.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r.stdout
}

// failGit runs git, expects it to fail and returns its stderr.
func (s *gitServer) failGit(dir string, args ...string) string {
	s.t.Helper()
	r := s.git(dir, args...)
	if r.err == nil {
		s.t.Fatalf("git %s succeeded, want failure\n%s", strings.Join(args, " "), r.stderr)
	}
	return r.stderr
}

// workdir makes a local repository with one commit on main holding file.
func (s *gitServer) workdir(files map[string]string) string {
	s.t.Helper()
	dir := s.t.TempDir()
	s.mustGit(dir, "init", "-q", "-b", "main")
	s.commit(dir, "initial", files)
	return dir
}

// commit writes files and commits them in dir, returning the commit id.
func (s *gitServer) commit(dir, msg string, files map[string]string, extra ...string) string {
	s.t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.mustGit(dir, "add", "-A")
	args := append(append([]string(nil), extra...), "commit", "-q", "--allow-empty", "-m", msg)
	s.mustGit(dir, args...)
	return s.mustGit(dir, "rev-parse", "HEAD")
}

// lsRemote returns ref → id as the remote advertises them.
func (s *gitServer) lsRemote(url string, extra ...string) map[string]string {
	s.t.Helper()
	out := s.mustGit("", append(append([]string{"ls-remote"}, extra...), url)...)
	refs := make(map[string]string)
	for _, line := range strings.Split(out, "\n") {
		if oid, ref, ok := strings.Cut(line, "\t"); ok {
			refs[ref] = oid
		}
	}
	return refs
}

func wantContains(t testing.TB, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("output does not contain %q:\n%s", want, got)
	}
}
