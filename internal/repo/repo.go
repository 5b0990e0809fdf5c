package repo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
)

// Repo is one bare repository with everything needed to read and write it.
// It is a cheap value: open one per request.
type Repo struct {
	key      string
	path     string
	git      *git.Factory
	cache    *catfile.Cache
	updater  *refs.Updater
	observer RefObserver
	order    *refOrder
	memo     *caches
	limits   Limits
	record   Record // nil in the single-node mode
}

// Key is the repository's storage key.
func (r *Repo) Key() string { return r.key }

// Path is the repository's directory (a bare repository).
func (r *Repo) Path() string { return r.path }

// reader checks a cat-file process out of the pool for this repository.
func (r *Repo) reader(ctx context.Context) (*catfile.Reader, func(), error) {
	rd, release, err := r.cache.Reader(ctx, r.path)
	if err != nil {
		return nil, nil, fmt.Errorf("cat-file for %s: %w", r.key, err)
	}
	return rd, release, nil
}

// ReadRef returns the value of a fully qualified ref, or a NotFoundError.
// It reads git's files directly (loose ref, then packed-refs): every writer
// replaces them atomically under git's lock protocol, so a lock-free read is
// always some committed value, and it costs no process.
func (r *Repo) ReadRef(ref git.ReferenceName) (git.ObjectID, error) {
	name := string(ref)
	for depth := 0; depth < 5; depth++ {
		// The name becomes a file path: only well-formed ref names may be
		// joined, so "../" can never walk out of the namespace or the repo.
		if name != "HEAD" && git.CheckRefFormat(name) != nil {
			return "", notFound("ref", name)
		}
		var buf [looseRefBuf]byte
		b, err := readLooseRef(filepath.Join(r.path, filepath.FromSlash(name)), buf[:])
		switch {
		case err == nil:
			s := strings.TrimSpace(string(b))
			if target, ok := strings.CutPrefix(s, "ref: "); ok {
				name = target
				continue
			}
			if git.IsFullHex(s) {
				return git.ObjectID(s), nil
			}
			return "", fmt.Errorf("read ref %s: malformed content", name)
		case errors.Is(err, fs.ErrNotExist) || isDirErr(err):
			return r.readPackedRef(name)
		default:
			return "", fmt.Errorf("read ref %s: %w", name, err)
		}
	}
	return "", fmt.Errorf("read ref %s: symbolic ref loop", ref)
}

// looseRefBuf holds any loose ref git writes for a ref name of ordinary
// length ("ref: " + name, or an object id, and a newline).
const looseRefBuf = 256

