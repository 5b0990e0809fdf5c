package githttp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/strata-storage/strata/internal/config"
)

// cachedPacks lists the pack cache's entry files.
func (s *gitServer) cachedPacks() []string {
	s.t.Helper()
	des, err := os.ReadDir(filepath.Join(s.DataDir, "cache", "packs"))
	if err != nil {
		s.t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

// cloneAndCheck clones url with args into a new directory, checks HEAD
// and runs git fsck on the clone.
func (s *gitServer) cloneAndCheck(url, want string, args ...string) {
	s.t.Helper()
	dst := filepath.Join(s.t.TempDir(), "c")
	s.mustGit("", append(append(args, url), dst)...)
	if got := s.mustGit(dst, "rev-parse", "HEAD"); got != want {
		s.t.Fatalf("clone %v: HEAD = %s, want %s", args, got, want)
	}
	s.mustGit(dst, "fsck", "--no-progress", "--strict")
}

func TestPackCache(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	url := s.remote(s.writeToken("app"), "app", "")
	src := s.workdir(map[string]string{"README.md": "hello\n", "big/data.txt": strings.Repeat("x", 100000)})
	tip := s.commit(src, "second", map[string]string{"README.md": "hello again\n"})
	s.mustGit(src, "tag", "-a", "-m", "v1", "v1")
	s.mustGit(src, "push", "-q", url, "main", "v1")

	t.Run("repeated clones share one entry", func(t *testing.T) {
		s := s.with(t)
		before := len(s.cachedPacks())
		for range 3 {
			s.cloneAndCheck(url, tip, "clone", "-q")
		}
		if got := len(s.cachedPacks()) - before; got != 1 {
			t.Errorf("3 identical clones made %d entries, want 1", got)
		}
	})

	t.Run("protocol versions and options", func(t *testing.T) {
		s := s.with(t)
		for _, tc := range []struct {
			desc string
			args []string
		}{
			{"v0", []string{"-c", "protocol.version=0", "clone", "-q"}},
			{"v2 no tags", []string{"clone", "-q", "--no-tags"}},
			{"shallow", []string{"clone", "-q", "--depth", "1"}},
			{"shallow v0", []string{"-c", "protocol.version=0", "clone", "-q", "--depth", "1"}},
			{"partial", []string{"clone", "-q", "--filter=blob:none"}},
			{"partial tree:0", []string{"clone", "-q", "--filter=tree:0", "--no-checkout"}},
			{"single branch", []string{"clone", "-q", "--single-branch"}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				s := s.with(t)
				// Twice: the second clone is served from the first's entry.
				s.cloneAndCheck(url, tip, tc.args...)
				s.cloneAndCheck(url, tip, tc.args...)
			})
		}
	})

	// Shallow and filtered requests never share an entry with a full one:
	// each kind makes its own.
	t.Run("shallow and filter have their own entries", func(t *testing.T) {
		s := s.with(t)
		s.createRepo("kinds")
		url := s.remote(s.writeToken("kinds"), "kinds", "")
		s.mustGit(src, "push", "-q", url, "main")
		s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags")
		n := len(s.cachedPacks())
		s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags", "--depth", "1")
		// No checkout: its lazy fetch of the blobs would be a third request.
		s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags", "--filter=blob:none", "--no-checkout")
		if got := len(s.cachedPacks()) - n; got != 2 {
			t.Errorf("a shallow and a partial clone made %d new entries, want 2", got)
		}
		dst := filepath.Join(t.TempDir(), "shallow")
		s.mustGit("", "clone", "-q", "--depth", "1", url, dst)
		if got := s.mustGit(dst, "rev-list", "--count", "HEAD"); got != "1" {
			t.Errorf("shallow clone has %s commits, want 1 (served a full pack?)", got)
		}
	})

	// A push between two fetches: the second fetch wants the new tip and
	// gets it, never the pack cached for the old one.
	t.Run("push between fetches", func(t *testing.T) {
		s := s.with(t)
		s.createRepo("moving")
		url := s.remote(s.writeToken("moving"), "moving", "")
		work := s.workdir(map[string]string{"a.txt": "a\n"})
		s.mustGit(work, "push", "-q", url, "main")
		for i := range 5 {
			want := s.commit(work, fmt.Sprintf("c%d", i), map[string]string{"a.txt": fmt.Sprintf("%d\n", i)})
			s.mustGit(work, "push", "-q", url, "main")
			s.cloneAndCheck(url, want, "clone", "-q")
			s.cloneAndCheck(url, want, "clone", "-q")
			// A new tag pointing into the same pack: include-tag must
			// bring it, so the tags are in the key.
			s.mustGit(work, "tag", "-a", "-m", "t", fmt.Sprintf("t%d", i))
			s.mustGit(work, "push", "-q", url, fmt.Sprintf("t%d", i))
			dst := filepath.Join(t.TempDir(), "c")
			s.mustGit("", "clone", "-q", "--single-branch", url, dst)
			if got := s.mustGit(dst, "tag", "--list"); !strings.Contains(got, fmt.Sprintf("t%d", i)) {
				t.Fatalf("clone after pushing tag t%d has tags %q", i, got)
			}
			s.mustGit(dst, "fsck", "--no-progress", "--strict")
		}
	})

	t.Run("concurrent identical clones", func(t *testing.T) {
		s := s.with(t)
		s.createRepo("fanout")
		url := s.remote(s.writeToken("fanout"), "fanout", "")
		s.mustGit(src, "push", "-q", url, "main")
		before := len(s.cachedPacks())
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags")
			}()
		}
		wg.Wait()
		if got := len(s.cachedPacks()) - before; got != 1 {
			t.Errorf("10 identical concurrent clones made %d entries, want 1", got)
		}
	})

	// Another repository with the same objects and refs never gets this
	// one's entry: the storage key is in the key.
	t.Run("repositories apart", func(t *testing.T) {
		s := s.with(t)
		for _, id := range []string{"twin-a", "twin-b"} {
			s.createRepo(id)
			url := s.remote(s.writeToken(id), id, "")
			s.mustGit(src, "push", "-q", url, "main")
			n := len(s.cachedPacks())
			s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags")
			if got := len(s.cachedPacks()) - n; got != 1 {
				t.Errorf("%s: %d new entries, want 1", id, got)
			}
		}
	})
}

// With the cache off nothing is written under cache/packs and clones work.
func TestPackCache_off(t *testing.T) {
	t.Parallel()
	s := startGitServer(t, func(c *config.Config) { c.Transport.PackCache = false })
	s.createRepo("app")
	url := s.remote(s.writeToken("app"), "app", "")
	src := s.workdir(map[string]string{"README.md": "hello\n"})
	tip := s.mustGit(src, "rev-parse", "HEAD")
	s.mustGit(src, "push", "-q", url, "main")
	s.cloneAndCheck(url, tip, "clone", "-q")
	if _, err := os.Stat(filepath.Join(s.DataDir, "cache", "packs")); !os.IsNotExist(err) {
		t.Errorf("cache dir exists with the cache off: %v", err)
	}
}
