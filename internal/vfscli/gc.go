package vfscli

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/internal/git"
)

// gcCommand: `strata fs gc` packs the repository's objects and prunes
// unreachable ones with git-gc(1), through Strata's one git factory.
func (a *app) gcCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Pack objects and prune unreachable ones (git gc)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			f, err := git.NewFactory(git.FactoryOptions{})
			if err != nil {
				return failf("git is not installed or not on PATH — gc requires git")
			}
			err = f.Run(context.Background(), s.Path(), git.Command{Name: "gc", Flags: []string{"--quiet"}})
			var ce *git.CommandError
			if errors.As(err, &ce) {
				return failf("git gc failed: %s", strings.TrimSpace(ce.Stderr))
			}
			if err != nil {
				return err
			}
			a.status("Ran gc on %s", s.Path())
			return nil
		},
	}
}
