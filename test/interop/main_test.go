package interop

import (
	"testing"

	"github.com/strata-storage/strata/internal/servertest"
)

// The server's pushes run the test binary as git's proc-receive hook.
func TestMain(m *testing.M) { servertest.Main(m) }
