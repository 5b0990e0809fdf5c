package repo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// DefaultMaxDiffFileSize is the blob size above which a changed file's patch
// is left out of a diff (spec §5.9.4: the service filters files over
// "≈ 500 KB"). The larger of the file's two blobs decides.
const DefaultMaxDiffFileSize = 500 << 10

// Why a changed file's patch was left out of a diff.
const (
	FilterBinary   = "binary"
	FilterTooLarge = "too_large"
)

// FileDiff is one changed file of a diff.
type FileDiff struct {
	// Path is the file's path in head (its old path for a deletion).
	Path string
	// OldPath is the source of a rename or copy, "" otherwise.
	OldPath string
	// Status is git's raw status: "A", "M", "D", "T", or "R"/"C" followed by
	// the similarity score ("R087").
	Status           string
	OldMode, NewMode string // six digits; "000000" for an absent side
	OldOID, NewOID   git.ObjectID
	// Patch is the file's part of `git diff --full-index` output, from its
	// "diff --git" header on; applied alone to the base it reproduces the
	// file's change. A type change is git's two sections (deletion, then
	// creation). Nil when Filtered is set.
	Patch []byte
	// Additions and Deletions count the patch's "+" and "-" lines (also for
	// files filtered as too large; binary files have none).
	Additions, Deletions int
	// Filtered is "" for a file whose patch is included, else FilterBinary
	// or FilterTooLarge.
	Filtered string
	// Size is the larger of the two blob sizes when the content changed
	// (absent sides and submodules count 0); 0 when only the path or mode
	// changed.
	Size int64
}

// DiffOptions shape a diff.
type DiffOptions struct {
	// Paths limit the diff to these files or directories: clean paths,
	// taken literally (no pathspec magic or globs). Git limits before it
	// detects renames, so a file renamed into the limited set from outside
	// it shows as added.
	Paths []string
	// MaxFileSize overrides DefaultMaxDiffFileSize when positive.
	MaxFileSize int64
}

// DiffStats totals a diff: every changed file, filtered ones included, and
// the lines added and deleted (as `git diff --numstat` counts them).
type DiffStats struct {
	Files, Additions, Deletions int
}

// diffEnv pins what changes diff-tree's output: pathspecs are literal, so a
// client's path can't be pathspec magic, and non-ASCII paths stay readable
// in patch headers (git apply unquotes either form).
var diffEnv = []string{
	"GIT_LITERAL_PATHSPECS=1",
	"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.quotePath", "GIT_CONFIG_VALUE_0=false",
}