// readLooseRef reads a loose ref file into buf. Every file read is on the
// hot path of every request naming a branch, and os.ReadFile costs six
// system calls (open, poller registration, fstat, two reads, close) where
// a ref needs three. git ends every loose ref with a newline, so a read
// that does not (a longer file, or a read cut short) falls back to
// os.ReadFile.
func readLooseRef(path string, buf []byte) ([]byte, error) {
	fd, err := ignoringEINTR(func() (int, error) { return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	n, err := ignoringEINTR(func() (int, error) { return syscall.Read(fd, buf) })
	syscall.Close(fd)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if n > 0 && n < len(buf) && buf[n-1] == '\n' {
		return buf[:n], nil
	}
	return os.ReadFile(path)
}

func ignoringEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// isDirErr: the name is a directory (refs/heads/a while refs/heads/a/b
// exists) or sits under a file (refs/heads/a/b while refs/heads/a exists).
// Either way there is no loose ref of that name; packed-refs decides.
func isDirErr(err error) bool {
	return errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR)
}

func (r *Repo) readPackedRef(name string) (git.ObjectID, error) {
	f, err := os.Open(filepath.Join(r.path, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", notFound("ref", name)
	}
	if err != nil {
		return "", fmt.Errorf("read packed-refs: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) < git.HexLen+2 || line[0] == '#' || line[0] == '^' {
			continue
		}
		if string(line[git.HexLen+1:]) == name {
			return git.ObjectID(line[:git.HexLen]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read packed-refs: %w", err)
	}
	return "", notFound("ref", name)
}

// ResolveBranch returns the tip of branch in namespace ns.
func (r *Repo) ResolveBranch(ns git.Namespace, branch string) (git.ObjectID, error) {
	oid, err := r.readRefLenient(git.NewBranchReferenceName(ns, branch))
	if errors.Is(err, ErrNotFound) {
		return "", notFound("branch", branch)
	}
	return oid, err
}

// ResolveCommit resolves a client-supplied revision to a commit id. In the
// ephemeral namespace only ephemeral branch names resolve. Otherwise it
// tries, in order: a full ref name, a branch, a tag, then anything git's
// revision syntax accepts (short ids, rev~n) — never a "<rev>:<path>" and
// never a ref of a hidden namespace. Every name git.ValidateBranchName
// accepts (say "namespaces/x") resolves as that branch.
func (r *Repo) ResolveCommit(ctx context.Context, ns git.Namespace, rev string) (git.ObjectID, error) {
	if rev == "" || strings.ContainsAny(rev, "\x00\n\r:") {
		return "", notFound("revision", rev)
	}
	if ns != git.NormalNamespace {
		return r.ResolveBranch(ns, strings.TrimPrefix(rev, "refs/heads/"))
	}
	var candidates []git.ReferenceName
	if strings.HasPrefix(rev, "refs/") {
		if strings.HasPrefix(rev, "refs/namespaces/") {
			return "", notFound("revision", rev)
		}
		candidates = []git.ReferenceName{git.ReferenceName(rev)}
	} else {
		candidates = []git.ReferenceName{git.NewBranchReferenceName(ns, rev), git.NewTagReferenceName(rev)}
	}
	for _, c := range candidates {
		if git.CheckRefFormat(string(c)) != nil {
			continue
		}
		oid, err := r.ReadRef(c)
		if err == nil {
			if strings.HasPrefix(string(c), "refs/heads/") {
				// git refuses to point a branch at anything but a commit
				// (update-ref checks), so there is nothing to peel.
				return oid, nil
			}
			return r.peelCommit(ctx, string(oid), rev)
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	// git's revision syntax looks a name up as refs/<name> too
	// (gitrevisions(7)), so "namespaces/…" anywhere in the expression
	// could reach a hidden namespace.
	if strings.HasPrefix(rev, "refs/") || strings.Contains(rev, "namespaces/") {
		return "", notFound("revision", rev)
	}
	return r.peelCommit(ctx, rev, rev)
}

// peelCommit resolves expr (an id or revision) to the commit it names.
func (r *Repo) peelCommit(ctx context.Context, expr, display string) (git.ObjectID, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	info, err := rd.Info(ctx, expr+"^{commit}")
	if errors.Is(err, catfile.ErrNotFound) {
		return "", notFound("revision", display)
	}
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", display, err)
	}
	return info.OID, nil
}

// HasRefs reports whether the repository has any ref at all, in any namespace.
func (r *Repo) HasRefs(ctx context.Context) (bool, error) {
	out, err := r.git.Output(ctx, r.path, git.Command{Name: "for-each-ref", Flags: []string{"--count=1", "--format=%(refname)"}})
	if err != nil {
		return false, fmt.Errorf("list refs: %w", err)
	}
	return len(bytes.TrimSpace(out)) > 0, nil
}

// Ref is one reference and the object it points at.
type Ref struct {
	Name git.ReferenceName
	OID  git.ObjectID
	// Peeled is the commit an annotated tag points at (empty otherwise).
	Peeled git.ObjectID
}

// ListRefs lists refs under prefix (e.g. "refs/heads/") in name order.
func (r *Repo) ListRefs(ctx context.Context, prefix string) ([]Ref, error) {
	return listRefs(ctx, r.git, r.path, prefix)
}

func listRefs(ctx context.Context, f *git.Factory, gitDir, prefix string) ([]Ref, error) {
	out, err := f.Output(ctx, gitDir, git.Command{
		Name:  "for-each-ref",
		Flags: []string{"--format=%(objectname) %(*objectname) %(refname)"},
		Args:  []string{prefix},
	})
	if err != nil {
		return nil, fmt.Errorf("list refs %s: %w", prefix, err)
	}
	var list []Ref
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			continue
		}
		list = append(list, Ref{OID: git.ObjectID(f[0]), Peeled: git.ObjectID(f[1]), Name: git.ReferenceName(f[2])})
	}
	return list, nil
}

// UpdateRefs applies updates atomically through the single ref-update path
// and tells the observer. Every ref change Strata makes goes through here.
func (r *Repo) UpdateRefs(ctx context.Context, updates ...refs.Update) error {
	return r.updateRefsLogged(ctx, nil, "", updates)
}

// UpdateRefsLogged is UpdateRefs that also writes the reflog entry log for
// every ref it moves (see refs.Updater.ApplyLogged).
func (r *Repo) UpdateRefsLogged(ctx context.Context, log refs.Reflog, updates ...refs.Update) error {
	return r.updateRefsLogged(ctx, &log, "", updates)
}

// updateRefsLogged is the ref-update path; written is Record.Publish's
// hint (the clustered mode), "" when the caller cannot vouch for one.
func (r *Repo) updateRefsLogged(ctx context.Context, log *refs.Reflog, written string, updates []refs.Update) error {
	return r.updateRefsWhen(ctx, log, written, nil, updates)
}

// updateRefsWhen is updateRefsLogged for objects whose durability ready
// reports (odb.Transaction.CommitVisible): git prepares the ref update
// while they are being synced, and commits it only after ready returns nil.
func (r *Repo) updateRefsWhen(ctx context.Context, log *refs.Reflog, written string, ready func() error, updates []refs.Update) error {
	names := make([]git.ReferenceName, len(updates))
	for i, u := range updates {
		names[i] = u.Ref
	}
	unlock, err := r.queue(ctx, names...)
	if err != nil {
		return err
	}
	defer unlock()
	return r.applyRefs(ctx, log, written, ready, updates)
}

// queue takes the refs' locks in refOrder: a write that reads a ref, builds
// on it and moves it (a commit, a merge, a notes change) holds its ref's
// from the read to the move, so that writers of this server take turns at
// the ref rather than race its compare-and-swap; it then moves the ref
// with applyRefs. Without a Manager (the embedded library) there is no
// queue.
func (r *Repo) queue(ctx context.Context, names ...git.ReferenceName) (unlock func(), err error) {
	if r.order == nil {
		return func() {}, nil
	}
	return r.order.lock(ctx, r.key, names...)
}

// applyRefs is updateRefsWhen for a caller that holds the refs' locks
// (queue).
func (r *Repo) applyRefs(ctx context.Context, log *refs.Reflog, written string, ready func() error, updates []refs.Update) error {
	observed := false
	observe := func() {
		observed = true
		if r.observer != nil {
			// The refs moved (and are visible even if not yet durable);
			// the observer must not be able to undo that by being
			// cancelled with the request.
			r.observer.RefsUpdated(context.WithoutCancel(ctx), r.key, updates)
		}
	}
	readyFirst := func(apply func() error) error {
		if ready != nil {
			if err := ready(); err != nil {
				return err
			}
		}
		return apply()
	}
	var err error
	switch {
	case r.record != nil:
		err = readyFirst(func() error { return r.record.Publish(ctx, r.key, r.path, log, updates, written) })
	case log != nil:
		err = readyFirst(func() error { return r.updater.ApplyLogged(ctx, r.path, *log, updates...) })
	default:
		// The observer records the move while the refs' directories are
		// synced.
		err = r.updater.ApplyWhen(ctx, r.path, refs.When{Prepared: ready, Committed: observe}, updates...)
	}
	if refs.IsConcurrentUpdate(err) {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	if err != nil && !errors.Is(err, refs.ErrNotDurable) {
		return err
	}
	if !observed {
		observe()
	}
	return err
}

// DefaultBranch reads the branch HEAD names.
func (r *Repo) DefaultBranch() (string, error) {
	b, err := os.ReadFile(filepath.Join(r.path, "HEAD"))
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	s := strings.TrimSpace(string(b))
	branch, ok := strings.CutPrefix(s, "ref: refs/heads/")
	if !ok {
		return "", fmt.Errorf("HEAD is not a branch: %q", s)
	}
	return branch, nil
}

// SetDefaultBranch points HEAD at branch (git symbolic-ref takes HEAD.lock).
func (r *Repo) SetDefaultBranch(ctx context.Context, branch string) error {
	if err := git.ValidateBranchName(branch); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if r.record != nil {
		return r.record.SetHead(ctx, r.key, r.path, branch)
	}
	if err := r.git.Run(ctx, r.path, git.Command{Name: "symbolic-ref", Args: []string{"HEAD", "refs/heads/" + branch}}); err != nil {
		return err
	}
	// git neither syncs the new HEAD nor the rename that put it there.
	if err := durable.SyncFile(filepath.Join(r.path, "HEAD")); err != nil {
		return err
	}
	return durable.SyncDir(r.path)
}
