package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"golang.org/x/sync/errgroup"
)

// Publish is the clustered mode's ref transaction:
//
//  1. pack the objects the new values reach that the manifest does not
//     hold yet (git pack-objects, the cache's refs as the known side);
//  2. upload the pack and its index to object storage;
//  3. one ledger transaction: compare-and-swap every ref, add the pack to
//     the manifest, append the ref-update events;
//  4. move the cache's refs to match.
//
// The write is acknowledged after 3: a crash before it leaves at most an
// unlisted pack in object storage (garbage, never visible), a crash after
// it leaves a cache that the next Refresh corrects.
func (c *Cluster) Publish(ctx context.Context, key, gitDir string, log *refs.Reflog, updates []refs.Update, written string) error {
	if len(updates) == 0 {
		return nil
	}
	if err := refs.Check(updates); err != nil {
		return err
	}
	if err := c.checkObjects(ctx, gitDir, updates); err != nil {
		return err
	}
	e := c.entry(key)
	e.mu.Lock()
	e.load(gitDir)
	known := make([]string, 0, len(e.state.Refs))
	for _, oid := range e.state.Refs {
		known = append(known, oid)
	}
	e.mu.Unlock()

	pack, err := c.uploadWritten(ctx, key, written)
	if errors.Is(err, errNoWritten) {
		pack, err = c.packNew(ctx, key, gitDir, updates, known)
	}
	if err != nil {
		return err
	}
	changes := make([]metadata.RefChange, len(updates))
	for i, u := range updates {
		changes[i] = metadata.RefChange{Ref: string(u.Ref), Old: string(zeroIfEmpty(string(u.Old))), New: string(zeroIfEmpty(string(u.New)))}
	}
	pub, err := c.ledger.LedgerPublish(ctx, key, changes, pack, events.Rows(key, updates, time.Now()))
	var mismatch *metadata.LedgerMismatchError
	var clash *metadata.LedgerNameClashError
	switch {
	case errors.As(err, &mismatch):
		c.count.conflicts.Add(1)
		// Another node moved the ref: bring the cache up to it, so that a
		// caller that retries on a conflict (a commit rebuilt on the new
		// tip, a sync planned again) sees what it lost to.
		if rerr := c.Refresh(ctx, key, gitDir); rerr != nil {
			c.log.Warn("refresh after a lost compare-and-swap", "repo", key, "err", rerr)
		}
		return &refs.MismatchError{Ref: git.ReferenceName(mismatch.Ref), Expect: git.ObjectID(mismatch.Expect), Actual: zeroIfEmpty(mismatch.Actual)}
	case errors.As(err, &clash):
		return &refs.NameClashError{Ref: git.ReferenceName(clash.Ref), Existing: git.ReferenceName(clash.Existing)}
	case errors.Is(err, metadata.ErrNotFound):
		return fmt.Errorf("update refs of %s: %w", key, repo.ErrNotFound)
	case err != nil:
		return c.unavailable("update refs of", key, err)
	}
	c.count.publishes.Add(1)

	// The record has moved: from here on the write stands whatever
	// happens to the cache.
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := c.applyToCache(ctx, gitDir, e, log, updates); err != nil {
		c.log.Warn("cache behind the record until its next refresh", "repo", key, "err", err)
		e.state.Version = -1
		return nil
	}
	if pack != nil {
		if e.state.Packs == nil {
			e.state.Packs = make(map[string]bool)
		}
		e.state.Packs[pack.Name] = true
	}
	if e.state.Version == pub.Before {
		e.state.Version = pub.After
	}
	if err := e.save(gitDir); err != nil {
		c.log.Warn("save cache state", "repo", key, "err", err)
	}
	if pub.Packs > c.opts.CompactPacks {
		c.compactLater(key, gitDir)
	}
	return nil
}

