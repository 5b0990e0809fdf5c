package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
)

// quarantinePrefix names quarantine directories inside a repository.
const quarantinePrefix = "quarantine-"

// Quarantine is a scratch bare repository inside a repository's directory
// that borrows its objects (objects/info/alternates) and receives objects
// from outside — an upstream fetch — without touching the repository:
// nothing it holds is visible until Migrate moves its objects in, and no
// ref moves until the caller updates refs through UpdateRefs.
type Quarantine struct {
	repo *Repo
	path string
}

// NewQuarantine creates an empty quarantine for r. Leftovers of earlier
// quarantines (a crash) are removed first: the caller serialises the
// work that uses them per repository.
func (r *Repo) NewQuarantine(ctx context.Context) (*Quarantine, error) {
	old, _ := filepath.Glob(filepath.Join(r.path, quarantinePrefix+"*"))
	for _, p := range old {
		_ = os.RemoveAll(p)
	}
	dir, err := os.MkdirTemp(r.path, quarantinePrefix)
	if err != nil {
		return nil, fmt.Errorf("create quarantine: %w", err)
	}
	q := &Quarantine{repo: r, path: dir}
	if err := r.git.Run(ctx, "", git.Command{Name: "init", Flags: []string{"--bare", "--quiet"}, Args: []string{dir}}); err != nil {
		q.Close()
		return nil, fmt.Errorf("init quarantine: %w", err)
	}
	alternates := filepath.Join(dir, "objects", "info", "alternates")
	if err := os.WriteFile(alternates, []byte(filepath.Join(r.path, "objects")+"\n"), 0o644); err != nil {
		q.Close()
		return nil, fmt.Errorf("create quarantine: %w", err)
	}
	return q, nil
}

// Path is the quarantine's git directory, for git commands run in it.
func (q *Quarantine) Path() string { return q.path }

// Refs lists the quarantine's refs below prefix.
func (q *Quarantine) Refs(ctx context.Context, prefix string) ([]Ref, error) {
	return listRefs(ctx, q.repo.git, q.path, prefix)
}

// Migrate moves every object the quarantine received into the
// repository, durably: packs with their .rev before their .idx (git finds
// a pack through its index), then loose objects; directories are fsynced.
// An object the repository already has is left where it is.
func (q *Quarantine) Migrate() error {
	src := filepath.Join(q.path, "objects")
	dst := filepath.Join(q.repo.path, "objects")
	packs, err := os.ReadDir(filepath.Join(src, "pack"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("migrate quarantine: %w", err)
	}
	rank := func(name string) int {
		switch filepath.Ext(name) {
		case ".idx":
			return 2
		case ".keep", ".promisor":
			return 0
		}
		return 1
	}
	sort.SliceStable(packs, func(i, j int) bool { return rank(packs[i].Name()) < rank(packs[j].Name()) })
	moved := false
	for _, e := range packs {
		name := e.Name()
		if !strings.HasPrefix(name, "pack-") || filepath.Ext(name) == ".keep" {
			continue
		}
		if err := moveObject(filepath.Join(src, "pack", name), filepath.Join(dst, "pack", name)); err != nil {
			return err
		}
		moved = true
	}
	if moved {
		if err := durable.SyncDir(filepath.Join(dst, "pack")); err != nil {
			return fmt.Errorf("migrate quarantine: %w", err)
		}
	}
	fanouts, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("migrate quarantine: %w", err)
	}
	for _, d := range fanouts {
		if len(d.Name()) != 2 || !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(src, d.Name()))
		if err != nil {
			return fmt.Errorf("migrate quarantine: %w", err)
		}
		if len(files) == 0 {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dst, d.Name()), 0o755); err != nil {
			return fmt.Errorf("migrate quarantine: %w", err)
		}
		for _, f := range files {
			if err := moveObject(filepath.Join(src, d.Name(), f.Name()), filepath.Join(dst, d.Name(), f.Name())); err != nil {
				return err
			}
		}
		if err := durable.SyncDir(filepath.Join(dst, d.Name())); err != nil {
			return fmt.Errorf("migrate quarantine: %w", err)
		}
	}
	return nil
}

// moveObject renames an object file into place after fsyncing it; an
// existing file of the same name holds the same content (names are
// content hashes) and is kept.
func moveObject(from, to string) error {
	if _, err := os.Stat(to); err == nil {
		return nil
	}
	err := durable.SyncFile(from)
	if err == nil {
		err = os.Rename(from, to)
	}
	if err != nil {
		return fmt.Errorf("migrate quarantine: %w", err)
	}
	return nil
}

// Close removes the quarantine and whatever it still holds.
func (q *Quarantine) Close() error { return os.RemoveAll(q.path) }
