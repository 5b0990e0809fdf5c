package vfscli

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// destroyCommand: `strata fs destroy [-f]` deletes the repository; without
// -f only one with no tags and only empty branches.
func (a *app) destroyCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete the repository",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			if !force {
				empty, err := repoEmpty(s)
				if err != nil {
					return err
				}
				if !empty {
					return failf("Repository is not empty. Use -f to destroy.")
				}
			}
			path := s.Path()
			// Close first: the store's cat-file processes hold the directory.
			a.closeStores()
			if err := os.RemoveAll(path); err != nil {
				return err
			}
			a.status("Destroyed %s", path)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "destroy even if it holds data")
	return cmd
}

// repoEmpty reports whether the repository holds nothing worth keeping: no
// tags, and no branch with a file.
func repoEmpty(s *vfs.Store) (bool, error) {
	tags, err := s.Tags().Names()
	if err != nil || len(tags) > 0 {
		return false, err
	}
	branches, err := s.Branches().Names()
	if err != nil {
		return false, err
	}
	for _, b := range branches {
		f, err := s.Branches().Get(b)
		if err != nil {
			return false, err
		}
		names, err := f.Ls("")
		if err != nil || len(names) > 0 {
			return false, err
		}
	}
	return true, nil
}
