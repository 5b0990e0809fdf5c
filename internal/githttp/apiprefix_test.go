package githttp_test

import (
	"path/filepath"
	"testing"
)

// Repository ids that look like server routes ("api/...", "metrics") are
// still reachable over git: the smart-HTTP endpoints are dispatched by
// their suffix before the REST routes see the path.
func TestRouteLookalikeIDs(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	for _, id := range []string{"api/v1/repos", "metrics", "healthz"} {
		s.createRepo(id)
		tok := s.writeToken(id)
		url := s.remote(tok, id, "")
		src := s.workdir(map[string]string{"a.txt": id + "\n"})
		s.mustGit(src, "push", "-q", url, "main")
		dst := filepath.Join(t.TempDir(), "c")
		s.mustGit("", "clone", "-q", url, dst)
		if got := s.mustGit(dst, "show", "HEAD:a.txt"); got != id {
			t.Fatalf("%s: a.txt = %q", id, got)
		}
	}
}
