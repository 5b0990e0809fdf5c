package repo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
)

// DefaultIdentity authors and commits a merge whose request names no
// author (spec Q11 recommends a service identity). A request with an author
// but no committer is committed by its author. The server passes its
// configured identity instead (--identity).
var DefaultIdentity = Signature{Name: "Strata", Email: "strata@localhost"}

// MergeStrategy says when a merge may fast-forward (spec §5.5.2).
type MergeStrategy string

const (
	// MergeAlways creates a merge commit even when a fast-forward is possible.
	MergeAlways MergeStrategy = "merge"
	// MergeFastForwardOnly fast-forwards or fails with ErrNotFastForward.
	MergeFastForwardOnly MergeStrategy = "ff_only"
	// MergeFastForwardPrefer fast-forwards when possible, else merges.
	MergeFastForwardPrefer MergeStrategy = "ff_prefer"
)

// MergeOutcome is what a merge did (or, previewed, would do).
type MergeOutcome string

const (
	MergeCommitted     MergeOutcome = "merge_commit"
	MergeFastForwarded MergeOutcome = "fast_forward"
	MergeNoOp          MergeOutcome = "no_op"
	MergeSquashed      MergeOutcome = "squash"
)

var (
	// ErrNotFastForward: an ff_only merge whose target is not an ancestor of
	// the source.
	ErrNotFastForward = fmt.Errorf("%w: the target branch cannot be fast-forwarded to the source", ErrConflict)
	// ErrUnrelatedHistories: source and target share no commit and the
	// caller did not allow that.
	ErrUnrelatedHistories = fmt.Errorf("%w: refusing to merge unrelated histories", ErrInvalid)
)

// MergeConflictError is a merge git could not complete cleanly. Nothing was
// changed.
type MergeConflictError struct {
	// Paths are the conflicted paths in git's order (possibly empty: some
	// directory-rename conflicts name no single file).
	Paths     []string
	MergeBase git.ObjectID // "" for unrelated histories
}

func (e *MergeConflictError) Error() string {
	return fmt.Sprintf("merge conflict in %d path(s)", len(e.Paths))
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *MergeConflictError) Is(target error) bool { return target == ErrConflict }

// MergeRequest describes a merge of a commit into a branch.
type MergeRequest struct {
	// Source is the commit to merge, resolved once: retries keep it.
	Source git.ObjectID
	// SourceName names the source in the default message.
	SourceName      string
	TargetNamespace git.Namespace
	TargetBranch    string
	Strategy        MergeStrategy
	// Squash makes one single-parent commit with the merged tree (not with
	// MergeFastForwardOnly).
	Squash                  bool
	AllowUnrelatedHistories bool
	// ExpectedTarget, when set, must be the target's tip; the merge is then
	// never retried on a moved tip.
	ExpectedTarget git.ObjectID
	// Message defaults to "Merge branch '<source>' into <target>" (squash:
	// "Squash merge branch ...").
	Message   string
	Author    Signature // zero Name: DefaultIdentityName/Email
	Committer Signature // zero Name: same as Author
}

// MergeResult is a completed merge.
type MergeResult struct {
	Outcome MergeOutcome
	// Commit is the target's new tip (for no_op: its unchanged tip), Tree
	// that commit's tree.
	Commit, Tree git.ObjectID
	Old, New     git.ObjectID
	MergeBase    git.ObjectID // "" for unrelated histories
	// Promoted counts the commits reachable from New but not from Old,
	// including the merge or squash commit (spec Q11).
	Promoted int
}

// maxMergeRetries bounds how often a merge without an expected target is
// redone on a target tip that moved underneath it.
const maxMergeRetries = 5

