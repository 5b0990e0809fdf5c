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
			rps, err := parseArgs(args, func(arg string) (refPath, error) {
				rp, err := parseRepoArg(arg)
				// gitstore ignored ~N here and removed from the tip; a
				// historical commit can't be changed, so say so.
				if err == nil && rp.Back > 0 {
					err = failf("Cannot remove from a historical commit (remove ~N)")
				}
				return rp, err
			})
			if err != nil {
				return err
			}
			f, err := a.openSameBranch(rps, branch, "remove in")
			if err != nil {
				return err
			}
			paths, err := expandRepoSources(f, repoPaths(rps), co.noGlob)
			if err != nil {
				return err
			}
			nf, err := a.commitChange(f, &co, "remove", func() (*vfs.FS, error) {
				return f.Remove(paths, vfs.RemoveOptions{Recursive: recursive, DryRun: co.dryRun, Message: co.message})
			})
			if err != nil || nf == nil {
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

// commitChange runs the one commit of rm or mv (verb, for the -R hint):
// --tag is checked first, a dry run prints its plan and returns nil, and
// --tag then points at the new commit.
func (a *app) commitChange(f *vfs.FS, co *commitOpts, verb string, change func() (*vfs.FS, error)) (*vfs.FS, error) {
	if err := checkTag(f.Store(), co); err != nil {
		return nil, err
	}
	nf, err := change()
	if errors.Is(err, vfs.ErrIsDir) {
		return nil, failf("%s — use -R to %s recursively", libMsg(err), verb)
	}
	if err != nil {
		return nil, err
	}
	if co.dryRun {
		a.printActions(nf.Changes())
		return nil, nil
	}
	return nf, a.applyTag(f.Store(), nf, co)
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
