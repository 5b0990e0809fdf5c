package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
)

// RefObserver hears about every successful ref transaction (branch creation
// times, events). It must not fail the write: the refs already moved.
type RefObserver interface {
	RefsUpdated(ctx context.Context, storageKey string, updates []refs.Update)
}

// Manager locates, creates and removes repositories under one root
// directory. Directory names are storage keys chosen by the metadata store,
// never client ids, so no id can escape the root or reach another org.
type Manager struct {
	root     string
	git      *git.Factory
	cache    *catfile.Cache
	updater  *refs.Updater
	observer RefObserver
	order    *refOrder
	memo     *caches
	limits   Limits
	// record, when set, holds the refs of record and the directories are
	// caches of it (the clustered mode; see SetRecord).
	record Record

	// present remembers storage keys whose directory Open has seen, so a
	// repository read on every request costs no stat. Only Remove takes a
	// directory away, and it forgets the key first; gen counts Removes so
	// an Open that raced one does not record a key it may have outlived.
	mu      sync.Mutex
	present map[string]struct{}
	gen     uint64
}

// maxPresent bounds Manager.present; past it the set starts again.
const maxPresent = 1 << 16

// NewManager returns a Manager for repositories under root.
func NewManager(root string, f *git.Factory, cache *catfile.Cache, observer RefObserver) (*Manager, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create repository root: %w", err)
	}
	return &Manager{
		root:     root,
		git:      f,
		cache:    cache,
		updater:  refs.NewUpdater(f),
		observer: observer,
		order:    newRefOrder(),
		memo:     newCaches(),
		present:  make(map[string]struct{}),
	}, nil
}

// path maps a storage key to its directory: a two-character fan-out keeps
// directories small with many repositories.
func (m *Manager) path(key string) (string, error) {
	if len(key) < 3 || strings.ContainsAny(key, `/\.`) {
		return "", fmt.Errorf("%w: bad storage key %q", ErrInvalid, key)
	}
	return filepath.Join(m.root, key[:2], key+".git"), nil
}

// Open returns the repository with the given storage key. In the clustered
// mode it first makes this node's cache of it current (creating the cache
// on first use), so what the caller reads is at least as new as every
// write acknowledged before Open was called.
func (m *Manager) Open(ctx context.Context, key string) (*Repo, error) {
	p, err := m.path(key)
	if err != nil {
		return nil, err
	}
	if m.record != nil {
		return m.openCached(ctx, key, p)
	}
	m.mu.Lock()
	_, ok := m.present[key]
	gen := m.gen
	m.mu.Unlock()
	if !ok {
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, notFound("repository", key)
			}
			return nil, fmt.Errorf("open repository %s: %w", key, err)
		}
		m.remember(key, gen)
	}
	return m.repo(key, p), nil
}

// remember records key as present unless a Remove ran since gen was read.
func (m *Manager) remember(key string, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return
	}
	if len(m.present) >= maxPresent {
		clear(m.present)
	}
	m.present[key] = struct{}{}
}

func (m *Manager) repo(key, p string) *Repo {
	return &Repo{key: key, path: p, git: m.git, cache: m.cache, updater: m.updater, observer: m.observer, order: m.order, memo: m.memo, limits: m.limits, record: m.record}
}

// openCached is Open in the clustered mode.
func (m *Manager) openCached(ctx context.Context, key, p string) (*Repo, error) {
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		// First use on this node: an empty cache, filled by Refresh. A
		// concurrent Open may have made it first.
		// Refresh sets HEAD; "main" is a placeholder.
		if err := m.initDir(ctx, key, p, "main"); err != nil && !errors.Is(err, ErrExists) {
			return nil, err
		}
	}
	if err := m.record.Refresh(ctx, key, p); err != nil {
		if errors.Is(err, ErrNotFound) {
			// Removed through another node: this cache goes too.
			if rerr := m.removeDir(key, p); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
		}
		return nil, err
	}
	return m.repo(key, p), nil
}

