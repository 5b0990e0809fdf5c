package vfscli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// copyFlags are the options cp and sync share.
type copyFlags struct {
	branch         string
	snap           snapshotOpts
	commit         commitOpts
	typ            string // --type blob|executable
	legacyMode     string // --mode 644|755 (hidden, deprecated)
	followSymlinks bool
	ignoreExisting bool
	delete         bool
	ignoreErrors   bool
	checksum       bool // -c: compare content; default is mtime mode
	exclude        []string
	excludeFrom    string
	gitignore      bool // sync only
}

func addBranchFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVarP(v, "branch", "b", "", "branch (default: the current branch)")
}

func (f *copyFlags) addCommon(cmd *cobra.Command) {
	addBranchFlag(cmd, &f.branch)
	addSnapshotFlags(cmd, &f.snap)
	addMessageFlag(cmd, &f.commit)
	addDryRunFlag(cmd, &f.commit)
	addNoCreateFlag(cmd, &f.commit)
	addTagFlags(cmd, &f.commit)
	fl := cmd.Flags()
	fl.StringArrayVar(&f.exclude, "exclude", nil, "leave out local paths matching this gitignore pattern (repeatable; disk to repo)")
	fl.StringVar(&f.excludeFrom, "exclude-from", "", "read exclude patterns from this file (disk to repo)")
	fl.BoolVar(&f.ignoreErrors, "ignore-errors", false, "skip files that fail, report them, exit 1 after committing the rest")
	fl.BoolVarP(&f.checksum, "checksum", "c", false, "compare files by content instead of by modification time")
}

// fileMode is --type (or the hidden --mode), "" when neither forces one.
func (f *copyFlags) fileMode() (vfs.FileType, error) {
	switch {
	case f.typ != "" && f.legacyMode != "":
		return "", usagef("--type and --mode are mutually exclusive")
	case f.typ == "blob" || f.legacyMode == "644":
		return vfs.Blob, nil
	case f.typ == "executable" || f.legacyMode == "755":
		return vfs.Executable, nil
	case f.typ != "":
		return "", usagef("Invalid value for '--type': '%s' is not one of 'blob', 'executable'.", f.typ)
	case f.legacyMode != "":
		return "", usagef("Invalid value for '--mode': '%s' is not one of '644', '755'.", f.legacyMode)
	}
	return "", nil
}

// excludeFilter builds the --exclude/--exclude-from/--gitignore filter;
// nil when none is given. --exclude-from must name an existing file.
func (f *copyFlags) excludeFilter() (*vfs.ExcludeFilter, error) {
	if len(f.exclude) == 0 && f.excludeFrom == "" && !f.gitignore {
		return nil, nil
	}
	if f.excludeFrom != "" {
		if _, err := os.Stat(f.excludeFrom); err != nil {
			return nil, usagef("Invalid value for '--exclude-from': Path '%s' does not exist.", f.excludeFrom)
		}
	}
	return vfs.NewExcludeFilter(f.exclude, f.excludeFrom, f.gitignore)
}

// mtimeMode reports whether cp compares files by mtime: only with
// --delete and without -c, as in gitstore. Without --delete every source
// is compared by content, so an edit made in the same second as the
// branch's last commit is never skipped; identical files still make no
// commit.
func (f *copyFlags) mtimeMode() bool { return f.delete && !f.checksum }

func (f *copyFlags) excludes() bool { return len(f.exclude) > 0 || f.excludeFrom != "" }

func (a *app) cpCommand() *cobra.Command {
	var f copyFlags
	cmd := &cobra.Command{
		Use:   "cp SRC... DEST",
		Short: "Copy files between disk and the repository, or within it",
		Long: "Copy files disk→repo, repo→disk or repo→repo. Repository paths start with\n" +
			"':' or 'ref:'. A trailing '/' on a source copies its contents; '/./' in a\n" +
			"source keeps only the part after it. One existing file source copies to\n" +
			"DEST exactly, as cp(1) does.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return failf("cp requires at least two arguments (SRC... DEST)")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error { return a.cp(args, &f) },
	}
	f.addCommon(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.typ, "type", "", "store every file as this type: blob or executable")
	fl.StringVar(&f.legacyMode, "mode", "", "file mode 644 or 755 (deprecated: use --type)")
	_ = fl.MarkHidden("mode")
	fl.BoolVar(&f.followSymlinks, "follow-symlinks", false, "copy what local symlinks point to instead of the links")
	fl.BoolVar(&f.ignoreExisting, "ignore-existing", false, "skip files that already exist at the destination")
	fl.BoolVar(&f.delete, "delete", false, "delete destination files that the sources do not have")
	addNoGlobFlag(cmd, &f.commit)
	return cmd
}

