package server_test

import (
	"testing"

	"github.com/strata-storage/strata/internal/servertest"
)

// The servers of these tests accept pushes, whose hook is this binary.
func TestMain(m *testing.M) { servertest.Main(m) }
