package sdk_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/strata-storage/strata/internal/pgtest"
)

// TestMain makes the directory the strata binary is built into and stops
// the PostgreSQL of the cluster run (pgtest) at the end.
func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "strata-sdk-bin-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := pgtest.Run(m)
	os.RemoveAll(binDir)
	os.Exit(code)
}