// cp routes by direction (checklist §2.4 cp).
func (a *app) cp(args []string, f *copyFlags) error {
	rps, err := parseArgs(args, parseRefPath)
	if err != nil {
		return err
	}
	srcs, dest := rps[:len(rps)-1], rps[len(rps)-1]
	allRepo, allLocal := true, true
	for _, s := range srcs {
		allRepo = allRepo && s.Repo
		allLocal = allLocal && !s.Repo
	}
	switch {
	case !dest.Repo && allLocal:
		return failf("Neither sources nor DEST is a repo path — prefix repo paths with ':'")
	case !dest.Repo && !allRepo:
		return failf("All source paths must be the same type (all repo or all local)")
	case dest.Repo && !allRepo && !allLocal:
		return failf("Mixed local and repo sources are not supported — use separate cp commands")
	}
	toRepo := dest.Repo && allLocal
	if toRepo && f.snap.set() {
		return failf("--ref/--path/--match/--before only apply when reading from repo")
	}
	if !dest.Repo && f.commit.tag != "" {
		return failf("--tag only applies when writing to repo (disk -> repo)")
	}
	if !toRepo && f.excludes() {
		return failf("--exclude/--exclude-from only apply when copying from disk to repo")
	}
	mode, err := f.fileMode()
	if err != nil {
		return err
	}
	switch {
	case toRepo:
		return a.cpDiskToRepo(srcs, dest, f, mode)
	case !dest.Repo:
		return a.cpRepoToDisk(srcs, dest.Path, f)
	}
	return a.cpRepoToRepo(srcs, dest, f, mode)
}

// singleSource reports the cp(1)-like case: one literal source, no
// "contents of" slash, no pivot.
func singleSource(srcs []refPath, noGlob bool) bool {
	if len(srcs) != 1 {
		return false
	}
	p := srcs[0].Path
	return (noGlob || !isGlob(p)) && !hasTrailingSlash(p) && !strings.Contains(p, "/./")
}

// destBranch is the branch a repository destination writes to; ~N gets
// the destination's own wording. An existing --tag is refused here, before
// anything is written.
func destBranch(s *vfs.Store, dest refPath, branch string, co *commitOpts) (*vfs.FS, error) {
	if dest.Back > 0 {
		return nil, failf("Cannot write to a historical commit (remove ~N from destination)")
	}
	name, err := writeTarget(s, dest, branch, "write to")
	if err != nil {
		return nil, err
	}
	f, err := branchFS(s, name)
	if err != nil {
		return nil, err
	}
	return f, checkTag(s, co)
}

// openCopyIn opens what a disk→repo copy or sync writes to: the
// destination branch (a dry run never creates the repository), the
// normalised destination path, and the exclude filter.
func (a *app) openCopyIn(dest refPath, f *copyFlags) (*vfs.FS, string, *vfs.ExcludeFilter, error) {
	exclude, err := f.excludeFilter()
	if err != nil {
		return nil, "", nil, err
	}
	var s *vfs.Store
	if f.commit.dryRun {
		s, err = a.openRead()
	} else {
		s, err = a.openWrite(f.branch, f.commit.noCreate)
	}
	if err != nil {
		return nil, "", nil, err
	}
	snap, err := destBranch(s, dest, f.branch, &f.commit)
	if err != nil {
		return nil, "", nil, err
	}
	destPath, err := normRepoPath(dest.Path)
	if err != nil {
		return nil, "", nil, err
	}
	return snap, destPath, exclude, nil
}

