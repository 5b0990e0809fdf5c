package vfscli

import (
	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// mvCommand: `strata fs mv SRC... DEST` moves or renames within one
// branch, in one commit; every argument is a repository path (`:x`).
func (a *app) mvCommand() *cobra.Command {
	var branch string
	var recursive bool
	var co commitOpts
	cmd := &cobra.Command{
		Use:   "mv SRC... DEST",
		Short: "Move or rename files",
		Long: "Move SRC... to DEST, like POSIX mv: one source and a DEST that is not an\n" +
			"existing directory (and has no trailing /) is a rename; otherwise the\n" +
			"sources move into DEST. Every argument needs its colon (:path or ref:path).",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return failf("mv requires at least two arguments (SRC... DEST)")
			}
			rps, err := parseArgs(args, func(arg string) (refPath, error) {
				rp, err := parseRefPath(arg)
				switch {
				case err != nil:
				case !rp.Repo:
					err = failf("All paths must be repo paths (colon prefix required): %s", arg)
				case rp.Back > 0:
					err = failf("Cannot move to/from a historical commit (remove ~N)")
				}
				return rp, err
			})
			if err != nil {
				return err
			}
			f, err := a.openSameBranch(rps, branch, "move in")
			if err != nil {
				return err
			}
			srcs, err := expandRepoSources(f, repoPaths(rps[:len(rps)-1]), co.noGlob)
			if err != nil {
				return err
			}
			destRaw := rps[len(rps)-1].Path
			dest, err := normRepoPath(destRaw)
			if err != nil {
				return err
			}
			// A trailing slash forces "move into", so it reaches the library.
			if hasTrailingSlash(destRaw) && dest != "" {
				dest += "/"
			}
			nf, err := a.commitChange(f, &co, "move", func() (*vfs.FS, error) {
				return f.Move(srcs, dest, vfs.MoveOptions{Recursive: recursive, DryRun: co.dryRun, Message: co.message})
			})
			if err != nil || nf == nil {
				return err
			}
			moved := 0
			if c := nf.Changes(); c != nil {
				moved = len(c.Delete)
			}
			a.status("Moved %d file(s) -> :%s", moved, dest)
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to change (default: the current branch)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "move directories and their contents")
	addDryRunFlag(cmd, &co)
	addNoGlobFlag(cmd, &co)
	addMessageFlag(cmd, &co)
	addTagFlags(cmd, &co)
	return cmd
}
