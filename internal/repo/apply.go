package repo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
)

// PatchFile is a client's patch spooled to a private temporary directory,
// so it streams in once, costs no memory, and git can read it more than
// once. The directory also holds the temporary index the patch is applied
// in. Close removes both.
type PatchFile struct {
	dir    string
	f      *os.File
	size   int64
	blank  bool // only whitespace so far
	closed bool
	paths  []string // every path the patch names, set by checkPatch
}

// NewPatchFile creates an empty spool file.
func NewPatchFile() (*PatchFile, error) {
	dir, err := os.MkdirTemp("", "strata-patch-")
	if err != nil {
		return nil, fmt.Errorf("spool patch: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "patch"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("spool patch: %w", err)
	}
	return &PatchFile{dir: dir, f: f, blank: true}, nil
}

// Write appends to the patch.
func (p *PatchFile) Write(b []byte) (int, error) {
	if p.blank && len(bytes.TrimSpace(b)) > 0 {
		p.blank = false
	}
	n, err := p.f.Write(b)
	p.size += int64(n)
	return n, err
}

// Size is the number of bytes written.
func (p *PatchFile) Size() int64 { return p.size }

// Close removes the patch and everything applying it left behind.
func (p *PatchFile) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.f.Close()
	if rerr := os.RemoveAll(p.dir); err == nil {
		err = rerr
	}
	return err
}

func (p *PatchFile) path() string { return filepath.Join(p.dir, "patch") }

// PatchConflictError is a well-formed patch that does not apply to the
// branch's tree (git apply's "patch does not apply", "already exists in
// index", ...). Nothing was changed.
type PatchConflictError struct {
	Detail string // git's first complaint
}

func (e *PatchConflictError) Error() string {
	if e.Detail == "" {
		return "patch does not apply"
	}
	return "patch does not apply: " + e.Detail
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *PatchConflictError) Is(target error) bool { return target == ErrConflict }

// CommitPatch applies patch to the tree of the commit req resolves to (spec
// §5.6.4's parent rules) and commits the result on req.Branch; req.Tree and
// req.Changes are ignored. The patch is applied with the semantics of
// `git apply --cached --binary` (git-apply(1)) in a temporary index:
//
//	GIT_INDEX_FILE=<tmp> git read-tree <parent tree>
//	GIT_INDEX_FILE=<tmp> git apply --cached --binary <patch>
//	GIT_INDEX_FILE=<tmp> git write-tree
//
// No working tree is involved; git writes the new blobs and trees, which
// stay unreferenced until the branch moves. A blank patch, one git cannot
// parse or one naming a path Strata refuses is ErrInvalid; one that does not
// apply is a *PatchConflictError; one that leaves the tree unchanged is
// ErrInvalid. The commit goes through CommitChanges with the parent it was
// applied to as the expected head, so it is never silently rebased onto a
// tree the patch was not checked against: when the branch moves meanwhile
// and the caller gave no expected head, the patch is re-applied to the new
// tip (up to maxCommitRetries times), otherwise the caller gets the error.
//
// CommitResult.BlobCount counts the distinct blobs the patch's result has
// that its parent did not reference at those paths; PackBytes adds their
// sizes to what CommitChanges wrote.
func (r *Repo) CommitPatch(ctx context.Context, patch *PatchFile, req CommitRequest) (*CommitResult, error) {
	if patch.blank {
		return nil, invalidf("the patch is empty")
	}
	if err := r.checkPatch(ctx, patch); err != nil {
		return nil, err
	}
	req.Changes = nil
	unlock, err := r.queue(ctx, git.NewBranchReferenceName(req.Namespace, req.Branch))
	if err != nil {
		return nil, err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		target, err := r.ResolveTarget(ctx, req)
		if err != nil {
			return nil, err
		}
		parentTree := git.EmptyTreeOID
		if !target.Parent.IsZero() {
			c, err := r.readCommitOID(ctx, target.Parent)
			if err != nil {
				return nil, err
			}
			parentTree = c.Tree
		}
		// git apply loads every preimage whole.
		if err := r.checkPreimageSizes(ctx, parentTree, patch.paths); err != nil {
			return nil, err
		}
		tree, err := r.applyPatch(ctx, patch, parentTree)
		if err != nil {
			return nil, err
		}
		if tree == parentTree {
			return nil, invalidf("the patch does not change anything")
		}
		blobs, blobBytes, err := r.newBlobs(ctx, parentTree, tree)
		if err != nil {
			return nil, err
		}
		creq := req
		creq.Tree = tree
		creq.checked = true // by applyPatch
		var res *CommitResult
		if target.Parent.IsZero() {
			res, err = r.commitRoot(ctx, creq, target)
		} else {
			creq.ExpectedHead = target.Parent
			var w *Write
			if w, err = r.BeginWrite(); err != nil {
				return nil, err
			}
			res, err = r.commitChanges(ctx, w, creq)
		}
		if err == nil {
			res.BlobCount = blobs
			res.PackBytes += blobBytes
			return res, nil
		}
		// With our own expected head, a precondition failure means the
		// branch moved after we read it: the caller's view was fine.
		raced := errors.Is(err, ErrPrecondition) || errors.Is(err, ErrConflict)
		if !raced || req.ExpectedHead != "" {
			return nil, err
		}
		if attempt >= maxCommitRetries {
			return nil, fmt.Errorf("%w: %v", ErrConflict, err)
		}
	}
}

