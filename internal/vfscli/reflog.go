package vfscli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// reflogCommand: `strata fs reflog` lists where a branch has pointed, oldest
// first, with the message of each move.
func (a *app) reflogCommand() *cobra.Command {
	var branch, format string
	var limit int
	cmd := &cobra.Command{
		Use:   "reflog",
		Short: "Show a branch's reflog",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			f, err := a.openBranch(branch)
			if err != nil {
				return err
			}
			name := f.RefName()
			entries, err := f.Store().Branches().Reflog(name)
			if errors.Is(err, vfs.ErrNotFound) || err == nil && len(entries) == 0 {
				return failf("No reflog found for branch '%s'", name)
			}
			if err != nil {
				return err
			}
			if limit > 0 && len(entries) > limit {
				entries = entries[len(entries)-limit:]
			}
			switch format {
			case formatJSON:
				rows := make([]reflogRow, len(entries))
				for i, e := range entries {
					rows[i] = newReflogRow(e)
				}
				return writeJSON(a.stdout, rows, true)
			case formatJSONL:
				for _, e := range entries {
					if err := writeJSON(a.stdout, newReflogRow(e), false); err != nil {
						return err
					}
				}
				return nil
			}
			a.printf("Reflog for branch '%s' (%d entries):\n\n", name, len(entries))
			for i, e := range entries {
				a.printf("  [%d] %s (%s)\n      %s\n\n", i, short(e.New), e.Time.Local().Format(time.DateTime), e.Message)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch (default: the current branch)")
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "show only the last N entries")
	addFormatFlag(cmd, &format)
	return cmd
}

// reflogRow is one entry in reflog's JSON: timestamp in Unix seconds, time
// in local time without a zone (as gitstore prints it).
type reflogRow struct {
	Old       string  `json:"old_sha"`
	New       string  `json:"new_sha"`
	Committer string  `json:"committer"`
	Timestamp float64 `json:"timestamp"`
	Time      string  `json:"time"`
	Message   string  `json:"message"`
}

func newReflogRow(e vfs.ReflogEntry) reflogRow {
	return reflogRow{
		Old:       e.Old,
		New:       e.New,
		Committer: e.Committer,
		Timestamp: float64(e.Time.UnixNano()) / 1e9,
		Time:      e.Time.Local().Format("2006-01-02T15:04:05"),
		Message:   e.Message,
	}
}

// short is a commit id's first seven characters.
func short(h string) string { return h[:min(7, len(h))] }