// Merge merges req.Source into req.TargetBranch. Merged trees come from
// git-merge-tree(1) --write-tree (no index, no working tree); the merge or
// squash commit is written in-process and the branch moves by one
// compare-and-swap. A conflicted merge returns a *MergeConflictError and
// changes nothing (merge-tree may leave unreferenced objects behind, which
// gc prunes). Writers of this server take turns at the target (Repo.queue);
// when a writer outside them moves it while the merge is built and the
// caller gave no ExpectedTarget, the merge is redone on the new tip, up to
// maxMergeRetries times.
func (r *Repo) Merge(ctx context.Context, req MergeRequest) (*MergeResult, error) {
	switch req.Strategy {
	case MergeAlways, MergeFastForwardPrefer:
	case MergeFastForwardOnly:
		if req.Squash {
			return nil, invalidf("squash cannot be combined with the ff_only strategy")
		}
	default:
		return nil, invalidf("unknown merge strategy %q", req.Strategy)
	}
	if err := git.ValidateBranchName(req.TargetBranch); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if req.Author.Name == "" {
		req.Author = DefaultIdentity
	}
	if req.Committer.Name == "" {
		req.Committer = Signature{Name: req.Author.Name, Email: req.Author.Email, When: req.Author.When}
	}
	if req.Author.When.IsZero() {
		req.Author.When = now
	}
	if req.Committer.When.IsZero() {
		req.Committer.When = now
	}
	if req.Message == "" {
		verb := "Merge"
		if req.Squash {
			verb = "Squash merge"
		}
		req.Message = fmt.Sprintf("%s branch '%s' into %s", verb, req.SourceName, req.TargetBranch)
	}
	ref := git.NewBranchReferenceName(req.TargetNamespace, req.TargetBranch)
	unlock, err := r.queue(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		old, err := r.ResolveBranch(req.TargetNamespace, req.TargetBranch)
		if err != nil {
			return nil, err
		}
		if req.ExpectedTarget != "" && req.ExpectedTarget != old {
			return nil, &PreconditionError{Ref: ref, Expected: req.ExpectedTarget, Actual: old}
		}
		res, moved, err := r.mergeOnce(ctx, req, ref, old)
		if !moved || req.ExpectedTarget != "" || attempt >= maxMergeRetries {
			return res, err
		}
	}
}

// mergeOnce merges into the target at old; moved reports that the final
// compare-and-swap lost to another writer.
func (r *Repo) mergeOnce(ctx context.Context, req MergeRequest, ref git.ReferenceName, old git.ObjectID) (res *MergeResult, moved bool, err error) {
	res = &MergeResult{Old: old}
	contained, err := r.IsAncestor(ctx, req.Source, old)
	if err != nil {
		return nil, false, err
	}
	if contained {
		c, err := r.readCommitOID(ctx, old)
		if err != nil {
			return nil, false, err
		}
		res.Outcome, res.Commit, res.Tree, res.New, res.MergeBase = MergeNoOp, old, c.Tree, old, req.Source
		return res, false, nil
	}
	base, err := r.MergeBase(ctx, old, req.Source)
	if err != nil {
		return nil, false, err
	}
	if base == "" && !req.AllowUnrelatedHistories {
		return nil, false, ErrUnrelatedHistories
	}
	res.MergeBase = base
	canFF := base == old
	switch {
	case req.Strategy == MergeFastForwardOnly && !canFF:
		return nil, false, ErrNotFastForward
	case canFF && !req.Squash && req.Strategy != MergeAlways:
		c, err := r.readCommitOID(ctx, req.Source)
		if err != nil {
			return nil, false, err
		}
		res.Outcome, res.Commit, res.Tree = MergeFastForwarded, req.Source, c.Tree
	default:
		m, err := r.mergeTrees(ctx, old, req.Source, req.AllowUnrelatedHistories)
		if err != nil {
			return nil, false, err
		}
		if !m.clean {
			return nil, false, &MergeConflictError{Paths: m.paths(), MergeBase: base}
		}
		parents := []git.ObjectID{old, req.Source}
		res.Outcome = MergeCommitted
		if req.Squash {
			parents = parents[:1]
			res.Outcome = MergeSquashed
		}
		commit, err := r.writeCommit(odb.Commit{
			Tree:      m.tree,
			Parents:   parents,
			Author:    odb.Signature{Name: req.Author.Name, Email: req.Author.Email, When: req.Author.When},
			Committer: odb.Signature{Name: req.Committer.Name, Email: req.Committer.Email, When: req.Committer.When},
			Message:   req.Message,
		})
		if err != nil {
			return nil, false, err
		}
		res.Commit, res.Tree = commit, m.tree
	}
	res.New = res.Commit
	if err := r.applyRefs(ctx, nil, "", nil, []refs.Update{{Ref: ref, Old: old, New: res.New}}); err != nil {
		return nil, errors.Is(err, ErrConflict), err
	}
	if res.Promoted, err = r.countNew(ctx, res.New, old); err != nil {
		return nil, false, err
	}
	return res, false, nil
}

