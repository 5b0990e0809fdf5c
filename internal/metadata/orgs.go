package metadata

import (
	"context"
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
