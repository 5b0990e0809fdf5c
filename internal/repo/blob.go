package repo

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// File is a blob found at a path, holding one cat-file reader: its id and
// size are known at once, and its contents are read from the same process
// on the first Read (never, for a HEAD or a 304). Close must be called.
type File struct {
	OID  git.ObjectID
	Size int64
	ctx  context.Context
	rd   *catfile.Reader
	obj  *catfile.Object
	done func()
}

// Read streams the blob's bytes.
func (f *File) Read(p []byte) (int, error) {
	if f.obj == nil {
		obj, err := f.rd.Object(f.ctx, string(f.OID))
		if err != nil {
			return 0, fmt.Errorf("read blob %s: %w", f.OID, err)
		}
		f.obj = obj
	}
	return f.obj.Read(p)
}

// Close releases the reader.
func (f *File) Close() error {
	var err error
	if f.obj != nil {
		err = f.obj.Close()
	}
	f.done()
	return err
}

// StatFile returns the blob at path in commit without reading it.
func (r *Repo) StatFile(ctx context.Context, commit git.ObjectID, path string) (git.ObjectID, int64, error) {
	f, err := r.OpenFile(ctx, commit, path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return f.OID, f.Size, nil
}

// OpenFile finds the blob at path in commit; a tree or a submodule there
// is not a file.
func (r *Repo) OpenFile(ctx context.Context, commit git.ObjectID, path string) (*File, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	info, err := rd.Info(ctx, string(commit)+":"+path)
	if err != nil {
		release()
		if errors.Is(err, catfile.ErrNotFound) {
			return nil, notFound("path", path)
		}
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if info.Type != git.BlobObject {
		release()
		return nil, notFound("file", path)
	}
	return &File{OID: info.OID, Size: info.Size, ctx: ctx, rd: rd, done: release}, nil
}

// LastChange is the newest commit reachable from a tip that touched a path.
type LastChange struct {
	Commit    git.ObjectID
	Committed time.Time
}

// LastChange finds the newest commit reachable from commit that touched
// path. The answer never changes for a (commit, path) pair, so it is cached:
// repeated reads of a file cost no process.
func (r *Repo) LastChange(ctx context.Context, commit git.ObjectID, path string) (LastChange, error) {
	key := r.key + "\x00" + string(commit) + "\x00" + path
	if lc, ok := r.lastMod.get(key); ok {
		return lc, nil
	}
	out, err := r.git.Output(ctx, r.path, git.Command{
		Name:    "rev-list",
		Flags:   []string{"--max-count=1"},
		Args:    []string{string(commit)},
		PostSep: []string{git.LiteralPathspec(path)},
	})
	if err != nil {
		return LastChange{}, fmt.Errorf("last change of %s: %w", path, err)
	}
	id := strings.TrimSpace(string(out))
	if id == "" {
		return LastChange{}, notFound("path", path)
	}
	c, err := r.readCommitOID(ctx, git.ObjectID(id))
	if err != nil {
		return LastChange{}, err
	}
	lc := LastChange{Commit: c.OID, Committed: c.Committer.When}
	r.lastMod.put(key, lc)
	return lc, nil
}

// lastModCache is a bounded LRU of LastChange answers.
type lastModCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[string]*list.Element
}

type lastModItem struct {
	key string
	val LastChange
}

func newLastModCache(max int) *lastModCache {
	return &lastModCache{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (c *lastModCache) get(key string) (LastChange, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lastModItem).val, true
	}
	return LastChange{}, false
}

func (c *lastModCache) put(key string, val LastChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*lastModItem).val = val
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&lastModItem{key: key, val: val})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*lastModItem).key)
	}
}
