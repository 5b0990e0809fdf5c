package metadata_test

import (
	"testing"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/metadata/storetest"
	"github.com/strata-storage/strata/internal/pgtest"
)

// The PostgreSQL server of these tests stops with the test binary.
func TestMain(m *testing.M) { pgtest.Main(m) }

func openPostgres(t *testing.T, dsn string) *metadata.PostgresStore {
	t.Helper()
	s, err := metadata.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	return s
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) metadata.Store {
		return openPostgres(t, pgtest.New(t))
	})
}