// finishCopyIn ends a disk→repo copy or sync: a dry run prints its plan,
// a commit is reported by finishWrite.
func (a *app) finishCopyIn(out *vfs.FS, destPath string, f *copyFlags, status string) error {
	if f.commit.dryRun {
		a.printPlan(out.Changes(), func(rel string) string { return ":" + joinRepo(destPath, rel) })
		return nil
	}
	return a.finishWrite(out.Store(), out, f, status)
}

func (a *app) cpDiskToRepo(srcs []refPath, dest refPath, f *copyFlags, mode vfs.FileType) error {
	snap, destPath, exclude, err := a.openCopyIn(dest, f)
	if err != nil {
		return err
	}
	if singleSource(srcs, f.commit.noGlob) {
		if fi, err := os.Stat(srcs[0].Path); err == nil && !fi.IsDir() {
			return a.cpFileIn(snap, srcs[0].Path, destPath, f, mode, exclude)
		}
	}
	var sources []string
	for _, src := range srcs {
		if f.commit.noGlob || !isGlob(src.Path) {
			sources = append(sources, src.Path)
			continue
		}
		matches, err := vfs.DiskGlob(src.Path)
		if err != nil {
			return err
		}
		if len(matches) == 0 {
			return failf("No matches for pattern: %s", src.Path)
		}
		sources = append(sources, matches...)
	}
	out, err := snap.CopyIn(sources, destPath, vfs.CopyInOptions{
		DryRun:         f.commit.dryRun,
		FollowSymlinks: f.followSymlinks,
		IgnoreExisting: f.ignoreExisting,
		Delete:         f.delete,
		IgnoreErrors:   f.ignoreErrors,
		Mtime:          f.mtimeMode(),
		Message:        f.commit.message,
		Mode:           mode,
		Exclude:        exclude,
	})
	if err != nil {
		return copyErr(err)
	}
	return a.finishCopyIn(out, destPath, f, "Copied -> :"+destPath)
}

// finishWrite reports a copy or sync that committed: warnings and per-file
// errors on stderr, the tag, the -v line; exit 1 when files failed.
func (a *app) finishWrite(s *vfs.Store, out *vfs.FS, f *copyFlags, status string) error {
	ch := out.Changes()
	printReportProblems(a.stderr, ch)
	if err := a.applyTag(s, out, &f.commit); err != nil {
		return err
	}
	a.status("%s", status)
	if ch != nil && len(ch.Errors) > 0 {
		return exitCode(1)
	}
	return nil
}

// copyErr words a library error for the user: its text is already the
// message, so only the "Error: " prefix is added.
func copyErr(err error) error {
	var stale *vfs.StaleSnapshotError
	if errors.As(err, &stale) {
		return err
	}
	return failf("%s", err)
}

// printPlan prints a dry run's changes sorted by path, `+`, `~` or `-`
// and where; warnings go to stderr.
func (a *app) printPlan(ch *vfs.ChangeReport, where func(rel string) string) {
	if ch == nil {
		return
	}
	for _, e := range ch.Warnings {
		fmt.Fprintf(a.stderr, "WARNING: %s: %s\n", e.Path, e.Error)
	}
	for _, act := range ch.Actions() {
		a.printf("%s %s\n", actionSymbol(act.Action), where(act.Path))
	}
}

// joinRepo joins repository path parts, the root being "".
func joinRepo(dir, rel string) string {
	if dir == "" {
		return rel
	}
	if rel == "" {
		return dir
	}
	return dir + "/" + rel
}

