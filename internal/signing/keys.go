package signing

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// Keys holds, per organisation, what git verifies commit signatures
// with for verify-sig: an SSH allowed-signers file (gpg.ssh.allowedSignersFile)
// and a private GnuPG home whose legacy keyring (pubring.gpg) holds the
// organisation's OpenPGP keys. Every organisation, also one without keys,
// gets both, so git never falls back to the server user's ~/.gnupg.
type Keys struct {
	dir  string
	orgs map[string]string // org → its directory
	none string            // directory for organisations without keys
}

// gpgConf makes the private home verify only: every key in the keyring is
// trusted (being registered is what makes it valid), and gpg neither starts
// an agent nor fetches keys from the network.
const gpgConf = "trust-model always\nno-autostart\nno-auto-key-retrieve\n"

// Prepare (re)builds dir from the key files (organisation → files holding
// SSH allowed-signers entries and/or ASCII-armored OpenPGP public keys):
// stale keys of a previous run disappear. The server prepares it once and
// hands the same Keys to every transport.
func Prepare(dir string, files map[string][]string) (*Keys, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	k := &Keys{dir: dir, orgs: make(map[string]string)}
	if k.none, err = writeKeyDir(filepath.Join(dir, "none"), nil, nil); err != nil {
		return nil, err
	}
	orgs := make([]string, 0, len(files))
	for org := range files {
		orgs = append(orgs, org)
	}
	sort.Strings(orgs)
	for _, org := range orgs {
		var ssh []string
		var pgp []byte
		for _, f := range files[org] {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("signing keys of %s: %w", org, err)
			}
			s, p, err := parseKeyFile(data)
			if err != nil {
				return nil, fmt.Errorf("signing keys of %s: %s: %w", org, f, err)
			}
			ssh, pgp = append(ssh, s...), append(pgp, p...)
		}
		sum := sha256.Sum256([]byte(org))
		d, err := writeKeyDir(filepath.Join(dir, "org-"+hex.EncodeToString(sum[:10])), ssh, pgp)
		if err != nil {
			return nil, fmt.Errorf("signing keys of %s: %w", org, err)
		}
		k.orgs[org] = d
	}
	return k, nil
}

func writeKeyDir(d string, ssh []string, pgp []byte) (string, error) {
	gnupg := filepath.Join(d, "gnupg")
	if err := os.MkdirAll(gnupg, 0o700); err != nil {
		return "", err
	}
	var signers strings.Builder
	for _, l := range ssh {
		signers.WriteString(l + "\n")
	}
	for name, data := range map[string][]byte{
		filepath.Join(d, "allowed_signers"): []byte(signers.String()),
		filepath.Join(gnupg, "pubring.gpg"): pgp,
		filepath.Join(gnupg, "gpg.conf"):    []byte(gpgConf),
	} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			return "", err
		}
	}
	return d, nil
}

// Env is the verification environment for org's keys: GNUPGHOME and
// gpg.ssh.allowedSignersFile (as GIT_CONFIG_* variables).
func (k *Keys) Env(org string) []string {
	d, ok := k.orgs[org]
	if !ok {
		d = k.none
	}
	return append(git.ConfigEnv("gpg.ssh.allowedSignersFile", filepath.Join(d, "allowed_signers")),
		"GNUPGHOME="+filepath.Join(d, "gnupg"))
}

// parseKeyFile splits a key file by content: ASCII-armored OpenPGP public
// key blocks are de-armored into binary keyring packets, every other
// non-blank, non-comment line is an SSH allowed-signers entry. A bare
// public key line ("ssh-ed25519 AAAA... comment") is accepted too and
// allowed for any principal ("* ssh-ed25519 AAAA...").
func parseKeyFile(data []byte) (ssh []string, pgp []byte, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var armor []string
	inArmor := false
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case inArmor:
			armor = append(armor, line)
			if line == "-----END PGP PUBLIC KEY BLOCK-----" {
				inArmor = false
				b, err := dearmor(armor)
				if err != nil {
					return nil, nil, fmt.Errorf("line %d: %w", n, err)
				}
				pgp = append(pgp, b...)
				armor = nil
			}
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "-----BEGIN PGP PUBLIC KEY BLOCK-----":
			inArmor = true
			armor = []string{line}
		case strings.HasPrefix(line, "-----BEGIN PGP PRIVATE KEY BLOCK-----"), strings.Contains(line, "PRIVATE KEY-----"):
			return nil, nil, fmt.Errorf("line %d: a private key; register public keys only", n)
		case strings.HasPrefix(line, "-----"):
			return nil, nil, fmt.Errorf("line %d: unsupported block %.60q", n, line)
		default:
			entry, err := allowedSigner(line)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", n, err)
			}
			ssh = append(ssh, entry)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if inArmor {
		return nil, nil, errors.New("unterminated PGP PUBLIC KEY BLOCK")
	}
	if len(ssh) == 0 && len(pgp) == 0 {
		return nil, nil, errors.New("no SSH allowed-signers entries or OpenPGP public keys found")
	}
	return ssh, pgp, nil
}

// allowedSigner checks that line holds an SSH public key (a key type
// followed by base64) and prefixes a bare key with the "*" principal.
func allowedSigner(line string) (string, error) {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if !isSSHKeyType(f[i]) {
			continue
		}
		if _, err := base64.StdEncoding.DecodeString(f[i+1]); err != nil {
			return "", fmt.Errorf("bad base64 in the %s key", f[i])
		}
		if i == 0 {
			return "* " + line, nil
		}
		return line, nil
	}
	return "", errors.New("not an SSH allowed-signers entry (principals [options] keytype base64-key)")
}

func isSSHKeyType(s string) bool {
	return strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-sha2-") ||
		strings.HasPrefix(s, "sk-ssh-") || strings.HasPrefix(s, "sk-ecdsa-")
}

// dearmor decodes one ASCII-armored block (RFC 4880 §6.2): armor headers
// up to the first blank line, base64 body, optional "=XXXX" checksum.
func dearmor(lines []string) ([]byte, error) {
	body := lines[1 : len(lines)-1]
	if i := indexOf(body, ""); i >= 0 {
		body = body[i+1:]
	} else if len(body) > 0 && strings.Contains(body[0], ": ") {
		return nil, errors.New("armor headers are not followed by a blank line")
	}
	var b64 strings.Builder
	for _, l := range body {
		if strings.HasPrefix(l, "=") {
			break // the CRC-24 checksum; gpg checks the packets themselves
		}
		b64.WriteString(l)
	}
	out, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil {
		return nil, fmt.Errorf("bad base64 in PGP PUBLIC KEY BLOCK: %w", err)
	}
	if len(out) == 0 || out[0]&0x80 == 0 {
		return nil, errors.New("PGP PUBLIC KEY BLOCK does not hold OpenPGP packets")
	}
	return out, nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
