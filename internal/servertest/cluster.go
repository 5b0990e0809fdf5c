package servertest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/s3test"
)

// Cluster is n Strata servers in the clustered mode (docs/scale-out.md):
// one PostgreSQL database, one S3-compatible bucket (versitygw), one
// organisation key and one secret key, and a cache directory each.
type Cluster struct {
	Nodes []*Server
	DSN   string
	S3    *s3test.Server
}

// StartCluster starts a real PostgreSQL (pgtest) and a real versitygw
// (s3test) and n servers on them; it skips the test when either cannot be
// started. The AWS_* variables of the bucket are set for the test (t.Setenv),
// so the test must not be parallel. A package using it calls Main from
// TestMain, which stops PostgreSQL at the end.
func StartCluster(t *testing.T, n int, opts ...Option) *Cluster {
	t.Helper()
	dsn := pgtest.New(t)
	s3 := s3test.Start(t)
	for k, v := range s3.Env {
		t.Setenv(k, v)
	}
	signer, pub := NewKey(t)
	secret := filepath.Join(t.TempDir(), "secret.key")
	b := make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(b)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{DSN: dsn, S3: s3}
	for range n {
		all := append([]Option{func(cfg *config.Config) {
			cfg.Metadata = dsn
			cfg.Cluster.Objects = s3.URL
			cfg.SecretKeyFile = secret
		}}, opts...)
		c.Nodes = append(c.Nodes, start(t, signer, pub, all))
	}
	return c
}

// Node returns node i mod n: requests spread over the nodes by index.
func (c *Cluster) Node(i int) *Server { return c.Nodes[i%len(c.Nodes)] }
