package cluster

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
)

// maxCompactions bounds the compactions one node runs at once, whatever
// the number of repositories written to: each is a pack-objects run
// competing with requests for the node's cores.
const maxCompactions = 2

// compactLater starts a compaction of the repository's packs in the
// background, unless one already runs on this node or the node runs
// maxCompactions already; the next write past the limit tries again.
func (c *Cluster) compactLater(key, gitDir string) {
	c.mu.Lock()
	if _, ok := c.compacting[key]; ok || len(c.compacting) >= maxCompactions || c.stop.Err() != nil {
		c.mu.Unlock()
		return
	}
	c.compacting[key] = struct{}{}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.compacting, key)
			c.mu.Unlock()
		}()
		if err := c.Compact(c.stop, key, gitDir); err != nil && c.stop.Err() == nil {
			c.log.Warn("cluster: compaction failed; the next write past the limit tries again", "repo", key, "err", err)
		}
	}()
}

// Compact folds the manifest's small packs into one, geometrically: the
// largest packs that are each at least twice all smaller ones together
// stay, the rest are merged (git repack --geometric=2's rule), so a write
// stream costs compactions in proportion to what it wrote, not to the
// repository. It runs on one node at a time (a cluster-wide lock per
// repository; a node that finds it taken does nothing). The new pack holds
// exactly the objects of the packs it replaces, read from their indexes,
// so nothing is dropped: no ref of record, and no writer that counts an
// old object as stored, can lose an object to it. The version does not
// move; the replaced packs are queued for deletion after GarbageGrace.
func (c *Cluster) Compact(ctx context.Context, key, gitDir string) error {
	release, ok, err := c.ledger.LedgerTryLock(ctx, "compact:"+key)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	defer release()

	snap, err := c.ledger.LedgerSnapshot(ctx, key)
	if err != nil {
		return err
	}
	merge := geometricMerge(snap.Packs)
	if len(merge) < 2 {
		return nil
	}
	// The cache must hold every listed pack before its objects are taken
	// as theirs.
	e := c.entry(key)
	e.mu.Lock()
	e.load(gitDir)
	err = c.fetchPacks(ctx, key, gitDir, e, snap.Packs)
	if err == nil {
		err = e.save(gitDir)
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp(gitDir, "compact-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	name, size, err := c.packUnion(ctx, key, gitDir, tmp, merge)
	if err != nil {
		return err
	}
	if err := c.uploadPack(ctx, key, tmp, name, size); err != nil {
		return err
	}
	old := make([]string, len(merge))
	for i, p := range merge {
		old[i] = p.Name
	}
	err = c.ledger.LedgerReplacePacks(ctx, key, old, metadata.PackRecord{Name: name, Bytes: size, Replaces: old})
	if errors.Is(err, metadata.ErrNotFound) {
		// Another compaction or a removal got there first; ours is garbage
		// that no manifest lists.
		return c.objectsDelete(ctx, key, name)
	}
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.state.Packs != nil {
		e.state.Packs[name] = true
		if err := e.save(gitDir); err != nil {
			c.log.Warn("save cache state", "repo", key, "err", err)
		}
	}
	e.mu.Unlock()
	c.count.compactions.Add(1)
	c.log.Info("cluster: packs compacted", "repo", key, "packs", len(old), "of", len(snap.Packs), "pack", name, "bytes", size)
	return nil
}

// geometricMerge picks the packs to merge: from the largest down, a pack
// at least twice the size of all smaller packs together stays, and the
// first one that is not ends the run: it and every smaller pack merge.
func geometricMerge(packs []metadata.PackRecord) []metadata.PackRecord {
	sorted := slices.Clone(packs)
	slices.SortStableFunc(sorted, func(a, b metadata.PackRecord) int { return cmp.Compare(b.Bytes, a.Bytes) })
	var below int64
	for _, p := range sorted {
		below += p.Bytes
	}
	for i, p := range sorted {
		below -= p.Bytes
		if p.Bytes < 2*below {
			return sorted[i:]
		}
	}
	return nil
}

// packUnion writes the objects of packs as one pack in dir, with git
// pack-objects run in the cache (which holds them all, reusing their
// deltas) on the object ids their indexes list. An index the cache does
// not have as a file (the pack was written here, or repacked since) is
// downloaded: indexes are small.
func (c *Cluster) packUnion(ctx context.Context, key, gitDir, dir string, packs []metadata.PackRecord) (name string, size int64, err error) {
	var ids bytes.Buffer
	for _, p := range packs {
		idx := filepath.Join(gitDir, "objects", "pack", p.Name+".idx")
		if _, err := os.Stat(idx); err != nil {
			idx = filepath.Join(dir, p.Name+".idx")
			if err := c.objects.Download(ctx, packKey(key, p.Name, ".idx"), idx); err != nil {
				return "", 0, c.unavailable("download "+p.Name+".idx of", key, err)
			}
		}
		f, err := os.Open(idx)
		if err != nil {
			return "", 0, err
		}
		out, err := c.git.Output(ctx, gitDir, git.Command{Name: "show-index"}, git.WithStdin(f))
		f.Close()
		if err != nil {
			return "", 0, fmt.Errorf("list objects of %s: %w", p.Name, err)
		}
		// "<offset> <object id> (<crc>)" per object.
		for _, line := range strings.Split(string(out), "\n") {
			if fields := strings.Fields(line); len(fields) >= 2 {
				ids.WriteString(fields[1] + "\n")
			}
		}
	}
	out, err := c.git.Output(ctx, gitDir, git.Command{Name: "pack-objects", Flags: []string{"--delta-base-offset", "-q"}, Args: []string{filepath.Join(dir, "pack")}},
		git.WithStdin(&ids), git.WithConfig("core.fsync=none")) // durable once uploaded
	if err != nil {
		return "", 0, fmt.Errorf("pack the objects of %d packs: %w", len(packs), err)
	}
	name = "pack-" + strings.TrimSpace(string(out))
	fi, err := os.Stat(filepath.Join(dir, name+".pack"))
	if err != nil {
		return "", 0, err
	}
	return name, fi.Size(), nil
}

func (c *Cluster) objectsDelete(ctx context.Context, key, name string) error {
	return errors.Join(
		c.objects.Delete(ctx, packKey(key, name, ".pack")),
		c.objects.Delete(ctx, packKey(key, name, ".idx")))
}

// CollectGarbage deletes from object storage the packs that no manifest
// has listed for GarbageGrace, then forgets them. Every node may run it:
// deleting a deleted object is not an error.
func (c *Cluster) CollectGarbage(ctx context.Context) (int, error) {
	n := 0
	for {
		batch, err := c.ledger.LedgerGarbage(ctx, time.Now().Add(-c.opts.GarbageGrace), 100)
		if err != nil || len(batch) == 0 {
			return n, err
		}
		for _, g := range batch {
			if err := c.objectsDelete(ctx, g.StorageKey, g.Name); err != nil {
				return n, err
			}
		}
		if err := c.ledger.LedgerForgetGarbage(ctx, batch); err != nil {
			return n, err
		}
		n += len(batch)
		c.count.garbageDeleted.Add(uint64(len(batch)))
		if len(batch) < 100 {
			return n, nil
		}
	}
}

// RunGarbageCollector calls CollectGarbage every interval until Close.
func (c *Cluster) RunGarbageCollector(interval time.Duration) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop.Done():
				return
			case <-t.C:
			}
			if n, err := c.CollectGarbage(c.stop); err != nil && c.stop.Err() == nil {
				c.log.Warn("cluster: garbage collection", "deleted", n, "err", err)
			}
		}
	}()
}
