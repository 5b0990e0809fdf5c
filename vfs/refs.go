package vfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// Refs are a repository's branches or its tags. Every change is a
// compare-and-swap through git-update-ref(1), so it excludes a concurrent
// git push or Strata server writing the same ref.
type Refs struct {
	s    *Store
	tags bool
}

func (r *Refs) kind() string {
	if r.tags {
		return "tag"
	}
	return "branch"
}

func (r *Refs) ref(name string) git.ReferenceName {
	if r.tags {
		return tagRef(name)
	}
	return branchRef(name)
}

func (r *Refs) refErr(name string, err error) error {
	return &RefError{Kind: r.kind(), Name: name, Err: err}
}

// checkRefName applies gitstore's rule (no colon, space, tab or newline,
// which its path syntax reserves) and then git's ref-name rules.
func checkRefName(kind, name string) error {
	for _, c := range []struct{ ch, what string }{{":", "colon"}, {" ", "space"}, {"\t", "tab"}, {"\n", "newline"}} {
		if strings.Contains(name, c.ch) {
			return &RefError{Kind: kind, Name: name, Err: errorf(ErrInvalid, "Invalid ref name '%s': contains %s", name, c.what)}
		}
	}
	var err error
	if kind == "tag" {
		err = git.ValidateTagName(name)
	} else {
		err = git.ValidateBranchName(name)
	}
	if err != nil {
		return &RefError{Kind: kind, Name: name, Err: errorf(ErrInvalid, "Invalid ref name '%s': %v", name, err)}
	}
	return nil
}

// read returns the ref's value; a missing ref wraps ErrNotFound.
func (r *Refs) read(name string) (git.ObjectID, error) {
	if name == "" || git.CheckRefFormat(string(r.ref(name))) != nil {
		return "", r.refErr(name, ErrNotFound)
	}
	oid, err := r.s.repo.ReadRef(r.ref(name))
	if errors.Is(err, repo.ErrNotFound) {
		return "", r.refErr(name, ErrNotFound)
	}
	return oid, err
}

// Get returns the snapshot at the branch or tag. Branch snapshots are
// writable; tags are peeled to their commit and read-only.
func (r *Refs) Get(name string) (*FS, error) {
	oid, err := r.read(name)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if r.tags {
		if oid, err = r.s.peelCommit(ctx, string(oid)); err != nil {
			return nil, r.refErr(name, errorf(ErrInvalid, "Tag '%s' does not point to a commit", name))
		}
	}
	return r.s.snapshot(ctx, oid, name, !r.tags)
}

// Has reports whether the branch or tag exists.
func (r *Refs) Has(name string) (bool, error) {
	_, err := r.read(name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Names lists the branches or tags, sorted.
func (r *Refs) Names() ([]string, error) {
	prefix := "refs/heads/"
	if r.tags {
		prefix = "refs/tags/"
	}
	list, err := r.s.repo.ListRefs(context.Background(), prefix)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list))
	for _, ref := range list {
		names = append(names, strings.TrimPrefix(string(ref.Name), prefix))
	}
	slices.Sort(names)
	return names, nil
}

// Set points the branch or tag at snap's commit and returns Get(name). A
// branch's reflog says "branch: Created from <first line>" or "branch: set
// to <first line>"; an existing tag is an error wrapping ErrExist.
func (r *Refs) Set(name string, snap *FS) (*FS, error) {
	if snap == nil {
		return nil, errorf(ErrInvalid, "Expected FS, got nil")
	}
	if err := checkRefName(r.kind(), name); err != nil {
		return nil, err
	}
	if !r.s.sameStore(snap.store) {
		return nil, errorf(ErrInvalid, "FS belongs to a different repository")
	}
	first, _, _ := strings.Cut(snap.message, "\n")
	ctx := context.Background()
	// Without an expected value this is a plain assignment; the
	// compare-and-swap only guards against a writer in between the read
	// and the update, which is retried.
	for attempt := 0; ; attempt++ {
		old, err := r.read(name)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if exists && r.tags {
			return nil, r.refErr(name, ErrExist)
		}
		msg := "branch: Created from " + first
		if exists {
			msg = "branch: set to " + first
		} else {
			old = git.ZeroOID
		}
		err = r.s.repo.UpdateRefsLogged(ctx, r.s.reflog(msg), refs.Update{Ref: r.ref(name), Old: old, New: snap.commit})
		if err == nil {
			break
		}
		if !errors.Is(err, repo.ErrConflict) || attempt >= 5 {
			return nil, r.refError(name, err)
		}
	}
	return r.Get(name)
}

