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
