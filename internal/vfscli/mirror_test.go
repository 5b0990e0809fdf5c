package vfscli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestBackupRestore(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	backup := filepath.Join(t.TempDir(), "backup.git")
	main := repoTip(t, repo, "main").Hash()[:7]

	wantLines(t, mustCLI(t, repo, "backup", "-n", backup),
		"  create  refs/heads/main  "+main,
		"  create  refs/tags/v1  "+main,
		"2 ref(s) would be changed.")
	if _, err := os.Stat(backup); !os.IsNotExist(err) {
		t.Fatal("a dry run created the destination")
	}
	r := fsCLI(t, repo, "-v", "backup", backup)
	if r.code != 0 || r.stdout != "" || !strings.HasSuffix(r.stderr, "Backed up to "+backup+"\n") {
		t.Fatalf("backup: %d %q %q", r.code, r.stdout, r.stderr)
	}
	wantLines(t, mustCLI(t, repo, "backup", "-n", backup), "Nothing to push — already in sync.")

	// A change, a new tag and a deleted one: update, create, delete.
	mustCLI(t, repo, "write", ":new.txt")
	mustCLI(t, repo, "tag", "set", "v2")
	mustCLI(t, repo, "tag", "delete", "v1")
	newMain := repoTip(t, repo, "main").Hash()[:7]
	wantLines(t, mustCLI(t, repo, "backup", "-n", backup),
		"  create  refs/tags/v2  "+newMain,
		"  update  refs/heads/main  "+main+" -> "+newMain,
		"  delete  refs/tags/v1  "+main,
		"3 ref(s) would be changed.")
	mustCLI(t, repo, "backup", backup)

	// restore into a missing repository: created bare, with no branch
	// of its own, then every ref arrives.
	restored := filepath.Join(t.TempDir(), "restored")
	failCLI(t, restored, "Repository not found", "restore", "--no-create", backup)
	r = fsCLI(t, restored, "-v", "restore", backup)
	if r.code != 0 || !strings.Contains(r.stderr, "Restored from "+backup) {
		t.Fatalf("restore: %d %q", r.code, r.stderr)
	}
	wantLines(t, mustCLI(t, restored, "branch", "list"), "main")
	wantLines(t, mustCLI(t, restored, "restore", "-n", backup), "Nothing to pull — already in sync.")
	// A local-only ref would be deleted by a restore.
	mustCLI(t, restored, "tag", "set", "local-only", "-b", "main")
	out := mustCLI(t, restored, "restore", "-n", backup)
	if !regexp.MustCompile(`(?m)^  delete  refs/tags/local-only  [0-9a-f]{7}$`).MatchString(out) ||
		!strings.HasSuffix(out, "1 ref(s) would be changed.\n") {
		t.Fatalf("restore dry run:\n%s", out)
	}
	failCLI(t, repo, "scp-style URL not supported", "backup", "host:path/repo")
}