// Diff compares base with head (commits or trees; an empty base is the empty
// tree) and calls fn for each changed file in git's order. fn's FileDiff is
// fresh for every call. An error from fn stops the diff and is returned.
//
// It is one git-diff-tree(1) process, read as a stream:
//
//	git diff-tree -r -z -M --raw -p --full-index <base> <head> -- <paths>
//
// The NUL-separated raw section comes first: one record per changed file with
// modes, blob ids, status and unquoted paths. A NUL then separates it from
// the patches, which are in the same order: one "diff --git" section per
// file, two for a type change. Each record's blob sizes are looked up (in the
// cat-file pool) before its section is read, so a file over the size limit is
// counted and skipped, never held in memory; only the raw records (ids and
// paths: small) are buffered. Patches are exact (no whitespace options, full
// blob ids), so they apply with `git apply` to base; binary files are
// detected from git's "Binary files ... differ" line.
func (r *Repo) Diff(ctx context.Context, base, head git.ObjectID, opt DiffOptions, fn func(*FileDiff) error) (DiffStats, error) {
	from := string(base)
	if base.IsZero() {
		from = string(git.EmptyTreeOID)
	}
	limit := opt.MaxFileSize
	if limit <= 0 {
		limit = DefaultMaxDiffFileSize
	}
	renames, err := r.renameFlag(ctx, from, string(head), opt.Paths)
	if err != nil {
		return DiffStats{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := git.Command{
		Name: "diff-tree",
		Flags: []string{"-r", "-z", renames, "--raw", "-p", "--full-index", "--no-ext-diff", "--no-textconv",
			"--src-prefix=a/", "--dst-prefix=b/"},
		Args:    []string{from, string(head)},
		PostSep: opt.Paths,
	}
	p, err := r.git.Start(ctx, r.path, cmd, git.WithStdoutPipe(), git.WithEnv(diffEnv...))
	if err != nil {
		return DiffStats{}, fmt.Errorf("diff %s %s: %w", from, head, err)
	}
	stats, err := r.readDiff(ctx, bufio.NewReaderSize(p.Stdout, 64<<10), limit, fn)
	if err != nil {
		cancel()
		_ = p.Wait()
		return DiffStats{}, err
	}
	if err := p.Wait(); err != nil {
		return DiffStats{}, fmt.Errorf("diff %s %s: %w", from, head, err)
	}
	return stats, nil
}

func (r *Repo) readDiff(ctx context.Context, br *bufio.Reader, limit int64, fn func(*FileDiff) error) (DiffStats, error) {
	var stats DiffStats
	entries, err := readRawDiff(br)
	if err != nil || len(entries) == 0 {
		return stats, err
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return stats, err
	}
	defer release()
	ps := &patchScanner{br: br}
	// A kept patch holds at most both blobs with a prefix byte per line, plus
	// headers; growing past that means the size lookup and the patch
	// disagree, and the file is treated as too large.
	maxPatch := 4*limit + 64<<10
	for i := range entries {
		e := &entries[i]
		fd := &FileDiff{Path: e.path, OldPath: e.oldPath, Status: e.status, OldMode: e.oldMode, NewMode: e.newMode, OldOID: e.oldOID, NewOID: e.newOID}
		if e.oldOID != e.newOID {
			if fd.Size, err = diffBlobSize(ctx, rd, e); err != nil {
				return stats, err
			}
		}
		keep := fd.Size <= limit
		if !keep {
			fd.Filtered = FilterTooLarge
		}
		sections := 1
		if e.status == "T" {
			// git shows a type change as a deletion followed by a creation.
			sections = 2
		}
		var buf bytes.Buffer
		binary := false
		for s := 0; s < sections; s++ {
			sec, err := ps.section(e, keep, maxPatch-int64(buf.Len()), &buf)
			if err != nil {
				return stats, err
			}
			fd.Additions += sec.additions
			fd.Deletions += sec.deletions
			binary = binary || sec.binary
			if sec.overflow {
				keep = false
				fd.Filtered = FilterTooLarge
			}
		}
		switch {
		case binary:
			fd.Filtered = FilterBinary
			fd.Additions, fd.Deletions = 0, 0
		case keep:
			fd.Patch = bytes.Clone(buf.Bytes())
		}
		stats.Files++
		stats.Additions += fd.Additions
		stats.Deletions += fd.Deletions
		if err := fn(fd); err != nil {
			return stats, err
		}
	}
	if line, _, err := ps.line(); err != io.EOF {
		if err != nil {
			return stats, fmt.Errorf("read diff: %w", err)
		}
		return stats, fmt.Errorf("read diff: unexpected output after the last file: %q", cut(line, 80))
	}
	return stats, nil
}

// diffBlobSize is the larger of e's two blob sizes; absent sides and
// submodules (commits of another repository) count 0.
func diffBlobSize(ctx context.Context, rd *catfile.Reader, e *rawEntry) (int64, error) {
	var size int64
	for _, side := range [][2]string{{e.oldMode, string(e.oldOID)}, {e.newMode, string(e.newOID)}} {
		if git.ObjectID(side[1]).IsZero() || side[0] == "160000" {
			continue
		}
		info, err := rd.Info(ctx, side[1])
		if err != nil {
			return 0, fmt.Errorf("size of %s (%s): %w", side[1], e.path, err)
		}
		size = max(size, info.Size)
	}
	return size, nil
}

// rawEntry is one record of diff-tree's raw -z output.
type rawEntry struct {
	oldMode, newMode string
	oldOID, newOID   git.ObjectID
	status           string
	oldPath, path    string
}

// maxRawToken bounds one NUL-terminated field of raw output (a path).
const maxRawToken = 1 << 20

// readRawDiff reads diff-tree's raw section:
//
//	:<old mode> SP <new mode> SP <old id> SP <new id> SP <status> NUL <path> NUL [<new path> NUL]
//
// up to and including the NUL that separates it from the patches.
func readRawDiff(br *bufio.Reader) ([]rawEntry, error) {
	var list []rawEntry
	for {
		tok, err := readToken(br, 0, maxRawToken)
		if err == io.EOF && len(tok) == 0 {
			return list, nil // no changes: git printed nothing
		}
		if err != nil {
			return nil, fmt.Errorf("read diff: %w", err)
		}
		if len(tok) == 0 {
			return list, nil // the separator before the patches
		}
		f := strings.Fields(string(tok))
		if len(f) != 5 || !strings.HasPrefix(f[0], ":") || !git.IsFullHex(f[2]) || !git.IsFullHex(f[3]) || f[4] == "" {
			return nil, fmt.Errorf("read diff: malformed raw record %q", cut(tok, 120))
		}
		e := rawEntry{oldMode: f[0][1:], newMode: f[1], oldOID: git.ObjectID(f[2]), newOID: git.ObjectID(f[3]), status: f[4]}
		path, err := readToken(br, 0, maxRawToken)
		if err != nil {
			return nil, fmt.Errorf("read diff: %w", noEOF(err))
		}
		e.path = string(path)
		if e.status[0] == 'R' || e.status[0] == 'C' {
			to, err := readToken(br, 0, maxRawToken)
			if err != nil {
				return nil, fmt.Errorf("read diff: %w", noEOF(err))
			}
			e.oldPath, e.path = e.path, string(to)
		}
		list = append(list, e)
	}
}

// patchScanner splits diff-tree's patch output into per-file sections.
type patchScanner struct {
	br      *bufio.Reader
	pending []byte // a "diff --git" line read while finishing the previous section
}

// section is what one "diff --git" section held.
type section struct {
	additions, deletions int
	binary               bool
	overflow             bool // grew past the room it was given
}

var diffHeader = []byte("diff --git ")

// section reads the next "diff --git" section, which must belong to e.
// With keep set it appends the section to buf while it fits in room bytes;
// otherwise (or once it no longer fits) it only counts lines. Memory stays
// bounded by room whatever the patch size: lines are read in fragments.
func (ps *patchScanner) section(e *rawEntry, keep bool, room int64, buf *bytes.Buffer) (section, error) {
	var sec section
	header := ps.pending
	ps.pending = nil
	if header == nil {
		line, more, err := ps.line()
		if err != nil {
			return sec, fmt.Errorf("read diff: patch for %s: %w", e.path, noEOF(err))
		}
		if !bytes.HasPrefix(line, diffHeader) {
			return sec, fmt.Errorf("read diff: expected the patch of %s, got %q", e.path, cut(line, 80))
		}
		header = bytes.Clone(line)
		for more {
			var frag []byte
			if frag, more, err = ps.line(); err != nil {
				return sec, fmt.Errorf("read diff: %w", noEOF(err))
			}
			header = append(header, frag...)
		}
	}
	if want, ok := expectedHeader(e); ok && string(header) != want {
		return sec, fmt.Errorf("read diff: patch out of step: expected %q, got %q", want, cut(header, 200))
	}
	start := buf.Len()
	add := func(b []byte) {
		if !keep || sec.overflow {
			return
		}
		if int64(buf.Len()-start+len(b)) > room {
			sec.overflow = true
			buf.Truncate(start)
			return
		}
		buf.Write(b)
	}
	add(header)
	inHunk := false
	for {
		line, more, err := ps.line()
		if err == io.EOF {
			return sec, nil
		}
		if err != nil {
			return sec, fmt.Errorf("read diff: %w", err)
		}
		if bytes.HasPrefix(line, diffHeader) {
			// The next section: keep its header (whole) for the next call.
			ps.pending = bytes.Clone(line)
			for more {
				var frag []byte
				if frag, more, err = ps.line(); err != nil {
					return sec, fmt.Errorf("read diff: %w", noEOF(err))
				}
				ps.pending = append(ps.pending, frag...)
			}
			return sec, nil
		}
		switch {
		case inHunk:
			// Hunk lines start with ' ', '+', '-', '\' or "@@": never "diff".
			switch line[0] {
			case '+':
				sec.additions++
			case '-':
				sec.deletions++
			}
		case bytes.HasPrefix(line, []byte("@@")):
			inHunk = true
		case bytes.HasPrefix(line, []byte("Binary files ")), bytes.HasPrefix(line, []byte("GIT binary patch")):
			sec.binary = true
		}
		add(line)
		for more {
			var frag []byte
			if frag, more, err = ps.line(); err != nil {
				return sec, fmt.Errorf("read diff: %w", noEOF(err))
			}
			add(frag)
		}
	}
}

// line returns the next line, or its first fragment with more set when it
// is longer than the read buffer (the caller then reads the rest with more
// calls). The slice is only valid until the next call.
func (ps *patchScanner) line() (line []byte, more bool, err error) {
	b, err := ps.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return b, true, nil
	case err == io.EOF && len(b) > 0:
		return b, false, nil // a last line without "\n"
	}
	return b, false, err
}

// expectedHeader is the "diff --git" line git writes for e, when git prints
// its paths unquoted (with core.quotePath=false, every path free of control
// characters, '"' and '\'). It catches a patch stream out of step with the
// raw records.
func expectedHeader(e *rawEntry) (string, bool) {
	old := e.oldPath
	if old == "" {
		old = e.path
	}
	for _, p := range []string{old, e.path} {
		if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' || r == 0x7f }) {
			return "", false
		}
	}
	return "diff --git a/" + old + " b/" + e.path + "\n", true
}

// readToken reads up to delim (dropped) from br; a token over max bytes is
// an error. At the end of input it returns what it has and io.EOF.
func readToken(br *bufio.Reader, delim byte, max int) ([]byte, error) {
	var tok []byte
	for {
		b, err := br.ReadSlice(delim)
		if len(tok)+len(b) > max+1 {
			return nil, fmt.Errorf("field longer than %d bytes", max)
		}
		switch err {
		case nil:
			if tok == nil {
				return bytes.Clone(b[:len(b)-1]), nil
			}
			return append(tok, b[:len(b)-1]...), nil
		case bufio.ErrBufferFull:
			tok = append(tok, b...)
		default:
			return append(tok, b...), err
		}
	}
}

// noEOF turns an end of input in the middle of a record into an error.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cut shortens b for an error message.
func cut(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
