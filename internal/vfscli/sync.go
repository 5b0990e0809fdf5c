package vfscli

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

func (a *app) syncCommand() *cobra.Command {
	var f copyFlags
	var watch bool
	var debounce int
	cmd := &cobra.Command{
		Use:   "sync SRC [DEST]",
		Short: "Make a destination match a source (contents to contents, with deletes)",
		Long: "Make DEST's contents equal SRC's: disk→repo, repo→disk or repo→repo.\n" +
			"With one argument, a local directory is synced to the repository root.\n" +
			"--watch keeps syncing a local directory into the repository as it changes.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return failf("sync requires 1 or 2 arguments")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.sync(cmd.Context(), args, &f, watch, debounce)
		},
	}
	f.addCommon(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.gitignore, "gitignore", false, "honour .gitignore files (disk to repo)")
	fl.BoolVar(&watch, "watch", false, "keep watching the local directory and sync on every change")
	fl.IntVar(&debounce, "debounce", 2000, "with --watch: sync once changes have been quiet this many ms")
	return cmd
}

func (a *app) sync(ctx context.Context, args []string, f *copyFlags, watch bool, debounce int) error {
	var src, dest refPath
	var err error
	if src, err = parseRefPath(args[0]); err != nil {
		return err
	}
	if len(args) == 1 {
		if src.Repo {
			return failf("Single-argument sync must be a local path, not a repo path")
		}
		dest = refPath{Repo: true}
	} else if dest, err = parseRefPath(args[1]); err != nil {
		return err
	}
	if !src.Repo && !dest.Repo {
		return failf("Neither argument is a repo path — prefix repo paths with ':'")
	}
	toRepo := !src.Repo
	switch {
	case toRepo && f.snap.set():
		return failf("--ref/--path/--match/--before only apply when reading from repo")
	case !dest.Repo && f.commit.tag != "":
		return failf("--tag only applies when writing to repo (disk -> repo)")
	case !toRepo && f.excludes():
		return failf("--exclude/--exclude-from only apply when syncing from disk to repo")
	case !toRepo && f.gitignore:
		return failf("--gitignore only applies when syncing from disk to repo")
	}
	if watch {
		switch {
		case f.commit.dryRun:
			return failf("--watch and --dry-run are incompatible")
		case !toRepo:
			return failf("--watch only supports disk → repo")
		case debounce < 100:
			return failf("--debounce must be at least 100 ms")
		case f.commit.tag != "":
			// One tag cannot name every cycle's commit.
			return failf("--tag cannot be combined with --watch")
		}
	}
	switch {
	case toRepo:
		return a.syncIn(ctx, src.Path, dest, f, watch, time.Duration(debounce)*time.Millisecond)
	case !dest.Repo:
		return a.syncOut(src, dest.Path, f)
	}
	return a.syncRepo(src, dest, f)
}