// cpFileIn copies one local file to an exact repository path: DEST
// itself, or DEST/<name> when DEST is a directory or the root. A trailing
// slash on DEST is dropped first, so `cp f :new/` makes a file "new"
// when there is no such directory (gitstore's behaviour).
func (a *app) cpFileIn(snap *vfs.FS, local, destPath string, f *copyFlags, mode vfs.FileType, exclude *vfs.ExcludeFilter) error {
	if f.delete {
		return failf("Cannot use --delete with a single file source.")
	}
	name := filepath.Base(local)
	if exclude.IsExcluded(name, false) {
		return nil
	}
	target := destPath
	if target == "" {
		target = name
	} else if dir, err := snap.IsDir(target); err != nil {
		return err
	} else if dir {
		target = target + "/" + name
	}
	if f.ignoreExisting {
		if ok, err := snap.Exists(target); err != nil || ok {
			return err
		}
	}
	if f.commit.dryRun {
		a.printf("%s -> :%s\n", local, target)
		return nil
	}
	opt := vfs.WriteOptions{Message: f.commit.message, Mode: mode}
	var out *vfs.FS
	fi, err := os.Lstat(local)
	if err != nil {
		return failf("Local file not found: %s", local)
	}
	if fi.Mode()&fs.ModeSymlink != 0 && !f.followSymlinks {
		linkTarget, err := os.Readlink(local)
		if err != nil {
			return err
		}
		out, err = snap.WriteSymlink(target, linkTarget, vfs.WriteOptions{Message: f.commit.message})
		if err != nil {
			return copyErr(err)
		}
	} else if out, err = snap.WriteFromFile(target, local, opt); err != nil {
		return copyErr(err)
	}
	return a.finishWrite(snap.Store(), out, f, "Copied -> :"+target)
}

// repoSource is one repository source with the snapshot it reads from.
type repoSource struct {
	snap *vfs.FS
	path string // normalised; a trailing "/" kept (contents of), pivots kept
}

// repoSources resolves repository sources: the ones naming no ref or ~N
// share one snapshot (from -b, --ref and the filters); each other one is
// resolved on its own. Patterns are expanded against their snapshot.
func (a *app) repoSources(s *vfs.Store, srcs []refPath, f *copyFlags) ([][]repoSource, error) {
	if err := checkRefConflicts(srcs, f.branch != "", &f.snap); err != nil {
		return nil, err
	}
	var groups [][]repoSource
	var shared *vfs.FS
	sharedAt := -1
	for _, rp := range srcs {
		var snap *vfs.FS
		var err error
		own := rp.explicit() || rp.Back > 0
		if own || shared == nil {
			if snap, err = a.snapshot(s, rp, f.branch, &f.snap); err != nil {
				return nil, err
			}
		} else {
			snap = shared
		}
		paths, err := expandCopySources(snap, rp.Path, f.commit.noGlob)
		if err != nil {
			return nil, err
		}
		var group []repoSource
		for _, p := range paths {
			group = append(group, repoSource{snap: snap, path: p})
		}
		if !own {
			if shared == nil {
				shared, sharedAt = snap, len(groups)
				groups = append(groups, group)
			} else {
				groups[sharedAt] = append(groups[sharedAt], group...)
			}
			continue
		}
		groups = append(groups, group)
	}
	return groups, nil
}

// expandCopySources is expandRepoSources for cp and sync sources, which
// may carry a `/./` pivot: the two sides are normalised apart, so the
// pivot survives.
func expandCopySources(snap *vfs.FS, p string, noGlob bool) ([]string, error) {
	before, after, pivot := strings.Cut(strings.TrimPrefix(p, "/"), "/./")
	if !pivot {
		return expandRepoSources(snap, []string{p}, noGlob)
	}
	b, err := normRepoPath(before)
	if err != nil {
		return nil, err
	}
	rest, err := normRepoPath(after)
	if err != nil {
		return nil, err
	}
	if hasTrailingSlash(after) && rest != "" {
		rest += "/"
	}
	full := b + "/./" + rest
	if noGlob || !isGlob(after) {
		return []string{full}, nil
	}
	matches, err := snap.Glob(full)
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, failf("No matches for pattern in repo: %s", p)
	}
	return matches, nil
}

