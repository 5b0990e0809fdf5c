package vfscli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// branchCommand: `strata fs branch [list|set|exists|delete|hash|current]`;
// a bare `branch` lists.
func (a *app) branchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "branch",
		Short: "List, create, delete and inspect branches",
		Args:  noArgs,
	}
	list := a.refListCommand(false)
	cmd.RunE = list.RunE
	cmd.AddCommand(list, a.branchSetCommand(), a.refExistsCommand(false), a.refDeleteCommand(false),
		a.branchHashCommand(), a.branchCurrentCommand())
	return cmd
}

// refs picks branches or tags.
func refsOf(s *vfs.Store, tags bool) *vfs.Refs {
	if tags {
		return s.Tags()
	}
	return s.Branches()
}

func refKind(tags bool) string {
	if tags {
		return "Tag"
	}
	return "Branch"
}

// refListCommand is `branch list` and `tag list`: sorted names.
func (a *app) refListCommand(tags bool) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List names, sorted",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			names, err := refsOf(s, tags).Names()
			if err != nil {
				return err
			}
			for _, n := range names {
				a.printf("%s\n", n)
			}
			return nil
		},
	}
}

// refExistsCommand answers by exit status only.
func (a *app) refExistsCommand(tags bool) *cobra.Command {
	return &cobra.Command{
		Use:   "exists NAME",
		Short: "Exit 0 if NAME exists, 1 if not",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			ok, err := refsOf(s, tags).Has(args[0])
			if err != nil {
				return err
			}
			if !ok {
				return exitCode(1)
			}
			return nil
		},
	}
}

func (a *app) refDeleteCommand(tags bool) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete NAME",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			err = refsOf(s, tags).Delete(args[0])
			if errors.Is(err, vfs.ErrNotFound) {
				return failf("%s not found: %s", refKind(tags), args[0])
			}
			if err != nil {
				return err
			}
			if tags {
				a.status("Deleted tag %s", args[0])
			} else {
				a.status("Deleted branch %s", args[0])
			}
			return nil
		},
	}
}

// branchSetCommand: `branch set NAME` forks from --ref, -b or the current
// branch (after the filters), or makes an empty root commit with --empty.
func (a *app) branchSetCommand() *cobra.Command {
	var from string
	var force, empty bool
	var snap snapshotOpts
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Create or move a branch",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if empty && snap.set() {
				return failf("--empty cannot be combined with --ref/--path/--match/--before/--back")
			}
			s, err := a.openRead()
			if err != nil {
				return err
			}
			exists, err := s.Branches().Has(name)
			if err != nil {
				return err
			}
			if exists && !force {
				return failf("Branch already exists: %s", name)
			}
			if empty {
				if exists {
					if err := s.Branches().Delete(name); err != nil {
						return err
					}
				}
				if _, err := s.Branches().CreateEmpty(name); err != nil {
					return err
				}
			} else {
				src, err := a.snapshot(s, refPath{Repo: true}, from, &snap)
				if err != nil {
					return err
				}
				if _, err := s.Branches().Set(name, src); err != nil {
					return err
				}
			}
			a.status("Set branch %s", name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&from, "branch", "b", "", "branch to fork from (default: the current branch)")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "move the branch if it exists")
	cmd.Flags().BoolVar(&empty, "empty", false, "start from an empty root commit")
	addSnapshotFlags(cmd, &snap)
	return cmd
}

// branchHashCommand: `branch hash NAME` prints the commit id of NAME
// after the filters. gitstore accepted --ref here and ignored it; NAME is
// the start, so --ref is refused.
func (a *app) branchHashCommand() *cobra.Command {
	var snap snapshotOpts
	cmd := &cobra.Command{
		Use:   "hash NAME",
		Short: "Print a branch's commit id",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if snap.ref != "" {
				return failf("Cannot use --ref with branch hash: NAME is the branch to start from")
			}
			s, err := a.openRead()
			if err != nil {
				return err
			}
			f, err := branchFS(s, args[0])
			if err != nil {
				return err
			}
			if f, err = applyFilters(f, &snap); err != nil {
				return err
			}
			a.printf("%s\n", f.Hash())
			return nil
		},
	}
	addSnapshotFlags(cmd, &snap)
	return cmd
}

// branchCurrentCommand prints HEAD's branch, or with -b points HEAD at one.
func (a *app) branchCurrentCommand() *cobra.Command {
	var set string
	cmd := &cobra.Command{
		Use:   "current",
		Short: "Print the current branch, or set it with -b",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			if set != "" {
				err := s.Branches().SetCurrent(set)
				if errors.Is(err, vfs.ErrNotFound) {
					return failf("Branch not found: %s", set)
				}
				if err == nil {
					a.status("Current branch %s", set)
				}
				return err
			}
			name, err := s.Branches().CurrentName()
			if err != nil {
				return err
			}
			if name == "" {
				return failf("HEAD does not point to an existing branch")
			}
			a.printf("%s\n", name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&set, "branch", "b", "", "make this branch the current one")
	return cmd
}
