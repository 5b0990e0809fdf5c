package vfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// Options configure Open.
type Options struct {
	NoCreate bool      // a missing path is an error (errors.Is(err, fs.ErrNotExist))
	Branch   string    // branch a new repository starts with ("main" when empty)
	NoBranch bool      // create the repository with no branch at all (restore targets)
	Author   Signature // author and committer of every commit ("strata", "strata@localhost")
}

// Store is one bare repository opened as a versioned filesystem. It owns
// the git processes it reads and writes through (a pool of cat-file
// readers, update-ref sessions); Close ends them. A Store is safe for
// concurrent use.
type Store struct {
	path    string
	git     *git.Factory
	cache   *catfile.Cache
	updater *refs.Updater
	repo    *repo.Repo
	author  Signature
	trees   *objectCache[odb.TreeEntry] // parsed trees
	blobs   *objectCache[byte]          // small blobs' contents

	closeOnce sync.Once
}

// Open opens the repository at path, creating a bare one when it is missing
// (unless opt.NoCreate). An existing path is opened as it is: opt.Branch and
// opt.NoBranch only shape a new repository.
func Open(path string, opt Options) (*Store, error) {
	if path == "" {
		return nil, errorf(ErrInvalid, "repository path must not be empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	_, statErr := os.Stat(abs)
	switch {
	case statErr == nil:
	case !errors.Is(statErr, fs.ErrNotExist):
		return nil, fmt.Errorf("open repository %s: %w", path, statErr)
	case opt.NoCreate:
		return nil, errorf(ErrNotFound, "Repository not found: %s", path)
	}
	branch := opt.Branch
	if branch == "" {
		branch = "main"
	}
	if statErr != nil && !opt.NoBranch {
		if err := checkRefName("branch", branch); err != nil {
			return nil, err
		}
	}
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:    abs,
		git:     f,
		cache:   catfile.NewCache(f, catfile.Options{}),
		updater: refs.NewUpdater(f),
		author:  opt.Author,
		trees:   newObjectCache[odb.TreeEntry](maxCachedTreeEntries, maxCachedTreeEntries/4),
		blobs:   newObjectCache[byte](maxBlobCacheSz, maxCachedBlob),
	}
	if s.author.Name == "" {
		s.author.Name = "strata"
	}
	if s.author.Email == "" {
		s.author.Email = "strata@localhost"
	}
	if statErr != nil {
		if err := s.create(branch, opt.NoBranch); err != nil {
			s.Close()
			return nil, err
		}
	}
	r, err := repo.OpenDir(abs, f, s.cache, s.updater)
	if err != nil {
		s.Close()
		return nil, err
	}
	// A library's caller decides how big its files are: no server cap.
	r.SetLimits(repo.Limits{MaxBlobBytes: math.MaxInt64})
	s.repo = r
	if statErr != nil && !opt.NoBranch {
		if _, err := s.initialCommit(branch); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// create makes the bare repository; HEAD names branch.
func (s *Store) create(branch string, noBranch bool) error {
	flags := []string{"--bare", "--quiet"}
	if !noBranch {
		flags = append(flags, "--initial-branch="+branch)
	}
	if err := s.git.Run(context.Background(), "", git.Command{Name: "init", Flags: flags, Args: []string{s.path}}); err != nil {
		return fmt.Errorf("create repository %s: %w", s.path, err)
	}
	// git syncs nothing init writes: a power loss could otherwise leave a
	// repository without its HEAD under commits already made durable.
	if err := durable.SyncTree(s.path); err != nil {
		return fmt.Errorf("create repository %s: %w", s.path, err)
	}
	return durable.SyncDir(filepath.Dir(s.path))
}

// initialCommit writes the empty-tree root commit "Initialize <branch>"
// and creates the branch at it, with no reflog entry (as gitstore).
func (s *Store) initialCommit(branch string) (git.ObjectID, error) {
	ctx := context.Background()
	w, err := s.repo.BeginWrite()
	if err != nil {
		return "", err
	}
	defer w.Abort()
	tree, err := s.repo.BuildTree(ctx, w, "", nil)
	if err != nil {
		return "", err
	}
	commit, err := w.WriteCommit(s.commitObject(tree, "", "Initialize "+branch))
	if err != nil {
		return "", err
	}
	if err := w.Commit(); err != nil {
		return "", err
	}
	err = s.repo.UpdateRefs(ctx, refs.Update{Ref: branchRef(branch), Old: git.ZeroOID, New: commit})
	if errors.Is(err, repo.ErrConflict) {
		return "", &RefError{Kind: "branch", Name: branch, Err: ErrExist}
	}
	if err != nil {
		return "", err
	}
	return commit, nil
}

// Close stops the git processes the Store keeps. Snapshots of a closed
// Store must not be used.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.updater.Close()
		s.cache.Stop()
	})
	return nil
}

