package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// pemFor is a stand-in public key: the store keeps PEM opaque.
func pemFor(id string) []byte {
	return []byte("-----BEGIN PUBLIC KEY-----\n" + id + "\n-----END PUBLIC KEY-----\n")
}

func createOrg(t *testing.T, s metadata.Store, o metadata.Org) metadata.Org {
	t.Helper()
	got, err := s.CreateOrg(t.Context(), o)
	if err != nil {
		t.Fatalf("CreateOrg(%s): %v", o.Name, err)
	}
	return got
}

func getOrg(t *testing.T, s metadata.Store, name string) metadata.Org {
	t.Helper()
	o, err := s.Org(t.Context(), name)
	if err != nil {
		t.Fatalf("Org(%s): %v", name, err)
	}
	return o
}

func fmtOrg(o metadata.Org) string {
	s := fmt.Sprintf("{Name:%q JWKSURL:%q CreatedAt:%s Keys:[", o.Name, o.JWKSURL, o.CreatedAt.Format(time.RFC3339Nano))
	for _, k := range o.Keys {
		s += fmt.Sprintf(" {Org:%q ID:%q PublicKey:%q CreatedAt:%s}", k.Org, k.ID, k.PublicKey, k.CreatedAt.Format(time.RFC3339Nano))
	}
	return s + " ]}"
}

func equalOrg(t *testing.T, what string, got, want metadata.Org) {
	t.Helper()
	same := got.Name == want.Name && got.JWKSURL == want.JWKSURL && got.CreatedAt.Equal(want.CreatedAt) && len(got.Keys) == len(want.Keys)
	for i := 0; same && i < len(got.Keys); i++ {
		g, w := got.Keys[i], want.Keys[i]
		same = g.Org == w.Org && g.ID == w.ID && bytes.Equal(g.PublicKey, w.PublicKey) && g.CreatedAt.Equal(w.CreatedAt)
	}
	if !same {
		t.Fatalf("%s:\n got %s\nwant %s", what, fmtOrg(got), fmtOrg(want))
	}
}

func orgsVersion(t *testing.T, s metadata.Store) int64 {
	t.Helper()
	v, err := s.OrgsVersion(t.Context())
	if err != nil {
		t.Fatalf("OrgsVersion: %v", err)
	}
	return v
}

func testOrgCreateGet(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	if orgs, err := s.Orgs(ctx); err != nil || len(orgs) != 0 {
		t.Fatalf("Orgs on an empty store = %d orgs, %v", len(orgs), err)
	}
	wantErr(t, "Org(unknown)", func() error { _, err := s.Org(ctx, "acme"); return err }(), metadata.ErrNotFound)

	before := time.Now()
	later := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	in := metadata.Org{Name: "acme", JWKSURL: "https://id.example.com/jwks.json", Keys: []metadata.OrgKey{
		{ID: "k2", PublicKey: pemFor("k2"), CreatedAt: later},
		{Org: "ignored", ID: "k1", PublicKey: pemFor("k1")},
	}}
	got := createOrg(t, s, in)
	checkUTC(t, "CreatedAt", got.CreatedAt)
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("CreatedAt %s is not now", got.CreatedAt)
	}
	want := metadata.Org{Name: "acme", JWKSURL: in.JWKSURL, CreatedAt: got.CreatedAt, Keys: []metadata.OrgKey{
		// A key without a time gets the organisation's; keys come in the
		// order added.
		{Org: "acme", ID: "k1", PublicKey: pemFor("k1"), CreatedAt: got.CreatedAt},
		{Org: "acme", ID: "k2", PublicKey: pemFor("k2"), CreatedAt: later},
	}}
	equalOrg(t, "CreateOrg result", got, want)
	for _, k := range got.Keys {
		checkUTC(t, "key CreatedAt", k.CreatedAt)
	}
	// The store keeps its own copy of the key.
	in.Keys[0].PublicKey[0] = 'X'
	equalOrg(t, "Org", getOrg(t, s, "acme"), want)

	// An organisation may have no keys (a JWKS URL only, or keys to come).
	bare := createOrg(t, s, metadata.Org{Name: "Globex"})
	if len(bare.Keys) != 0 || bare.JWKSURL != "" {
		t.Fatalf("CreateOrg(Globex) = %s", fmtOrg(bare))
	}
	orgs, err := s.Orgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 2 {
		t.Fatalf("Orgs returned %d orgs, want 2", len(orgs))
	}
	// By name, byte order.
	equalOrg(t, "Orgs[0]", orgs[0], getOrg(t, s, "Globex"))
	equalOrg(t, "Orgs[1]", orgs[1], want)
	// Names are case-sensitive, as JWT iss is.
	wantErr(t, "Org(ACME)", func() error { _, err := s.Org(ctx, "ACME"); return err }(), metadata.ErrNotFound)
}