// syncIn syncs disk→repo. Unlike gitstore, which wrote to -b or the
// current branch whatever the destination said, the destination's `ref:`
// is honoured, and tags and ~N are refused there.
func (a *app) syncIn(ctx context.Context, local string, dest refPath, f *copyFlags, watch bool, debounce time.Duration) error {
	snap, destPath, exclude, err := a.openCopyIn(dest, f)
	if err != nil {
		return err
	}
	opt := vfs.SyncOptions{
		DryRun:       f.commit.dryRun,
		IgnoreErrors: f.ignoreErrors,
		Mtime:        !f.checksum,
		Message:      f.commit.message,
		Exclude:      exclude,
	}
	if watch {
		// Content, not mtime: git times have whole seconds, so a file
		// saved in the same second as the previous cycle's commit looks
		// unchanged by mtime, and the watcher would miss it for good.
		opt.Mtime = false
		branch := snap.RefName()
		w := &watcher{
			local:    local,
			dest:     destPath,
			debounce: debounce,
			stdout:   a.stdout,
			stderr:   a.stderr,
			now:      time.Now,
			// Every cycle starts from the branch's tip: a commit made by
			// someone else in between is not a conflict.
			sync: func() (*vfs.FS, error) {
				tip, err := branchFS(snap.Store(), branch)
				if err != nil {
					return nil, err
				}
				return tip.SyncIn(local, destPath, opt)
			},
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return w.run(ctx)
	}
	out, err := snap.SyncIn(local, destPath, opt)
	if err != nil {
		return copyErr(err)
	}
	return a.finishCopyIn(out, destPath, f, "Synced -> :"+destPath)
}

// syncOut syncs repo→disk.
func (a *app) syncOut(src refPath, local string, f *copyFlags) error {
	s, err := a.openRead()
	if err != nil {
		return err
	}
	if err := checkRefConflicts([]refPath{src}, f.branch != "", &f.snap); err != nil {
		return err
	}
	snap, err := a.snapshot(s, src, f.branch, &f.snap)
	if err != nil {
		return err
	}
	p, err := normRepoPath(src.Path)
	if err != nil {
		return err
	}
	out, err := snap.SyncOut(p, local, vfs.SyncOptions{
		DryRun:       f.commit.dryRun,
		IgnoreErrors: f.ignoreErrors,
		Mtime:        !f.checksum,
	})
	if err != nil {
		return copyErr(err)
	}
	if f.commit.dryRun {
		a.printPlan(out.Changes(), func(rel string) string { return filepath.Join(local, filepath.FromSlash(rel)) })
		return nil
	}
	ch := out.Changes()
	printReportProblems(a.stderr, ch)
	a.status("Synced -> %s", local)
	if ch != nil && len(ch.Errors) > 0 {
		return exitCode(1)
	}
	return nil
}

// syncRepo syncs repo→repo: files compared by (blob, type); one batch
// (op "sync") adds, updates and deletes under the destination.
func (a *app) syncRepo(src, dest refPath, f *copyFlags) error {
	s, err := a.openRead()
	if err != nil {
		return err
	}
	if err := checkRefConflicts([]refPath{src}, f.branch != "", &f.snap); err != nil {
		return err
	}
	from, err := a.snapshot(s, src, f.branch, &f.snap)
	if err != nil {
		return err
	}
	target, err := destBranch(s, dest, f.branch, &f.commit)
	if err != nil {
		return err
	}
	srcPath, err := normRepoPath(src.Path)
	if err != nil {
		return err
	}
	if srcPath != "" {
		// A file can't be synced as contents; a missing path is empty.
		if typ, err := from.FileType(srcPath); err == nil && typ != vfs.Tree {
			return failf("Not a directory in repo: %s", srcPath)
		}
	}
	destPath, err := normRepoPath(dest.Path)
	if err != nil {
		return err
	}
	have, err := relFiles(from, srcPath)
	if err != nil {
		return err
	}
	there, err := relFiles(target, destPath)
	if err != nil {
		return err
	}
	var adds, updates, deletes []string
	for rel, e := range have {
		old, ok := there[rel]
		switch {
		case !ok:
			adds = append(adds, rel)
		case old != e:
			updates = append(updates, rel)
		}
	}
	for rel := range there {
		if _, ok := have[rel]; !ok {
			deletes = append(deletes, rel)
		}
	}
	slices.Sort(adds)
	slices.Sort(updates)
	slices.Sort(deletes)
	if f.commit.dryRun {
		for _, g := range []struct {
			sym  string
			rels []string
		}{{"-", deletes}, {"+", adds}, {"~", updates}} {
			for _, rel := range g.rels {
				a.printf("%s :%s\n", g.sym, joinRepo(destPath, rel))
			}
		}
		return nil
	}
	out, err := target.Update(vfs.BatchOptions{Message: f.commit.message, Operation: "sync"}, func(b *vfs.Batch) error {
		for _, rel := range deletes {
			if err := b.Remove(joinRepo(destPath, rel)); err != nil {
				return err
			}
		}
		for _, rel := range append(adds, updates...) {
			p := repoPair{snap: from, src: joinRepo(srcPath, rel), dst: joinRepo(destPath, rel), typ: have[rel].typ}
			if err := copyBlob(b, p, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return copyErr(err)
	}
	return a.finishWrite(s, out, f, "Synced -> :"+destPath)
}

// fileID is what repo→repo sync compares.
type fileID struct {
	hash string
	typ  vfs.FileType
}

// relFiles maps the files under dir, relative to it, to their blob and
// type. A missing dir is empty; a file there is treated as having no
// children, so the sync replaces it with a directory.
func relFiles(snap *vfs.FS, dir string) (map[string]fileID, error) {
	files, err := repoFiles(snap, dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]fileID, len(files))
	for full, typ := range files {
		h, err := snap.ObjectHash(full)
		if err != nil {
			return nil, err
		}
		rel := full
		if dir != "" {
			rel = full[len(dir)+1:]
		}
		out[rel] = fileID{hash: h, typ: typ}
	}
	return out, nil
}