func (a *app) cpRepoToDisk(srcs []refPath, dest string, f *copyFlags) error {
	s, err := a.openRead()
	if err != nil {
		return err
	}
	if singleSource(srcs, f.commit.noGlob) {
		if err := checkRefConflicts(srcs, f.branch != "", &f.snap); err != nil {
			return err
		}
		snap, err := a.snapshot(s, srcs[0], f.branch, &f.snap)
		if err != nil {
			return err
		}
		p, err := normRepoPath(srcs[0].Path)
		if err != nil {
			return err
		}
		if p != "" {
			typ, err := snap.FileType(p)
			if err == nil && typ != vfs.Tree {
				return a.cpFileOut(snap, p, typ, dest, f)
			}
		}
	}
	groups, err := a.repoSources(s, srcs, f)
	if err != nil {
		return err
	}
	failed := false
	for _, g := range groups {
		paths := make([]string, len(g))
		for i, src := range g {
			paths[i] = src.path
		}
		out, err := g[0].snap.CopyOut(paths, dest, vfs.CopyOutOptions{
			DryRun:         f.commit.dryRun,
			IgnoreExisting: f.ignoreExisting,
			Delete:         f.delete,
			IgnoreErrors:   f.ignoreErrors,
			Mtime:          f.mtimeMode(),
		})
		if err != nil {
			return copyErr(err)
		}
		if f.commit.dryRun {
			a.printPlan(out.Changes(), func(rel string) string { return filepath.Join(dest, filepath.FromSlash(rel)) })
			continue
		}
		ch := out.Changes()
		printReportProblems(a.stderr, ch)
		failed = failed || (ch != nil && len(ch.Errors) > 0)
	}
	if f.commit.dryRun {
		return nil
	}
	a.status("Copied -> %s", dest)
	if failed {
		return exitCode(1)
	}
	return nil
}

