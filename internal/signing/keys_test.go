package signing

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sshKey = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	packets := []byte{0x98, 0x33, 0x04, 0x01, 0x02}
	armored := "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n" +
		base64.StdEncoding.EncodeToString(packets) + "\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
	for _, tc := range []struct {
		desc    string
		in      string
		wantSSH []string
		wantPGP []byte
		err     string
	}{
		{desc: "allowed signers", in: "# comment\n\ndev@example.com ssh-ed25519 " + sshKey + " laptop\n",
			wantSSH: []string{"dev@example.com ssh-ed25519 " + sshKey + " laptop"}},
		{desc: "options", in: `dev@example.com namespaces="git" ssh-ed25519 ` + sshKey,
			wantSSH: []string{`dev@example.com namespaces="git" ssh-ed25519 ` + sshKey}},
		{desc: "bare public key", in: "ssh-ed25519 " + sshKey + " dev@laptop\n",
			wantSSH: []string{"* ssh-ed25519 " + sshKey + " dev@laptop"}},
		{desc: "armored keyring", in: armored, wantPGP: packets},
		{desc: "both", in: "ssh-ed25519 " + sshKey + "\n" + armored + armored,
			wantSSH: []string{"* ssh-ed25519 " + sshKey}, wantPGP: append(append([]byte(nil), packets...), packets...)},
		{desc: "private key", in: "-----BEGIN PGP PRIVATE KEY BLOCK-----\n", err: "private key"},
		{desc: "ssh private key", in: "-----BEGIN OPENSSH PRIVATE KEY-----\n", err: "private key"},
		{desc: "unterminated", in: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n", err: "unterminated"},
		{desc: "bad base64", in: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n", err: "base64"},
		{desc: "not a key", in: "hello world\n", err: "not an SSH allowed-signers entry"},
		{desc: "empty", in: "# nothing\n", err: "no SSH"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ssh, pgp, err := parseKeyFile([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(ssh, "\n") != strings.Join(tc.wantSSH, "\n") || string(pgp) != string(tc.wantPGP) {
				t.Fatalf("got %q %x, want %q %x", ssh, pgp, tc.wantSSH, tc.wantPGP)
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "acme.keys")
	if err := os.WriteFile(f, []byte("dev@example.com ssh-ed25519 "+sshKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "signing")
	if err := os.MkdirAll(filepath.Join(out, "stale"), 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := Prepare(out, map[string][]string{"acme": {f}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "stale")); !os.IsNotExist(err) {
		t.Fatal("keys of a previous run survived")
	}
	env := strings.Join(k.Env("acme"), "\n")
	signers := envValue(env, "GIT_CONFIG_VALUE_0")
	b, err := os.ReadFile(signers)
	if err != nil || !strings.Contains(string(b), sshKey) {
		t.Fatalf("allowed signers %s: %q %v", signers, b, err)
	}
	other := strings.Join(k.Env("someone-else"), "\n")
	if b, err := os.ReadFile(envValue(other, "GIT_CONFIG_VALUE_0")); err != nil || len(b) != 0 {
		t.Fatalf("an organisation without keys gets %q, %v", b, err)
	}
	home := envValue(other, "GNUPGHOME")
	if fi, err := os.Stat(home); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("GNUPGHOME %s: %v %v", home, fi, err)
	}
	if _, err := Prepare(out, map[string][]string{"acme": {filepath.Join(dir, "missing")}}); err == nil {
		t.Fatal("a missing key file was accepted")
	}
}

func envValue(env, key string) string {
	for _, l := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}
