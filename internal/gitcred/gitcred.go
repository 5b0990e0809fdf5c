// Package gitcred owns the credentials of repositories' generic HTTPS
// upstreams (API §5.2): it seals a password with secretbox before the
// metadata store sees it, and opens it again only for the one caller that
// needs the plaintext, the upstream sync (ForRepo).
//
// A sealed password is bound (as AES-GCM additional data) to the
// credential's id, its repository's storage key and its username, so a
// sealed value copied into another row, another repository or a recreated
// repository does not open. The organisation and repository id are not
// bound: the storage key already names one repository incarnation.
//
// Passwords never appear in an error, a log line or a fmt verb: Password
// formats as "[redacted]".
package gitcred

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/secretbox"
)

// Limits on what a credential may hold. Neither field may contain a NUL
// or a line break: git's credential protocol (git-credential(1)) is
// line-based and could not carry them.
const (
	MaxPassword = 16 << 10
	MaxUsername = 1 << 10
)

// ErrInvalid wraps every refusal of a username or password.
var ErrInvalid = errors.New("invalid git credential")

// Password is a plaintext secret. It formats as "[redacted]" in every fmt
// verb, slog and JSON; Reveal returns it.
type Password string

func (Password) String() string                  { return "[redacted]" }
func (Password) GoString() string                { return `"[redacted]"` }
func (Password) LogValue() slog.Value            { return slog.StringValue("[redacted]") }
func (Password) MarshalText() ([]byte, error)    { return []byte("[redacted]"), nil }
func (p Password) Reveal() string                { return string(p) }
func (p Password) Format(f fmt.State, verb rune) { fmt.Fprint(f, "[redacted]") }

// Info describes a credential without its secret.
type Info struct {
	ID         string
	Org        string
	RepoID     string
	StorageKey string
	Username   string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Credential is an opened credential: what the upstream sync hands to git.
type Credential struct {
	Info
	Password Password
}

// Vault stores and opens credentials. It is safe for concurrent use.
type Vault struct {
	store metadata.Store
	box   *secretbox.Box
}

// New returns a Vault over store that seals with box.
func New(store metadata.Store, box *secretbox.Box) *Vault {
	return &Vault{store: store, box: box}
}

// NewID returns a new credential id: "cred_" and 128 random bits in hex.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return "cred_" + hex.EncodeToString(b[:])
}

// Validate checks a username and password before anything is stored.
func Validate(username, password string) error {
	switch {
	case password == "":
		return fmt.Errorf("%w: password is required", ErrInvalid)
	case len(password) > MaxPassword:
		return fmt.Errorf("%w: password is longer than %d bytes", ErrInvalid, MaxPassword)
	case strings.ContainsAny(password, "\x00\r\n"):
		return fmt.Errorf("%w: password may not contain NUL or line breaks", ErrInvalid)
	case len(username) > MaxUsername:
		return fmt.Errorf("%w: username is longer than %d bytes", ErrInvalid, MaxUsername)
	case !utf8.ValidString(username) || strings.ContainsFunc(username, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: username must be printable UTF-8", ErrInvalid)
	}
	return nil
}

// additionalData is what a sealed password is bound to; each part is
// length-prefixed, so no two tuples encode alike.
func additionalData(id, storageKey, username string) []byte {
	ad := []byte("strata git credential v1")
	for _, s := range []string{id, storageKey, username} {
		ad = binary.AppendUvarint(ad, uint64(len(s)))
		ad = append(ad, s...)
	}
	return ad
}

func info(c metadata.GitCredential) Info {
	return Info{ID: c.ID, Org: c.Org, RepoID: c.RepoID, StorageKey: c.StorageKey,
		Username: c.Username, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// Create stores a credential for the live repository (org, repoID):
// metadata.ErrNotFound if there is none (never created or deleted),
// metadata.ErrExists if it has a credential already, ErrInvalid for a bad
// username or password.
func (v *Vault) Create(ctx context.Context, org, repoID, username string, password Password) (Info, error) {
	if err := Validate(username, string(password)); err != nil {
		return Info{}, err
	}
	r, err := v.store.Repo(ctx, org, repoID)
	if errors.Is(err, metadata.ErrDeleted) {
		err = fmt.Errorf("repository %s/%s was deleted: %w", org, repoID, metadata.ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("create git credential: %w", err)
	}
	id := NewID()
	c, err := v.store.CreateGitCredential(ctx, metadata.GitCredential{
		ID: id, Org: org, RepoID: repoID, StorageKey: r.StorageKey, Username: username,
		Secret: v.box.Seal([]byte(password), additionalData(id, r.StorageKey, username)),
	})
	if err != nil {
		return Info{}, err
	}
	return info(c), nil
}

// Get returns the credential id of org: metadata.ErrNotFound if org has
// none (another organisation's credential included).
func (v *Vault) Get(ctx context.Context, org, id string) (Info, error) {
	c, err := v.store.GitCredential(ctx, org, id)
	if err != nil {
		return Info{}, err
	}
	return info(c), nil
}

// Update replaces the password of the credential id of org and, when
// username is not nil, its username: the same errors as Get, and
// ErrInvalid.
func (v *Vault) Update(ctx context.Context, org, id string, username *string, password Password) (Info, error) {
	name := ""
	if username != nil {
		name = *username
	}
	if err := Validate(name, string(password)); err != nil {
		return Info{}, err
	}
	old, err := v.store.GitCredential(ctx, org, id)
	if err != nil {
		return Info{}, err
	}
	if username == nil {
		name = old.Username
	}
	c, err := v.store.UpdateGitCredential(ctx, metadata.GitCredential{
		ID: id, Org: org, StorageKey: old.StorageKey, Username: name,
		Secret: v.box.Seal([]byte(password), additionalData(id, old.StorageKey, name)),
	})
	if err != nil {
		return Info{}, err
	}
	return info(c), nil
}

// Delete removes the credential id of org: the same errors as Get.
func (v *Vault) Delete(ctx context.Context, org, id string) error {
	return v.store.DeleteGitCredential(ctx, org, id)
}

// ForRepo opens the credential of the live repository with storageKey,
// for the upstream sync: metadata.ErrNotFound if it has none, an error
// matching secretbox.ErrOpen if the password does not open (the server
// runs with another secret key than the one it was sealed with, or the
// row was altered).
func (v *Vault) ForRepo(ctx context.Context, storageKey string) (Credential, error) {
	c, err := v.store.GitCredentialForRepo(ctx, storageKey)
	if err != nil {
		return Credential{}, err
	}
	pt, err := v.box.Open(c.Secret, additionalData(c.ID, c.StorageKey, c.Username))
	if err != nil {
		return Credential{}, fmt.Errorf("open git credential %s of repository %s/%s: %w", c.ID, c.Org, c.RepoID, err)
	}
	return Credential{Info: info(c), Password: Password(pt)}, nil
}
