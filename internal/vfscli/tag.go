package vfscli

import (
	"github.com/spf13/cobra"
)

// tagCommand: `strata fs tag [list|set|exists|delete|hash]`; a bare `tag`
// lists. Tags are lightweight and read-only.
func (a *app) tagCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag",
		Short: "List, create, delete and inspect tags",
		Args:  noArgs,
	}
	list := a.refListCommand(true)
	cmd.RunE = list.RunE
	cmd.AddCommand(list, a.tagSetCommand(), a.refExistsCommand(true), a.refDeleteCommand(true), a.tagHashCommand())
	return cmd
}

// tagSetCommand tags -b (or the current branch, or --ref) after the
// filters; -f moves an existing tag.
func (a *app) tagSetCommand() *cobra.Command {
	var from string
	var force bool
	var snap snapshotOpts
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Create a tag",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			name := args[0]
			s, err := a.openRead()
			if err != nil {
				return err
			}
			src, err := a.snapshot(s, refPath{Repo: true}, from, &snap)
			if err != nil {
				return err
			}
			exists, err := s.Tags().Has(name)
			if err != nil {
				return err
			}
			if exists {
				if !force {
					return failf("Tag already exists: %s", name)
				}
				if err := s.Tags().Delete(name); err != nil {
					return err
				}
			}
			if _, err := s.Tags().Set(name, src); err != nil {
				return err
			}
			a.status("Set tag %s", name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&from, "branch", "b", "", "branch to tag (default: the current branch)")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "move the tag if it exists")
	addSnapshotFlags(cmd, &snap)
	return cmd
}

// tagHashCommand prints the commit a tag points to (annotated tags peeled).
func (a *app) tagHashCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hash NAME",
		Short: "Print a tag's commit id",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			ok, err := s.Tags().Has(args[0])
			if err != nil {
				return err
			}
			if !ok {
				return failf("Tag not found: %s", args[0])
			}
			f, err := s.Tags().Get(args[0])
			if err != nil {
				return err
			}
			a.printf("%s\n", f.Hash())
			return nil
		},
	}
}
