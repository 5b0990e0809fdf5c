package githttp_test

import (
	"path/filepath"
	"testing"
)

func TestEphemeralRemote(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("team/project")
	tok := s.writeToken("team/project")
	normal, ephemeral := s.remote(tok, "team/project", ""), s.remote(tok, "team/project", "+ephemeral")

	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	base := s.mustGit(dir, "rev-parse", "HEAD")
	s.mustGit(dir, "push", "-q", normal, "main")
	s.mustGit(dir, "checkout", "-q", "-b", "scratch")
	tip := s.commit(dir, "scratch work", map[string]string{"b.txt": "b\n"})
	s.mustGit(dir, "push", "-q", ephemeral, "scratch", "scratch:main")

	// REST sees the same refs in the ephemeral namespace...
	eph := s.branches("team/project", true)
	if eph["scratch"] != tip || eph["main"] != tip || len(eph) != 2 {
		t.Fatalf("ephemeral branches = %v", eph)
	}
	// ...and the normal namespace is untouched and shows none of them.
	if got := s.branches("team/project", false); got["main"] != base || len(got) != 1 {
		t.Fatalf("normal branches = %v", got)
	}
	refs := s.lsRemote(normal)
	if len(refs) != 2 || refs["refs/heads/main"] != base || refs["HEAD"] != base {
		t.Fatalf("normal remote advertises %v", refs)
	}
	if refs := s.lsRemote(ephemeral); refs["refs/heads/scratch"] != tip || refs["refs/heads/main"] != tip || len(refs) != 2 {
		t.Fatalf("ephemeral remote advertises %v", refs)
	}

	// Clone and fetch from the ephemeral remote.
	dst := filepath.Join(t.TempDir(), "c")
	s.mustGit("", "clone", "-q", "-b", "scratch", ephemeral, dst)
	if got := s.mustGit(dst, "rev-parse", "HEAD"); got != tip {
		t.Fatalf("ephemeral clone HEAD = %s, want %s", got, tip)
	}

	// Promotion: fetch from +ephemeral, push to the normal remote.
	s.mustGit(dst, "push", "-q", normal, "scratch:promoted")
	if got := s.branches("team/project", false)["promoted"]; got != tip {
		t.Fatalf("promoted = %s, want %s", got, tip)
	}

	// Tags are refused through the ephemeral remote (Q28).
	s.mustGit(dir, "tag", "v1")
	wantContains(t, s.failGit(dir, "push", ephemeral, "v1"), "tags cannot be pushed to the ephemeral remote")

	// Deleting an ephemeral branch.
	s.mustGit(dir, "push", "-q", ephemeral, ":scratch")
	if got := s.branches("team/project", true); len(got) != 1 {
		t.Fatalf("ephemeral branches after delete = %v", got)
	}
}

func TestImportRemote(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("bulk")
	tok := s.writeToken("bulk")
	imp := s.remote(tok, "bulk", "+import")

	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	head := s.mustGit(dir, "rev-parse", "HEAD")
	s.mustGit(dir, "tag", "v1")
	s.mustGit(dir, "push", "-q", imp, "main", "v1")
	if got := s.branches("bulk", false)["main"]; got != head {
		t.Fatalf("main = %s, want %s", got, head)
	}
	if refs := s.lsRemote(s.remote(tok, "bulk", "")); refs["refs/tags/v1"] != head {
		t.Fatalf("normal remote advertises %v", refs)
	}
	wantContains(t, s.failGit("", "clone", "-q", imp, filepath.Join(t.TempDir(), "c")), "403")
	wantContains(t, s.failGit("", "ls-remote", imp), "403")
}

func TestRepoIDs(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	for _, id := range []string{"team/project", "a/b/c", "my repo", "plus+sign", "weird%name", "ünïcode"} {
		t.Run(id, func(t *testing.T) {
			s := s.with(t)
			s.createRepo(id)
			url := s.remote(s.writeToken(id), id, "")
			dir := s.workdir(map[string]string{"id.txt": id + "\n"})
			s.mustGit(dir, "push", "-q", url, "main")
			dst := filepath.Join(t.TempDir(), "c")
			s.mustGit("", "clone", "-q", url, dst)
			if got, want := s.mustGit(dst, "rev-parse", "HEAD"), s.mustGit(dir, "rev-parse", "HEAD"); got != want {
				t.Fatalf("clone HEAD = %s, want %s", got, want)
			}
		})
	}
}

// A repository whose id ends in "+import" is reachable on its normal
// remote when the plus sign is percent-encoded.
func TestRepoIDs_encodedSuffix(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	id := "ends+import"
	s.createRepo(id)
	tok := s.writeToken(id)
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	s.mustGit(dir, "push", "-q", "https://t:"+tok+"@"+s.host+"/ends%2Bimport.git", "main")
	if got := s.branches(id, false)["main"]; got == "" {
		t.Fatal("main not pushed")
	}
	// The literal form is the import remote of repository "ends".
	wantContains(t, s.failGit(dir, "push", "https://t:"+tok+"@"+s.host+"/ends+import.git", "main"), "403")
}
