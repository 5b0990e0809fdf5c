package bench

import (
	"testing"

	"github.com/strata-storage/strata/internal/servertest"
)

// TestMain lets this test binary stand in for the strata binary as the
// push hook of the servers these tests start.
func TestMain(m *testing.M) { servertest.Main(m) }
