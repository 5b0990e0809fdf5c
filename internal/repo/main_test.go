package repo

import (
	"os"
	"testing"

	"github.com/strata-storage/strata/internal/leakcheck"
)

// The walk cache runs git log processes in the background: none may
// outlive the tests (a producer's goroutine ends with its process).
func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }
