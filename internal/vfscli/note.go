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
	// withNotes runs a subcommand on the namespace.
	withNotes := func(run func(n *vfs.NoteNamespace, args []string) error) func(*cobra.Command, []string) error {
		return func(_ *cobra.Command, args []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			return run(s.Notes().Namespace(ns), args)
		}
	}
	// noNote words a missing note on what (a short hash, or HEAD's).
	noNote := func(err error, what string) error {
		if errors.Is(err, vfs.ErrNotFound) {
			return failf("No note for %s in namespace '%s'", what, ns)
		}
		return err
	}
	get := func(n *vfs.NoteNamespace, hash, what string) error {
		text, err := n.Get(hash)
		if err != nil {
			return noNote(err, what)
		}
		a.printf("%s", text)
		return nil
	}
	set := func(n *vfs.NoteNamespace, hash, text string) error {
		if err := n.Set(hash, text); err != nil {
			return err
		}
		a.status("Set note on %s", short(hash))
		return nil
	}
	// onTip runs a -current subcommand on the current branch's tip.
	onTip := func(run func(n *vfs.NoteNamespace, tip string, args []string) error) func(*cobra.Command, []string) error {
		return withNotes(func(n *vfs.NoteNamespace, args []string) error {
			tip, err := a.currentTip()
			if err != nil {
				return err
			}
			return run(n, tip, args)
		})
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "get HASH",
			Short: "Print the note on a commit",
			Args:  exactArgs(1),
			RunE: withNotes(func(n *vfs.NoteNamespace, args []string) error {
				return get(n, args[0], short(args[0]))
			}),
		},
		&cobra.Command{
			Use:   "set HASH TEXT",
			Short: "Set the note on a commit",
			Args:  exactArgs(2),
			RunE: withNotes(func(n *vfs.NoteNamespace, args []string) error {
				return set(n, args[0], args[1])
			}),
		},
		&cobra.Command{
			Use:   "delete HASH",
			Short: "Delete the note on a commit",
			Args:  exactArgs(1),
			RunE: withNotes(func(n *vfs.NoteNamespace, args []string) error {
				if err := n.Delete(args[0]); err != nil {
					return noNote(err, short(args[0]))
				}
				a.status("Deleted note on %s", short(args[0]))
				return nil
			}),
		},
		&cobra.Command{
			Use:   "list",
			Short: "List the commits that have a note, sorted",
			Args:  noArgs,
			RunE: withNotes(func(n *vfs.NoteNamespace, _ []string) error {
				hashes, err := n.List()
				if err != nil {
					return err
				}
				for _, h := range hashes {
					a.printf("%s\n", h)
				}
				return nil
			}),
		},
		&cobra.Command{
			Use:   "get-current",
			Short: "Print the note on the current branch's tip",
			Args:  noArgs,
			RunE: onTip(func(n *vfs.NoteNamespace, tip string, _ []string) error {
				return get(n, tip, "HEAD ("+short(tip)+")")
			}),
		},
		&cobra.Command{
			Use:   "set-current TEXT",
			Short: "Set the note on the current branch's tip",
			Args:  exactArgs(1),
			RunE: onTip(func(n *vfs.NoteNamespace, tip string, args []string) error {
				return set(n, tip, args[0])
			}),
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
