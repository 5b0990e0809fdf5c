package githttp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strata-storage/strata/internal/config"
)

// cachedPacks lists the pack cache's entry files of pack-objects' output
// (not the whole upload-pack answers, see cachedAnswers).
func (s *gitServer) cachedPacks() []string {
	s.t.Helper()
	var names []string
	for _, n := range s.cacheFiles() {
		if !strings.HasPrefix(n, "fetch-") {
			names = append(names, n)
		}
	}
	return names
}

// cachedAnswers lists the pack cache's entry files of whole upload-pack
// answers, kept for fetches keyed before upload-pack runs.
func (s *gitServer) cachedAnswers() []string {
	s.t.Helper()
	var names []string
	for _, n := range s.cacheFiles() {
		if strings.HasPrefix(n, "fetch-") {
			names = append(names, n)
		}
	}
	return names
}

func (s *gitServer) cacheFiles() []string {
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

// tryClone is cloneAndCheck for other goroutines than the test's: it
// returns the clone's directory, or what went wrong.
func (s *gitServer) tryClone(url, want string, args ...string) (string, error) {
	dst := filepath.Join(s.t.TempDir(), "c")
	if r := s.git("", append(append(args, url), dst)...); r.err != nil {
		return "", fmt.Errorf("git %v: %v\n%s", args, r.err, r.stderr)
	}
	if want != "" {
		if r := s.git(dst, "rev-parse", "HEAD"); r.err != nil || r.stdout != want {
			return "", fmt.Errorf("clone %v: HEAD = %s (%v), want %s", args, r.stdout, r.err, want)
		}
	}
	if r := s.git(dst, "fsck", "--no-progress", "--strict"); r.err != nil {
		return "", fmt.Errorf("fsck of clone %v: %v\n%s", args, r.err, r.stderr)
	}
	return dst, nil
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
		before, answers := len(s.cachedPacks()), len(s.cachedAnswers())
		for range 3 {
			s.cloneAndCheck(url, tip, "clone", "-q")
		}
		if got := len(s.cachedPacks()) - before; got != 1 {
			t.Errorf("3 identical clones made %d pack entries, want 1", got)
		}
		if got := len(s.cachedAnswers()) - answers; got != 1 {
			t.Errorf("3 identical clones made %d answer entries, want 1", got)
		}
		// Protocol v0 has no up-front key: its upload-pack runs, and its
		// pack-objects is served the pack the v2 clones made.
		s.cloneAndCheck(url, tip, "-c", "protocol.version=0", "clone", "-q")
		if got := len(s.cachedPacks()) - before; got != 1 {
			t.Errorf("a v0 clone after v2 ones made %d pack entries, want the same 1", got)
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
		n, answers := len(s.cachedPacks()), len(s.cachedAnswers())
		s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags", "--depth", "1")
		// No checkout: its lazy fetch of the blobs would be a third request.
		s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags", "--filter=blob:none", "--no-checkout")
		if got := len(s.cachedPacks()) - n; got != 2 {
			t.Errorf("a shallow and a partial clone made %d new pack entries, want 2", got)
		}
		if got := len(s.cachedAnswers()) - answers; got != 2 {
			t.Errorf("a shallow and a partial clone made %d new answer entries, want 2", got)
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
			t.Errorf("10 identical concurrent clones made %d pack entries, want 1", got)
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
			n, answers := len(s.cachedPacks()), len(s.cachedAnswers())
			s.cloneAndCheck(url, tip, "clone", "-q", "--no-tags")
			if got := len(s.cachedPacks()) - n; got != 1 {
				t.Errorf("%s: %d new pack entries, want 1", id, got)
			}
			if got := len(s.cachedAnswers()) - answers; got != 1 {
				t.Errorf("%s: %d new answer entries, want 1", id, got)
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

// The CI fan-out: fifty identical clones at once with one pack slot per
// organisation. All succeed and are fsck-clean, and they share one
// upload-pack run and one pack-objects run: the others are answered from
// the cache without waiting for a slot.
func TestPackCache_fanOut(t *testing.T) {
	t.Parallel()
	s := startGitServer(t, func(c *config.Config) { c.Transport.MaxConcurrentPacks = 2 })
	s.createRepo("ci")
	url := s.remote(s.writeToken("ci"), "ci", "")
	src := s.workdir(map[string]string{"README.md": "hello\n", "big/data.txt": strings.Repeat("fan-out\n", 50000)})
	tip := s.mustGit(src, "rev-parse", "HEAD")
	s.mustGit(src, "push", "-q", url, "main")
	const n = 50
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.tryClone(url, tip, "clone", "-q", "--no-tags")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed == 0 {
				t.Error(err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d concurrent clones failed", failed, n)
	}
	if got := len(s.cachedPacks()); got != 1 {
		t.Errorf("%d identical concurrent clones made %d pack entries, want 1", n, got)
	}
	if got := len(s.cachedAnswers()); got != 1 {
		t.Errorf("%d identical concurrent clones made %d answer entries, want 1", n, got)
	}
}

// Pushes racing clones: every clone is complete (fsck), its main is a tip
// some push set and not older than the tip before the clone began, and it
// has every tag pushed before it began (include-tag: the tags are in the
// keys, so an answer cached before a tag push is never served after it).
func TestPackCache_racingPushes(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("race")
	url := s.remote(s.writeToken("race"), "race", "")
	work := s.workdir(map[string]string{"a.txt": "0\n"})
	s.mustGit(work, "push", "-q", url, "main")

	var mu sync.Mutex
	tips := []string{s.mustGit(work, "rev-parse", "HEAD")}
	var tags []string
	snapshot := func() (int, []string) {
		mu.Lock()
		defer mu.Unlock()
		return len(tips) - 1, append([]string(nil), tags...)
	}
	done := make(chan struct{})
	var pushErr error
	go func() {
		defer close(done)
		for i := range 8 {
			tag := fmt.Sprintf("t%d", i)
			tip := s.commit(work, tag, map[string]string{"a.txt": fmt.Sprintf("%d\n", i+1)})
			if r := s.git(work, "push", "-q", url, "main"); r.err != nil {
				pushErr = fmt.Errorf("push: %v\n%s", r.err, r.stderr)
				return
			}
			mu.Lock()
			tips = append(tips, tip)
			mu.Unlock()
			s.mustGit(work, "tag", "-a", "-m", tag, tag)
			if r := s.git(work, "push", "-q", url, tag); r.err != nil {
				pushErr = fmt.Errorf("push tag: %v\n%s", r.err, r.stderr)
				return
			}
			mu.Lock()
			tags = append(tags, tag)
			mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				least, pushed := snapshot()
				dst, err := s.tryClone(url, "", "clone", "-q", "--single-branch")
				if err != nil {
					t.Error(err)
					return
				}
				head := s.git(dst, "rev-parse", "HEAD").stdout
				mu.Lock()
				at := slices.Index(tips, head)
				mu.Unlock()
				if at < least {
					t.Errorf("clone has main at %s (push %d), older than push %d before the clone began", head, at, least)
					return
				}
				have := strings.Fields(s.git(dst, "tag", "--list").stdout)
				for _, tag := range pushed {
					if !slices.Contains(have, tag) {
						t.Errorf("clone lacks tag %s, pushed before it began (has %v)", tag, have)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if pushErr != nil {
		t.Fatal(pushErr)
	}
}
