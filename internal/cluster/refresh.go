package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// Refresh makes the cache at gitDir current. When the ledger's version is
// the cache's, it costs one indexed query (shared with concurrent reads of
// the repository, see version); otherwise it reads the whole
// state in one transaction, downloads the packs the cache lacks (each
// .pack before its .idx, since git finds a pack by its index), and then
// moves the cache's refs and HEAD to the state of record in one ref
// transaction.
func (c *Cluster) Refresh(ctx context.Context, key, gitDir string) error {
	version, err := c.version(ctx, key)
	if errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("repository %s: %w", key, repo.ErrNotFound)
	}
	if err != nil {
		return c.unavailable("refresh", key, err)
	}
	e := c.entry(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.load(gitDir)
	if e.state.Version >= version {
		// Equal, or newer: a Publish of this node moved it after the query.
		return nil
	}
	snap, err := c.ledger.LedgerSnapshot(ctx, key)
	if errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("repository %s: %w", key, repo.ErrNotFound)
	}
	if err != nil {
		return c.unavailable("refresh", key, err)
	}
	if err := c.fetchPacks(ctx, key, gitDir, e, snap.Packs); err != nil {
		return err
	}
	if err := c.setRefs(ctx, gitDir, snap.Refs); err != nil {
		e.state.Version = -1
		return fmt.Errorf("refresh %s: %w", key, err)
	}
	if err := c.setHead(ctx, gitDir, snap.Head); err != nil {
		e.state.Version = -1
		return fmt.Errorf("refresh %s: %w", key, err)
	}
	c.count.refreshes.Add(1)
	e.state.Version = snap.Version
	e.state.Refs = maps.Clone(snap.Refs)
	if err := e.save(gitDir); err != nil {
		c.log.Warn("save cache state", "repo", key, "err", err)
	}
	return nil
}

// fetchPacks downloads the manifest's packs the cache lacks.
func (c *Cluster) fetchPacks(ctx context.Context, key, gitDir string, e *cached, packs []metadata.PackRecord) error {
	if e.state.Packs == nil {
		e.state.Packs = make(map[string]bool)
	}
	dir := filepath.Join(gitDir, "objects", "pack")
	for _, p := range packs {
		if e.state.Packs[p.Name] || holdsAll(e.state.Packs, p.Replaces) {
			e.state.Packs[p.Name] = true
			continue
		}
		for _, ext := range []string{".pack", ".idx"} {
			if err := c.objects.Download(ctx, packKey(key, p.Name, ext), filepath.Join(dir, p.Name+ext)); err != nil {
				return c.unavailable("download "+p.Name+ext+" of", key, err)
			}
		}
		e.state.Packs[p.Name] = true
		c.count.packsFetched.Add(1)
		c.count.bytesFetched.Add(uint64(p.Bytes))
	}
	// A replaced pack never comes back into the manifest: forget it, so
	// the state stays the size of the manifest.
	for _, p := range packs {
		if e.state.Packs[p.Name] {
			for _, r := range p.Replaces {
				delete(e.state.Packs, r)
			}
		}
	}
	return nil
}

func holdsAll(have map[string]bool, names []string) bool {
	if len(names) == 0 {
		return false
	}
	for _, n := range names {
		if !have[n] {
			return false
		}
	}
	return true
}

// setRefs moves the cache's refs to want in one transaction, from the
// values they have on disk (not from the state file, which may be behind
// after a crash).
func (c *Cluster) setRefs(ctx context.Context, gitDir string, want map[string]string) error {
	out, err := c.git.Output(ctx, gitDir, git.Command{Name: "for-each-ref", Flags: []string{"--format=%(objectname) %(refname)"}})
	if err != nil {
		return fmt.Errorf("list cached refs: %w", err)
	}
	have := make(map[string]string)
	for _, line := range strings.Split(string(out), "\n") {
		oid, name, ok := strings.Cut(line, " ")
		if ok {
			have[name] = oid
		}
	}
	var updates []refs.Update
	for name, oid := range want {
		if have[name] != oid {
			updates = append(updates, refs.Update{Ref: git.ReferenceName(name), Old: zeroIfEmpty(have[name]), New: git.ObjectID(oid)})
		}
	}
	for name, oid := range have {
		if _, ok := want[name]; !ok {
			updates = append(updates, refs.Update{Ref: git.ReferenceName(name), Old: git.ObjectID(oid), New: git.ZeroOID})
		}
	}
	// Deletions first in git's transaction do not matter; but a ref and a
	// ref below it (refs/x and refs/x/y) cannot both exist, which the
	// record guarantees as well, so one transaction is always possible.
	return c.updater.Apply(ctx, gitDir, updates...)
}

// setHead points the cache's HEAD at branch when it points elsewhere.
func (c *Cluster) setHead(ctx context.Context, gitDir, branch string) error {
	b, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err == nil && string(bytes.TrimSpace(b)) == "ref: refs/heads/"+branch {
		return nil
	}
	return c.git.Run(ctx, gitDir, git.Command{Name: "symbolic-ref", Args: []string{"HEAD", "refs/heads/" + branch}})
}

func zeroIfEmpty(oid string) git.ObjectID {
	if oid == "" {
		return git.ZeroOID
	}
	return git.ObjectID(oid)
}
