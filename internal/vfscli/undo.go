package vfscli

import (
	"strconv"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// undoCommand: `strata fs undo [STEPS]` moves the branch back STEPS
// commits (one reflog entry); redo walks the reflog forward again.
func (a *app) undoCommand() *cobra.Command {
	return a.moveCommand("undo", "Move the branch back STEPS commits", (*vfs.FS).Undo)
}

// redoCommand: `strata fs redo [STEPS]` undoes undos, by the reflog.
func (a *app) redoCommand() *cobra.Command {
	return a.moveCommand("redo", "Move the branch forward STEPS reflog entries", (*vfs.FS).Redo)
}

// moveCommand is undo or redo: both take STEPS and -b and report where the
// branch now is.
func (a *app) moveCommand(name, summary string, move func(*vfs.FS, int) (*vfs.FS, error)) *cobra.Command {
	var branch string
	cmd := &cobra.Command{
		Use:   name + " [STEPS]",
		Short: summary,
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			steps := 1
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil {
					return usagef("Invalid value for '[STEPS]': '%s' is not a valid integer.", args[0])
				}
				steps = n
			}
			f, err := a.openBranch(branch)
			if err != nil {
				return err
			}
			nf, err := move(f, steps)
			if err != nil {
				return err
			}
			a.printf("Branch now at: %s - %s\n", short(nf.Hash()), nf.Message())
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to move (default: the current branch)")
	return cmd
}
