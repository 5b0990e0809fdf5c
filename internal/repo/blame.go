package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// MaxBlameRanges is how many -L ranges one blame may ask for.
const MaxBlameRanges = 16

// maxBlameRangeLen bounds one range specification.
const maxBlameRangeLen = 1024

// BlameOptions select what git-blame(1) annotates.
type BlameOptions struct {
	// Ranges are git-blame -L specifications, each checked with
	// ValidateBlameRange. Empty means the whole file.
	Ranges []string
	// DetectMoves follows lines moved or copied within and across files
	// (-M -C -C).
	DetectMoves bool
}

// BlameLine is the attribution of one line of the blamed file.
type BlameLine struct {
	LineNumber         int // in the blamed file, 1-based
	OriginalLineNumber int // in OriginalPath at Commit, 1-based
	Commit             git.ObjectID
	OriginalPath       string
	// Previous is the commit before Commit that had the line's file
	// (PreviousPath); empty when the line has no earlier version.
	Previous     git.ObjectID
	PreviousPath string
	Author       Signature
	Committer    Signature
	Summary      string
	Boundary     bool
}

// ValidateBlameRange checks one -L range against the grammar of
// git-blame(1) before it reaches git:
//
//	range    = funcname | start | start "," end | "," end | start ","
//	funcname = ["^"] ":" text              (text: no unescaped ':')
//	start    = number | ["^"] "/" regex "/"
//	end      = number | ("+" | "-") digits | "/" regex "/"
//
// Numbers are positive decimal integers; regexes are POSIX basic regular
// expressions, where "\/" stands for "/". Git compiles the regexes itself,
// so a syntactically broken one is reported by git (and mapped to
// ErrInvalid by Blame). The range reaches git as the single argument
// "-L<range>", so it can never be read as another option.
func ValidateBlameRange(s string) error {
	bad := func(why string) error { return invalidf("invalid blame range %q: %s", trunc(s, 100), why) }
	switch {
	case s == "":
		return bad("empty")
	case len(s) > maxBlameRangeLen:
		return bad(fmt.Sprintf("longer than %d bytes", maxBlameRangeLen))
	case strings.ContainsAny(s, "\x00\n\r"):
		return bad("contains a NUL, newline or carriage return")
	}
	rest := s
	if strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "^:") {
		rest = strings.TrimPrefix(rest, "^")[1:]
		n, ok := scanDelimited(rest, ':')
		if n == 0 {
			return bad("empty function name")
		}
		if ok || n != len(rest) {
			return bad("unescaped ':' in function name")
		}
		if strings.HasSuffix(rest, `\`) && !strings.HasSuffix(rest, `\\`) {
			return bad("trailing backslash")
		}
		return nil
	}
	// start
	if !strings.HasPrefix(rest, ",") {
		n, err := blameLoc(rest, true)
		if err != "" {
			return bad(err)
		}
		rest = rest[n:]
		if rest == "" {
			return nil
		}
	}
	if !strings.HasPrefix(rest, ",") {
		return bad("expected ',' after the start")
	}
	rest = rest[1:]
	if rest == "" {
		if s == "," {
			return bad("neither start nor end")
		}
		return nil
	}
	n, err := blameLoc(rest, false)
	if err != "" {
		return bad(err)
	}
	if n != len(rest) {
		return bad("unexpected text after the end")
	}
	return nil
}

// blameLoc scans one start or end at the beginning of s and returns its
// length, or a reason it is malformed.
func blameLoc(s string, start bool) (int, string) {
	i := 0
	if !start && (strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-")) {
		i = 1
		d := digits(s[i:])
		if d == 0 {
			return 0, "offset needs digits"
		}
		if d > 9 {
			return 0, "offset too large"
		}
		if n, _ := strconv.Atoi(s[i : i+d]); n == 0 {
			return 0, "offset must not be zero"
		}
		return i + d, ""
	}
	if d := digits(s); d > 0 {
		if d > 9 {
			return 0, "line number too large"
		}
		if n, _ := strconv.Atoi(s[:d]); n == 0 {
			return 0, "line numbers start at 1"
		}
		return d, ""
	}
	if start && strings.HasPrefix(s, "^/") {
		i = 1
	}
	if !strings.HasPrefix(s[i:], "/") {
		return 0, "expected a line number, an offset or /regex/"
	}
	body := s[i+1:]
	n, closed := scanDelimited(body, '/')
	if !closed {
		return 0, "unterminated /regex/"
	}
	if n == 0 {
		return 0, "empty /regex/"
	}
	return i + 1 + n + 1, ""
}

// scanDelimited returns the length of s up to the first delim not escaped
// by a backslash, and whether such a delim was found. A backslash always
// escapes the next byte, as git's scanner does; a final lone backslash
// makes the text unterminated.
func scanDelimited(s string, delim byte) (int, bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return len(s), false
			}
			i++
		case delim:
			return i, true
		}
	}
	return len(s), false
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// BlameStream yields the lines of a running git blame in file order:
//
//	for s.Next() { use(s.Line()) }
//	err := s.Err()
//	s.Close()
//
// It is not safe for concurrent use. Close must be called.
type BlameStream struct {
	p       *git.Process
	br      *bufio.Reader
	cancel  context.CancelFunc
	commits map[git.ObjectID]*blameCommit
	line    BlameLine
	pending string // a header line read ahead by Blame
	err     error
	done    bool
}

// blameCommit is what porcelain output says once per commit (and again,
// for previous/filename, when a commit is seen under several paths).
type blameCommit struct {
	author, committer Signature
	summary           string
	boundary          bool
	previous          git.ObjectID
	previousPath      string
	filename          string
}

// Blame runs git-blame(1) on path at commit and returns the stream of its
// lines. Problems git reports before the first line (a range past the end
// of the file, a range regex that does not compile or match) fail here
// with ErrInvalid; a path that is not a file at commit is a NotFoundError.
// Nothing is held in memory beyond one line and one entry per commit.
func (r *Repo) Blame(ctx context.Context, commit git.ObjectID, path string, opt BlameOptions) (*BlameStream, error) {
	if len(opt.Ranges) > MaxBlameRanges {
		return nil, invalidf("at most %d ranges, got %d", MaxBlameRanges, len(opt.Ranges))
	}
	for _, rg := range opt.Ranges {
		if err := ValidateBlameRange(rg); err != nil {
			return nil, err
		}
	}
	// git blame holds the file (and its past versions) whole in memory.
	if err := r.checkFileSize(ctx, commit, path); err != nil {
		return nil, err
	}
	flags := []string{"--porcelain"}
	if opt.DetectMoves {
		flags = append(flags, "-M", "-C", "-C")
	}
	for _, rg := range opt.Ranges {
		// One argument: git reads everything after -L as the range.
		flags = append(flags, "-L"+rg)
	}
	ctx, cancel := context.WithCancel(ctx)
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:    "blame",
		Flags:   flags,
		Args:    []string{string(commit)},
		PostSep: []string{path},
	}, git.WithStdoutPipe(), git.WithEnv("GIT_LITERAL_PATHSPECS=1"))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("blame %s: %w", path, err)
	}
	s := &BlameStream{p: p, br: bufio.NewReaderSize(p.Stdout, 64<<10), cancel: cancel, commits: map[git.ObjectID]*blameCommit{}}
	// Read ahead one line: git blame prints nothing until it has finished,
	// so a failure shows here, before the caller commits to a response.
	first, err := readLine(s.br)
	if err == io.EOF {
		s.done = true
		if werr := s.finish(); werr != nil {
			if len(opt.Ranges) > 0 && isRangeFailure(werr) {
				return nil, fmt.Errorf("%w: %s", ErrInvalid, gitMessage(werr))
			}
			return nil, fmt.Errorf("blame %s: %w", path, werr)
		}
		return s, nil
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("blame %s: %w", path, err)
	}
	s.pending = first
	return s, nil
}

// isRangeFailure recognises git's complaints about -L ranges (LANG=C is
// pinned, so the wording is stable): "-L invalid ...", "-L parameter
// '...': no match", "file x has only N lines".
func isRangeFailure(err error) bool {
	var ce *git.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	m := ce.Stderr
	return strings.Contains(m, "-L") || strings.Contains(m, "has only") || strings.Contains(m, "no match")
}

// gitMessage is the first line of git's stderr without the "fatal: ".
func gitMessage(err error) string {
	var ce *git.CommandError
	if !errors.As(err, &ce) {
		return err.Error()
	}
	m := strings.TrimSpace(ce.Stderr)
	m, _, _ = strings.Cut(m, "\n")
	return strings.TrimPrefix(m, "fatal: ")
}

// Next advances to the next line; false at the end or on error.
func (s *BlameStream) Next() bool {
	if s.done || s.err != nil {
		return false
	}
	header := s.pending
	s.pending = ""
	if header == "" {
		var err error
		header, err = readLine(s.br)
		if err == io.EOF {
			s.done = true
			s.err = s.finish()
			return false
		}
		if err != nil {
			s.err = err
			return false
		}
	}
	f := strings.Fields(header)
	if len(f) < 3 || !git.IsFullHex(f[0]) {
		s.err = fmt.Errorf("blame: unexpected porcelain header %q", trunc(header, 200))
		return false
	}
	orig, err1 := strconv.Atoi(f[1])
	final, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		s.err = fmt.Errorf("blame: unexpected porcelain header %q", trunc(header, 200))
		return false
	}
	oid := git.ObjectID(f[0])
	c := s.commits[oid]
	if c == nil {
		c = &blameCommit{}
		s.commits[oid] = c
	}
	// previous and filename come together: a filename line without a
	// previous line in the same block means the origin has no previous.
	var prev, prevPath string
	sawPrev := false
	for {
		line, err := readLine(s.br)
		if err != nil {
			if err == io.EOF {
				err = errors.New("blame: porcelain output ends inside an entry")
			}
			s.err = err
			return false
		}
		if strings.HasPrefix(line, "\t") {
			break
		}
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "author":
			c.author.Name = val
		case "author-mail":
			c.author.Email = trimAngles(val)
		case "author-time":
			c.author.When = unixIn(val, c.author.When)
		case "author-tz":
			c.author.When = c.author.When.In(parseZone(val))
		case "committer":
			c.committer.Name = val
		case "committer-mail":
			c.committer.Email = trimAngles(val)
		case "committer-time":
			c.committer.When = unixIn(val, c.committer.When)
		case "committer-tz":
			c.committer.When = c.committer.When.In(parseZone(val))
		case "summary":
			c.summary = val
		case "boundary":
			c.boundary = true
		case "previous":
			sha, p, _ := strings.Cut(val, " ")
			prev, prevPath, sawPrev = sha, unquoteC(p), true
		case "filename":
			c.filename = unquoteC(val)
			if sawPrev {
				c.previous, c.previousPath = git.ObjectID(prev), prevPath
			} else {
				c.previous, c.previousPath = "", ""
			}
		}
	}
	s.line = BlameLine{
		LineNumber:         final,
		OriginalLineNumber: orig,
		Commit:             oid,
		OriginalPath:       c.filename,
		Previous:           c.previous,
		PreviousPath:       c.previousPath,
		Author:             c.author,
		Committer:          c.committer,
		Summary:            c.summary,
		Boundary:           c.boundary,
	}
	return true
}

// Line is the current line.
func (s *BlameStream) Line() BlameLine { return s.line }

// Err is the error that ended the stream, if any.
func (s *BlameStream) Err() error { return s.err }

// Close stops git if it is still running and releases the stream.
func (s *BlameStream) Close() error {
	if s.done {
		return nil
	}
	s.done = true
	s.cancel()
	_ = s.finish()
	return nil
}

func (s *BlameStream) finish() error {
	s.p.Stdout.Close()
	err := s.p.Wait()
	s.cancel()
	return err
}

// maxPorcelainLine bounds one porcelain line kept in memory; the rest of a
// longer line (a huge source line after its TAB) is discarded.
const maxPorcelainLine = 64 << 10

// readLine reads one '\n'-terminated line without the newline, keeping at
// most maxPorcelainLine bytes of it.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf) < maxPorcelainLine {
			room := maxPorcelainLine - len(buf)
			if len(chunk) > room {
				buf = append(buf, chunk[:room]...)
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(buf) > 0:
			return string(buf), nil
		case err != nil:
			return "", err
		}
		return strings.TrimSuffix(string(buf), "\n"), nil
	}
}

func trimAngles(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
}

// unixIn reads git's seconds since the epoch, keeping prev's zone (the
// porcelain "-tz" line may come first or not at all).
func unixIn(s string, prev time.Time) time.Time {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return prev
	}
	return time.Unix(sec, 0).In(prev.Location())
}

// unquoteC undoes git's C-style path quoting ("a\tb", "\303\251"); an
// unquoted name is returned as is.
func unquoteC(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'v':
			b.WriteByte('\v')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case '0', '1', '2', '3':
			if i+2 < len(s) {
				if v, err := strconv.ParseUint(s[i:i+3], 8, 8); err == nil {
					b.WriteByte(byte(v))
					i += 2
					continue
				}
			}
			b.WriteByte(e)
		default:
			b.WriteByte(e)
		}
	}
	return b.String()
}
