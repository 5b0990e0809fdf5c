package gitcred_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/secretbox"
)

const password = "glpat-s3cr3t-Pa55w0rd-0123456789"

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	rand.Read(k)
	b, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setup(t *testing.T) (*metadata.SQLiteStore, *gitcred.Vault, metadata.Repo) {
	t.Helper()
	s, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := s.CreateRepo(t.Context(), metadata.Repo{Org: "acme", ID: "team/r", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	return s, gitcred.New(s, newBox(t)), r
}

func TestVault_createForRepo(t *testing.T) {
	t.Parallel()
	s, v, r := setup(t)
	ctx := t.Context()
	in, err := v.Create(ctx, "acme", "team/r", "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^cred_[0-9a-f]{32}$`).MatchString(in.ID) {
		t.Fatalf("id %q is not cred_ and 128 bits of hex", in.ID)
	}
	row, err := s.GitCredential(ctx, "acme", in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(row.Secret, []byte(password)) || bytes.Contains(row.Secret, []byte("s3cr3t")) {
		t.Fatal("the store holds the plaintext password")
	}
	c, err := v.ForRepo(ctx, r.StorageKey)
	if err != nil {
		t.Fatal(err)
	}
	if c.Password.Reveal() != password || c.Username != "alice" || c.ID != in.ID || c.RepoID != "team/r" {
		t.Fatalf("ForRepo = %+v (password ok: %v)", c.Info, c.Password.Reveal() == password)
	}
	if _, err := v.Create(ctx, "acme", "team/r", "bob", "other"); !errors.Is(err, metadata.ErrExists) {
		t.Fatalf("second credential: %v, want ErrExists", err)
	}
	if _, err := v.Create(ctx, "acme", "nope", "bob", "other"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("unknown repository: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteRepo(ctx, "acme", "team/r"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Create(ctx, "acme", "team/r", "bob", "other"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("deleted repository: %v, want ErrNotFound", err)
	}
	if _, err := v.ForRepo(ctx, r.StorageKey); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("ForRepo of a deleted repository: %v, want ErrNotFound", err)
	}
}

func TestVault_update(t *testing.T) {
	t.Parallel()
	_, v, r := setup(t)
	ctx := t.Context()
	in, err := v.Create(ctx, "acme", "team/r", "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	// No username: the old one stays.
	if _, err := v.Update(ctx, "acme", in.ID, nil, "second"); err != nil {
		t.Fatal(err)
	}
	c, err := v.ForRepo(ctx, r.StorageKey)
	if err != nil || c.Username != "alice" || c.Password.Reveal() != "second" {
		t.Fatalf("after update without username: %+v, %v", c.Info, err)
	}
	empty := ""
	up, err := v.Update(ctx, "acme", in.ID, &empty, "third")
	if err != nil || !up.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	c, err = v.ForRepo(ctx, r.StorageKey)
	if err != nil || c.Username != "" || c.Password.Reveal() != "third" {
		t.Fatalf("after update with empty username: %+v, %v", c.Info, err)
	}
	if _, err := v.Update(ctx, "globex", in.ID, nil, "evil"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("update from another org: %v, want ErrNotFound", err)
	}
	if _, err := v.Update(ctx, "acme", in.ID, nil, ""); !errors.Is(err, gitcred.ErrInvalid) {
		t.Fatalf("update without password: %v, want ErrInvalid", err)
	}
	if c, _ := v.ForRepo(ctx, r.StorageKey); c.Password.Reveal() != "third" {
		t.Fatal("a refused update changed the password")
	}
}

// A server started with another key cannot open what the first sealed,
// and says why without showing anything secret.
func TestVault_wrongKey(t *testing.T) {
	t.Parallel()
	s, v, r := setup(t)
	if _, err := v.Create(t.Context(), "acme", "team/r", "alice", password); err != nil {
		t.Fatal(err)
	}
	_, err := gitcred.New(s, newBox(t)).ForRepo(t.Context(), r.StorageKey)
	if !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("ForRepo with another key: %v, want secretbox.ErrOpen", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "wrong secret key") || strings.Contains(msg, password) {
		t.Fatalf("error %q", msg)
	}
}

// A sealed password moved to another row, or a row whose username was
// changed behind the vault's back, does not open.
func TestVault_boundToRow(t *testing.T) {
	t.Parallel()
	s, v, r := setup(t)
	ctx := t.Context()
	r2, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "other", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := v.Create(ctx, "acme", "team/r", "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Create(ctx, "acme", "other", "alice", "harmless")
	if err != nil {
		t.Fatal(err)
	}
	rowA, _ := s.GitCredential(ctx, "acme", a.ID)
	rowB, _ := s.GitCredential(ctx, "acme", b.ID)
	// Copy A's sealed password into B's row.
	rowB.Secret = rowA.Secret
	if _, err := s.UpdateGitCredential(ctx, rowB); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ForRepo(ctx, r2.StorageKey); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("a copied secret: %v, want ErrOpen", err)
	}
	// Change A's username without resealing.
	rowA.Username = "mallory"
	if _, err := s.UpdateGitCredential(ctx, rowA); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ForRepo(ctx, r.StorageKey); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("a changed username: %v, want ErrOpen", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc, username, password string
		ok                       bool
	}{
		{"plain", "alice", "p", true},
		{"empty username", "", "p", true},
		{"unicode username", "zoë", "p", true},
		{"no password", "alice", "", false},
		{"newline in password", "", "a\nb", false},
		{"CR in password", "", "a\rb", false},
		{"NUL in password", "", "a\x00b", false},
		{"long password", "", strings.Repeat("p", gitcred.MaxPassword+1), false},
		{"newline in username", "a\nb", "p", false},
		{"invalid UTF-8 username", "\xff", "p", false},
		{"long username", strings.Repeat("u", gitcred.MaxUsername+1), "p", false},
	} {
		err := gitcred.Validate(tc.username, tc.password)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, gitcred.ErrInvalid)) {
			t.Errorf("%s: %v", tc.desc, err)
		}
		if err != nil && len(tc.password) > 2 && strings.Contains(err.Error(), tc.password) {
			t.Errorf("%s: the error quotes the password", tc.desc)
		}
	}
}

// However a credential is printed or logged, the password stays hidden.
func TestPassword_redacted(t *testing.T) {
	t.Parallel()
	c := gitcred.Credential{Info: gitcred.Info{ID: "cred_1", Username: "alice"}, Password: password}
	var out bytes.Buffer
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, f+"\n", c)
		fmt.Fprintf(&out, f+"\n", c.Password)
	}
	fmt.Fprintln(&out, c, c.Password)
	j, _ := json.Marshal(c)
	out.Write(j)
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("credential", "c", c, "p", c.Password)
	slog.New(slog.NewTextHandler(&out, nil)).Info("credential", "c", c, "p", c.Password)
	if strings.Contains(out.String(), "s3cr3t") || strings.Contains(out.String(), fmt.Sprintf("%x", "s3cr3t")) {
		t.Fatalf("password printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Fatalf("no redaction marker in:\n%s", out.String())
	}
}
