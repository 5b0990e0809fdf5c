package cluster

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// clearStaleLocks removes the lock files a previous run left in the cache
// at gitDir. git's update-ref (or symbolic-ref, or pack-refs) killed
// between taking a lock and committing leaves <ref>.lock behind, and
// every later change of that ref fails on it until it is removed: in the
// clustered mode that includes the Refresh every request of the
// repository makes, so one crash at the wrong moment would leave the
// repository unreadable on the node.
//
// One process owns a cache directory (see Cluster), so a lock older than
// this process is stale. A younger one may be held by this process's own
// git (local maintenance's pack-refs) and is left alone. The caller holds
// the cache's lock, so no Refresh or Publish of this process is running
// on it.
func (c *Cluster) clearStaleLocks(gitDir string) {
	var stale []string
	check := func(path string) {
		fi, err := os.Lstat(path)
		if err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(c.started) {
			stale = append(stale, path)
		}
	}
	check(filepath.Join(gitDir, "HEAD.lock"))
	check(filepath.Join(gitDir, "packed-refs.lock"))
	filepath.WalkDir(filepath.Join(gitDir, "refs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".lock") {
			check(path)
		}
		return nil
	})
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			c.log.Warn("remove a lock file a previous run left", "path", p, "err", err)
			continue
		}
		c.log.Warn("removed a lock file a previous run left", "path", p)
	}
}
