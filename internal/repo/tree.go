package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// EntryType is what the wire calls a tree entry's kind.
type EntryType string

// The four kinds of tree entries.
const (
	EntryBlob      EntryType = "blob"
	EntryTree      EntryType = "tree"
	EntrySymlink   EntryType = "symlink"
	EntrySubmodule EntryType = "submodule"
)

// TypeForMode maps a git mode to its entry type.
func TypeForMode(mode string) EntryType {
	switch mode {
	case "040000", "40000":
		return EntryTree
	case "120000":
		return EntrySymlink
	case "160000":
		return EntrySubmodule
	}
	return EntryBlob
}

// TreeEntry is one entry of a listing, with its full path.
type TreeEntry struct {
	Path string
	Mode string // six digits, e.g. "100644", "040000"
	Type EntryType
	OID  git.ObjectID
	Size int64 // blob size; -1 for trees and submodules
}

// SortKey orders entries the way git's trees do: a tree sorts as if its
// path ended in "/". Cursors compare SortKeys.
func (e TreeEntry) SortKey() string {
	if e.Type == EntryTree {
		return e.Path + "/"
	}
	return e.Path
}

// ListTreeOptions select what ListTree returns.
type ListTreeOptions struct {
	Dir       string // "" = root; must be CleanDirPath'ed
	Recursive bool
	// WithTrees includes tree entries (recursive listings otherwise hold
	// only leaves).
	WithTrees bool
	WithSizes bool
}

// ListTree lists the tree of commit below opt.Dir in git order, calling
// fn for each entry; fn returns false to stop early. Listing runs in
// git-ls-tree(1), streamed, so huge trees never sit in memory.
func (r *Repo) ListTree(ctx context.Context, commit git.ObjectID, opt ListTreeOptions, fn func(TreeEntry) bool) error {
	treeish := string(commit) + "^{tree}"
	prefix := ""
	if opt.Dir != "" {
		oid, typ, err := r.lookupPath(ctx, commit, opt.Dir)
		if err != nil {
			return err
		}
		if typ != git.TreeObject {
			return notFound("directory", opt.Dir)
		}
		treeish = string(oid)
		prefix = opt.Dir + "/"
	}
	flags := []string{"-z", "--full-tree"}
	if opt.Recursive {
		flags = append(flags, "-r")
		if opt.WithTrees {
			flags = append(flags, "-t")
		}
	}
	if opt.WithSizes {
		flags = append(flags, "-l")
	}
	p, err := r.git.Start(ctx, r.path, git.Command{Name: "ls-tree", Flags: flags, Args: []string{treeish}}, git.WithStdoutPipe())
	if err != nil {
		return fmt.Errorf("list tree %s: %w", commit, err)
	}
	br := bufio.NewReaderSize(p.Stdout, 64<<10)
	stopped := false
	for !stopped {
		rec, err := br.ReadString(0)
		if err == io.EOF {
			break
		}
		if err != nil {
			p.Stdout.Close()
			p.Wait()
			return fmt.Errorf("list tree %s: %w", commit, err)
		}
		e, perr := parseLsTree(strings.TrimSuffix(rec, "\x00"), opt.WithSizes)
		if perr != nil {
			p.Stdout.Close()
			p.Wait()
			return fmt.Errorf("list tree %s: %w", commit, perr)
		}
		e.Path = prefix + e.Path
		if !fn(e) {
			stopped = true
		}
	}
	// Stopping early closes the pipe; git then dies of SIGPIPE, which is fine.
	p.Stdout.Close()
	if err := p.Wait(); err != nil && !stopped {
		return fmt.Errorf("list tree %s: %w", commit, err)
	}
	return nil
}

// parseLsTree reads "<mode> SP <type> SP <oid> [SP+ <size>] TAB <path>".
func parseLsTree(rec string, withSize bool) (TreeEntry, error) {
	meta, path, ok := strings.Cut(rec, "\t")
	if !ok {
		return TreeEntry{}, fmt.Errorf("malformed ls-tree line %q", rec)
	}
	f := strings.Fields(meta)
	if len(f) < 3 {
		return TreeEntry{}, fmt.Errorf("malformed ls-tree line %q", rec)
	}
	mode := f[0]
	if len(mode) == 5 {
		mode = "0" + mode
	}
	e := TreeEntry{Path: path, Mode: mode, Type: TypeForMode(mode), OID: git.ObjectID(f[2]), Size: -1}
	if withSize && len(f) >= 4 && f[3] != "-" {
		n, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return TreeEntry{}, fmt.Errorf("malformed ls-tree size %q", f[3])
		}
		e.Size = n
	}
	return e, nil
}

// lookupPath finds the object at path in commit's tree.
func (r *Repo) lookupPath(ctx context.Context, commit git.ObjectID, path string) (git.ObjectID, git.ObjectType, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return "", "", err
	}
	defer release()
	info, err := rd.Info(ctx, string(commit)+":"+path)
	if errors.Is(err, catfile.ErrNotFound) {
		return "", "", notFound("path", path)
	}
	if err != nil {
		return "", "", fmt.Errorf("look up %s in %s: %w", path, commit, err)
	}
	return info.OID, info.Type, nil
}