// commitRoot makes the first commit of a repository with no refs. It does
// not go through CommitChanges, which would rebuild the commit on a branch
// another writer created meanwhile, keeping this patch's tree and dropping
// theirs; here losing the race is ErrConflict.
func (r *Repo) commitRoot(ctx context.Context, req CommitRequest, target Target) (*CommitResult, error) {
	now := time.Now().UTC().Truncate(time.Second)
	if req.Author.When.IsZero() {
		req.Author.When = now
	}
	if req.Committer.Name == "" {
		req.Committer = req.Author
	}
	if req.Committer.When.IsZero() {
		req.Committer.When = now
	}
	commit, err := r.writeCommit(odb.Commit{
		Tree:      req.Tree,
		Author:    odb.Signature{Name: req.Author.Name, Email: req.Author.Email, When: req.Author.When},
		Committer: odb.Signature{Name: req.Committer.Name, Email: req.Committer.Email, When: req.Committer.When},
		Message:   req.Message,
	})
	if err != nil {
		return nil, err
	}
	if err := r.applyRefs(ctx, nil, "", nil, []refs.Update{{Ref: target.Ref, Old: git.ZeroOID, New: commit}}); err != nil {
		return nil, err
	}
	return &CommitResult{Commit: commit, Tree: req.Tree, Old: git.ZeroOID}, nil
}

// checkPatch parses the patch without applying it (git apply --numstat):
// a patch git cannot read, or one naming a path Strata would refuse in a
// commit-pack, is ErrInvalid.
func (r *Repo) checkPatch(ctx context.Context, patch *PatchFile) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{Name: "apply", Flags: []string{"--numstat", "-z"}, Args: []string{patch.path()}}, git.WithStdoutPipe())
	if err != nil {
		return fmt.Errorf("check patch: %w", err)
	}
	br := bufio.NewReaderSize(p.Stdout, 64<<10)
	perr := func() error {
		for {
			// "<added> TAB <deleted> TAB <path> NUL", or for a rename or
			// copy "<added> TAB <deleted> TAB NUL <old> NUL <new> NUL".
			tok, err := readToken(br, 0, maxRawToken)
			if err == io.EOF && len(tok) == 0 {
				return nil
			}
			if err != nil {
				return err
			}
			f := strings.SplitN(string(tok), "\t", 3)
			if len(f) != 3 {
				return fmt.Errorf("malformed numstat record %q", cut(tok, 120))
			}
			paths := []string{f[2]}
			if f[2] == "" {
				from, err := readToken(br, 0, maxRawToken)
				if err != nil {
					return noEOF(err)
				}
				to, err := readToken(br, 0, maxRawToken)
				if err != nil {
					return noEOF(err)
				}
				paths = []string{string(from), string(to)}
			}
			for _, path := range paths {
				if _, err := git.CleanPath(path); err != nil {
					return &patchPathError{err: err}
				}
			}
			patch.paths = append(patch.paths, paths...)
		}
	}()
	if perr != nil {
		cancel()
	}
	werr := p.Wait()
	var ppe *patchPathError
	switch {
	case errors.As(perr, &ppe):
		return fmt.Errorf("%w: the patch names %v", ErrInvalid, ppe.err)
	case werr != nil:
		var ce *git.CommandError
		if errors.As(werr, &ce) && ce.ExitCode > 0 && ctx.Err() == nil {
			return invalidf("malformed patch: %s", applyComplaint(ce.Stderr))
		}
		return fmt.Errorf("check patch: %w", werr)
	case perr != nil:
		return fmt.Errorf("check patch: %w", perr)
	}
	return nil
}

