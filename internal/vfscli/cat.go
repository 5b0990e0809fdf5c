package vfscli

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// catCommand: `strata fs cat PATH...` writes the files' bytes to stdout,
// in argument order with nothing between them; a symlink gives its target.
func (a *app) catCommand() *cobra.Command {
	var branch string
	var snap snapshotOpts
	cmd := &cobra.Command{
		Use:   "cat PATH...",
		Short: "Print files",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, rps, err := a.openReadArgs(cmd, args, &snap)
			if err != nil {
				return err
			}
			for _, rp := range rps {
				p, err := normFilePath(rp.Path)
				if err != nil {
					return err
				}
				f, err := a.snapshot(s, rp, branch, &snap)
				if err != nil {
					return err
				}
				if err := a.catFile(f, p); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to read (default: the current branch)")
	addSnapshotFlags(cmd, &snap)
	return cmd
}

// catFile streams one file to stdout, so a large blob is never held whole.
func (a *app) catFile(f *vfs.FS, p string) error {
	t, err := f.FileType(p)
	if err != nil {
		return catErr(err, p)
	}
	if t == vfs.Tree {
		return failf("%s is a directory, not a file", p)
	}
	if t == vfs.Link {
		target, err := f.Readlink(p)
		if err != nil {
			return catErr(err, p)
		}
		_, err = io.WriteString(a.stdout, target)
		return err
	}
	r, err := f.OpenFile(p)
	if err != nil {
		return catErr(err, p)
	}
	defer r.Close()
	_, err = io.Copy(a.stdout, r)
	return err
}

// catErr words a read failure as gitstore's cat does.
func catErr(err error, p string) error {
	switch {
	case errors.Is(err, vfs.ErrNotFound), errors.Is(err, vfs.ErrNotDir):
		return failf("File not found: %s", p)
	case errors.Is(err, vfs.ErrIsDir):
		return failf("%s is a directory, not a file", p)
	}
	return err
}
