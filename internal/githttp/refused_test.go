package githttp_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
)

// TestPush_refusedStoresNothing: a push none of whose ref updates is
// accepted leaves no objects behind (finding: a token whose policy denies
// every ref could still add 2 GiB per push to disk until the prune grace).
// A partly accepted push keeps its objects.
func TestPush_refusedStoresNothing(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("quota")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	s.mustGit(dir, "push", "-q", s.remote(s.writeToken("quota"), "quota", ""), "main")
	repoDir := s.RepoDirs()[0]
	before := objectFiles(t, repoDir)

	// Many objects (over receive.unpackLimit's default of 100) and a few
	// that are small enough to be unpacked loose: both must go.
	files := map[string]string{}
	for range 150 {
		b := make([]byte, 64)
		rand.Read(b)
		files["f"+hex.EncodeToString(b[:4])+".txt"] = hex.EncodeToString(b)
	}
	s.commit(dir, "big", files)
	denyAll := s.TokenWith(auth.Claims{Repo: "quota", Scopes: []auth.Scope{auth.ScopeGitWrite}, Refs: []auth.RawRule{
		{Pattern: "*", Ops: []auth.Op{auth.OpNoPush}},
		{Pattern: "refs/tags/*", Ops: []auth.Op{auth.OpNoPush}},
	}})
	url := s.remote(denyAll, "quota", "")
	wantContains(t, s.failGit(dir, "push", url, "HEAD:refs/heads/main", "HEAD:refs/heads/other"), "denied by policy")
	if after := objectFiles(t, repoDir); !slices.Equal(before, after) {
		t.Fatalf("a refused push stored objects:\nbefore %v\nafter  %v", before, after)
	}
	small := s.commit(dir, "small", map[string]string{"b.txt": "b\n"})
	wantContains(t, s.failGit(dir, "push", url, "HEAD:refs/heads/main"), "denied by policy")
	if after := objectFiles(t, repoDir); !slices.Equal(before, after) {
		t.Fatalf("a small refused push stored objects:\nbefore %v\nafter  %v", before, after)
	}

	// One accepted ref keeps the pack, and the refused one does not undo it.
	some := s.TokenWith(auth.Claims{Repo: "quota", Scopes: []auth.Scope{auth.ScopeGitWrite}, Refs: []auth.RawRule{
		{Pattern: "main", Ops: []auth.Op{auth.OpNoPush}},
		{Pattern: "*"},
	}})
	s.git(dir, "push", s.remote(some, "quota", ""), "HEAD:refs/heads/main", "HEAD:refs/heads/side")
	if got := s.branches("quota", false)["side"]; got != small {
		t.Fatalf("side = %q, want %s", got, small)
	}
	s.FsckAll()
}

// objectFiles lists the object files of a repository (loose objects and
// pack files, not .keep locks), relative to objects/.
func objectFiles(t testing.TB, gitDir string) []string {
	t.Helper()
	var files []string
	root := filepath.Join(gitDir, "objects")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "info") || strings.HasSuffix(rel, ".keep") {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}
