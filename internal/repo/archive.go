package repo

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// ArchiveOptions shape a tar.gz of one commit's tree.
type ArchiveOptions struct {
	Filter PathFilter
	// Prefix is put verbatim in front of every entry name ("repo/").
	Prefix string
	// MaxBlobSize omits files (and symlinks) larger than this many bytes;
	// negative means no limit.
	MaxBlobSize int64
}

// maxSymlinkTarget bounds a symlink blob read into a tar header.
const maxSymlinkTarget = 64 << 10

// ValidateArchivePrefix checks an entry-name prefix: any text a tar name
// can hold, but nothing that would place entries outside the extraction
// directory (an absolute path or a ".." component).
func ValidateArchivePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	bad := func(why string) error { return invalidf("invalid archive prefix %q: %s", trunc(prefix, 100), why) }
	if len(prefix) > git.MaxPathLen {
		return bad("too long")
	}
	if strings.ContainsAny(prefix, "\x00\n\r") {
		return bad("contains a NUL, newline or carriage return")
	}
	if strings.HasPrefix(prefix, "/") || strings.HasPrefix(prefix, `\`) {
		return bad("absolute")
	}
	for _, seg := range strings.FieldsFunc(prefix, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return bad(`contains a ".." component`)
		}
	}
	return nil
}

// Archive is a prepared tar.gz of a commit's tree: options checked, file
// list started. Write it with WriteTo, then Close.
type Archive struct {
	r       *Repo
	ctx     context.Context
	cancel  context.CancelFunc
	commit  git.ObjectID
	mtime   time.Time
	opt     ArchiveOptions
	p       *git.Process
	br      *bufio.Reader
	first   *archiveEntry
	started bool
}

type archiveEntry struct {
	mode string
	oid  git.ObjectID
	path string
}

// Archive prepares the archive of commit. Invalid options are ErrInvalid;
// they, and a failing listing, are reported here, before any byte is
// written, so the caller can still answer with an error.
func (r *Repo) Archive(ctx context.Context, commit git.ObjectID, opt ArchiveOptions) (*Archive, error) {
	if err := ValidateArchivePrefix(opt.Prefix); err != nil {
		return nil, err
	}
	specs, err := opt.Filter.pathspecs()
	if err != nil {
		return nil, err
	}
	c, err := r.readCommitOID(ctx, commit)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	// diff-tree against the empty tree lists every file of the commit in
	// tree order, applying the pathspec magic (glob, exclude) that
	// ls-tree does not support.
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:    "diff-tree",
		Flags:   []string{"-r", "-z", "--raw", "--no-abbrev", "--no-renames", "--no-commit-id"},
		Args:    []string{string(git.EmptyTreeOID), string(commit)},
		PostSep: specs,
	}, git.WithStdoutPipe(), git.WithEnv(magicPathspecs...))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("archive %s: %w", commit, err)
	}
	a := &Archive{r: r, ctx: ctx, cancel: cancel, commit: commit, mtime: c.Committer.When, opt: opt, p: p, br: bufio.NewReaderSize(p.Stdout, 64<<10)}
	e, err := a.next()
	if err != nil && err != io.EOF {
		a.Close()
		return nil, err
	}
	a.first = e
	if err == io.EOF {
		if err := a.wait(); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// next reads one diff-tree record: ":000000 <mode> <zero> <oid> A" NUL
// <path> NUL. io.EOF at the end.
func (a *Archive) next() (*archiveEntry, error) {
	meta, err := a.br.ReadString(0)
	if err == io.EOF && meta == "" {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: list files: %w", a.commit, err)
	}
	path, err := a.br.ReadString(0)
	if err != nil {
		return nil, fmt.Errorf("archive %s: list files: %w", a.commit, err)
	}
	f := strings.Fields(strings.TrimSuffix(meta, "\x00"))
	if len(f) != 5 || !strings.HasPrefix(f[0], ":") || !git.IsFullHex(f[3]) {
		return nil, fmt.Errorf("archive %s: unexpected diff-tree record %q", a.commit, trunc(meta, 100))
	}
	return &archiveEntry{mode: f[1], oid: git.ObjectID(f[3]), path: strings.TrimSuffix(path, "\x00")}, nil
}

func (a *Archive) wait() error {
	if a.p == nil {
		return nil
	}
	p := a.p
	a.p = nil
	p.Stdout.Close()
	if err := p.Wait(); err != nil {
		return fmt.Errorf("archive %s: list files: %w", a.commit, err)
	}
	return nil
}

// Close stops the listing if it still runs. Safe to call more than once.
func (a *Archive) Close() error {
	a.cancel()
	if a.p != nil {
		p := a.p
		a.p = nil
		p.Stdout.Close()
		_ = p.Wait()
	}
	return nil
}

// WriteTo streams the gzip-compressed tar to w: one entry per file,
// symlink and submodule (an empty directory, as git-archive(1) writes it),
// plus the directories above them, with git-archive's conventions (owner
// root, mtime the commit's committer time, the commit id as the pax global
// comment). File contents stream from the cat-file pool; nothing is held
// whole. Call it once.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	if a.started {
		return 0, errors.New("archive already written")
	}
	a.started = true
	cw := &countWriter{w: w}
	zw, _ := gzip.NewWriterLevel(cw, gzip.DefaultCompression)
	tw := tar.NewWriter(zw)
	if err := a.write(tw); err != nil {
		return cw.n, err
	}
	if err := tw.Close(); err != nil {
		return cw.n, err
	}
	if err := zw.Close(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

func (a *Archive) write(tw *tar.Writer) error {
	ctx := a.ctx
	if err := tw.WriteHeader(&tar.Header{
		Typeflag:   tar.TypeXGlobalHeader,
		PAXRecords: map[string]string{"comment": string(a.commit)},
	}); err != nil {
		return err
	}
	rd, release, err := a.r.reader(ctx)
	if err != nil {
		return err
	}
	defer release()
	var dirs []string // the directories written for the current path, outermost first
	if strings.HasSuffix(a.opt.Prefix, "/") {
		if err := tw.WriteHeader(a.header(tar.TypeDir, a.opt.Prefix, 0o755, 0)); err != nil {
			return err
		}
	}
	e := a.first
	for e != nil {
		if !a.opt.Filter.under(e.path) {
			if e, err = a.advance(); err != nil {
				return err
			}
			continue
		}
		// Enter the directories above e: tree order visits a directory's
		// whole subtree at once, so a stack is enough.
		parts := strings.Split(e.path, "/")
		parents := parts[:len(parts)-1]
		keep := 0
		for keep < len(dirs) && keep < len(parents) && dirs[keep] == parents[keep] {
			keep++
		}
		dirs = dirs[:keep]
		for _, d := range parents[keep:] {
			dirs = append(dirs, d)
			name := a.opt.Prefix + strings.Join(dirs, "/") + "/"
			if err := tw.WriteHeader(a.header(tar.TypeDir, name, 0o755, 0)); err != nil {
				return err
			}
		}
		if err := a.writeEntry(ctx, tw, rd, e); err != nil {
			return err
		}
		if e, err = a.advance(); err != nil {
			return err
		}
	}
	return nil
}

// advance returns the next entry, or nil once the listing ended cleanly.
func (a *Archive) advance() (*archiveEntry, error) {
	e, err := a.next()
	if err == io.EOF {
		return nil, a.wait()
	}
	return e, err
}

func (a *Archive) writeEntry(ctx context.Context, tw *tar.Writer, rd *catfile.Reader, e *archiveEntry) error {
	name := a.opt.Prefix + e.path
	switch e.mode {
	case "160000":
		return tw.WriteHeader(a.header(tar.TypeDir, name+"/", 0o755, 0))
	case "120000":
		info, data, err := rd.ReadObject(ctx, string(e.oid), maxSymlinkTarget)
		if errors.Is(err, catfile.ErrObjectTooLarge) {
			return nil // no system has such a link target
		}
		if err != nil {
			return fmt.Errorf("archive: read symlink %s: %w", e.path, err)
		}
		if a.opt.MaxBlobSize >= 0 && info.Size > a.opt.MaxBlobSize {
			return nil
		}
		h := a.header(tar.TypeSymlink, name, 0o777, 0)
		h.Linkname = string(data)
		return tw.WriteHeader(h)
	}
	mode := int64(0o644)
	if e.mode == "100755" {
		mode = 0o755
	}
	if a.opt.MaxBlobSize >= 0 {
		info, err := rd.Info(ctx, string(e.oid))
		if err != nil {
			return fmt.Errorf("archive: stat %s: %w", e.path, err)
		}
		if info.Size > a.opt.MaxBlobSize {
			return nil
		}
	}
	obj, err := rd.Object(ctx, string(e.oid))
	if err != nil {
		return fmt.Errorf("archive: read %s: %w", e.path, err)
	}
	defer obj.Close()
	if obj.Type != git.BlobObject {
		return fmt.Errorf("archive: %s is a %s, not a blob", e.path, obj.Type)
	}
	if err := tw.WriteHeader(a.header(tar.TypeReg, name, mode, obj.Size)); err != nil {
		return err
	}
	if _, err := io.Copy(tw, obj); err != nil {
		return fmt.Errorf("archive: copy %s: %w", e.path, err)
	}
	return nil
}

func (a *Archive) header(typ byte, name string, mode, size int64) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  a.mtime,
		Uname:    "root",
		Gname:    "root",
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