// OpenDir returns the bare repository at path for use outside the server
// (the embedded filesystem): no Manager, no observer, no event ordering.
// The caller owns f, cache and updater and stops them.
func OpenDir(path string, f *git.Factory, cache *catfile.Cache, updater *refs.Updater) (*Repo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound("repository", path)
		}
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrInvalid, path)
	}
	return &Repo{key: path, path: path, git: f, cache: cache, updater: updater, memo: newCaches()}, nil
}

// Create makes an empty bare repository whose HEAD names defaultBranch.
func (m *Manager) Create(ctx context.Context, key, defaultBranch string) (*Repo, error) {
	p, err := m.path(key)
	if err != nil {
		return nil, err
	}
	if err := git.ValidateBranchName(defaultBranch); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if m.record != nil {
		if err := m.record.Create(ctx, key, defaultBranch); err != nil {
			return nil, err
		}
		// The cache may exist already: a request raced the creation.
		return m.openCached(ctx, key, p)
	}
	if err := m.initDir(ctx, key, p, defaultBranch); err != nil {
		return nil, err
	}
	return m.repo(key, p), nil
}

// initDir makes the empty bare repository p; ErrExists if it exists.
func (m *Manager) initDir(ctx context.Context, key, p, defaultBranch string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create repository %s: %w", key, err)
	}
	if _, err := os.Stat(p); err == nil {
		return fmt.Errorf("create repository %s: %w", key, ErrExists)
	}
	// Build in a temporary directory and rename, so a crash never leaves a
	// half-initialised repository under the real name.
	tmp, err := os.MkdirTemp(filepath.Dir(p), ".init-")
	if err != nil {
		return fmt.Errorf("create repository %s: %w", key, err)
	}
	defer os.RemoveAll(tmp)
	// No template: the sample hooks, description and info/exclude are of
	// no use to a server (its hooks come from core.hooksPath), and each
	// file is one more sync.
	if err := m.git.Run(ctx, "", git.Command{Name: "init", Flags: []string{"--bare", "--quiet", "--template=", "--initial-branch=" + defaultBranch}, Args: []string{tmp}}); err != nil {
		return fmt.Errorf("init repository %s: %w", key, err)
	}
	// Repository-level settings: receive-pack checks objects it accepts.
	for _, kv := range [][2]string{{"receive.fsckObjects", "true"}, {"core.bigFileThreshold", "16m"}} {
		if err := m.git.Run(ctx, tmp, git.Command{Name: "config", Args: []string{kv[0], kv[1]}}); err != nil {
			return fmt.Errorf("configure repository %s: %w", key, err)
		}
	}
	// git syncs none of what init and config wrote: without this, a power
	// loss after the answer could leave the repository without its HEAD.
	if err := durable.SyncTree(tmp); err != nil {
		return fmt.Errorf("create repository %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		if _, serr := os.Stat(p); serr == nil {
			// Made meanwhile (clustered mode: a concurrent first Open).
			return fmt.Errorf("create repository %s: %w", key, ErrExists)
		}
		return fmt.Errorf("create repository %s: %w", key, err)
	}
	if err := durable.SyncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("create repository %s: %w", key, err)
	}
	return nil
}

// Remove deletes the repository's directory. It is first renamed out of the
// way so that it stops being served at once, then removed. In the clustered
// mode the record forgets it first.
func (m *Manager) Remove(ctx context.Context, key string) error {
	p, err := m.path(key)
	if err != nil {
		return err
	}
	if m.record != nil {
		if err := m.record.Remove(ctx, key); err != nil {
			return err
		}
	}
	return m.removeDir(key, p)
}

// removeDir moves the directory p of key out of the way, then removes it.
func (m *Manager) removeDir(key, p string) error {
	trash := filepath.Join(m.root, ".trash")
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return fmt.Errorf("remove repository %s: %w", key, err)
	}
	dst := filepath.Join(trash, key+".git")
	m.mu.Lock()
	delete(m.present, key)
	m.gen++
	m.mu.Unlock()
	m.updater.Forget(p)
	if err := os.Rename(p, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove repository %s: %w", key, err)
	}
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("remove repository %s: %w", key, err)
	}
	return nil
}

// Close ends the git processes the Manager keeps: the running history
// walks and the ref-update sessions. The Manager must not be used
// afterwards.
func (m *Manager) Close() {
	m.memo.walks.close()
	m.updater.Close()
}
