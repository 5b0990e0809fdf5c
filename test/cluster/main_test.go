// Package cluster_test runs Strata's clustered mode end to end: several
// servers on one real PostgreSQL and one real S3-compatible server
// (versitygw), with REST requests and git spread over the nodes
// (docs/scale-out.md).
package cluster_test

import (
	"testing"

	"github.com/strata-storage/strata/internal/servertest"
)

// The servers' pushes run the test binary as git's proc-receive hook.
func TestMain(m *testing.M) { servertest.Main(m) }
