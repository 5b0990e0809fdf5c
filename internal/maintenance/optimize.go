package maintenance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
)

// Kind is the depth of a maintenance run.
type Kind string

const (
	// Incremental packs what is new into the existing geometric sequence
	// of packs, rewrites the multi-pack-index and its bitmap, extends the
	// commit-graph and packs refs. Its cost follows the new data, not the
	// repository's size (apart from the index and bitmap rewrite).
	Incremental Kind = "incremental"
	// RollUp combines the packs that no bitmap covers into a geometric
	// sequence, and nothing else: the packs in the multi-pack-index,
	// those with a bitmap and cruft packs stay, so the bitmap stays valid
	// and no index, bitmap or commit-graph is rewritten (Worker.rollUp).
	// Its cost follows what was written since the last Incremental or
	// Full run, not the repository's size: it is what a stream of small
	// packs (one per API commit) gets between scheduled runs
	// (docs/maintenance.md).
	RollUp Kind = "roll-up"
	// Full repacks every reachable object into one pack with a bitmap,
	// moves unreachable objects younger than the grace period into a cruft
	// pack and deletes older ones. Its cost follows the repository's size,
	// so it runs at most once per FullInterval.
	Full Kind = "full"
)

// fullRepackStamp is a file in the repository whose mtime records the last
// successful full run, so the FullInterval survives restarts. git ignores
// unknown files in the git directory.
const fullRepackStamp = "strata-full-repack"

// staleTempAge is how old a pack temporary file must be before a run
// deletes it. Only repack (run by this package, one at a time per
// repository) writes objects/pack/.tmp-* files, so an old one is the
// leftover of a killed run; git 2.39's cruft repack fails while one exists.
const staleTempAge = time.Hour

// stats is what a repository's object directory looks like.
type stats struct {
	loose       int // loose object files
	packs       int // .pack files with an index
	cruftPacks  int
	midx        bool
	bitmap      bool // a pack or multi-pack-index bitmap
	commitGraph bool
	lastFull    time.Time // zero: never (or the stamp is missing)
}

