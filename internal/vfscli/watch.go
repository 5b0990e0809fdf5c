package vfscli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/strata-storage/strata/vfs"
)

// watcher is `sync --watch`: it syncs a local directory into the repo once
// at start and again after every burst of changes under it, until ctx
// ends.
//
// A burst ends when no change has arrived for the debounce interval, or
// after maxBurst debounce intervals of continuous change, so a file that
// never stops changing still gets synced. (gitstore used watchfiles,
// whose debounce is only the cap and whose quiet period is a fixed 50 ms.)
//
// fsnotify watches single directories, so every directory under local is
// watched, and directories that appear later are added as their creation
// is seen. A change only triggers a cycle; each cycle re-reads the whole
// tree, so an event lost in a race is never a file left unsynced for long.
type watcher struct {
	local    string
	dest     string // the repo path shown in the banner ("" = root)
	debounce time.Duration
	// sync runs one cycle with a fresh snapshot of the branch. It returns
	// the snapshot after the cycle; its Changes are nil or empty when
	// nothing changed.
	sync   func() (*vfs.FS, error)
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

// maxBurst caps a burst at this many debounce intervals.
const maxBurst = 10

// run watches until ctx ends; only a failure to start watching is an
// error. Sync failures are reported and the loop goes on.
func (w *watcher) run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.local, err)
	}
	defer fw.Close()
	if err := w.addTree(fw, w.local); err != nil {
		return fmt.Errorf("watch %s: %w", w.local, err)
	}
	dest := w.dest
	if dest == "" {
		dest = "/"
	}
	fmt.Fprintf(w.stdout, "Watching %s -> :%s (debounce %dms)\n", w.local, dest, w.debounce.Milliseconds())
	w.cycle(true)

	// quiet fires when a burst has been still for one debounce interval;
	// limit when it has lasted maxBurst of them. Both are stopped between
	// bursts.
	quiet := time.NewTimer(time.Hour)
	limit := time.NewTimer(time.Hour)
	quiet.Stop()
	limit.Stop()
	defer quiet.Stop()
	defer limit.Stop()
	inBurst := false
	endBurst := func() {
		quiet.Stop()
		limit.Stop()
		inBurst = false
		w.cycle(false)
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w.stdout, "\nStopped watching.")
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ignoredChange(ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					// Files made in it before its watch existed are
					// picked up by the cycle this event starts.
					if err := w.addTree(fw, ev.Name); err != nil {
						fmt.Fprintf(w.stderr, "WARNING: cannot watch %s: %v\n", ev.Name, err)
					}
				}
			}
			quiet.Reset(w.debounce)
			if !inBurst {
				inBurst = true
				limit.Reset(maxBurst * w.debounce)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			// An overflowed queue lost events: sync to catch up.
			fmt.Fprintf(w.stderr, "WARNING: watch: %v\n", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				endBurst()
			}
		case <-quiet.C:
			endBurst()
		case <-limit.C:
			endBurst()
		}
	}
}

// addTree watches dir and every directory below it, skipping the ones
// whose changes never trigger a sync.
func (w *watcher) addTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && ignoredChange(p) {
			return filepath.SkipDir
		}
		return fw.Add(p)
	})
}

// ignoredChange reports changes that should not start a cycle: version
// control and tool caches, editor swap and backup files. (What a cycle
// copies is decided by the sync and its excludes, not by this.)
func ignoredChange(p string) bool {
	for _, seg := range strings.Split(filepath.ToSlash(p), "/") {
		switch seg {
		case ".git", ".hg", ".svn", "__pycache__", "node_modules":
			return true
		}
	}
	base := filepath.Base(p)
	return strings.HasSuffix(base, ".swp") || strings.HasSuffix(base, ".swx") ||
		strings.HasSuffix(base, "~") || strings.HasPrefix(base, ".#") || strings.HasSuffix(base, ".pyc")
}

// cycle runs one sync and prints its line.
func (w *watcher) cycle(initial bool) {
	stamp := w.now().Format("15:04:05")
	snap, err := w.sync()
	var stale *vfs.StaleSnapshotError
	switch {
	case errors.As(err, &stale) && initial:
		fmt.Fprintln(w.stderr, "WARNING: Stale snapshot on initial sync, will retry")
		return
	case errors.As(err, &stale):
		fmt.Fprintln(w.stderr, "WARNING: Stale snapshot, will retry on next change")
		return
	case err != nil && initial:
		fmt.Fprintf(w.stderr, "ERROR: Initial sync failed: %v\n", err)
		return
	case err != nil:
		fmt.Fprintf(w.stderr, "ERROR: Sync failed: %v\n", err)
		return
	}
	ch := snap.Changes()
	printReportProblems(w.stderr, ch)
	if ch.InSync() {
		fmt.Fprintf(w.stdout, "[%s] Sync: no changes\n", stamp)
		return
	}
	fmt.Fprintf(w.stdout, "[%s] Sync: %s (commit %s)\n", stamp, changeSummary(ch), short(snap.Hash()))
}

// changeSummary is "+A ~U -D" with the zero counts left out.
func changeSummary(ch *vfs.ChangeReport) string {
	var parts []string
	for _, c := range []struct {
		sym string
		n   int
	}{{"+", len(ch.Add)}, {"~", len(ch.Update)}, {"-", len(ch.Delete)}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s%d", c.sym, c.n))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, " ")
}

// printReportProblems writes a report's warnings and per-file errors on
// stderr, as cp and sync do.
func printReportProblems(w io.Writer, ch *vfs.ChangeReport) {
	if ch == nil {
		return
	}
	for _, e := range ch.Warnings {
		fmt.Fprintf(w, "WARNING: %s: %s\n", e.Path, e.Error)
	}
	for _, e := range ch.Errors {
		fmt.Fprintf(w, "ERROR: %s: %s\n", e.Path, e.Error)
	}
}
