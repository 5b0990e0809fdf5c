package vfscli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// rmCommand: `strata fs rm PATH...` removes files (directories with -R)
// from one branch in one commit.
func (a *app) rmCommand() *cobra.Command {
	var branch string
	var recursive bool
	var co commitOpts
	cmd := &cobra.Command{
		Use:   "rm PATH...",
		Short: "Remove files",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rps := make([]refPath, len(args))
			for i, arg := range args {
				rp, err := parseRepoArg(arg)
				if err != nil {
					return err
				}
				// gitstore ignored ~N here and removed from the tip; a
				// historical commit can't be changed, so say so.
				if rp.Back > 0 {
					return failf("Cannot remove from a historical commit (remove ~N)")
				}
				rps[i] = rp
			}
			dest, err := sameBranch(rps)
			if err != nil {
				return err
			}
			s, err := a.openRead()
			if err != nil {
				return err
			}
			name, err := writeTarget(s, dest, branch, "remove in")
			if err != nil {
				return err
			}
			f, err := branchFS(s, name)
			if err != nil {
				return err
			}
			raw := make([]string, len(rps))
			for i, rp := range rps {
				raw[i] = rp.Path
			}
			paths, err := expandRepoSources(f, raw, co.noGlob)
			if err != nil {
				return err
			}
			if err := checkTag(s, &co); err != nil {
				return err
			}
			nf, err := f.Remove(paths, vfs.RemoveOptions{Recursive: recursive, DryRun: co.dryRun, Message: co.message})
			if errors.Is(err, vfs.ErrIsDir) {
				return failf("%s — use -R to remove recursively", libMsg(err))
			}
			if err != nil {
				return err
			}
			if co.dryRun {
				a.printActions(nf.Changes())
				return nil
			}
			if err := a.applyTag(s, nf, &co); err != nil {
				return err
			}
			a.status("Removed %d file(s)", len(nf.Changes().Actions()))
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to change (default: the current branch)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "remove directories and their contents")
	addDryRunFlag(cmd, &co)
	addNoGlobFlag(cmd, &co)
	addMessageFlag(cmd, &co)
	addTagFlags(cmd, &co)
	return cmd
}

// printActions prints a dry run's plan, sorted by path: `+ :path` (add),
// `~ :path` (update), `- :path` (delete).
func (a *app) printActions(c *vfs.ChangeReport) {
	for _, act := range c.Actions() {
		a.printf("%s :%s\n", actionSymbol(act.Action), act.Path)
	}
}

func actionSymbol(action string) string {
	switch action {
	case "add":
		return "+"
	case "update":
		return "~"
	}
	return "-"
}