// writeCommit writes one commit object and makes it durable.
func (r *Repo) writeCommit(c odb.Commit) (git.ObjectID, error) {
	raw, err := odb.EncodeCommit(c)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	tx, err := odb.NewWriter(r.path).Begin()
	if err != nil {
		return "", fmt.Errorf("begin commit: %w", err)
	}
	oid, err := tx.WriteObject(git.CommitObject, raw)
	if err != nil {
		tx.Abort()
		return "", fmt.Errorf("write commit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("write commit: %w", err)
	}
	return oid, nil
}

// MergeBase returns the best common ancestor of a and b (git-merge-base(1)),
// or "" when they share no history.
func (r *Repo) MergeBase(ctx context.Context, a, b git.ObjectID) (git.ObjectID, error) {
	out, err := r.git.Output(ctx, r.path, git.Command{Name: "merge-base", Args: []string{string(a), string(b)}})
	if err != nil {
		var ce *git.CommandError
		if errors.As(err, &ce) && ce.ExitCode == 1 && len(bytes.TrimSpace(out)) == 0 {
			return "", nil
		}
		return "", fmt.Errorf("merge-base %s %s: %w", a, b, err)
	}
	oid := strings.TrimSpace(string(out))
	if !git.IsFullHex(oid) {
		return "", fmt.Errorf("merge-base %s %s: unexpected output %q", a, b, cut(out, 80))
	}
	return git.ObjectID(oid), nil
}

// countNew counts the commits reachable from tip but not from old.
func (r *Repo) countNew(ctx context.Context, tip, old git.ObjectID) (int, error) {
	out, err := r.git.Output(ctx, r.path, git.Command{Name: "rev-list", Flags: []string{"--count"}, Args: []string{string(tip), "^" + string(old)}})
	if err != nil {
		return 0, fmt.Errorf("count commits %s..%s: %w", old, tip, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, fmt.Errorf("count commits %s..%s: unexpected output %q", old, tip, cut(out, 80))
	}
	return n, nil
}

// ConflictStage is one side of a conflicted path: its index stage in git's
// terms (1 base, 2 ours = target, 3 theirs = source).
type ConflictStage struct {
	Mode string
	OID  git.ObjectID
}

// MergeConflict is one conflicted path. Absent stages are nil (an add/add
// conflict has no base; a modify/delete conflict lacks one side).
type MergeConflict struct {
	Path               string
	Base, Ours, Theirs *ConflictStage
	// Result is the blob at Path in the merged tree, with conflict markers
	// where git wrote them; "" when the merged tree has no file there.
	Result git.ObjectID
}

// mergeTreeResult is git merge-tree --write-tree's answer.
type mergeTreeResult struct {
	tree      git.ObjectID
	clean     bool
	conflicts []MergeConflict
}

func (m *mergeTreeResult) paths() []string {
	paths := make([]string, len(m.conflicts))
	for i, c := range m.conflicts {
		paths[i] = c.Path
	}
	return paths
}

// mergeTrees runs the merge of ours and theirs in git-merge-tree(1):
//
//	git merge-tree --write-tree -z --no-messages <ours> <theirs>
//
// Exit 0 is a clean merge, 1 a conflicted one; stdout is the merged tree id
// and NUL, then for a conflict "<mode> SP <oid> SP <stage> TAB <path> NUL"
// per conflicted stage, sorted by path. Labels in conflict markers are the
// commit ids (the names of branches can move while git reads them).
func (r *Repo) mergeTrees(ctx context.Context, ours, theirs git.ObjectID, allowUnrelated bool) (*mergeTreeResult, error) {
	flags := []string{"--write-tree", "-z", "--no-messages"}
	if allowUnrelated {
		flags = append(flags, "--allow-unrelated-histories")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{Name: "merge-tree", Flags: flags, Args: []string{string(ours), string(theirs)}}, git.WithStdoutPipe())
	if err != nil {
		return nil, fmt.Errorf("merge %s %s: %w", ours, theirs, err)
	}
	m, perr := parseMergeTree(bufio.NewReaderSize(p.Stdout, 64<<10))
	if perr != nil {
		cancel()
	}
	werr := p.Wait()
	var ce *git.CommandError
	switch {
	case werr == nil:
		m.clean = true
	case errors.As(werr, &ce) && ce.ExitCode == 1:
		m.clean = false
	default:
		return nil, fmt.Errorf("merge %s %s: %w", ours, theirs, werr)
	}
	if perr != nil {
		return nil, fmt.Errorf("merge %s %s: %w", ours, theirs, perr)
	}
	return m, nil
}

func parseMergeTree(br *bufio.Reader) (*mergeTreeResult, error) {
	tok, err := readToken(br, 0, maxRawToken)
	if err != nil {
		return nil, fmt.Errorf("read merged tree: %w", noEOF(err))
	}
	if !git.IsFullHex(string(tok)) {
		return nil, fmt.Errorf("unexpected merge-tree output %q", cut(tok, 80))
	}
	m := &mergeTreeResult{tree: git.ObjectID(tok)}
	for {
		tok, err := readToken(br, 0, maxRawToken)
		if err == io.EOF && len(tok) == 0 {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read conflicts: %w", noEOF(err))
		}
		meta, path, ok := strings.Cut(string(tok), "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 || !git.IsFullHex(f[1]) {
			return nil, fmt.Errorf("malformed conflict record %q", cut(tok, 120))
		}
		st := &ConflictStage{Mode: f[0], OID: git.ObjectID(f[1])}
		if n := len(m.conflicts); n == 0 || m.conflicts[n-1].Path != path {
			m.conflicts = append(m.conflicts, MergeConflict{Path: path})
		}
		c := &m.conflicts[len(m.conflicts)-1]
		switch f[2] {
		case "1":
			c.Base = st
		case "2":
			c.Ours = st
		case "3":
			c.Theirs = st
		default:
			return nil, fmt.Errorf("malformed conflict record %q", cut(tok, 120))
		}
	}
}

// MergePreview is what merging source into target would do.
type MergePreview struct {
	// Outcome is MergeNoOp, MergeFastForwarded (a fast-forward is
	// possible) or MergeCommitted.
	Outcome   MergeOutcome
	Clean     bool
	MergeBase git.ObjectID // "" for unrelated histories
	// Conflicts lists the conflicted paths of a MergeCommitted preview.
	Conflicts []MergeConflict
}

// PreviewMerge works out a merge of source into target without moving any
// ref. Merge-tree writes the merged tree and conflicted blobs as unreferenced
// objects; nothing points at them. Unrelated histories are previewed as if
// allowed (MergeBase is then "").
func (r *Repo) PreviewMerge(ctx context.Context, target, source git.ObjectID) (*MergePreview, error) {
	contained, err := r.IsAncestor(ctx, source, target)
	if err != nil {
		return nil, err
	}
	if contained {
		return &MergePreview{Outcome: MergeNoOp, Clean: true, MergeBase: source}, nil
	}
	base, err := r.MergeBase(ctx, target, source)
	if err != nil {
		return nil, err
	}
	if base == target {
		return &MergePreview{Outcome: MergeFastForwarded, Clean: true, MergeBase: base}, nil
	}
	m, err := r.mergeTrees(ctx, target, source, true)
	if err != nil {
		return nil, err
	}
	pv := &MergePreview{Outcome: MergeCommitted, Clean: m.clean, MergeBase: base, Conflicts: m.conflicts}
	if len(pv.Conflicts) == 0 {
		return pv, nil
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	for i := range pv.Conflicts {
		c := &pv.Conflicts[i]
		info, err := rd.Info(ctx, string(m.tree)+":"+c.Path)
		switch {
		case err == nil && info.Type == git.BlobObject:
			c.Result = info.OID
		case err == nil || isCatfileNotFound(err):
			// A directory or nothing at that path in the merged tree.
		default:
			return nil, fmt.Errorf("read merged %s: %w", c.Path, err)
		}
	}
	return pv, nil
}

// BlobSample is the start of a blob: enough to show it and to tell whether
// it is binary.
type BlobSample struct {
	Size int64
	// Data is the first bytes of a text blob (at most the limit asked for);
	// nil for a binary blob.
	Data      []byte
	Truncated bool // Data is shorter than the blob
	Binary    bool
}

// binarySniffLen is how much of a blob git looks at to call it binary: a
// NUL in the first 8000 bytes (xdiff's buffer_is_binary).
const binarySniffLen = 8000

// SampleBlob reads at most limit bytes of blob oid (and at least the bytes
// that decide whether it is binary). With limit ≤ 0 it only tells the kind.
func (r *Repo) SampleBlob(ctx context.Context, oid git.ObjectID, limit int) (*BlobSample, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	obj, err := rd.Object(ctx, string(oid))
	if err != nil {
		if isCatfileNotFound(err) {
			return nil, notFound("object", string(oid))
		}
		return nil, fmt.Errorf("read blob %s: %w", oid, err)
	}
	defer obj.Close()
	if obj.Type != git.BlobObject {
		return nil, notFound("blob", string(oid))
	}
	n := min(obj.Size, int64(max(limit, binarySniffLen)))
	buf := make([]byte, n)
	if _, err := io.ReadFull(obj, buf); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", oid, err)
	}
	s := &BlobSample{Size: obj.Size}
	if bytes.IndexByte(buf[:min(len(buf), binarySniffLen)], 0) >= 0 {
		s.Binary = true
		return s, nil
	}
	switch {
	case limit <= 0:
		// Only the kind was asked for.
	case int64(limit) < obj.Size:
		s.Data, s.Truncated = buf[:limit], true
	default:
		s.Data = buf
	}
	return s, nil
}

func isCatfileNotFound(err error) bool { return errors.Is(err, catfile.ErrNotFound) }
