package repo

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
)

// ForkOptions say what a fork copies.
type ForkOptions struct {
	DefaultBranch string
	// At, when set, is where the fork's default branch points (spec Q7:
	// ref/sha given at fork time); otherwise the source's tip of that branch.
	At git.ObjectID
}

// Fork creates repository key as an independent copy of src's branches and
// tags (never its ephemeral namespace). Objects travel as one pack streamed
// from git-pack-objects(1) into git-index-pack(1); refs are then created in
// one transaction through the single ref-update path.
func (m *Manager) Fork(ctx context.Context, src *Repo, key string, opt ForkOptions) (*Repo, error) {
	dst, err := m.Create(ctx, key, opt.DefaultBranch)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Repo, error) {
		_ = m.Remove(context.WithoutCancel(ctx), key)
		return nil, err
	}
	var list []Ref
	for _, prefix := range []string{"refs/heads/", "refs/tags/"} {
		l, err := src.ListRefs(ctx, prefix)
		if err != nil {
			return fail(err)
		}
		list = append(list, l...)
	}
	var tips []string
	for _, r := range list {
		tips = append(tips, string(r.OID))
	}
	if !opt.At.IsZero() {
		tips = append(tips, string(opt.At))
	}
	if len(tips) == 0 {
		return dst, nil
	}
	if err := m.copyObjects(ctx, src, dst, tips); err != nil {
		return fail(fmt.Errorf("fork %s: %w", src.key, err))
	}
	updates := make([]refs.Update, 0, len(list)+1)
	for _, r := range list {
		if !opt.At.IsZero() && r.Name == git.NewBranchReferenceName(git.NormalNamespace, opt.DefaultBranch) {
			continue
		}
		updates = append(updates, refs.Update{Ref: r.Name, Old: git.ZeroOID, New: r.OID})
	}
	if !opt.At.IsZero() {
		updates = append(updates, refs.Update{Ref: git.NewBranchReferenceName(git.NormalNamespace, opt.DefaultBranch), Old: git.ZeroOID, New: opt.At})
	}
	if err := dst.UpdateRefs(ctx, updates...); err != nil {
		return fail(fmt.Errorf("fork %s: %w", src.key, err))
	}
	return dst, nil
}

func (m *Manager) copyObjects(ctx context.Context, src, dst *Repo, tips []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pack, err := m.git.Start(ctx, src.path, git.Command{Name: "pack-objects", Flags: []string{"--revs", "--stdout", "--delta-base-offset", "-q"}},
		git.WithStdin(strings.NewReader(strings.Join(tips, "\n")+"\n")), git.WithStdoutPipe())
	if err != nil {
		return err
	}
	index := m.git.Run(ctx, dst.path, git.Command{Name: "index-pack", Flags: []string{"--stdin", "--fix-thin"}}, git.WithStdin(pack.Stdout))
	if index != nil {
		cancel()
	}
	if err := pack.Wait(); err != nil && index == nil {
		return fmt.Errorf("pack objects: %w", err)
	}
	if index != nil {
		return fmt.Errorf("index pack: %w", index)
	}
	return nil
}

// SnapshotOptions say what a snapshot holds.
type SnapshotOptions struct {
	DefaultBranch string
	// At is the source commit whose tree the snapshot's commit has.
	At        git.ObjectID
	Author    Signature
	Committer Signature // zero Name: same as Author
	Message   string
}

// Snapshot creates repository key holding one root commit on
// opt.DefaultBranch whose tree is that of src's commit opt.At: the files,
// none of the history. Only the tree's objects are copied.
func (m *Manager) Snapshot(ctx context.Context, src *Repo, key string, opt SnapshotOptions) (*Repo, *CommitResult, error) {
	at, err := src.readCommitOID(ctx, opt.At)
	if err != nil {
		return nil, nil, err
	}
	dst, err := m.Create(ctx, key, opt.DefaultBranch)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*Repo, *CommitResult, error) {
		_ = m.Remove(context.WithoutCancel(ctx), key)
		return nil, nil, fmt.Errorf("snapshot %s: %w", src.key, err)
	}
	if err := m.copyObjects(ctx, src, dst, []string{string(at.Tree)}); err != nil {
		return fail(err)
	}
	w, err := dst.BeginWrite()
	if err != nil {
		return fail(err)
	}
	res, err := dst.CommitChanges(ctx, w, CommitRequest{
		Namespace: git.NormalNamespace,
		Branch:    opt.DefaultBranch,
		Tree:      at.Tree,
		Author:    opt.Author,
		Committer: opt.Committer,
		Message:   opt.Message,
	})
	if err != nil {
		return fail(err)
	}
	return dst, res, nil
}