// cpFileOut copies one repository file to an exact local path: DEST, or
// DEST/<name> when DEST is a directory. The mtime is the commit's, so a
// later mtime-mode copy back sees it unchanged.
func (a *app) cpFileOut(snap *vfs.FS, p string, typ vfs.FileType, dest string, f *copyFlags) error {
	if f.delete {
		return failf("Cannot use --delete with a single file source.")
	}
	target := dest
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		target = filepath.Join(dest, path.Base(p))
	}
	if f.ignoreExisting {
		if _, err := os.Lstat(target); err == nil {
			return nil
		}
	}
	if f.commit.dryRun {
		a.printf(":%s -> %s\n", p, target)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o777); err != nil {
		return err
	}
	// Never write through a link that is in the way.
	if fi, err := os.Lstat(target); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if err := os.Remove(target); err != nil {
			return err
		}
	}
	if typ == vfs.Link {
		linkTarget, err := snap.Readlink(p)
		if err != nil {
			return err
		}
		if err := os.Symlink(linkTarget, target); err != nil {
			return err
		}
		a.status("Copied :%s -> %s", p, target)
		return nil
	}
	if err := writeLocalFile(snap, p, target); err != nil {
		return err
	}
	if typ == vfs.Executable {
		if err := os.Chmod(target, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chtimes(target, snap.Time(), snap.Time()); err != nil {
		return err
	}
	a.status("Copied :%s -> %s", p, target)
	return nil
}

// writeLocalFile streams a blob into a local file.
func writeLocalFile(snap *vfs.FS, p, target string) (err error) {
	src, err := snap.OpenFile(p)
	if err != nil {
		return mapErr(err, p)
	}
	defer src.Close()
	dst, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(dst, src)
	return err
}

// repoPair is one file a repo→repo copy writes.
type repoPair struct {
	snap     *vfs.FS
	src, dst string
	typ      vfs.FileType
}

func (a *app) cpRepoToRepo(srcs []refPath, dest refPath, f *copyFlags, mode vfs.FileType) error {
	s, err := a.openRead()
	if err != nil {
		return err
	}
	target, err := destBranch(s, dest, f.branch, &f.commit)
	if err != nil {
		return err
	}
	destPath, err := normRepoPath(dest.Path)
	if err != nil {
		return err
	}
	groups, err := a.repoSources(s, srcs, f)
	if err != nil {
		return err
	}
	var pairs []repoPair
	produced := map[string]bool{}
	for _, g := range groups {
		for _, src := range g {
			ps, err := enumRepoSource(src.snap, src.path, destPath)
			if err != nil {
				return err
			}
			for _, p := range ps {
				produced[p.dst] = true
			}
			pairs = append(pairs, ps...)
		}
	}
	var deletes []string
	if f.delete {
		existing, err := repoFiles(target, destPath)
		if err != nil {
			return err
		}
		for p := range existing {
			if !produced[p] {
				deletes = append(deletes, p)
			}
		}
		slices.Sort(deletes)
	}
	deleting := map[string]bool{}
	for _, p := range deletes {
		deleting[p] = true
	}
	// --ignore-existing skips what exists, unless it is about to go.
	var writes []repoPair
	exists := map[string]bool{}
	for _, p := range pairs {
		ok, err := target.Exists(p.dst)
		if err != nil {
			return err
		}
		if ok && f.ignoreExisting && !deleting[p.dst] {
			continue
		}
		exists[p.dst] = ok
		writes = append(writes, p)
	}
	if f.commit.dryRun {
		for _, p := range deletes {
			a.printf("- :%s\n", p)
		}
		for _, p := range writes {
			sym := "+"
			if exists[p.dst] {
				sym = "~"
			}
			a.printf("%s :%s\n", sym, p.dst)
		}
		return nil
	}
	out, err := target.Update(vfs.BatchOptions{Message: f.commit.message, Operation: "cp"}, func(b *vfs.Batch) error {
		for _, p := range deletes {
			if err := b.Remove(p); err != nil {
				return err
			}
		}
		for _, p := range writes {
			if err := copyBlob(b, p, mode); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return copyErr(err)
	}
	return a.finishWrite(s, out, f, "Copied -> :"+destPath)
}

// copyBlob writes one pair into the batch, streaming the blob. --type
// forces a mode on files; links stay links.
func copyBlob(b *vfs.Batch, p repoPair, mode vfs.FileType) error {
	if p.typ == vfs.Link {
		t, err := p.snap.Readlink(p.src)
		if err != nil {
			return err
		}
		return b.WriteSymlink(p.dst, t)
	}
	typ := p.typ
	if mode != "" {
		typ = mode
	}
	r, err := p.snap.OpenFile(p.src)
	if err != nil {
		return err
	}
	defer r.Close()
	return b.WriteFrom(p.dst, r, typ)
}

// enumRepoSource lists the files one repository source copies and where
// they land under destPath: a file as DEST/<name>, a directory as
// DEST/<dir>/..., "dir/" or the root as DEST/..., and "base/./rest" as
// DEST/rest.
func enumRepoSource(snap *vfs.FS, src, destPath string) ([]repoPair, error) {
	contents := hasTrailingSlash(src) || src == ""
	clean := strings.TrimSuffix(src, "/")
	var keep string // the part of clean that is kept under DEST
	if before, after, ok := strings.Cut(clean, "/./"); ok {
		clean = before + "/" + after
		keep = after
		if contents {
			keep = path.Dir(after)
			if keep == "." {
				keep = ""
			}
		}
		clean = strings.Trim(clean, "/")
	} else if !contents {
		keep = path.Base(clean)
	}
	var typ vfs.FileType = vfs.Tree
	if clean != "" {
		var err error
		if typ, err = snap.FileType(clean); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, failf("File not found in repo: %s", clean)
			}
			return nil, err
		}
	}
	base := joinRepo(destPath, keep)
	if typ != vfs.Tree {
		if contents {
			return nil, failf("Not a directory in repo: %s", clean)
		}
		return []repoPair{{snap: snap, src: clean, dst: base, typ: typ}}, nil
	}
	files, err := repoFiles(snap, clean)
	if err != nil {
		return nil, err
	}
	rels := make([]string, 0, len(files))
	for rel := range files {
		rels = append(rels, rel)
	}
	slices.Sort(rels)
	var out []repoPair
	for _, full := range rels {
		rel := strings.TrimPrefix(full, clean+"/")
		if clean == "" {
			rel = full
		}
		out = append(out, repoPair{snap: snap, src: full, dst: joinRepo(base, rel), typ: files[full]})
	}
	return out, nil
}

// repoFiles maps every file under dir (full repository paths) to its
// type; an empty map when dir does not exist or is a file.
func repoFiles(snap *vfs.FS, dir string) (map[string]vfs.FileType, error) {
	out := map[string]vfs.FileType{}
	if dir != "" {
		ok, err := snap.IsDir(dir)
		if err != nil || !ok {
			return out, err
		}
	}
	err := snap.Walk(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		typ, err := snap.FileType(p)
		if err != nil {
			return err
		}
		out[p] = typ
		return nil
	})
	return out, err
}
