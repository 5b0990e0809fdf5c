package odb

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// Fixed identities and dates keep the oracle's ids stable.
var (
	testWhen = time.Unix(1700000000, 0).In(time.FixedZone("", 90*60))
	testSig  = Signature{Name: "A U Thor", Email: "author@example.com", When: testWhen}
)

// gitEnv is the fixture environment: no user or system config, fixed
// identities and dates.
func gitEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=/nonexistent",
		"LANG=C", "LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com", "GIT_AUTHOR_DATE=1700000000 +0130",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com", "GIT_COMMITTER_DATE=1700000100 -0700",
	}
}

// newRepo creates an empty bare repository and returns its git dir.
func newRepo(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "repo.git")
	runGit(tb, "", nil, nil, "init", "--quiet", "--bare", dir)
	return dir
}

// runGit runs git in gitDir (if set) and returns stdout; a failure fails the test.
func runGit(tb testing.TB, gitDir string, env []string, stdin []byte, args ...string) string {
	tb.Helper()
	out, err := tryGit(gitDir, env, stdin, args...)
	if err != nil {
		tb.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func tryGit(gitDir string, env []string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Env = append(gitEnv(), env...)
	if gitDir != "" {
		cmd.Env = append(cmd.Env, "GIT_DIR="+gitDir)
		cmd.Dir = gitDir
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &gitError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type gitError struct {
	err    error
	stderr string
}

func (e *gitError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

func gitOID(tb testing.TB, gitDir string, env []string, stdin []byte, args ...string) git.ObjectID {
	tb.Helper()
	return git.ObjectID(strings.TrimSpace(runGit(tb, gitDir, env, stdin, args...)))
}

// exists reports whether git can find oid in the repository.
func exists(gitDir string, oid git.ObjectID) bool {
	_, err := tryGit(gitDir, nil, nil, "cat-file", "-e", string(oid))
	return err == nil
}

// fsck runs git fsck --strict and fails the test on any complaint.
func fsck(tb testing.TB, gitDir string) {
	tb.Helper()
	runGit(tb, gitDir, nil, nil, "fsck", "--strict", "--no-dangling")
}

// objectFiles lists the regular files under objects/ (relative paths).
func objectFiles(tb testing.TB, gitDir string) []string {
	tb.Helper()
	var files []string
	root := filepath.Join(gitDir, "objects")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

func begin(tb testing.TB, gitDir string) *Transaction {
	tb.Helper()
	tx, err := NewWriter(gitDir).Begin()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tx.Abort)
	return tx
}

func mustWrite(tb testing.TB, tx *Transaction, typ git.ObjectType, data []byte) git.ObjectID {
	tb.Helper()
	oid, err := tx.WriteObject(typ, data)
	if err != nil {
		tb.Fatal(err)
	}
	return oid
}

func mustCommit(tb testing.TB, tx *Transaction) {
	tb.Helper()
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}
