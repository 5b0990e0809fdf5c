package vfscli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

func (a *app) backupCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "backup URL",
		Short: "Mirror every ref (branches, tags, notes) to another repository",
		Long: "Push every ref but HEAD to URL (a path, file://, http(s)://, git:// or\n" +
			"ssh:// URL), force-setting changed refs and deleting refs only URL has.\n" +
			"A local destination that does not exist is created as a bare repository.\n" +
			"Credentials come from your git configuration (credential helpers).",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			return a.mirror(cmd.Context(), s.Backup, args[0], dryRun, "push", "Backed up to")
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "show what would change; push nothing")
	return cmd
}

func (a *app) restoreCommand() *cobra.Command {
	var dryRun, noCreate bool
	cmd := &cobra.Command{
		Use:   "restore URL",
		Short: "Make this repository a mirror of another one",
		Long: "Fetch every ref but HEAD from URL, force-setting changed refs and\n" +
			"deleting refs only this repository has. HEAD is left alone. A missing\n" +
			"repository is created bare, with no branch, unless --no-create.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openRestoreTarget(noCreate || dryRun)
			if err != nil {
				return err
			}
			return a.mirror(cmd.Context(), s.Restore, args[0], dryRun, "pull", "Restored from")
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "show what would change; fetch nothing")
	cmd.Flags().BoolVar(&noCreate, "no-create", false, "fail if the repository does not exist")
	return cmd
}

// openRestoreTarget opens the repository a restore writes into, creating
// it bare and branchless (every ref will come from the source) unless
// noCreate. A dry run creates nothing.
func (a *app) openRestoreTarget(noCreate bool) (*vfs.Store, error) {
	path, err := a.repoPath()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if noCreate {
			return nil, failf("Repository not found: %s", path)
		}
		s, err := a.open(path, vfs.Options{NoBranch: true})
		if err == nil {
			a.status("Initialized %s", path)
		}
		return s, err
	}
	return a.open(path, vfs.Options{NoCreate: true})
}

type mirrorFunc func(ctx context.Context, url string, opt vfs.MirrorOptions) (*vfs.MirrorDiff, error)

// mirror runs a backup or restore. A dry run lists the ref changes; a real
// run is silent, but with -v git's progress goes to stderr.
func (a *app) mirror(ctx context.Context, run mirrorFunc, url string, dryRun bool, verb, done string) error {
	opt := vfs.MirrorOptions{DryRun: dryRun}
	if a.verbose && !dryRun {
		opt.Progress = &progressWriter{w: a.stderr}
	}
	diff, err := run(ctx, url, opt)
	if err != nil {
		return failf("%s", err)
	}
	if dryRun {
		a.printMirrorDiff(diff, verb)
		return nil
	}
	a.status("%s %s", done, url)
	return nil
}

// printMirrorDiff prints creates, updates and deletes, each sorted by ref
// (as the library returns them), in gitstore's two-space layout.
func (a *app) printMirrorDiff(d *vfs.MirrorDiff, verb string) {
	if d.InSync() {
		a.printf("Nothing to %s — already in sync.\n", verb)
		return
	}
	for _, c := range d.Create {
		a.printf("  create  %s  %s\n", c.Ref, short(c.Src))
	}
	for _, c := range d.Update {
		a.printf("  update  %s  %s -> %s\n", c.Ref, short(c.Dest), short(c.Src))
	}
	for _, c := range d.Delete {
		a.printf("  delete  %s  %s\n", c.Ref, short(c.Dest))
	}
	a.printf("%d ref(s) would be changed.\n", d.Total())
}

// progressWriter turns git's "\r" line rewrites into "\r" plus
// erase-to-end-of-line, so a shorter update leaves no tail behind.
type progressWriter struct{ w io.Writer }

func (p *progressWriter) Write(b []byte) (int, error) {
	if _, err := fmt.Fprint(p.w, strings.ReplaceAll(string(b), "\r", "\r\033[K")); err != nil {
		return 0, err
	}
	return len(b), nil
}
