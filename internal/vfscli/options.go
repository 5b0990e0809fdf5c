package vfscli

import (
	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// commitOpts are the options of commands that commit (checklist §2.2).
type commitOpts struct {
	message  string // -m: the commit message; placeholders as in vfs.WriteOptions
	tag      string // --tag: tag the resulting commit
	forceTag bool   // --force-tag: move an existing tag
	dryRun   bool   // -n: print the plan, commit nothing
	noCreate bool   // --no-create: a missing repository is an error
	noGlob   bool   // --no-glob: sources are literal
}

func addMessageFlag(cmd *cobra.Command, o *commitOpts) {
	cmd.Flags().StringVarP(&o.message, "message", "m", "", "commit message ({default}, {add_count}, {update_count}, {delete_count}, {total_count}, {op})")
}

func addTagFlags(cmd *cobra.Command, o *commitOpts) {
	cmd.Flags().StringVar(&o.tag, "tag", "", "create a tag at the resulting commit")
	cmd.Flags().BoolVar(&o.forceTag, "force-tag", false, "overwrite the tag if it exists")
}

func addDryRunFlag(cmd *cobra.Command, o *commitOpts) {
	cmd.Flags().BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would change; commit nothing")
}

func addNoCreateFlag(cmd *cobra.Command, o *commitOpts) {
	cmd.Flags().BoolVar(&o.noCreate, "no-create", false, "fail if the repository does not exist")
}

func addNoGlobFlag(cmd *cobra.Command, o *commitOpts) {
	cmd.Flags().BoolVar(&o.noGlob, "no-glob", false, "treat sources literally (no * or ? expansion)")
}

// checkTag runs before a commit, so an existing --tag refuses the command
// before anything is written rather than after.
func checkTag(s *vfs.Store, o *commitOpts) error {
	if o.tag == "" || o.forceTag {
		return nil
	}
	ok, err := s.Tags().Has(o.tag)
	if err != nil || !ok {
		return err
	}
	return failf("Tag already exists: %s (use --force-tag to overwrite)", o.tag)
}

// applyTag points --tag at the commit a write produced.
func (a *app) applyTag(s *vfs.Store, f *vfs.FS, o *commitOpts) error {
	if o.tag == "" {
		return nil
	}
	tags := s.Tags()
	if o.forceTag {
		ok, err := tags.Has(o.tag)
		if err != nil {
			return err
		}
		if ok {
			if err := tags.Delete(o.tag); err != nil {
				return err
			}
		}
	} else if err := checkTag(s, o); err != nil {
		return err
	}
	if _, err := tags.Set(o.tag, f); err != nil {
		return err
	}
	a.status("Tagged %s", o.tag)
	return nil
}

// Output formats of ls, log and reflog.
const (
	formatText  = "text"
	formatJSON  = "json"
	formatJSONL = "jsonl"
)

func addFormatFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "format", formatText, "output format: text, json or jsonl")
}

// checkFormat refuses an unknown --format as click's Choice does (exit 2).
func checkFormat(v string) error {
	switch v {
	case formatText, formatJSON, formatJSONL:
		return nil
	}
	return usagef("Invalid value for '--format': '%s' is not one of 'text', 'json', 'jsonl'.", v)
}

// expandRepoSources expands repository sources against f: a source is a
// pattern only if it has `*` or `?` (and --no-glob is off), and a pattern
// that matches nothing is an error. Literal sources are normalised, keeping
// a trailing slash (it means "contents of" to rm, cp and mv).
func expandRepoSources(f *vfs.FS, paths []string, noGlob bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		n, err := normRepoPath(p)
		if err != nil {
			return nil, err
		}
		if noGlob || !isGlob(p) {
			if hasTrailingSlash(p) && n != "" {
				n += "/"
			}
			out = append(out, n)
			continue
		}
		matches, err := f.Glob(n)
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, failf("No matches for pattern in repo: %s", p)
		}
		out = append(out, matches...)
	}
	return out, nil
}