// applyToCache moves the cache's refs as the record moved them: from what
// this node last set them to (which no one else changes: every change of
// the cache's refs holds e.mu) to the new values.
func (c *Cluster) applyToCache(ctx context.Context, gitDir string, e *cached, log *refs.Reflog, updates []refs.Update) error {
	if e.state.Refs == nil {
		e.state.Refs = make(map[string]string)
	}
	local := make([]refs.Update, len(updates))
	for i, u := range updates {
		local[i] = refs.Update{Ref: u.Ref, Old: zeroIfEmpty(e.state.Refs[string(u.Ref)]), New: u.New}
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	if log != nil {
		err = c.updater.ApplyLogged(ctx, gitDir, *log, local...)
	} else {
		err = c.updater.Apply(ctx, gitDir, local...)
	}
	if err != nil {
		return err
	}
	for _, u := range updates {
		if u.New.IsZero() {
			delete(e.state.Refs, string(u.Ref))
		} else {
			e.state.Refs[string(u.Ref)] = string(u.New)
		}
	}
	return nil
}

// emptyPackBytes is the size of a pack with no object: header and trailer.
const emptyPackBytes = 12 + 20

// packNew writes the objects reachable from the updates' new values and
// not from known (values of record, whose objects the manifest holds) as
// one pack, uploads it and its index, and returns its record; nil when
// there is nothing new (a delete, or a ref moved to an existing commit).
func (c *Cluster) packNew(ctx context.Context, key, gitDir string, updates []refs.Update, known []string) (*metadata.PackRecord, error) {
	var in strings.Builder
	for _, u := range updates {
		if !u.New.IsZero() {
			in.WriteString(string(u.New) + "\n")
		}
	}
	if in.Len() == 0 {
		return nil, nil
	}
	for _, oid := range known {
		in.WriteString("^" + oid + "\n")
	}
	tmp, err := os.MkdirTemp(gitDir, "publish-")
	if err != nil {
		return nil, fmt.Errorf("pack new objects of %s: %w", key, err)
	}
	defer os.RemoveAll(tmp)
	// No fsync: the pack is durable once object storage has acknowledged
	// it, and this copy is deleted after the upload.
	out, err := c.git.Output(ctx, gitDir, git.Command{Name: "pack-objects", Flags: []string{"--revs", "--delta-base-offset", "-q"}, Args: []string{filepath.Join(tmp, "pack")}},
		git.WithStdin(strings.NewReader(in.String())), git.WithConfig("core.fsync=none"))
	if err != nil {
		return nil, fmt.Errorf("pack new objects of %s: %w", key, err)
	}
	name := "pack-" + strings.TrimSpace(string(out))
	packPath := filepath.Join(tmp, name+".pack")
	fi, err := os.Stat(packPath)
	if err != nil {
		return nil, fmt.Errorf("pack new objects of %s: %w", key, err)
	}
	if fi.Size() <= emptyPackBytes {
		return nil, nil
	}
	if err := c.uploadPack(ctx, key, tmp, name, fi.Size()); err != nil {
		return nil, err
	}
	return &metadata.PackRecord{Name: name, Bytes: fi.Size()}, nil
}

// errNoWritten: the engine's pack cannot be used as it is (none, or gone
// from the cache already), so Publish packs the new objects itself.
var errNoWritten = errors.New("no written pack")

// uploadWritten uploads the pack the engine wrote (Record.Publish's
// written) as it is: an API commit's objects need no pack-objects run,
// which was half of what the clustered mode added to a commit
// (docs/benchmarks.md, "Clustered mode").
func (c *Cluster) uploadWritten(ctx context.Context, key, written string) (*metadata.PackRecord, error) {
	if written == "" {
		return nil, errNoWritten
	}
	dir, file := filepath.Split(written)
	name, ok := strings.CutSuffix(file, ".pack")
	if !ok || !strings.HasPrefix(name, "pack-") {
		return nil, errNoWritten
	}
	fi, err := os.Stat(written)
	if err != nil {
		// Local maintenance folded it into another pack meanwhile.
		return nil, errNoWritten
	}
	if err := c.uploadPack(ctx, key, dir, name, fi.Size()); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNoWritten
		}
		return nil, err
	}
	return &metadata.PackRecord{Name: name, Bytes: fi.Size()}, nil
}

// uploadPack stores the pack name and its index from dir, both at once: a
// reader of the manifest never sees the pack's row before both are
// stored, so their order does not matter.
func (c *Cluster) uploadPack(ctx context.Context, key, dir, name string, size int64) error {
	var g errgroup.Group
	for _, ext := range []string{".pack", ".idx"} {
		g.Go(func() error {
			err := c.put(ctx, packKey(key, name, ext), filepath.Join(dir, name+ext))
			if errors.Is(err, fs.ErrNotExist) {
				return err // the local file, not the store
			}
			if err != nil {
				return c.unavailable("upload "+name+ext+" of", key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.count.packsUploaded.Add(1)
	c.count.bytesUploaded.Add(uint64(size))
	return nil
}

func (c *Cluster) put(ctx context.Context, objectKey, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return c.objects.Put(ctx, objectKey, f, fi.Size())
}

// checkObjects refuses what git's update-ref would refuse about the new
// values, before anything is stored: an object the cache lacks
// (*refs.MissingObjectError) and a branch pointed at a non-commit. It asks
// the cat-file pool, not a process of its own: this is on every write.
func (c *Cluster) checkObjects(ctx context.Context, gitDir string, updates []refs.Update) error {
	var rd *catfile.Reader
	for _, u := range updates {
		if u.New.IsZero() {
			continue
		}
		if rd == nil {
			r, release, err := c.cache.Reader(ctx, gitDir)
			if err != nil {
				return fmt.Errorf("check new values: %w", err)
			}
			defer release()
			rd = r
		}
		info, err := rd.Info(ctx, string(u.New))
		if errors.Is(err, catfile.ErrNotFound) {
			return &refs.MissingObjectError{Ref: u.Ref, OID: u.New}
		}
		if err != nil {
			return fmt.Errorf("check new values: %w", err)
		}
		if _, isBranch := u.Ref.Branch(); isBranch && info.Type != git.CommitObject {
			return fmt.Errorf("%w: %s is not a commit (branch %s)", refs.ErrInvalidUpdate, u.New, u.Ref)
		}
	}
	return nil
}
