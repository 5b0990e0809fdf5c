package githttp_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
)

func TestPolicies(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	first := s.mustGit(dir, "rev-parse", "HEAD")
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("app"), "app", ""), "main", "main:frozen", "main:linear", "main:eph")
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("app"), "app", "+ephemeral"), "main:eph")
	second := s.commit(dir, "second", nil)
	s.mustGit(dir, "checkout", "-q", "-b", "side", first)
	side := s.commit(dir, "side", nil)

	tok := s.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite}, Refs: []auth.RawRule{
		{Pattern: "frozen", Ops: []auth.Op{auth.OpNoPush}},
		{Pattern: "linear", Ops: []auth.Op{auth.OpNoForcePush}},
		{Pattern: "eph", Ops: []auth.Op{auth.OpNoPush}},
		{Pattern: "refs/tags/*", Ops: []auth.Op{auth.OpNoPush}},
		{Pattern: "*"},
	}})
	url := s.remote(tok, "app", "")
	denied := func(t *testing.T, args ...string) {
		t.Helper()
		wantContains(t, s.with(t).failGit(dir, append([]string{"push"}, args...)...), "denied by policy")
	}

	t.Run("no-push", func(t *testing.T) {
		denied(t, url, second+":refs/heads/frozen")
		denied(t, "--force", url, side+":refs/heads/frozen")
		denied(t, url, ":frozen")
		denied(t, url, second+":refs/tags/v1")
	})
	t.Run("no-force-push", func(t *testing.T) {
		s := s.with(t)
		// A fast-forward is fine, even sent with --force.
		s.mustGit(dir, "push", "-q", "--force", url, second+":refs/heads/linear")
		denied(t, "--force", url, side+":refs/heads/linear")
		denied(t, url, ":linear")                                        // a deletion counts as non-fast-forward (Q5)
		s.mustGit(dir, "push", "-q", url, side+":refs/heads/linear-new") // creation is fine
	})
	t.Run("ephemeral branches match refs/heads/<name>", func(t *testing.T) {
		denied(t, s.remote(tok, "app", "+ephemeral"), second+":refs/heads/eph")
	})
	t.Run("explicit allow", func(t *testing.T) {
		s := s.with(t)
		s.mustGit(dir, "push", "-q", "--force", url, side+":refs/heads/main")
	})
	got := s.branches("app", false)
	if got["frozen"] != first || got["linear"] != second || got["main"] != side {
		t.Fatalf("branches = %v", got)
	}
	if eph := s.branches("app", true); eph["eph"] != first {
		t.Fatalf("ephemeral branches = %v", eph)
	}
}

func TestVerifySig(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	sshKeygen(t, filepath.Join(keys, "registered"))
	sshKeygen(t, filepath.Join(keys, "stranger"))
	pub, err := os.ReadFile(filepath.Join(keys, "registered.pub"))
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(keys, "allowed_signers")
	if err := os.WriteFile(signers, append([]byte("# acme release keys\ndev@example.com "), pub...), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startGitServer(t, func(c *config.Config) {
		c.OrgSigningKeys = map[string][]string{"acme": {signers}}
	})
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("app"), "app", ""), "main")
	url := s.remote(s.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite},
		Refs: []auth.RawRule{{Pattern: "main", Ops: []auth.Op{auth.OpVerifySig}}}}), "app", "")
	signWith := func(key string) []string {
		return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + filepath.Join(keys, key), "-c", "commit.gpgsign=true"}
	}

	unsigned := s.commit(dir, "unsigned", nil)
	stderr := s.failGit(dir, "push", url, "main")
	wantContains(t, stderr, "denied by policy: verify-sig on refs/heads/main")
	wantContains(t, stderr, "is not signed")

	// A signed commit on top of an unsigned one still introduces the
	// unsigned one.
	s.commit(dir, "signed on unsigned", nil, signWith("registered")...)
	wantContains(t, s.failGit(dir, "push", url, "main"), "denied by policy")

	s.mustGit(dir, "reset", "-q", "--hard", "HEAD~2")
	s.commit(dir, "stranger", nil, signWith("stranger")...)
	wantContains(t, s.failGit(dir, "push", url, "main"), "not signed by a key registered for acme")

	s.mustGit(dir, "reset", "-q", "--hard", "HEAD~1")
	s.commit(dir, "signed 1", nil, signWith("registered")...)
	signed := s.commit(dir, "signed 2", nil, signWith("registered")...)
	s.mustGit(dir, "push", "-q", url, "main")
	if got := s.branches("app", false)["main"]; got != signed {
		t.Fatalf("main = %s, want %s", got, signed)
	}
	// Branches without the rule take anything.
	s.mustGit(dir, "push", "-q", url, unsigned+":refs/heads/scratch")
}

