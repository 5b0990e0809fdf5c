package vfscli

import (
	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// logCommand: `strata fs log [TARGET]` lists commits newest first.
// TARGET `ref~N:path` fills --ref, --back and --path; a TARGET with no
// colon is a path.
func (a *app) logCommand() *cobra.Command {
	var branch, format string
	var snap snapshotOpts
	cmd := &cobra.Command{
		Use:   "log [TARGET]",
		Short: "Show commit history",
		Long: "List commits, newest first, as `hash  time  message`. TARGET is\n" +
			"[ref[~N]]:path or a bare path; --back is applied before the filters.",
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if len(args) == 1 {
				if err := mergeLogTarget(args[0], cmd.Flags().Changed("branch"), &snap); err != nil {
					return err
				}
			}
			s, err := a.openRead()
			if err != nil {
				return err
			}
			var f *vfs.FS
			if snap.ref != "" {
				f, err = resolveRev(s, snap.ref)
			} else {
				var name string
				if name, err = currentBranch(s, branch); err == nil {
					f, err = branchFS(s, name)
				}
			}
			if err != nil {
				return err
			}
			// Unlike the other commands, log walks --back before it filters.
			if f, err = back(f, snap.back); err != nil {
				return err
			}
			lo, err := snap.logOptions()
			if err != nil {
				return err
			}
			var rows []logEntry
			for c, err := range f.Log(lo) {
				if err != nil {
					return err
				}
				e := newLogEntry(c)
				switch format {
				case formatText:
					a.printf("%s  %s  %s\n", e.Hash[:min(7, len(e.Hash))], e.Time, e.Message)
				case formatJSONL:
					if err := writeJSON(a.stdout, e, false); err != nil {
						return err
					}
				default:
					rows = append(rows, e)
				}
			}
			if format == formatJSON {
				if rows == nil {
					rows = []logEntry{}
				}
				return writeJSON(a.stdout, rows, true)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to read (default: the current branch)")
	addFormatFlag(cmd, &format)
	addSnapshotFlags(cmd, &snap)
	cmd.Flags().StringVar(&snap.path, "at", "", "alias of --path")
	cmd.Flags().MarkHidden("at")
	return cmd
}

// mergeLogTarget folds a positional TARGET into the flags, refusing a
// TARGET that says something a flag also says.
func mergeLogTarget(arg string, branchSet bool, o *snapshotOpts) error {
	rp, err := parseRefPath(arg)
	if err != nil {
		return err
	}
	if !rp.Repo {
		if o.path != "" {
			return failf("Cannot specify both positional path and --path")
		}
		o.path = arg
		return nil
	}
	if rp.Ref != "" {
		if o.ref != "" {
			return failf("Cannot specify both positional ref and --ref")
		}
		if branchSet {
			return failf("Cannot use -b/--branch with explicit ref: in target")
		}
		o.ref = rp.Ref
	}
	if rp.Back > 0 {
		if o.back != 0 {
			return failf("Cannot specify both positional ~N and --back")
		}
		o.back = rp.Back
	}
	if rp.Path != "" {
		if o.path != "" {
			return failf("Cannot specify both positional path and --path")
		}
		o.path = rp.Path
	}
	return nil
}

// logEntry is one commit in log's JSON; Branch is null for a detached
// commit.
type logEntry struct {
	Hash        string  `json:"hash"`
	Message     string  `json:"message"`
	Time        string  `json:"time"`
	AuthorName  string  `json:"author_name"`
	AuthorEmail string  `json:"author_email"`
	Branch      *string `json:"branch"`
}

func newLogEntry(f *vfs.FS) logEntry {
	e := logEntry{
		Hash:        f.Hash(),
		Message:     f.Message(),
		Time:        isoTime(f),
		AuthorName:  f.Author().Name,
		AuthorEmail: f.Author().Email,
	}
	if r := f.RefName(); r != "" {
		e.Branch = &r
	}
	return e
}

// isoTime is the commit time as Python's isoformat writes an aware time:
// seconds and a numeric offset, "+00:00" rather than "Z".
func isoTime(f *vfs.FS) string { return f.Time().Format("2006-01-02T15:04:05-07:00") }
