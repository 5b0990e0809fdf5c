package githttp_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/strata-storage/strata/internal/config"
)

// TestConfiguredPushLimit: --max-push-bytes reaches the transport of a
// server started from config; the refused push changes nothing.
func TestConfiguredPushLimit(t *testing.T) {
	t.Parallel()
	s := startGitServer(t, func(c *config.Config) { c.Transport.MaxPushBytes = 4 << 10 })
	s.createRepo("limited")
	noise := make([]byte, 32<<10)
	rand.Read(noise)
	dir := s.workdir(map[string]string{"big.txt": hex.EncodeToString(noise)})
	stderr := s.failGit(dir, "push", s.remote(s.writeToken("limited"), "limited", ""), "main")
	wantContains(t, stderr, "pack exceeds maximum allowed size")
	if got := s.branches("limited", false); len(got) != 0 {
		t.Fatalf("branches after a refused push: %v", got)
	}
}
