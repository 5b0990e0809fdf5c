package githttp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClone(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	tok := s.writeToken("app")
	url := s.remote(tok, "app", "")

	src := s.workdir(map[string]string{"README.md": "hello\n", "big/data.txt": strings.Repeat("x", 100000)})
	second := s.commit(src, "second", map[string]string{"README.md": "hello again\n"})
	s.mustGit(src, "push", "-q", url, "main", "main:other")

	for _, tc := range []struct {
		desc string
		args []string
	}{
		{"full v2", []string{"-c", "protocol.version=2", "clone", "-q"}},
		{"full v0", []string{"-c", "protocol.version=0", "clone", "-q"}},
		{"full v1", []string{"-c", "protocol.version=1", "clone", "-q"}},
		{"shallow v2", []string{"clone", "-q", "--depth", "1", "--single-branch"}},
		{"shallow v0", []string{"-c", "protocol.version=0", "clone", "-q", "--depth", "1"}},
		{"partial v2", []string{"clone", "-q", "--filter=blob:none"}},
		{"partial v0", []string{"-c", "protocol.version=0", "clone", "-q", "--filter=blob:none"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := s.with(t)
			dst := filepath.Join(t.TempDir(), "c")
			s.mustGit("", append(tc.args, url, dst)...)
			if got := s.mustGit(dst, "rev-parse", "HEAD"); got != second {
				t.Fatalf("HEAD = %s, want %s", got, second)
			}
			if got := s.mustGit(dst, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
				t.Fatalf("checked out %s, want the default branch", got)
			}
			b, err := os.ReadFile(filepath.Join(dst, "big", "data.txt"))
			if err != nil || len(b) != 100000 {
				t.Fatalf("big/data.txt: %d bytes, %v", len(b), err)
			}
			s.mustGit(dst, "fsck", "--no-progress")
		})
	}

	t.Run("fetch", func(t *testing.T) {
		s := s.with(t)
		dst := filepath.Join(t.TempDir(), "c")
		s.mustGit("", "clone", "-q", url, dst)
		third := s.commit(src, "third", map[string]string{"new.txt": "new\n"})
		s.mustGit(src, "push", "-q", url, "main")
		for _, v := range []string{"0", "2"} {
			s.mustGit(dst, "-c", "protocol.version="+v, "fetch", "-q", "origin")
			if got := s.mustGit(dst, "rev-parse", "origin/main"); got != third {
				t.Fatalf("v%s: origin/main = %s, want %s", v, got, third)
			}
		}
	})

	t.Run("gzip request", func(t *testing.T) {
		s := s.with(t)
		// Many haves make git compress the upload-pack request.
		dst := filepath.Join(t.TempDir(), "c")
		s.mustGit("", "clone", "-q", url, dst)
		for i := 0; i < 40; i++ {
			s.commit(dst, "local", map[string]string{"local.txt": strings.Repeat("y", i)})
		}
		s.mustGit(dst, "-c", "protocol.version=0", "fetch", "-q", "origin")
		s.mustGit(dst, "fetch", "-q", "origin")
	})
}
