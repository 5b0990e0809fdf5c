package odb

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/leakcheck"

	"github.com/strata-storage/strata/internal/git"
)

// Fixed identities and dates keep the oracle's ids stable.
var (
	testWhen = time.Unix(1700000000, 0).In(time.FixedZone("", 90*60))
	testSig  = Signature{Name: "A U Thor", Email: "author@example.com", When: testWhen}
)

// factory runs every git in these tests, so fixtures get Strata's pinned
// environment (no global or system config) and fsync settings.
var factory *git.Factory

func TestMain(m *testing.M) {
	var err error
	factory, err = git.NewFactory(git.FactoryOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "odb tests need git:", err)
		os.Exit(1)
	}
	os.Exit(leakcheck.Run(m))
}

// fixtureEnv fixes identities and dates so git's ids are stable.
var fixtureEnv = []string{
	"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com", "GIT_AUTHOR_DATE=1700000000 +0130",
	"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com", "GIT_COMMITTER_DATE=1700000100 -0700",
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
		tb.Fatal(err)
	}
	return out
}

func tryGit(gitDir string, env []string, stdin []byte, args ...string) (string, error) {
	opts := []git.Option{git.WithEnv(append(slices.Clone(fixtureEnv), env...)...)}
	if gitDir == "" {
		opts = append(opts, git.WithDir(os.TempDir()))
	}
	if stdin != nil {
		opts = append(opts, git.WithStdin(bytes.NewReader(stdin)))
	}
	// Fixture arguments are ours, so they all go in Flags.
	out, err := factory.Output(context.Background(), gitDir, git.Command{Name: args[0], Flags: args[1:]}, opts...)
	return string(out), err
}

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
