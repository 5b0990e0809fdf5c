package githttp_test

import (
	"strings"
	"testing"
)

// TestPush_refNamespaces is the regression test for issue 10 finding 13:
// a push may write refs/heads/*, refs/tags/* and refs/notes/* only, and no
// branch or tag may be named HEAD or @ (every clone would warn "refname is
// ambiguous").
func TestPush_refNamespaces(t *testing.T) {
	t.Parallel()
	s := startGitServer(t)
	s.createRepo("app")
	dir := s.workdir(map[string]string{"a.txt": "a\n"})
	url := s.remote(s.writeToken("app"), "app", "")
	s.mustGit(dir, "push", "-q", url, "main")

	for _, tc := range []struct{ ref, want string }{
		{"refs/pull/1/head", "refs outside refs/heads/, refs/tags/ and refs/notes/ cannot be pushed"},
		{"refs/stash", "refs outside refs/heads/, refs/tags/ and refs/notes/ cannot be pushed"},
		{"refs/foo/bar", "refs outside refs/heads/, refs/tags/ and refs/notes/ cannot be pushed"},
		{"refs/remotes/origin/main", "refs outside refs/heads/, refs/tags/ and refs/notes/ cannot be pushed"},
		{"refs/tags/HEAD", `invalid tag name "HEAD"`},
		{"refs/tags/@", `invalid tag name "@"`},
		{"refs/heads/@", `invalid branch name "@"`},
		{"refs/heads/refs/tags/v9", `invalid branch name "refs/tags/v9"`},
	} {
		stderr := s.with(t).failGit(dir, "push", url, "main:"+tc.ref)
		if !strings.Contains(stderr, "[remote rejected]") || !strings.Contains(stderr, tc.want) {
			t.Errorf("push main:%s: stderr does not reject it with %q:\n%s", tc.ref, tc.want, stderr)
		}
	}
	s.mustGit(dir, "push", "-q", url, "main:refs/notes/commits", "main:refs/tags/v1", "main:refs/heads/namespaces/x")
	refs := s.lsRemote(url)
	for ref := range refs {
		switch {
		case ref == "HEAD", strings.HasPrefix(ref, "refs/heads/"), strings.HasPrefix(ref, "refs/tags/"), strings.HasPrefix(ref, "refs/notes/"):
		default:
			t.Errorf("stray ref %s", ref)
		}
	}
	if refs["refs/notes/commits"] == "" || refs["refs/tags/v1"] == "" || refs["refs/heads/namespaces/x"] == "" {
		t.Fatalf("refs = %v", refs)
	}
	// A clone sees no ambiguous names.
	dst := t.TempDir()
	r := s.git("", "clone", "-q", url, dst)
	if r.err != nil || strings.Contains(r.stderr, "ambiguous") {
		t.Fatalf("clone: %v\n%s", r.err, r.stderr)
	}
}