// Path is the repository's absolute path.
func (s *Store) Path() string { return s.path }

// Branches are the repository's branches (refs/heads/).
func (s *Store) Branches() *Refs { return &Refs{s: s} }

// Tags are the repository's tags (refs/tags/).
func (s *Store) Tags() *Refs { return &Refs{s: s, tags: true} }

// Resolve finds a revision as the CLI's --ref does: a branch, then a tag,
// then a full or abbreviated commit id. Branch snapshots are writable, the
// others read-only.
func (s *Store) Resolve(rev string) (*FS, error) {
	if rev == "" {
		return nil, &RefError{Kind: "ref", Name: rev, Err: ErrNotFound}
	}
	for _, r := range []*Refs{s.Branches(), s.Tags()} {
		snap, err := r.Get(rev)
		if err == nil {
			return snap, nil
		}
		if !errors.Is(err, ErrNotFound) {
			var re *RefError
			if !errors.As(err, &re) {
				return nil, err
			}
		}
	}
	if len(rev) >= 4 && len(rev) <= git.HexLen && isHex(rev) {
		ctx := context.Background()
		oid, err := s.peelCommit(ctx, rev)
		if err == nil {
			return s.snapshot(ctx, oid, "", false)
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, &RefError{Kind: "ref", Name: rev, Err: ErrNotFound}
}

func isHex(s string) bool {
	return strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// reader checks a cat-file process out of the Store's pool.
func (s *Store) reader(ctx context.Context) (*catfile.Reader, func(), error) {
	rd, release, err := s.cache.Reader(ctx, s.path)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	return rd, release, nil
}

// peelCommit resolves rev to the commit it names (tags peeled).
func (s *Store) peelCommit(ctx context.Context, rev string) (git.ObjectID, error) {
	rd, release, err := s.reader(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	info, err := rd.Info(ctx, rev+"^{commit}")
	if errors.Is(err, catfile.ErrNotFound) {
		// An object that exists but peels to no commit (a blob, a tree)
		// is a wrong kind of revision, not a missing one.
		if obj, err := rd.Info(ctx, rev); err == nil {
			return "", errorf(ErrInvalid, "Object %s is not a commit", obj.OID)
		}
		return "", errorf(ErrNotFound, "%s does not point to a commit", rev)
	}
	if err != nil {
		return "", err
	}
	return info.OID, nil
}

// maxCommitSize bounds a commit object read into memory.
const maxCommitSize = 16 << 20

// readCommit reads and parses a commit object.
func (s *Store) readCommit(ctx context.Context, rd *catfile.Reader, oid git.ObjectID) (*repo.Commit, error) {
	info, data, err := rd.ReadObject(ctx, string(oid), maxCommitSize)
	if errors.Is(err, catfile.ErrNotFound) {
		return nil, errorf(ErrNotFound, "commit %s not found", oid)
	}
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", oid, err)
	}
	if info.Type != git.CommitObject {
		return nil, errorf(ErrInvalid, "%s is a %s, not a commit", oid, info.Type)
	}
	c, err := repo.ParseCommit(info.OID, data)
	if err != nil {
		return nil, fmt.Errorf("parse commit %s: %w", oid, err)
	}
	return c, nil
}

// snapshot loads commit oid as a snapshot bound to ref (a branch when
// writable).
func (s *Store) snapshot(ctx context.Context, oid git.ObjectID, ref string, writable bool) (*FS, error) {
	rd, release, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	c, err := s.readCommit(ctx, rd, oid)
	if err != nil {
		return nil, err
	}
	return s.fromCommit(c, ref, writable), nil
}

func (s *Store) fromCommit(c *repo.Commit, ref string, writable bool) *FS {
	var parent git.ObjectID
	if len(c.Parents) > 0 {
		parent = c.Parents[0]
	}
	return &FS{
		store:    s,
		commit:   c.OID,
		tree:     c.Tree,
		parent:   parent,
		ref:      ref,
		writable: writable,
		message:  strings.TrimRight(c.Message, "\n"),
		when:     c.Committer.When,
		author:   Signature{Name: c.Author.Name, Email: c.Author.Email},
	}
}

// commitObject is a commit by the store's signature, now (UTC, whole
// seconds), with message ending in a newline.
func (s *Store) commitObject(tree, parent git.ObjectID, message string) odb.Commit {
	sig := s.signatureNow()
	c := odb.Commit{Tree: tree, Author: sig, Committer: sig, Message: message}
	if !parent.IsZero() {
		c.Parents = []git.ObjectID{parent}
	}
	if !strings.HasSuffix(c.Message, "\n") {
		c.Message += "\n"
	}
	return c
}

func branchRef(name string) git.ReferenceName {
	return git.NewBranchReferenceName(git.NormalNamespace, name)
}
func tagRef(name string) git.ReferenceName { return git.NewTagReferenceName(name) }

// sameStore reports whether other is s, or the same repository opened
// twice.
func (s *Store) sameStore(other *Store) bool {
	if other == s {
		return true
	}
	if other == nil {
		return false
	}
	a, err1 := os.Stat(s.path)
	b, err2 := os.Stat(other.path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func (s *Store) signatureNow() odb.Signature {
	return odb.Signature{Name: s.author.Name, Email: s.author.Email, When: time.Now().UTC().Truncate(time.Second)}
}

// objectCache keeps immutable objects by id, as a tree's parsed entries
// or a small blob's bytes: an id names its content forever, so nothing is
// ever invalidated, and reads near the same paths cost no cat-file round
// trip. It holds up to max units (a value's length) in all, and never a
// value of more than maxItem.
type objectCache[E any] struct {
	mu           sync.Mutex
	entries      map[git.ObjectID][]E
	size         int // units held, all values together
	max, maxItem int
}

func newObjectCache[E any](max, maxItem int) *objectCache[E] {
	return &objectCache[E]{entries: map[git.ObjectID][]E{}, max: max, maxItem: maxItem}
}

// Bounds of the caches: trees (~100 bytes an entry) and small blobs.
const (
	maxCachedTreeEntries = 200_000
	maxCachedBlob        = 64 << 10
	maxBlobCacheSz       = 32 << 20
)

func (c *objectCache[E]) get(oid git.ObjectID) ([]E, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[oid]
	return v, ok
}

func (c *objectCache[E]) put(oid git.ObjectID, v []E) {
	if len(v) > c.maxItem {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Evict arbitrary entries (map order) until the new one fits: cheaper
	// than LRU bookkeeping on every hit, and misses only cost a read.
	for k, old := range c.entries {
		if c.size+len(v) <= c.max {
			break
		}
		c.size -= len(old)
		delete(c.entries, k)
	}
	if _, ok := c.entries[oid]; !ok {
		c.entries[oid] = v
		c.size += len(v)
	}
}

// maxTreeSize bounds a tree object read into memory.
const maxTreeSize = 64 << 20

// readTree returns the entries of tree oid in git order.
func (s *Store) readTree(ctx context.Context, rd *catfile.Reader, oid git.ObjectID) ([]odb.TreeEntry, error) {
	if oid == git.EmptyTreeOID {
		return nil, nil
	}
	if list, ok := s.trees.get(oid); ok {
		return list, nil
	}
	info, data, err := rd.ReadObject(ctx, string(oid), maxTreeSize)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", oid, err)
	}
	if info.Type != git.TreeObject {
		return nil, fmt.Errorf("read tree %s: object is a %s", oid, info.Type)
	}
	list, err := odb.ParseTree(data)
	if err != nil {
		return nil, fmt.Errorf("parse tree %s: %w", oid, err)
	}
	s.trees.put(oid, list)
	return list, nil
}

// reflog is a reflog entry by the store's signature.
func (s *Store) reflog(message string) refs.Reflog {
	return refs.Reflog{Message: message, Name: s.author.Name, Email: s.author.Email}
}

// readBlob returns a blob's contents; callers must not modify them.
func (s *Store) readBlob(ctx context.Context, rd *catfile.Reader, oid git.ObjectID) ([]byte, error) {
	if b, ok := s.blobs.get(oid); ok {
		return b, nil
	}
	_, data, err := rd.ReadObject(ctx, string(oid), 1<<62)
	if err != nil {
		return nil, err
	}
	s.blobs.put(oid, data)
	return data, nil
}
