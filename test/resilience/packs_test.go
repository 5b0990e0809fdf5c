package resilience

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every commit-pack writes its objects as one pack (odb), and maintenance
// rolls the small packs up while commits keep coming (here after every
// few; the killed runs include scheduled ones). Strata is killed with SIGKILL at random moments of that, round
// after round: no commit-pack fails with 500, every acknowledged commit
// stays readable on its branch and `git fsck --full` is clean. What a
// kill leaves (a commit-pack's temp pack or a pack renamed without its
// index, a roll-up's or repack's temp files, an index whose pack git
// repack deleted first) is garbage git does not read; the test logs it.
func TestCrash_packWritesAndRollUps(t *testing.T) {
	t.Parallel()
	rounds, work := 3, 3*time.Second
	if soak() {
		rounds, work = 15, 6*time.Second
	}
	s := newStrata(t, "--maintenance=true", "--maintenance-packs", "6", "--maintenance-ref-updates", "20")
	s.start()
	const repo = "packs"
	s.createRepo(repo)
	if _, _, err := s.commitPack(repo, "main", "README.md", "seed\n"); err != nil {
		t.Fatal(err)
	}

	var acked acks
	for round := range rounds {
		killAt := work/2 + time.Duration(round)*work/time.Duration(2*rounds)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for w := range 4 {
			wg.Go(func() {
				for n := 0; ctx.Err() == nil; n++ {
					branch := fmt.Sprintf("cp-%d", w)
					if n%3 == 2 {
						branch = "main"
					}
					path := fmt.Sprintf("w%d/r%d-%d.txt", w, round, n)
					status, sha, err := s.commitPack(repo, branch, path, fmt.Sprintf("%d %d\n", round, n))
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					statuses[status]++
					mu.Unlock()
					if sha != "" {
						acked.add(repo, "refs/heads/"+branch, sha, "commit-pack")
					}
				}
			})
		}
		time.Sleep(killAt)
		s.kill()
		cancel()
		wg.Wait()

		dirs := repoDirs(t, s.dataDir())
		if len(dirs) != 1 {
			t.Fatalf("repository dirs %v", dirs)
		}
		packs, leftovers := checkPackDir(t, dirs[0])
		t.Logf("round %d: killed after %s; answers %v, %d commits acknowledged so far; %d packs, leftovers %v",
			round, killAt.Round(time.Millisecond), statuses, len(acked.all()), packs, leftovers)
		if statuses[http.StatusInternalServerError] > 0 {
			t.Fatalf("round %d: %d commit-packs failed with 500", round, statuses[http.StatusInternalServerError])
		}
		if out, err := git("", "--git-dir", dirs[0], "fsck", "--full", "--no-progress"); err != nil {
			t.Fatalf("round %d: after the crash: %v\n%s", round, err, out)
		}
		s.start()
		checkAcked(t, s, acked.all())
	}
	if n := len(acked.all()); n == 0 {
		t.Fatal("no commit acknowledged")
	}
}

// checkPackDir returns the packs in objects/pack and what a kill left
// there: temp files, and packs and indexes without their other half.
func checkPackDir(t testing.TB, gitDir string) (packs int, leftovers []string) {
	t.Helper()
	dir := filepath.Join(gitDir, "objects", "pack")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	for name := range names {
		switch base, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name); {
		case strings.HasPrefix(name, "tmp_") || strings.HasPrefix(name, ".tmp-"):
			leftovers = append(leftovers, name)
		case ext == ".idx" && !names[base+".pack"], ext == ".pack" && !names[base+".idx"]:
			leftovers = append(leftovers, name)
		case ext == ".pack":
			packs++
		}
	}
	return packs, leftovers
}