func testOrgCreateInvalid(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	for _, o := range []metadata.Org{
		{Name: ""},
		{Name: "acme", Keys: []metadata.OrgKey{{ID: "", PublicKey: pemFor("x")}}},
		{Name: "acme", Keys: []metadata.OrgKey{{ID: "k1"}}},
	} {
		if _, err := s.CreateOrg(ctx, o); err == nil {
			t.Fatalf("CreateOrg(%s) accepted an invalid organisation", fmtOrg(o))
		}
	}
	wantErr(t, "Org after invalid creates", func() error { _, err := s.Org(ctx, "acme"); return err }(), metadata.ErrNotFound)

	// Two keys with one id: nothing is created.
	_, err := s.CreateOrg(ctx, metadata.Org{Name: "acme", Keys: []metadata.OrgKey{
		{ID: "k1", PublicKey: pemFor("a")}, {ID: "k1", PublicKey: pemFor("b")},
	}})
	wantErr(t, "CreateOrg with a duplicate kid", err, metadata.ErrExists)
	wantErr(t, "Org after a failed create", func() error { _, err := s.Org(ctx, "acme"); return err }(), metadata.ErrNotFound)

	createOrg(t, s, metadata.Org{Name: "acme"})
	_, err = s.CreateOrg(ctx, metadata.Org{Name: "acme", Keys: []metadata.OrgKey{{ID: "k9", PublicKey: pemFor("k9")}}})
	wantErr(t, "CreateOrg twice", err, metadata.ErrExists)
	if o := getOrg(t, s, "acme"); len(o.Keys) != 0 {
		t.Fatalf("a refused CreateOrg left keys: %s", fmtOrg(o))
	}
}

func testOrgKeys(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	_, err := s.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "k1", PublicKey: pemFor("k1")})
	wantErr(t, "AddOrgKey to an unknown org", err, metadata.ErrNotFound)
	if _, err := s.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "", PublicKey: pemFor("k1")}); err == nil {
		t.Fatal("AddOrgKey accepted an empty key id")
	}

	o := createOrg(t, s, metadata.Org{Name: "acme", Keys: []metadata.OrgKey{{ID: "old", PublicKey: pemFor("old")}}})
	createOrg(t, s, metadata.Org{Name: "globex", Keys: []metadata.OrgKey{{ID: "old", PublicKey: pemFor("globex-old")}}})
	before := time.Now()
	k, err := s.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "new", PublicKey: pemFor("new")})
	if err != nil {
		t.Fatalf("AddOrgKey: %v", err)
	}
	checkUTC(t, "CreatedAt", k.CreatedAt)
	if k.Org != "acme" || k.ID != "new" || !bytes.Equal(k.PublicKey, pemFor("new")) || k.CreatedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("AddOrgKey returned %+v", k)
	}
	want := o
	want.Keys = append(want.Keys, k)
	equalOrg(t, "Org after AddOrgKey", getOrg(t, s, "acme"), want)

	_, err = s.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "new", PublicKey: pemFor("other")})
	wantErr(t, "AddOrgKey with a taken id", err, metadata.ErrExists)

	if err := s.RemoveOrgKey(ctx, "acme", "old"); err != nil {
		t.Fatalf("RemoveOrgKey: %v", err)
	}
	want.Keys = []metadata.OrgKey{k}
	equalOrg(t, "Org after RemoveOrgKey", getOrg(t, s, "acme"), want)
	wantErr(t, "RemoveOrgKey twice", s.RemoveOrgKey(ctx, "acme", "old"), metadata.ErrNotFound)
	wantErr(t, "RemoveOrgKey of an unknown org", s.RemoveOrgKey(ctx, "initech", "new"), metadata.ErrNotFound)
	// The other organisation's key of the same id is untouched.
	if g := getOrg(t, s, "globex"); len(g.Keys) != 1 || g.Keys[0].ID != "old" {
		t.Fatalf("globex after removing acme's key: %s", fmtOrg(g))
	}
	// Removing the last key leaves the organisation.
	if err := s.RemoveOrgKey(ctx, "acme", "new"); err != nil {
		t.Fatal(err)
	}
	if o := getOrg(t, s, "acme"); len(o.Keys) != 0 {
		t.Fatalf("keys left: %s", fmtOrg(o))
	}
}

