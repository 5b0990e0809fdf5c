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

// credFor returns a credential for r with a sealed-looking secret.
func credFor(r metadata.Repo, id, username string) metadata.GitCredential {
	return metadata.GitCredential{ID: id, Org: r.Org, RepoID: r.ID, StorageKey: r.StorageKey,
		Username: username, Secret: []byte("\x01sealed:" + id)}
}

func createCred(t *testing.T, s metadata.Store, c metadata.GitCredential) metadata.GitCredential {
	t.Helper()
	got, err := s.CreateGitCredential(t.Context(), c)
	if err != nil {
		t.Fatalf("CreateGitCredential(%s, %s/%s): %v", c.ID, c.Org, c.RepoID, err)
	}
	return got
}

func getCred(t *testing.T, s metadata.Store, org, id string) metadata.GitCredential {
	t.Helper()
	c, err := s.GitCredential(t.Context(), org, id)
	if err != nil {
		t.Fatalf("GitCredential(%s, %s): %v", org, id, err)
	}
	return c
}

func fmtCred(c metadata.GitCredential) string {
	return fmt.Sprintf("{ID:%q Org:%q RepoID:%q StorageKey:%q Username:%q Secret:%q CreatedAt:%s UpdatedAt:%s}",
		c.ID, c.Org, c.RepoID, c.StorageKey, c.Username, c.Secret, c.CreatedAt, c.UpdatedAt)
}

func equalCred(t *testing.T, what string, got, want metadata.GitCredential) {
	t.Helper()
	if got.ID != want.ID || got.Org != want.Org || got.RepoID != want.RepoID || got.StorageKey != want.StorageKey ||
		got.Username != want.Username || !bytes.Equal(got.Secret, want.Secret) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("%s:\n got %s\nwant %s", what, fmtCred(got), fmtCred(want))
	}
}

func testCredentialCreateGet(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "team/r")
	in := credFor(r, "cred_1", "alice")
	before := time.Now()
	got := createCred(t, s, in)
	checkUTC(t, "CreatedAt", got.CreatedAt)
	checkUTC(t, "UpdatedAt", got.UpdatedAt)
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("CreatedAt %s is not now", got.CreatedAt)
	}
	want := in
	want.Secret = bytes.Clone(in.Secret)
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.CreatedAt
	equalCred(t, "CreateGitCredential result", got, want)
	// The store keeps its own copy of the secret.
	in.Secret[0] = 'X'
	equalCred(t, "GitCredential", getCred(t, s, "acme", "cred_1"), want)
	byRepo, err := s.GitCredentialForRepo(ctx, r.StorageKey)
	if err != nil {
		t.Fatalf("GitCredentialForRepo: %v", err)
	}
	equalCred(t, "GitCredentialForRepo", byRepo, want)

	// An empty username is a username ("" is what the SDK may send).
	r2 := create(t, s, "acme", "r2")
	c2 := createCred(t, s, credFor(r2, "cred_2", ""))
	if c2.Username != "" || getCred(t, s, "acme", "cred_2").Username != "" {
		t.Fatalf("empty username came back as %q", c2.Username)
	}
	// A given creation time is kept.
	r3 := create(t, s, "acme", "r3")
	at := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	c3 := credFor(r3, "cred_3", "u")
	c3.CreatedAt = at
	if got := createCred(t, s, c3); !got.CreatedAt.Equal(at) || !got.UpdatedAt.Equal(at) {
		t.Fatalf("CreatedAt/UpdatedAt = %s/%s, want %s", got.CreatedAt, got.UpdatedAt, at)
	}
}

func testCredentialCreateInvalid(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	noID := credFor(r, "", "u")
	if _, err := s.CreateGitCredential(ctx, noID); err == nil {
		t.Fatal("CreateGitCredential without an id succeeded")
	}
	noSecret := credFor(r, "cred_x", "u")
	noSecret.Secret = nil
	if _, err := s.CreateGitCredential(ctx, noSecret); err == nil {
		t.Fatal("CreateGitCredential without a secret succeeded")
	}
	if _, err := s.GitCredentialForRepo(ctx, r.StorageKey); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a failed create left a credential behind: %v", err)
	}
}

