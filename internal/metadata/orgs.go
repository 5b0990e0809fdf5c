package metadata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Org is an organisation registered in the store (by `strata org add`),
// with the keys that verify its tokens. Organisations given on the serve
// command line (--org) are not stored.
type Org struct {
	Name string // the JWT iss
	// JWKSURL, when not empty, names a JSON Web Key Set whose keys are
	// trusted beside Keys. The store keeps it as given.
	JWKSURL   string
	CreatedAt time.Time // UTC
	Keys      []OrgKey  // in the order added (CreatedAt, then ID)
}

// OrgKey is one public key of an organisation.
type OrgKey struct {
	Org string
	// ID is the key id a token names in its kid header; unique within Org.
	ID string
	// PublicKey is PEM, opaque to the store: callers check it before
	// storing it and parse it after reading.
	PublicKey []byte
	CreatedAt time.Time // UTC
}

// OrgStore holds organisations and their keys. Every change moves
// OrgsVersion in the same transaction, so a server can notice changes made
// by another process (the CLI) with one cheap query.
type OrgStore interface {
	// CreateOrg registers o with its keys, all or nothing. CreatedAt is now
	// if zero, and each key's CreatedAt is the organisation's if zero; key
	// Org fields are ignored. ErrExists if the organisation exists or two
	// keys share an ID. o.Name and every key's ID and PublicKey must not be
	// empty. It returns the organisation as Org would return it.
	CreateOrg(ctx context.Context, o Org) (Org, error)
	// Org returns the organisation name with its keys, ErrNotFound if there
	// is none.
	Org(ctx context.Context, name string) (Org, error)
	// Orgs returns every organisation with its keys, by name.
	Orgs(ctx context.Context) ([]Org, error)
	// DeleteOrg removes the organisation and its keys; ErrNotFound if there
	// is none. Its repositories are untouched.
	DeleteOrg(ctx context.Context, name string) error
	// SetOrgJWKSURL replaces the organisation's JWKS URL ("" removes it);
	// ErrNotFound if there is no such organisation.
	SetOrgJWKSURL(ctx context.Context, name, url string) error
	// AddOrgKey adds k to the organisation k.Org: ErrNotFound if there is
	// no such organisation, ErrExists if it has a key with k.ID. CreatedAt
	// is now if zero. It returns the key as Org would return it.
	AddOrgKey(ctx context.Context, k OrgKey) (OrgKey, error)
	// RemoveOrgKey removes the key id of org; ErrNotFound if there is no
	// such key.
	RemoveOrgKey(ctx context.Context, org, id string) error
	// OrgsVersion returns a number that grows with every change made by
	// the methods above, in any process sharing the store.
	OrgsVersion(ctx context.Context) (int64, error)
}

// newOrg checks o for CreateOrg and returns it as Org will return it:
// CreatedAt now if zero, each key's CreatedAt the organisation's if zero,
// times as stored (UTC, nanoseconds), keys copied, owned by o.Name and in
// Org's order.
func newOrg(o Org) (Org, error) {
	if o.Name == "" {
		return Org{}, errors.New("create org: name must not be empty")
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now()
	}
	o.CreatedAt = fromNanos(o.CreatedAt.UnixNano())
	keys := make([]OrgKey, len(o.Keys))
	for i, k := range o.Keys {
		if k.ID == "" || len(k.PublicKey) == 0 {
			return Org{}, fmt.Errorf("create org %s: key id and public key must not be empty", o.Name)
		}
		if k.CreatedAt.IsZero() {
			k.CreatedAt = o.CreatedAt
		}
		keys[i] = OrgKey{Org: o.Name, ID: k.ID, PublicKey: bytes.Clone(k.PublicKey), CreatedAt: fromNanos(k.CreatedAt.UnixNano())}
	}
	o.Keys = sortKeys(keys)
	return o, nil
}

// newOrgKey checks k for AddOrgKey and returns it as Org will return it:
// CreatedAt now if zero and as stored, PublicKey copied.
func newOrgKey(k OrgKey) (OrgKey, error) {
	if k.Org == "" || k.ID == "" || len(k.PublicKey) == 0 {
		return OrgKey{}, fmt.Errorf("add key %q to org %s: org, key id and public key must not be empty", k.ID, k.Org)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now()
	}
	k.CreatedAt = fromNanos(k.CreatedAt.UnixNano())
	k.PublicKey = bytes.Clone(k.PublicKey)
	return k, nil
}

// sortKeys orders keys as Org returns them.
func sortKeys(keys []OrgKey) []OrgKey {
	slices.SortFunc(keys, func(a, b OrgKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return keys
}
