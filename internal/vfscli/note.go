package vfscli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// noteCommand: `strata fs note get|set|delete|list|get-current|set-current`
// reads and writes git notes on commits; -N picks the namespace
// (refs/notes/<ns>, default commits).
func (a *app) noteCommand() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "note",
		Short: "Read and write notes on commits",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVarP(&ns, "namespace", "N", "commits", "notes namespace (refs/notes/<ns>)")
	open := func() (*vfs.NoteNamespace, error) {
		s, err := a.openRead()
		if err != nil {
			return nil, err
		}
		return s.Notes().Namespace(ns), nil
	}
	noNote := func(err error, hash string) error {
		if errors.Is(err, vfs.ErrNotFound) {
			return failf("No note for %s in namespace '%s'", short(hash), ns)
		}
		return err
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "get HASH",
			Short: "Print the note on a commit",
			Args:  exactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				n, err := open()
				if err != nil {
					return err
				}
				text, err := n.Get(args[0])
				if err != nil {
					return noNote(err, args[0])
				}
				a.printf("%s", text)
				return nil
			},
		},
		&cobra.Command{
			Use:   "set HASH TEXT",
			Short: "Set the note on a commit",
			Args:  exactArgs(2),
			RunE: func(_ *cobra.Command, args []string) error {
				n, err := open()
				if err != nil {
					return err
				}
				if err := n.Set(args[0], args[1]); err != nil {
					return err
				}
				a.status("Set note on %s", short(args[0]))
				return nil
			},
		},
		&cobra.Command{
			Use:   "delete HASH",
			Short: "Delete the note on a commit",
			Args:  exactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				n, err := open()
				if err != nil {
					return err
				}
				if err := n.Delete(args[0]); err != nil {
					return noNote(err, args[0])
				}
				a.status("Deleted note on %s", short(args[0]))
				return nil
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "List the commits that have a note, sorted",
			Args:  noArgs,
			RunE: func(*cobra.Command, []string) error {
				n, err := open()
				if err != nil {
					return err
				}
				hashes, err := n.List()
				if err != nil {
					return err
				}
				for _, h := range hashes {
					a.printf("%s\n", h)
				}
				return nil
			},
		},
		&cobra.Command{
			Use:   "get-current",
			Short: "Print the note on the current branch's tip",
			Args:  noArgs,
			RunE: func(*cobra.Command, []string) error {
				n, err := open()
				if err != nil {
					return err
				}
				tip, err := a.currentTip()
				if err != nil {
					return err
				}
				text, err := n.Get(tip)
				if errors.Is(err, vfs.ErrNotFound) {
					return failf("No note for HEAD (%s) in namespace '%s'", short(tip), ns)
				}
				if err != nil {
					return err
				}
				a.printf("%s", text)
				return nil
			},
		},
		&cobra.Command{
			Use:   "set-current TEXT",
			Short: "Set the note on the current branch's tip",
			Args:  exactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				n, err := open()
				if err != nil {
					return err
				}
				tip, err := a.currentTip()
				if err != nil {
					return err
				}
				if err := n.Set(tip, args[0]); err != nil {
					return err
				}
				a.status("Set note on %s", short(tip))
				return nil
			},
		},
	)
	return cmd
}

// currentTip is the commit at the tip of HEAD's branch.
func (a *app) currentTip() (string, error) {
	s, err := a.openRead()
	if err != nil {
		return "", err
	}
	f, err := s.Branches().Current()
	if err != nil {
		return "", err
	}
	if f == nil {
		return "", failf("HEAD does not point to an existing branch")
	}
	return f.Hash(), nil
}
