package vfscli

import (
	"errors"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// initCommand: `strata fs init [-b NAME] [-f]` creates a bare repository
// whose branch starts with an empty "Initialize <branch>" commit.
func (a *app) initCommand() *cobra.Command {
	var branch string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repository",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			path, err := a.repoPath()
			if err != nil {
				return err
			}
			if _, err := os.Lstat(path); err == nil {
				if !force {
					return failf("Repository already exists: %s", path)
				}
				if err := os.RemoveAll(path); err != nil {
					return err
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if _, err := a.open(path, vfs.Options{Branch: branch}); err != nil {
				return err
			}
			a.status("Initialized %s", path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "main", "the first branch")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete an existing repository first")
	return cmd
}
