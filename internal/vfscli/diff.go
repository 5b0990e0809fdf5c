package vfscli

import (
	"path"
	"slices"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// diffCommand: `strata fs diff [BASELINE]` compares the branch tip with a
// baseline (BASELINE `ref~N:`, or --ref and the filters) as git's
// name-status does: A, M, D lines over full file paths.
func (a *app) diffCommand() *cobra.Command {
	var branch string
	var reverse bool
	var snap snapshotOpts
	cmd := &cobra.Command{
		Use:   "diff [BASELINE]",
		Short: "Show files changed between the branch tip and a baseline",
		Long: "Compare the branch tip (-b or the current branch) with a baseline:\n" +
			"BASELINE [ref[~N]]:[path] and/or --ref/--path/--match/--before/--back.\n" +
			"Prints `A  path` (added since the baseline), `M  path`, `D  path`.",
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base := refPath{Repo: true}
			if len(args) == 1 {
				rp, err := parseRefPath(args[0])
				if err != nil {
					return err
				}
				// gitstore ignored a BASELINE without a colon, showing the
				// tip against itself; a word that does nothing is a trap.
				if !rp.Repo {
					return failf("BASELINE must be a repo ref (e.g. dev: or ~1:), not %s", args[0])
				}
				if rp.Path != "" {
					if snap.path != "" {
						return failf("Cannot specify both positional path and --path")
					}
					snap.path = rp.Path
				}
				base = rp
			}
			if base.explicit() && snap.ref != "" {
				return failf("Cannot use --ref with explicit ref: in path")
			}
			if base.Back > 0 && snap.back != 0 {
				return failf("Cannot use --back with ~N in path")
			}
			head, err := a.openBranch(branch)
			if err != nil {
				return err
			}
			old, err := a.snapshot(head.Store(), base, branch, &snap)
			if err != nil {
				return err
			}
			if reverse {
				head, old = old, head
			}
			if head.Hash() == old.Hash() {
				return nil
			}
			d := treeDiff{}
			if err := d.compare(old, head, ""); err != nil {
				return err
			}
			for _, l := range []struct {
				tag   string
				paths []string
			}{{"A", d.added}, {"M", d.modified}, {"D", d.deleted}} {
				slices.Sort(l.paths)
				for _, p := range l.paths {
					a.printf("%s  %s\n", l.tag, p)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&branch, "branch", "b", "", "branch to compare (default: the current branch)")
	cmd.Flags().BoolVar(&reverse, "reverse", false, "swap the sides (A and D trade places)")
	addSnapshotFlags(cmd, &snap)
	return cmd
}

// treeDiff collects file paths that differ between two snapshots.
type treeDiff struct{ added, modified, deleted []string }

// compare walks the directory dir of both snapshots, skipping any subtree
// whose id is equal on both sides, so the cost follows the change, not the
// size of the tree.
func (d *treeDiff) compare(old, cur *vfs.FS, dir string) error {
	oldEntries, err := dirEntries(old, dir)
	if err != nil {
		return err
	}
	curEntries, err := dirEntries(cur, dir)
	if err != nil {
		return err
	}
	for name, c := range curEntries {
		p := path.Join(dir, name)
		o, ok := oldEntries[name]
		switch {
		case !ok:
			if err := d.all(cur, p, c, &d.added); err != nil {
				return err
			}
		case o == c:
		case o.typ == vfs.Tree && c.typ == vfs.Tree:
			if err := d.compare(old, cur, p); err != nil {
				return err
			}
		case o.typ == vfs.Tree: // a directory became a file
			if err := d.all(old, p, o, &d.deleted); err != nil {
				return err
			}
			d.added = append(d.added, p)
		case c.typ == vfs.Tree: // a file became a directory
			d.deleted = append(d.deleted, p)
			if err := d.all(cur, p, c, &d.added); err != nil {
				return err
			}
		default: // content or mode
			d.modified = append(d.modified, p)
		}
	}
	for name, o := range oldEntries {
		if _, ok := curEntries[name]; !ok {
			if err := d.all(old, path.Join(dir, name), o, &d.deleted); err != nil {
				return err
			}
		}
	}
	return nil
}

// all adds p, or every file below it when it is a directory.
func (d *treeDiff) all(f *vfs.FS, p string, e diffEntry, out *[]string) error {
	if e.typ != vfs.Tree {
		*out = append(*out, p)
		return nil
	}
	files := map[string]lsEntry{}
	if err := collectFiles(f, p, files); err != nil {
		return err
	}
	for fp := range files {
		*out = append(*out, fp)
	}
	return nil
}

// diffEntry is what makes two entries equal: object id and type (so a
// mode-only change is M).
type diffEntry struct {
	hash string
	typ  vfs.FileType
}

func dirEntries(f *vfs.FS, dir string) (map[string]diffEntry, error) {
	names, err := f.Ls(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]diffEntry, len(names))
	for _, n := range names {
		p := path.Join(dir, n)
		h, err := f.ObjectHash(p)
		if err != nil {
			return nil, err
		}
		t, err := f.FileType(p)
		if err != nil {
			return nil, err
		}
		out[n] = diffEntry{h, t}
	}
	return out, nil
}