func testOrgDelete(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	wantErr(t, "DeleteOrg(unknown)", s.DeleteOrg(ctx, "acme"), metadata.ErrNotFound)
	createOrg(t, s, metadata.Org{Name: "acme", Keys: []metadata.OrgKey{{ID: "k1", PublicKey: pemFor("k1")}}})
	createOrg(t, s, metadata.Org{Name: "globex", Keys: []metadata.OrgKey{{ID: "k1", PublicKey: pemFor("g")}}})
	r := create(t, s, "acme", "repo")
	if err := s.DeleteOrg(ctx, "acme"); err != nil {
		t.Fatalf("DeleteOrg: %v", err)
	}
	wantErr(t, "Org after DeleteOrg", func() error { _, err := s.Org(ctx, "acme"); return err }(), metadata.ErrNotFound)
	wantErr(t, "DeleteOrg twice", s.DeleteOrg(ctx, "acme"), metadata.ErrNotFound)
	// Repositories are not the key store's business.
	equalRepo(t, "repository after DeleteOrg", get(t, s, "acme", "repo"), r)
	if g := getOrg(t, s, "globex"); len(g.Keys) != 1 {
		t.Fatalf("globex after deleting acme: %s", fmtOrg(g))
	}
	// Recreated, the organisation has none of its old keys.
	if o := createOrg(t, s, metadata.Org{Name: "acme"}); len(getOrg(t, s, "acme").Keys) != 0 {
		t.Fatalf("recreated org has old keys: %s", fmtOrg(o))
	}
	if _, err := s.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "k1", PublicKey: pemFor("k1b")}); err != nil {
		t.Fatalf("AddOrgKey reusing a deleted org's kid: %v", err)
	}
}

func testOrgJWKSURL(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	wantErr(t, "SetOrgJWKSURL(unknown)", s.SetOrgJWKSURL(ctx, "acme", "https://x.example/jwks"), metadata.ErrNotFound)
	createOrg(t, s, metadata.Org{Name: "acme"})
	if err := s.SetOrgJWKSURL(ctx, "acme", "https://x.example/jwks"); err != nil {
		t.Fatal(err)
	}
	if o := getOrg(t, s, "acme"); o.JWKSURL != "https://x.example/jwks" {
		t.Fatalf("JWKSURL = %q", o.JWKSURL)
	}
	if err := s.SetOrgJWKSURL(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	if o := getOrg(t, s, "acme"); o.JWKSURL != "" {
		t.Fatalf("JWKSURL = %q after removing it", o.JWKSURL)
	}
}

// testOrgsVersion: every change moves the version, reads and refused
// changes do not, so a poller reloads exactly when it must.
func testOrgsVersion(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	v := orgsVersion(t, s)
	step := func(what string, change func() error) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		next := orgsVersion(t, s)
		if next <= v {
			t.Fatalf("%s: version %d -> %d, want it to grow", what, v, next)
		}
		v = next
	}
	step("CreateOrg", func() error { _, err := s.CreateOrg(ctx, metadata.Org{Name: "acme"}); return err })
	step("AddOrgKey", func() error {
		_, err := s.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "k1", PublicKey: pemFor("k1")})
		return err
	})
	step("SetOrgJWKSURL", func() error { return s.SetOrgJWKSURL(ctx, "acme", "https://x.example/jwks") })
	step("RemoveOrgKey", func() error { return s.RemoveOrgKey(ctx, "acme", "k1") })
	step("DeleteOrg", func() error { return s.DeleteOrg(ctx, "acme") })

	s.Orgs(ctx)
	s.Org(ctx, "acme")
	s.DeleteOrg(ctx, "acme")
	s.RemoveOrgKey(ctx, "acme", "k1")
	s.AddOrgKey(ctx, metadata.OrgKey{Org: "acme", ID: "k1", PublicKey: pemFor("k1")})
	create(t, s, "acme", "repo")
	if got := orgsVersion(t, s); got != v {
		t.Fatalf("version moved from %d to %d without a change to organisations", v, got)
	}
}

func testOrgConcurrentAddKey(t *testing.T, s metadata.Store) {
	createOrg(t, s, metadata.Org{Name: "acme"})
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.AddOrgKey(t.Context(), metadata.OrgKey{Org: "acme", ID: "k1", PublicKey: pemFor(fmt.Sprint(i))})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, metadata.ErrExists):
			t.Fatalf("AddOrgKey: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent AddOrgKey calls with one kid succeeded, want 1", won)
	}
}
