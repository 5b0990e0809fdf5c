package cluster

import (
	"os"
	"path/filepath"

	"github.com/strata-storage/strata/internal/git/refs"
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
	locks, err := refs.RemoveStaleLocks(gitDir, c.started)
	for _, p := range locks {
		c.log.Warn("removed what a previous run left in a cache", "path", p)
	}
	if err != nil {
		c.log.Warn("remove what a previous run left in a cache", "repo", gitDir, "err", err)
	}
	for _, pattern := range []string{"publish-*", "compact-*"} {
		dirs, _ := filepath.Glob(filepath.Join(gitDir, pattern))
		for _, d := range dirs {
			if fi, err := os.Lstat(d); err != nil || !fi.IsDir() || !fi.ModTime().Before(c.started) {
				continue
			}
			if err := os.RemoveAll(d); err != nil {
				c.log.Warn("remove what a previous run left in a cache", "path", d, "err", err)
				continue
			}
			c.log.Warn("removed what a previous run left in a cache", "path", d)
		}
	}
}
