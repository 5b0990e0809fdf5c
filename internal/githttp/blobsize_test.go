package githttp_test

import (
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/config"
)

// TestPushBlobSizeCap: a small pack that inflates to a blob over
// --max-blob-bytes is refused with a message naming the cap, moves no
// ref, and a push of blobs within the cap still works (issue 10 #8).
func TestPushBlobSizeCap(t *testing.T) {
	t.Parallel()
	s := startGitServer(t, func(c *config.Config) { c.Limits.MaxBlobBytes = 64 << 10 })
	s.createRepo("blobcap")
	url := s.remote(s.writeToken("blobcap"), "blobcap", "")

	// 1 MiB of zeros compresses to ~1 KB: well under any pack limit.
	dir := s.workdir(map[string]string{"zeros.bin": strings.Repeat("\x00", 1<<20)})
	stderr := s.failGit(dir, "push", url, "main")
	wantContains(t, stderr, "maximum blob size of 65536 bytes")
	if got := s.branches("blobcap", false); len(got) != 0 {
		t.Fatalf("branches after a refused push: %v", got)
	}

	// The same blob reached in a second push, behind an accepted first
	// one, is still new to the repository and still refused.
	ok := s.workdir(map[string]string{"small.txt": strings.Repeat("x", 60<<10)})
	s.mustGit(ok, "push", url, "main")
	s.commit(ok, "big", map[string]string{"zeros.bin": strings.Repeat("\x00", 1<<20)})
	stderr = s.failGit(ok, "push", url, "main:refs/heads/other")
	wantContains(t, stderr, "maximum blob size")
	if got := s.branches("blobcap", false); len(got) != 1 {
		t.Fatalf("branches: %v, want only main", got)
	}
}
