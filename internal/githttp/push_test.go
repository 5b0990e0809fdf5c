package githttp_test

import (
	"path/filepath"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
)

func TestPush(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	url := s.remote(s.writeToken("app"), "app", "")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	first := s.mustGit(dir, "rev-parse", "HEAD")

	t.Run("new branches", func(t *testing.T) {
		s := s.with(t)
		s.mustGit(dir, "push", "-q", url, "main", "main:feature/x")
		got := s.branches("app", false)
		if got["main"] != first || got["feature/x"] != first {
			t.Fatalf("branches = %v", got)
		}
	})

	second := s.commit(dir, "second", map[string]string{"b.txt": "b\n"})
	t.Run("fast-forward", func(t *testing.T) {
		s := s.with(t)
		s.mustGit(dir, "push", "-q", url, "main")
		if got := s.branches("app", false)["main"]; got != second {
			t.Fatalf("main = %s, want %s", got, second)
		}
	})

	t.Run("force", func(t *testing.T) {
		s := s.with(t)
		s.mustGit(dir, "checkout", "-q", "-b", "rewrite", first)
		rewritten := s.commit(dir, "rewritten", map[string]string{"c.txt": "c\n"})
		stderr := s.failGit(dir, "push", url, "rewrite:main")
		wantContains(t, stderr, "rejected")
		s.mustGit(dir, "push", "-q", "--force", url, "rewrite:main")
		if got := s.branches("app", false)["main"]; got != rewritten {
			t.Fatalf("main = %s, want %s", got, rewritten)
		}
		s.mustGit(dir, "checkout", "-q", "main")
		s.mustGit(dir, "reset", "-q", "--hard", rewritten)
	})

	t.Run("delete", func(t *testing.T) {
		s := s.with(t)
		s.mustGit(dir, "push", "-q", url, ":feature/x")
		if _, ok := s.branches("app", false)["feature/x"]; ok {
			t.Fatal("feature/x still exists")
		}
		wantContains(t, s.failGit(dir, "push", url, ":main"), "refusing to delete the default branch")
	})

	t.Run("tags", func(t *testing.T) {
		s := s.with(t)
		s.mustGit(dir, "tag", "v1")
		s.mustGit(dir, "tag", "-a", "-m", "release 2", "v2")
		s.mustGit(dir, "push", "-q", "--tags", url)
		refs := s.lsRemote(url, "--tags")
		if refs["refs/tags/v1"] == "" || refs["refs/tags/v2"] == "" || refs["refs/tags/v2^{}"] != refs["refs/tags/v1"] {
			t.Fatalf("tags = %v", refs)
		}
		s.mustGit(dir, "push", "-q", url, ":refs/tags/v1")
		if _, ok := s.lsRemote(url, "--tags")["refs/tags/v1"]; ok {
			t.Fatal("v1 still exists")
		}
	})

	t.Run("atomic", func(t *testing.T) {
		s := s.with(t)
		head := s.commit(dir, "atomic", nil)
		s.mustGit(dir, "push", "-q", "--atomic", url, "main", "main:atomic-a", "main:atomic-b")
		got := s.branches("app", false)
		if got["main"] != head || got["atomic-a"] != head || got["atomic-b"] != head {
			t.Fatalf("branches = %v", got)
		}
	})

	t.Run("protocol v1", func(t *testing.T) {
		s := s.with(t)
		head := s.commit(dir, "v1 push", nil)
		s.mustGit(dir, "-c", "protocol.version=1", "push", "-q", url, "main")
		if got := s.branches("app", false)["main"]; got != head {
			t.Fatalf("main = %s, want %s", got, head)
		}
	})

	t.Run("large push", func(t *testing.T) {
		s := s.with(t)
		// Bigger than http.postBuffer: chunked transfer after a probe.
		files := map[string]string{}
		for i := 0; i < 300; i++ {
			files[filepath.Join("many", string(rune('a'+i%26)), string(rune('a'+i/26))+".txt")] = randomText(i, 8<<10)
		}
		head := s.commit(dir, "large", files)
		s.mustGit(dir, "-c", "http.postBuffer=65536", "push", "-q", url, "main")
		if got := s.branches("app", false)["main"]; got != head {
			t.Fatalf("main = %s, want %s", got, head)
		}
	})
}

func TestPush_atomicDenied(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("app"), "app", ""), "main")
	before := s.branches("app", false)

	tok := s.TokenWith(auth.Claims{Repo: "app", Scopes: []auth.Scope{auth.ScopeGitWrite},
		Refs: []auth.RawRule{{Pattern: "protected", Ops: []auth.Op{auth.OpNoPush}}}})
	url := s.remote(tok, "app", "")
	s.commit(dir, "next", nil)
	stderr := s.failGit(dir, "push", "--atomic", url, "main", "main:protected", "main:other")
	wantContains(t, stderr, "denied by policy: no-push on refs/heads/protected")
	wantContains(t, stderr, "atomic push failure")
	if got := s.branches("app", false); len(got) != len(before) || got["main"] != before["main"] {
		t.Fatalf("branches = %v, want unchanged %v", got, before)
	}

	// Without --atomic the other refs go through.
	stderr = s.failGit(dir, "push", url, "main", "main:protected", "main:other")
	wantContains(t, stderr, "denied by policy: no-push on refs/heads/protected")
	got := s.branches("app", false)
	head := s.mustGit(dir, "rev-parse", "HEAD")
	if got["main"] != head || got["other"] != head || got["protected"] != "" {
		t.Fatalf("branches = %v", got)
	}
}

// randomText is deterministic incompressible-ish text.
func randomText(seed, n int) string {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = 'a' + byte(x%26)
	}
	return string(b)
}