// inspect reads the object directory. It is cheap: one directory read per
// loose-object fan-out directory and one of objects/pack.
func inspect(gitDir string) (stats, error) {
	var s stats
	objects := filepath.Join(gitDir, "objects")
	if _, err := os.Stat(objects); err != nil {
		return s, err
	}
	for i := range 256 {
		fanout := fmt.Sprintf("%02x", i)
		ents, err := os.ReadDir(filepath.Join(objects, fanout))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return s, err
		}
		for _, e := range ents {
			if len(e.Name()) == 38 && git.IsFullHex(fanout+e.Name()) {
				s.loose++
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(objects, "pack"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	names := make(map[string]bool, len(ents))
	for _, e := range ents {
		names[e.Name()] = true
	}
	for name := range names {
		switch {
		case strings.HasPrefix(name, "pack-") && strings.HasSuffix(name, ".pack"):
			base := strings.TrimSuffix(name, ".pack")
			if names[base+".idx"] {
				s.packs++
				if names[base+".mtimes"] {
					s.cruftPacks++
				}
			}
			if names[base+".bitmap"] {
				s.bitmap = true
			}
		case name == "multi-pack-index":
			s.midx = true
		case strings.HasPrefix(name, "multi-pack-index-") && strings.HasSuffix(name, ".bitmap"):
			s.bitmap = true
		}
	}
	info := filepath.Join(objects, "info")
	if exists(filepath.Join(info, "commit-graph")) || exists(filepath.Join(info, "commit-graphs", "commit-graph-chain")) {
		s.commitGraph = true
	}
	if fi, err := os.Stat(filepath.Join(gitDir, fullRepackStamp)); err == nil {
		s.lastFull = fi.ModTime()
	}
	return s, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// step is one command of a run.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// steps lists what a run of kind does in the repository at gitDir.
//
// Order matters only for the full run: the cruft repack must precede
// prune, because it leaves expired unreachable loose objects in place
// (they are neither packed nor deleted) and prune is what removes them.
//
// bitmapFirst (a run after a large push) starts with a multi-pack-index
// bitmap over the packs as they are: it rewrites no pack, so clones get a
// bitmap covering the new pack within about a second, while the geometric
// repack after it may rewrite everything (two packs of similar size are
// merged) and take ten times as long (docs/maintenance.md).
func (w *Worker) steps(gitDir string, kind Kind, bitmapFirst bool) []step {
	gitStep := func(name string, c git.Command) step {
		return step{name: name, run: func(ctx context.Context) error { return w.git.Run(ctx, gitDir, c) }}
	}
	expire := approxidate(w.opts.PruneGrace)
	s := []step{
		{name: "clean-temp", run: func(context.Context) error {
			return errors.Join(removeStaleTemp(gitDir, w.now()), removeStaleObjectTemps(gitDir, w.now(), w.opts.TmpObjectGrace),
				w.removeStaleLocks(gitDir))
		}},
	}
	// -d deletes packs made redundant and loose objects now packed; -n
	// skips update-server-info (no dumb HTTP); -q: nobody reads progress.
	if kind == RollUp {
		// Neither pack-refs nor commit-graph: a roll-up is about packs,
		// and it stays cheap.
		return append(s, step{name: "roll-up", run: func(ctx context.Context) error { return w.rollUp(ctx, gitDir) }})
	}
	if bitmapFirst {
		// Only a head start: the repack below writes the bitmap anyway, so
		// a failure here must not cost the run.
		midx := gitStep("midx-bitmap", git.Command{Name: "multi-pack-index", Flags: []string{"write", "--bitmap", "--no-progress"}})
		s = append(s, step{name: midx.name, run: func(ctx context.Context) error {
			if err := midx.run(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("maintenance: early multi-pack-index bitmap", "dir", gitDir, "err", err)
			}
			return ctx.Err()
		}})
	}
	s = append(s,
		// git-pack-refs(1) takes packed-refs.lock and each loose ref's
		// lock, as update-ref does, so it excludes concurrent ref
		// transactions through git's own lock protocol.
		gitStep("pack-refs", git.Command{Name: "pack-refs", Flags: []string{"--all"}}),
	)
	switch kind {
	case Full:
		s = append(s,
			gitStep("repack-cruft", git.Command{Name: "repack", Flags: []string{
				"-d", "-n", "-q", "--cruft", "--cruft-expiration=" + expire, "--write-bitmap-index"}}),
			gitStep("prune", git.Command{Name: "prune", Flags: []string{"--expire=" + expire}}),
		)
	default:
		s = append(s, gitStep("repack-geometric", git.Command{Name: "repack", Flags: []string{
			"-d", "-n", "-q", "--geometric=2", "--write-midx", "--write-bitmap-index"}}))
	}
	s = append(s, gitStep("commit-graph", git.Command{Name: "commit-graph", Flags: []string{
		"write", "--reachable", "--split", "--changed-paths", "--no-progress"}}))
	if kind == Full {
		s = append(s, step{name: "stamp", run: func(context.Context) error { return touch(filepath.Join(gitDir, fullRepackStamp), w.now()) }})
	}
	return s
}

// approxidate spells "grace ago" for git's --expire options.
func approxidate(grace time.Duration) string {
	if grace <= 0 {
		return "now"
	}
	return fmt.Sprintf("%d.seconds.ago", int64(grace/time.Second))
}

// removeStaleTemp deletes objects/pack/.tmp-* files older than
// staleTempAge: the leftovers of a repack killed mid-way. Recent ones may
// belong to a repack that is still running (an operator's), so they stay.
func removeStaleTemp(gitDir string, now time.Time) error {
	return removeOlder(filepath.Join(gitDir, "objects", "pack"), now.Add(-staleTempAge), ".tmp-")
}

// removeStaleLocks deletes the ref lock files older than staleTempAge: a
// git killed mid-transaction while this process went on (the OOM killer)
// left them, and each refuses every change of its ref until removed. A
// crash of the whole process is handled at the next start.
func (w *Worker) removeStaleLocks(gitDir string) error {
	removed, err := refs.RemoveStaleLocks(gitDir, w.now().Add(-staleTempAge))
	for _, p := range removed {
		w.log.Warn("maintenance: removed a stale ref lock", "path", p)
	}
	return err
}

// removeStaleObjectTemps deletes objects/xx/tmp_obj_* and
// objects/pack/tmp_pack_*/tmp_idx_* files older than grace: object writes
// (Strata's odb, whose big transactions write a pack, or git's own) that a
// crash cut off between the temp file and its rename. Both grow while
// their write runs, so an old one is dead. git prune removes them too, but
// only after the prune grace (14 days by default). A younger one may
// belong to a write in flight, so it stays.
func removeStaleObjectTemps(gitDir string, now time.Time, grace time.Duration) error {
	if grace <= 0 {
		return nil
	}
	objects := filepath.Join(gitDir, "objects")
	var errs []error
	for i := range 256 {
		errs = append(errs, removeOlder(filepath.Join(objects, fmt.Sprintf("%02x", i)), now.Add(-grace), "tmp_obj_"))
	}
	errs = append(errs, removeOlder(filepath.Join(objects, "pack"), now.Add(-grace), "tmp_pack_", "tmp_idx_"))
	return errors.Join(errs...)
}

// removeOlder deletes the files of dir named with one of prefixes and last
// modified before cutoff. A missing dir has nothing to delete.
func removeOlder(dir string, cutoff time.Time, prefixes ...string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func touch(path string, t time.Time) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, t, t)
}
