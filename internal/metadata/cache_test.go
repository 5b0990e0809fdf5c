package metadata_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/metadata/storetest"
)

// The cached store is a Store like any other.
func TestCachedStore_conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) metadata.Store {
		s, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "m.db"))
		if err != nil {
			t.Fatal(err)
		}
		return metadata.NewCachedStore(s, 0)
	})
}

// A delete through the cache is seen at once, however long the TTL.
func TestCachedStore_deleteInvalidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := metadata.NewCachedStore(s, 1<<62)
	t.Cleanup(func() { c.Close() })
	if _, err := c.CreateRepo(ctx, metadata.Repo{Org: "o", ID: "r", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Repo(ctx, "o", "r"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDefaultBranch(ctx, "o", "r", "trunk"); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Repo(ctx, "o", "r"); r.DefaultBranch != "trunk" {
		t.Fatalf("default branch %q after SetDefaultBranch", r.DefaultBranch)
	}
	if _, err := c.DeleteRepo(ctx, "o", "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Repo(ctx, "o", "r"); !errors.Is(err, metadata.ErrDeleted) {
		t.Fatalf("after delete: %v", err)
	}
}

// pausingStore holds its next Repo lookup, after the row was read, until
// released: a lookup that raced a delete.
type pausingStore struct {
	metadata.Store
	read    chan struct{} // receives once the held lookup has read the row
	release chan struct{}
}

func (s *pausingStore) Repo(ctx context.Context, org, id string) (metadata.Repo, error) {
	r, err := s.Store.Repo(ctx, org, id)
	if s.read != nil {
		read := s.read
		s.read = nil
		read <- struct{}{}
		<-s.release
	}
	return r, err
}

// A lookup that read the live row before a delete, and finishes after it,
// must not cache that row: the next lookup sees the delete.
func TestCachedStore_lookupRacingDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	s := &pausingStore{Store: db, release: make(chan struct{})}
	c := metadata.NewCachedStore(s, 1<<62)
	t.Cleanup(func() { c.Close() })
	if _, err := c.CreateRepo(ctx, metadata.Repo{Org: "o", ID: "r", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	s.read = read
	done := make(chan error, 1)
	go func() {
		_, err := c.Repo(ctx, "o", "r")
		done <- err
	}()
	<-read // the live row is read; the delete commits before it is cached
	if _, err := c.DeleteRepo(ctx, "o", "r"); err != nil {
		t.Fatal(err)
	}
	close(s.release)
	if err := <-done; err != nil {
		t.Fatalf("racing lookup: %v", err)
	}
	if _, err := c.Repo(ctx, "o", "r"); !errors.Is(err, metadata.ErrDeleted) {
		t.Fatalf("after delete: %v, want ErrDeleted", err)
	}
}