// refError translates an update failure.
func (r *Refs) refError(name string, err error) error {
	var clash *refs.NameClashError
	if errors.As(err, &clash) {
		return r.refErr(name, errorf(ErrExist, "%v", err))
	}
	if errors.Is(err, repo.ErrConflict) {
		return r.refErr(name, errorf(ErrExist, "%s '%s' modified concurrently", r.kind(), name))
	}
	return err
}

// Delete removes the branch or tag.
func (r *Refs) Delete(name string) error {
	old, err := r.read(name)
	if err != nil {
		return err
	}
	err = r.s.repo.UpdateRefs(context.Background(), refs.Update{Ref: r.ref(name), Old: old, New: git.ZeroOID})
	if err != nil {
		return r.refError(name, err)
	}
	return nil
}

// CreateEmpty creates a branch at a new root commit "Initialize <name>"
// with the empty tree (no reflog entry, as gitstore).
func (r *Refs) CreateEmpty(name string) (*FS, error) {
	if r.tags {
		return nil, errorf(ErrInvalid, "Tags cannot be created empty")
	}
	if err := checkRefName(r.kind(), name); err != nil {
		return nil, err
	}
	if _, err := r.s.initialCommit(name); err != nil {
		return nil, err
	}
	return r.Get(name)
}

// CurrentName is the branch HEAD names; "" when HEAD is dangling (its
// branch does not exist) or not a branch.
func (r *Refs) CurrentName() (string, error) {
	if r.tags {
		return "", errorf(ErrInvalid, "Tags do not have a current branch")
	}
	b, err := os.ReadFile(filepath.Join(r.s.path, "HEAD"))
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	name, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "ref: refs/heads/")
	if !ok {
		return "", nil
	}
	if has, err := r.Has(name); err != nil || !has {
		return "", err
	}
	return name, nil
}

// Current is the snapshot of HEAD's branch; nil, nil when HEAD dangles.
func (r *Refs) Current() (*FS, error) {
	name, err := r.CurrentName()
	if err != nil || name == "" {
		return nil, err
	}
	return r.Get(name)
}

// SetCurrent points HEAD at an existing branch.
func (r *Refs) SetCurrent(name string) error {
	if r.tags {
		return errorf(ErrInvalid, "Tags do not have a current branch")
	}
	if has, err := r.Has(name); err != nil {
		return err
	} else if !has {
		return r.refErr(name, ErrNotFound)
	}
	return r.s.repo.SetDefaultBranch(context.Background(), name)
}

// Reflog returns the branch's reflog, oldest first. A branch without one
// (a new repository's first branch has none until its first write) is an
// error wrapping ErrNotFound.
func (r *Refs) Reflog(name string) ([]ReflogEntry, error) {
	if r.tags {
		return nil, errorf(ErrInvalid, "Tags do not have reflog")
	}
	if _, err := r.read(name); err != nil {
		return nil, err
	}
	entries, err := readReflog(r.s.path, r.ref(name))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, errorf(ErrNotFound, "No reflog found for branch '%s'", name)
	}
	return entries, nil
}

// readReflog parses logs/<ref>: "<old> <new> <name> <<email>> <unix>
// <zone>\t<message>" per line. A missing file is no entries.
func readReflog(gitDir string, ref git.ReferenceName) ([]ReflogEntry, error) {
	f, err := os.Open(filepath.Join(gitDir, "logs", filepath.FromSlash(string(ref))))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read reflog of %s: %w", ref, err)
	}
	defer f.Close()
	var out []ReflogEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if e, ok := parseReflogLine(sc.Text()); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read reflog of %s: %w", ref, err)
	}
	return out, nil
}

func parseReflogLine(line string) (ReflogEntry, bool) {
	head, msg, _ := strings.Cut(line, "\t")
	if len(head) < 2*git.HexLen+2 || head[git.HexLen] != ' ' || head[2*git.HexLen+1] != ' ' {
		return ReflogEntry{}, false
	}
	e := ReflogEntry{Old: head[:git.HexLen], New: head[git.HexLen+1 : 2*git.HexLen+1], Message: msg}
	who := head[2*git.HexLen+2:]
	gt := strings.LastIndexByte(who, '>')
	if gt < 0 {
		return ReflogEntry{}, false
	}
	e.Committer = who[:gt+1]
	fields := strings.Fields(who[gt+1:])
	if len(fields) >= 1 {
		if sec, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			e.Time = time.Unix(sec, 0).UTC()
		}
	}
	return e, true
}
