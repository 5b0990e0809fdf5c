package vfscli

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// cmpCommand: `strata fs cmp FILE1 FILE2` compares two files by git blob
// id; each is a repository path (`:x`, `ref:x`) or a local file. Exit 0
// when equal, 1 when not.
func (a *app) cmpCommand() *cobra.Command {
	var branch string
	var snap snapshotOpts
	cmd := &cobra.Command{
		Use:   "cmp FILE1 FILE2",
		Short: "Compare two files (repository or local) by content",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rps, err := parseArgs(args, parseRefPath)
			if err != nil {
				return err
			}
			if err := checkRefConflicts(rps, cmd.Flags().Changed("branch"), &snap); err != nil {
				return err
			}
			// The repository is opened only when an argument is in it, so
			// two local files compare without one.
			var s *vfs.Store
			if rps[0].Repo || rps[1].Repo {
				if s, err = a.openRead(); err != nil {
					return err
				}
			}
			sums := make([]string, 2)
			// Repository sides first: their id length picks the local hash.
			order := []int{0, 1}
			if !rps[0].Repo && rps[1].Repo {
				order = []int{1, 0}
			}
			for _, i := range order {
				rp := rps[i]
				var err error
				if rp.Repo {
					sums[i], err = a.repoBlobID(s, rp, branch, &snap)
				} else {
					sums[i], err = localBlobID(rp.Path, sums)
				}
				if err != nil {
					return err
				}
			}
			for i, arg := range args {
				a.status("%s  %s", sums[i], arg)
			}
			if sums[0] != sums[1] {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to read (default: the current branch)")
	addSnapshotFlags(cmd, &snap)
	return cmd
}

func (a *app) repoBlobID(s *vfs.Store, rp refPath, branch string, snap *snapshotOpts) (string, error) {
	p, err := normFilePath(rp.Path)
	if err != nil {
		return "", err
	}
	f, err := a.snapshot(s, rp, branch, snap)
	if err != nil {
		return "", err
	}
	t, err := f.FileType(p)
	switch {
	case errors.Is(err, vfs.ErrNotFound), errors.Is(err, vfs.ErrNotDir):
		return "", failf("File not found: %s", p)
	case err != nil:
		return "", err
	case t == vfs.Tree:
		return "", failf("Is a directory: %s", p)
	}
	return f.ObjectHash(p)
}

// localBlobID hashes a local file as git would store it ("blob <size>\0"
// then the bytes), with the repository's hash function when the other side
// is in a SHA-256 repository.
func localBlobID(path string, sums []string) (string, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", failf("File not found: %s", path)
	}
	if err != nil {
		return "", err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return "", failf("Is a directory: %s", path)
	}
	var h hash.Hash = sha1.New()
	for _, other := range sums {
		if len(other) == 64 {
			h = sha256.New()
		}
	}
	fmt.Fprintf(h, "blob %d\x00", st.Size())
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