func testCredentialCreateNoRepo(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	for _, tc := range []struct {
		desc string
		edit func(c *metadata.GitCredential)
	}{
		{"unknown repository", func(c *metadata.GitCredential) { c.RepoID = "nope" }},
		{"another org", func(c *metadata.GitCredential) { c.Org = "globex" }},
		{"wrong storage key", func(c *metadata.GitCredential) { c.StorageKey = "0123456789abcdef" }},
	} {
		c := credFor(r, "cred_"+tc.desc, "u")
		tc.edit(&c)
		_, err := s.CreateGitCredential(ctx, c)
		wantErr(t, "CreateGitCredential, "+tc.desc, err, metadata.ErrNotFound)
	}
	d := create(t, s, "acme", "gone")
	if _, err := s.DeleteRepo(ctx, "acme", "gone"); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateGitCredential(ctx, credFor(d, "cred_d", "u"))
	wantErr(t, "CreateGitCredential for a deleted repository", err, metadata.ErrNotFound)
}

func testCredentialDuplicate(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	other := create(t, s, "acme", "other")
	first := createCred(t, s, credFor(r, "cred_1", "alice"))
	_, err := s.CreateGitCredential(ctx, credFor(r, "cred_2", "bob"))
	wantErr(t, "second credential for a repository", err, metadata.ErrExists)
	_, err = s.CreateGitCredential(ctx, credFor(other, "cred_1", "bob"))
	wantErr(t, "credential id taken", err, metadata.ErrExists)
	equalCred(t, "first credential", getCred(t, s, "acme", "cred_1"), first)
	if _, err := s.GitCredentialForRepo(ctx, other.StorageKey); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a refused create left a credential behind: %v", err)
	}
}

func testCredentialConcurrentCreate(t *testing.T, s metadata.Store) {
	r := create(t, s, "acme", "r")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.CreateGitCredential(t.Context(), credFor(r, fmt.Sprint("cred_", i), "u"))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, metadata.ErrExists):
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent creates succeeded, want 1", won)
	}
}

func testCredentialUpdate(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	bystander := createCred(t, s, credFor(create(t, s, "acme", "b"), "cred_b", "bob"))
	c := createCred(t, s, credFor(r, "cred_1", "alice"))
	up := c
	up.Username, up.Secret = "carol", []byte("\x01new-sealed")
	up.CreatedAt, up.UpdatedAt = time.Time{}, time.Time{} // ignored
	got, err := s.UpdateGitCredential(ctx, up)
	if err != nil {
		t.Fatalf("UpdateGitCredential: %v", err)
	}
	checkUTC(t, "UpdatedAt", got.UpdatedAt)
	if got.UpdatedAt.Before(c.CreatedAt) {
		t.Fatalf("UpdatedAt %s before CreatedAt %s", got.UpdatedAt, c.CreatedAt)
	}
	want := c
	want.Username, want.Secret, want.UpdatedAt = "carol", []byte("\x01new-sealed"), got.UpdatedAt
	equalCred(t, "UpdateGitCredential result", got, want)
	equalCred(t, "GitCredential after update", getCred(t, s, "acme", "cred_1"), want)
	equalCred(t, "other credential", getCred(t, s, "acme", "cred_b"), bystander)

	for _, tc := range []struct {
		desc string
		edit func(c *metadata.GitCredential)
	}{
		{"unknown id", func(c *metadata.GitCredential) { c.ID = "cred_nope" }},
		{"another org", func(c *metadata.GitCredential) { c.Org = "globex" }},
		{"another repository's key", func(c *metadata.GitCredential) { c.StorageKey = bystander.StorageKey }},
	} {
		bad := up
		bad.Secret = []byte("evil")
		tc.edit(&bad)
		_, err := s.UpdateGitCredential(ctx, bad)
		wantErr(t, "UpdateGitCredential, "+tc.desc, err, metadata.ErrNotFound)
	}
	equalCred(t, "after refused updates", getCred(t, s, "acme", "cred_1"), want)
	equalCred(t, "other credential after refused updates", getCred(t, s, "acme", "cred_b"), bystander)
}

