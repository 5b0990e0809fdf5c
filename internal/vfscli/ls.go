package vfscli

import (
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// lsCommand: `strata fs ls [PATH...]` lists directories (entry names),
// files (their own path) and glob matches (full paths); -R lists every
// file below, by full path; -l adds hash, size and type.
func (a *app) lsCommand() *cobra.Command {
	var (
		branch           string
		recursive, long  bool
		fullHash, noGlob bool
		format           string
		snap             snapshotOpts
	)
	cmd := &cobra.Command{
		Use:   "ls [PATH...]",
		Short: "List files and directories",
		Long: "List a directory's entries, a file, or the matches of a glob (* or ?).\n" +
			"PATH is [ref[~N]:]path; the colon is optional; no PATH is the root.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if len(args) == 0 {
				args = []string{":"}
			}
			s, rps, err := a.openReadArgs(cmd, args, &snap)
			if err != nil {
				return err
			}
			entries := map[string]lsEntry{}
			for _, rp := range rps {
				f, err := a.snapshot(s, rp, branch, &snap)
				if err != nil {
					return err
				}
				if err := collectLs(f, rp.Path, recursive, noGlob, entries); err != nil {
					return err
				}
			}
			names := make([]string, 0, len(entries))
			for n := range entries {
				names = append(names, n)
			}
			slices.Sort(names)
			if long {
				return a.printLsLong(names, entries, fullHash, format)
			}
			switch format {
			case formatJSON:
				return writeJSON(a.stdout, names, false)
			case formatJSONL:
				for _, n := range names {
					if err := writeJSON(a.stdout, n, false); err != nil {
						return err
					}
				}
				return nil
			}
			for _, n := range names {
				a.printf("%s\n", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&branch, "branch", "b", "", "branch to read (default: the current branch)")
	f.BoolVarP(&recursive, "recursive", "R", false, "list every file below, by full path")
	f.BoolVarP(&long, "long", "l", false, "show hash, size and type")
	f.BoolVar(&fullHash, "full-hash", false, "with -l, show full 40-character hashes")
	f.BoolVar(&noGlob, "no-glob", false, "treat PATH literally (no * or ? expansion)")
	addFormatFlag(cmd, &format)
	addSnapshotFlags(cmd, &snap)
	return cmd
}

// lsEntry is one output line: its name and where to find it for -l.
type lsEntry struct {
	path string // full repository path
	f    *vfs.FS
}

// collectLs adds the entries one argument names to out, keyed by output
// name, so arguments naming the same thing print it once.
func collectLs(f *vfs.FS, raw string, recursive, noGlob bool, out map[string]lsEntry) error {
	if !noGlob && isGlob(raw) {
		pattern, err := normRepoPath(raw)
		if err != nil {
			return err
		}
		matches, err := f.Glob(pattern)
		if err != nil {
			return err
		}
		for _, m := range matches {
			dir, err := f.IsDir(m)
			if err != nil {
				return err
			}
			if recursive && dir {
				if err := collectFiles(f, m, out); err != nil {
					return err
				}
				continue
			}
			out[m] = lsEntry{m, f}
		}
		return nil
	}
	p, err := normRepoPath(raw)
	if err != nil {
		return err
	}
	if ok, err := f.Exists(p); err != nil || !ok {
		return orFail(err, "Path not found: %s", p)
	}
	dir, err := f.IsDir(p)
	switch {
	case err != nil:
		return err
	case !dir:
		out[p] = lsEntry{p, f}
		return nil
	case recursive:
		return collectFiles(f, p, out)
	}
	names, err := f.Ls(p)
	if err != nil {
		return err
	}
	for _, n := range names {
		out[n] = lsEntry{path.Join(p, n), f}
	}
	return nil
}

// collectFiles adds every file (not directory) below dir by full path.
func collectFiles(f *vfs.FS, dir string, out map[string]lsEntry) error {
	return f.Walk(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out[p] = lsEntry{p, f}
		}
		return nil
	})
}

// lsLong is one -l entry; JSON omits size for directories and target for
// everything but links.
type lsLong struct {
	Name   string `json:"name"`
	Hash   string `json:"hash"`
	Size   *int64 `json:"size,omitempty"`
	Type   string `json:"type"`
	Target string `json:"target,omitempty"`
}

func (a *app) printLsLong(names []string, entries map[string]lsEntry, fullHash bool, format string) error {
	rows := make([]lsLong, 0, len(names))
	for _, n := range names {
		e := entries[n]
		t, err := e.f.FileType(e.path)
		if err != nil {
			return err
		}
		h, err := e.f.ObjectHash(e.path)
		if err != nil {
			return err
		}
		row := lsLong{Name: n, Hash: h, Type: string(t)}
		if t == vfs.Tree {
			row.Name += "/"
		} else {
			size, err := e.f.Size(e.path)
			if err != nil {
				return err
			}
			row.Size = &size
		}
		if t == vfs.Link {
			if row.Target, err = e.f.Readlink(e.path); err != nil {
				return err
			}
		}
		rows = append(rows, row)
	}
	switch format {
	case formatJSON:
		return writeJSON(a.stdout, rows, false)
	case formatJSONL:
		for _, r := range rows {
			if err := writeJSON(a.stdout, r, false); err != nil {
				return err
			}
		}
		return nil
	}
	width := 0
	for _, r := range rows {
		if r.Size != nil {
			width = max(width, len(strconv.FormatInt(*r.Size, 10)))
		}
	}
	for _, r := range rows {
		h := r.Hash
		if !fullHash && len(h) > 7 {
			h = h[:7]
		}
		size := ""
		if r.Size != nil {
			size = strconv.FormatInt(*r.Size, 10)
		}
		name := r.Name
		if r.Type == string(vfs.Link) {
			name += " -> " + r.Target
		}
		a.printf("%s  %s%s  %s\n", h, strings.Repeat(" ", width-len(size)), size, name)
	}
	return nil
}