func sshKeygen(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", filepath.Base(path), "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

func TestVerifySig_openPGP(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg not installed")
	}
	home, err := os.MkdirTemp("", "gpg") // short: gpg-agent's socket lives here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	gpg := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--quiet"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	gpg("--passphrase", "", "--quick-gen-key", "Signer <signer@example.com>", "ed25519", "sign", "never")
	keyring := filepath.Join(t.TempDir(), "acme.asc")
	if err := os.WriteFile(keyring, gpg("--armor", "--export", "signer@example.com"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startGitServer(t, func(c *config.Config) {
		c.OrgSigningKeys = map[string][]string{"acme": {keyring}}
	})
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	url := s.remote(s.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite},
		Refs: []auth.RawRule{{Pattern: "*", Ops: []auth.Op{auth.OpVerifySig}}}}), "app", "")
	wantContains(t, s.failGit(dir, "push", url, "main"), "denied by policy: verify-sig on refs/heads/main")

	r := s.gitEnv([]string{"GNUPGHOME=" + home}, dir, "commit", "-q", "--amend", "--no-edit", "--gpg-sign=signer@example.com")
	if r.err != nil {
		t.Fatalf("sign: %v\n%s", r.err, r.stderr)
	}
	s.mustGit(dir, "push", "-q", url, "main")
}

// TestVerifySig_twoPushes is the regression test for issue 10 finding 2:
// an unsigned commit first pushed to an unprotected (or ephemeral) branch
// is still new to the protected branch a later push fast-forwards onto it.
func TestVerifySig_twoPushes(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	sshKeygen(t, filepath.Join(keys, "registered"))
	pub, err := os.ReadFile(filepath.Join(keys, "registered.pub"))
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(keys, "allowed_signers")
	if err := os.WriteFile(signers, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startGitServer(t, func(c *config.Config) {
		c.OrgSigningKeys = map[string][]string{"acme": {signers}}
	})
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	first := s.mustGit(dir, "rev-parse", "HEAD")
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("app"), "app", ""), "main")
	tok := s.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite}, Refs: []auth.RawRule{
		{Pattern: "main", Ops: []auth.Op{auth.OpVerifySig}},
		{Pattern: "release/*", Ops: []auth.Op{auth.OpVerifySig}},
		{Pattern: "*"},
	}})
	url, eph := s.remote(tok, "app", ""), s.remote(tok, "app", "+ephemeral")
	signWith := []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + filepath.Join(keys, "registered"), "-c", "commit.gpgsign=true"}

	unsigned := s.commit(dir, "unsigned", nil)
	s.mustGit(dir, "push", "-q", url, unsigned+":refs/heads/scratch")
	stderr := s.failGit(dir, "push", url, unsigned+":refs/heads/main")
	wantContains(t, stderr, "denied by policy: verify-sig on refs/heads/main")
	wantContains(t, stderr, "is not signed")

	s.mustGit(dir, "reset", "-q", "--hard", first)
	viaEph := s.commit(dir, "unsigned via ephemeral", nil)
	s.mustGit(dir, "push", "-q", eph, viaEph+":refs/heads/wip")
	wantContains(t, s.failGit(dir, "push", url, viaEph+":refs/heads/main"), "denied by policy: verify-sig on refs/heads/main")

	// Creating a protected branch checks every commit no protected ref
	// holds yet: main's tip is, the unsigned commit is not.
	wantContains(t, s.failGit(dir, "push", url, unsigned+":refs/heads/release/1"), "denied by policy: verify-sig on refs/heads/release/1")
	s.mustGit(dir, "push", "-q", url, first+":refs/heads/release/0")

	// Signed commits on top of a verified tip pass.
	s.mustGit(dir, "reset", "-q", "--hard", first)
	signed := s.commit(dir, "signed", nil, signWith...)
	s.mustGit(dir, "push", "-q", url, signed+":refs/heads/scratch2")
	s.mustGit(dir, "push", "-q", url, signed+":refs/heads/main")
	got := s.branches("app", false)
	if got["main"] != signed || got["release/0"] != first || got["release/1"] != "" {
		t.Fatalf("branches = %v", got)
	}
}
