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

// File is an open blob. Read it to the end or Close it early; Close must
// be called either way (it returns the cat-file process to the pool).
type File struct {
	OID  git.ObjectID
	Size int64
	obj  *catfile.Object
	done func()
}

// Read streams the blob's bytes.
func (f *File) Read(p []byte) (int, error) { return f.obj.Read(p) }

// Close releases the reader.
func (f *File) Close() error {
	err := f.obj.Close()
	f.done()
	return err
}

// StatFile returns the blob at path in commit without reading it.
func (r *Repo) StatFile(ctx context.Context, commit git.ObjectID, path string) (git.ObjectID, int64, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return "", 0, err
	}
	defer release()
	info, err := rd.Info(ctx, string(commit)+":"+path)
	if errors.Is(err, catfile.ErrNotFound) {
		return "", 0, notFound("path", path)
	}
	if err != nil {
		return "", 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if info.Type != git.BlobObject {
		return "", 0, notFound("file", path)
	}
	return info.OID, info.Size, nil
}

// OpenFile opens the blob at path in commit for streaming.
func (r *Repo) OpenFile(ctx context.Context, commit git.ObjectID, path string) (*File, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	obj, err := rd.Object(ctx, string(commit)+":"+path)
	if err != nil {
		release()
		if errors.Is(err, catfile.ErrNotFound) {
			return nil, notFound("path", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if obj.Type != git.BlobObject {
		obj.Close()
		release()
		return nil, notFound("file", path)
	}
	return &File{OID: obj.OID, Size: obj.Size, obj: obj, done: release}, nil
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