func testCredentialDelete(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	bystander := createCred(t, s, credFor(create(t, s, "acme", "b"), "cred_b", "bob"))
	createCred(t, s, credFor(r, "cred_1", "alice"))
	if err := s.DeleteGitCredential(ctx, "acme", "cred_1"); err != nil {
		t.Fatalf("DeleteGitCredential: %v", err)
	}
	_, err := s.GitCredential(ctx, "acme", "cred_1")
	wantErr(t, "GitCredential after delete", err, metadata.ErrNotFound)
	_, err = s.GitCredentialForRepo(ctx, r.StorageKey)
	wantErr(t, "GitCredentialForRepo after delete", err, metadata.ErrNotFound)
	err = s.DeleteGitCredential(ctx, "acme", "cred_1")
	wantErr(t, "second DeleteGitCredential", err, metadata.ErrNotFound)
	err = s.DeleteGitCredential(ctx, "acme", "cred_never")
	wantErr(t, "DeleteGitCredential of an unknown id", err, metadata.ErrNotFound)
	_, err = s.UpdateGitCredential(ctx, credFor(r, "cred_1", "x"))
	wantErr(t, "UpdateGitCredential after delete", err, metadata.ErrNotFound)
	equalCred(t, "other credential", getCred(t, s, "acme", "cred_b"), bystander)
	// The repository may get a credential again.
	createCred(t, s, credFor(r, "cred_2", "alice"))
}

func testCredentialOrgIsolation(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	create(t, s, "globex", "r") // same repository id in the other org
	c := createCred(t, s, credFor(r, "cred_1", "alice"))
	_, err := s.GitCredential(ctx, "globex", "cred_1")
	wantErr(t, "GitCredential from another org", err, metadata.ErrNotFound)
	evil := c
	evil.Org, evil.Secret = "globex", []byte("evil")
	_, err = s.UpdateGitCredential(ctx, evil)
	wantErr(t, "UpdateGitCredential from another org", err, metadata.ErrNotFound)
	err = s.DeleteGitCredential(ctx, "globex", "cred_1")
	wantErr(t, "DeleteGitCredential from another org", err, metadata.ErrNotFound)
	equalCred(t, "owner's view", getCred(t, s, "acme", "cred_1"), c)
}

func testCredentialDeletedRepo(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	c := createCred(t, s, credFor(r, "cred_1", "alice"))
	if _, err := s.DeleteRepo(ctx, "acme", "r"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	_, err := s.GitCredential(ctx, "acme", "cred_1")
	wantErr(t, "GitCredential of a deleted repository", err, metadata.ErrNotFound)
	_, err = s.GitCredentialForRepo(ctx, r.StorageKey)
	wantErr(t, "GitCredentialForRepo of a deleted repository", err, metadata.ErrNotFound)
	_, err = s.UpdateGitCredential(ctx, c)
	wantErr(t, "UpdateGitCredential of a deleted repository", err, metadata.ErrNotFound)
	err = s.DeleteGitCredential(ctx, "acme", "cred_1")
	wantErr(t, "DeleteGitCredential of a deleted repository", err, metadata.ErrNotFound)

	// The recreated repository starts without a credential, and may get
	// one, even under the old credential's id.
	again := create(t, s, "acme", "r")
	_, err = s.GitCredentialForRepo(ctx, again.StorageKey)
	wantErr(t, "GitCredentialForRepo of the recreated repository", err, metadata.ErrNotFound)
	createCred(t, s, credFor(again, "cred_2", "bob"))
	createCred(t, s, credFor(create(t, s, "acme", "r2"), "cred_1", "eve"))
}
