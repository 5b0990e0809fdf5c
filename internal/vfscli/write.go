package vfscli

import (
	"bytes"
	"io"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// writeCommand: `strata fs write PATH` stores stdin at PATH in one commit,
// retrying by itself when another writer moves the branch first.
func (a *app) writeCommand() *cobra.Command {
	var branch string
	var passthrough bool
	var co commitOpts
	cmd := &cobra.Command{
		Use:   "write PATH",
		Short: "Write stdin to a file",
		Long: "Read all of stdin and commit it as the file PATH ([ref:]path, the colon\n" +
			"optional). With -p, stdin is also copied to stdout as it arrives, so\n" +
			"write can sit in a pipeline.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rp, err := parseRepoArg(args[0])
			if err != nil {
				return err
			}
			p, err := normFilePath(rp.Path)
			if err != nil {
				return err
			}
			create := branch
			if rp.explicit() {
				create = rp.Ref
			}
			s, err := a.openWrite(create, co.noCreate)
			if err != nil {
				return err
			}
			target, err := writeTarget(s, rp, branch, "write to")
			if err != nil {
				return err
			}
			if err := checkTag(s, &co); err != nil {
				return err
			}
			var buf bytes.Buffer
			in := a.stdin
			if passthrough {
				in = io.TeeReader(in, a.stdout)
			}
			if _, err := io.Copy(&buf, in); err != nil {
				return err
			}
			f, err := vfs.RetryWrite(s, target, p, buf.Bytes(), vfs.WriteOptions{Message: co.message}, 5)
			if err != nil {
				return err
			}
			if err := a.applyTag(s, f, &co); err != nil {
				return err
			}
			a.status("Wrote :%s", p)
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to write (default: the current branch)")
	cmd.Flags().BoolVarP(&passthrough, "passthrough", "p", false, "also copy stdin to stdout")
	addMessageFlag(cmd, &co)
	addNoCreateFlag(cmd, &co)
	addTagFlags(cmd, &co)
	return cmd
}
