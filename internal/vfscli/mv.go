package vfscli

import (
	"errors"

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
			rps := make([]refPath, len(args))
			for i, arg := range args {
				rp, err := parseRefPath(arg)
				if err != nil {
					return err
				}
				if !rp.Repo {
					return failf("All paths must be repo paths (colon prefix required): %s", arg)
				}
				if rp.Back > 0 {
					return failf("Cannot move to/from a historical commit (remove ~N)")
				}
				rps[i] = rp
			}
			target, err := sameBranch(rps)
			if err != nil {
				return err
			}
			s, err := a.openRead()
			if err != nil {
				return err
			}
			name, err := writeTarget(s, target, branch, "move in")
			if err != nil {
				return err
			}
			f, err := branchFS(s, name)
			if err != nil {
				return err
			}
			raw := make([]string, len(rps)-1)
			for i, rp := range rps[:len(rps)-1] {
				raw[i] = rp.Path
			}
			srcs, err := expandRepoSources(f, raw, co.noGlob)
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
			if err := checkTag(s, &co); err != nil {
				return err
			}
			nf, err := f.Move(srcs, dest, vfs.MoveOptions{Recursive: recursive, DryRun: co.dryRun, Message: co.message})
			if errors.Is(err, vfs.ErrIsDir) {
				return failf("%s — use -R to move recursively", libMsg(err))
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
