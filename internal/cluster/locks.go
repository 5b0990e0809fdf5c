package cluster

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// clearLeftovers removes what a previous run, killed mid-write, left in
// the cache at gitDir:
//
//   - lock files. git's update-ref (or symbolic-ref, or pack-refs) killed
//     between taking a lock and committing leaves <ref>.lock behind, and
//     every later change of that ref fails on it until it is removed: in
//     the clustered mode that includes the Refresh every request of the
//     repository makes, so one crash at the wrong moment would leave the
//     repository unreadable on the node;
//   - the temporary directories of a Publish or a compaction (publish-*,
//     compact-*), each holding a pack: a compaction's is the whole
//     repository. Nothing else would ever remove them.
//
// One process owns a cache directory (see Cluster), so anything of these
// older than this process is a leftover. Younger ones may belong to this
// process (a Publish packing outside the cache's lock, a compaction, local
// maintenance's pack-refs) and are left alone.
func (c *Cluster) clearLeftovers(gitDir string) {
	var stale []string
	old := func(path string, wantDir bool) bool {
		fi, err := os.Lstat(path)
		return err == nil && fi.IsDir() == wantDir && (wantDir || fi.Mode().IsRegular()) && fi.ModTime().Before(c.started)
	}
	for _, p := range []string{"HEAD.lock", "packed-refs.lock"} {
		if path := filepath.Join(gitDir, p); old(path, false) {
			stale = append(stale, path)
		}
	}
	filepath.WalkDir(filepath.Join(gitDir, "refs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".lock") && old(path, false) {
			stale = append(stale, path)
		}
		return nil
	})
	for _, pattern := range []string{"publish-*", "compact-*"} {
		dirs, _ := filepath.Glob(filepath.Join(gitDir, pattern))
		for _, d := range dirs {
			if old(d, true) {
				stale = append(stale, d)
			}
		}
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			c.log.Warn("remove what a previous run left in a cache", "path", p, "err", err)
			continue
		}
		c.log.Warn("removed what a previous run left in a cache", "path", p)
	}
}
