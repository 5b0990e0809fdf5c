package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
)

// compactLater starts a compaction of the repository's packs in the
// background, unless one already runs on this node.
func (c *Cluster) compactLater(key, gitDir string) {
	c.mu.Lock()
	if _, ok := c.compacting[key]; ok || c.stop.Err() != nil {
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

// Compact replaces the packs the manifest lists by one pack holding all
// their objects, on one node at a time (a cluster-wide lock per
// repository; a node that finds it taken does nothing). The new pack holds
// every object of the cache, which holds every object of the listed packs:
// nothing is dropped, so no ref of record, and no writer that counts an
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
	if len(snap.Packs) < 2 {
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
	name, bytes, err := c.packAll(ctx, gitDir, tmp)
	if err != nil {
		return err
	}
	for _, ext := range []string{".pack", ".idx"} {
		if err := c.put(ctx, packKey(key, name, ext), filepath.Join(tmp, name+ext)); err != nil {
			return c.unavailable("upload "+name+ext+" of", key, err)
		}
	}
	old := make([]string, len(snap.Packs))
	for i, p := range snap.Packs {
		old[i] = p.Name
	}
	err = c.ledger.LedgerReplacePacks(ctx, key, old, metadata.PackRecord{Name: name, Bytes: bytes, Replaces: old})
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
	c.count.packsUploaded.Add(1)
	c.count.bytesUploaded.Add(uint64(bytes))
	c.log.Info("cluster: packs compacted", "repo", key, "packs", len(old), "pack", name, "bytes", bytes)
	return nil
}

// packAll writes every object of the cache at gitDir as one pack in dir.
// pack-objects reuses the deltas it finds, so the cost is mostly I/O.
func (c *Cluster) packAll(ctx context.Context, gitDir, dir string) (name string, size int64, err error) {
	list, err := c.git.Start(ctx, gitDir, git.Command{Name: "cat-file", Flags: []string{"--batch-all-objects", "--batch-check=%(objectname)", "--unordered"}}, git.WithStdoutPipe())
	if err != nil {
		return "", 0, err
	}
	out, err := c.git.Output(ctx, gitDir, git.Command{Name: "pack-objects", Flags: []string{"--delta-base-offset", "-q"}, Args: []string{filepath.Join(dir, "pack")}},
		git.WithStdin(list.Stdout))
	if werr := list.Wait(); err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return "", 0, fmt.Errorf("pack all objects: %w", err)
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