type patchPathError struct{ err error }

func (e *patchPathError) Error() string { return e.err.Error() }

// applyPatch applies patch to tree in a fresh temporary index and returns
// the resulting tree.
func (r *Repo) applyPatch(ctx context.Context, patch *PatchFile, tree git.ObjectID) (git.ObjectID, error) {
	index := filepath.Join(patch.dir, "index")
	if err := os.Remove(index); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reset temporary index: %w", err)
	}
	env := git.WithEnv("GIT_INDEX_FILE=" + index)
	if err := r.git.Run(ctx, r.path, git.Command{Name: "read-tree", Args: []string{string(tree)}}, env); err != nil {
		return "", fmt.Errorf("read tree %s: %w", tree, err)
	}
	err := r.git.Run(ctx, r.path, git.Command{
		Name:  "apply",
		Flags: []string{"--cached", "--binary", "--whitespace=nowarn"},
		Args:  []string{patch.path()},
	}, env)
	if err != nil {
		var ce *git.CommandError
		if !errors.As(err, &ce) || ctx.Err() != nil {
			return "", fmt.Errorf("apply patch: %w", err)
		}
		msg := applyComplaint(ce.Stderr)
		switch {
		case ce.ExitCode == 1:
			return "", &PatchConflictError{Detail: msg}
		case ce.ExitCode == 128 && !strings.Contains(strings.ToLower(ce.Stderr), "unable to"):
			// Fatal, but about the patch: an invalid path or mode, a
			// corrupt binary hunk.
			return "", invalidf("invalid patch: %s", msg)
		}
		return "", fmt.Errorf("apply patch: %w", err)
	}
	// The git fsck rules a push gets (fsck.go), before any tree exists:
	// a refused patch leaves at most loose blobs no tree names.
	special, err := r.indexSpecial(ctx, index, tree)
	if err == nil {
		err = r.checkSpecial(ctx, special, nil)
	}
	if err != nil {
		return "", err
	}
	out, err := r.git.Output(ctx, r.path, git.Command{Name: "write-tree"}, env)
	if err != nil {
		return "", fmt.Errorf("write tree: %w", err)
	}
	oid := strings.TrimSpace(string(out))
	if !git.IsFullHex(oid) {
		return "", fmt.Errorf("write tree: unexpected output %q", cut(out, 80))
	}
	return git.ObjectID(oid), nil
}

// applyComplaint is the first line of git apply's stderr, without the
// "error: " prefix: the part worth showing a client.
func applyComplaint(stderr string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n")
	for _, p := range []string{"error: ", "fatal: "} {
		line = strings.TrimPrefix(line, p)
	}
	const n = 300
	if len(line) > n {
		line = line[:n] + "..."
	}
	return line
}

// newBlobs counts the distinct blobs in tree `to` that differ from what
// `from` had at the same path (renamed content excepted) and sums their
// sizes.
func (r *Repo) newBlobs(ctx context.Context, from, to git.ObjectID) (int, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{Name: "diff-tree", Flags: []string{"-r", "-z", "-M", "--raw"}, Args: []string{string(from), string(to)}}, git.WithStdoutPipe())
	if err != nil {
		return 0, 0, fmt.Errorf("diff %s %s: %w", from, to, err)
	}
	entries, perr := readRawDiff(bufio.NewReaderSize(p.Stdout, 64<<10))
	if perr != nil {
		cancel()
	}
	if err := p.Wait(); err != nil {
		return 0, 0, fmt.Errorf("diff %s %s: %w", from, to, err)
	}
	if perr != nil {
		return 0, 0, perr
	}
	seen := make(map[git.ObjectID]bool)
	var size int64
	rd, release, err := r.reader(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer release()
	for _, e := range entries {
		if e.newOID.IsZero() || e.newOID == e.oldOID || e.newMode == "160000" || seen[e.newOID] {
			continue
		}
		seen[e.newOID] = true
		info, err := rd.Info(ctx, string(e.newOID))
		if err != nil {
			return 0, 0, fmt.Errorf("size of %s: %w", e.newOID, err)
		}
		if max := r.maxBlob(); info.Size > max {
			// A binary delta can inflate far past the patch's own size.
			return 0, 0, &TooLargeError{Path: e.path, OID: e.newOID, Size: info.Size, Max: max, Write: true}
		}
		size += info.Size
	}
	return len(seen), size, nil
}
