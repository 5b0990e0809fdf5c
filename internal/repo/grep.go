package repo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"regexp/syntax"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/odb"
)

// Grep pattern dialect
//
// Clients write RE2 syntax (Go's regexp, syntax.Perl). Strata parses the
// pattern with regexp/syntax, so anything Go rejects is ErrInvalid, and
// translates the parse tree into an equivalent PCRE2 pattern that
// git-grep(1) runs with -P in UTF mode ("(*UTF)"). The translation spells
// everything out so PCRE2's own interpretation never matters: literals and
// classes become explicit code points and ranges, case-insensitivity
// ("(?i)" or case_sensitive=false) is expanded into case-fold classes with
// Go's simple folding, \b and \B become ASCII lookarounds, captures become
// non-capturing groups. Anchors (^ $ \A \z) all mean the ends of the line,
// as git greps line by line.
//
// Two differences from Go remain: bytes that are not valid UTF-8 match no
// pattern item (Go reads each as U+FFFD), and PCRE2 backtracks, so a
// pattern with nested ambiguous repetition can exceed PCRE2's match limit
// on a long line; git then stops and Strata answers ErrInvalid ("too
// complex"). git must be built with PCRE2 (USE_LIBPCRE2).

// Limits of a grep pattern.
const (
	maxGrepPattern     = 4 << 10   // bytes of client pattern
	maxGrepTranslation = 256 << 10 // bytes of the PCRE2 pattern git compiles
)

// GrepPattern is a validated pattern and its PCRE2 translation.
type GrepPattern struct {
	Source        string // as the client wrote it
	CaseSensitive bool
	pcre          string
}

// CompileGrepPattern validates pattern as RE2 syntax and translates it.
func CompileGrepPattern(pattern string, caseSensitive bool) (*GrepPattern, error) {
	if pattern == "" {
		return nil, invalidf("pattern is empty")
	}
	if len(pattern) > maxGrepPattern {
		return nil, invalidf("pattern is longer than %d bytes", maxGrepPattern)
	}
	if !utf8.ValidString(pattern) {
		return nil, invalidf("pattern is not valid UTF-8")
	}
	src := pattern
	if !caseSensitive {
		src = "(?i)" + pattern
	}
	if _, err := regexp.Compile(src); err != nil {
		return nil, invalidf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, invalidf("invalid regular expression: %v", err)
	}
	var b strings.Builder
	b.WriteString("(*UTF)")
	if err := writePCRE(&b, re); err != nil {
		return nil, err
	}
	if b.Len() > maxGrepTranslation {
		return nil, invalidf("pattern is too complex (its translation exceeds %d bytes)", maxGrepTranslation)
	}
	return &GrepPattern{Source: pattern, CaseSensitive: caseSensitive, pcre: b.String()}, nil
}

// PCRE is the translated pattern handed to git grep -P.
func (p *GrepPattern) PCRE() string { return p.pcre }

// Word characters for \b and \B: RE2's are ASCII only.
const (
	pcreWord    = `[0-9A-Za-z_]`
	pcreBound   = `(?:(?<=` + pcreWord + `)(?!` + pcreWord + `)|(?<!` + pcreWord + `)(?=` + pcreWord + `))`
	pcreNoBound = `(?:(?<=` + pcreWord + `)(?=` + pcreWord + `)|(?<!` + pcreWord + `)(?!` + pcreWord + `))`
)

func writePCRE(b *strings.Builder, re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpNoMatch:
		b.WriteString("(*FAIL)")
	case syntax.OpEmptyMatch:
		b.WriteString("(?:)")
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				if orbit := foldOrbit(r); len(orbit) > 1 {
					b.WriteByte('[')
					for _, o := range orbit {
						writePCRERune(b, o)
					}
					b.WriteByte(']')
					continue
				}
			}
			writePCRERune(b, r)
		}
	case syntax.OpCharClass:
		ranges := withoutSurrogates(re.Rune)
		if len(ranges) == 0 {
			b.WriteString("(*FAIL)")
			return nil
		}
		b.WriteByte('[')
		for i := 0; i+1 < len(ranges); i += 2 {
			writePCRERune(b, ranges[i])
			if ranges[i+1] > ranges[i] {
				b.WriteByte('-')
				writePCRERune(b, ranges[i+1])
			}
		}
		b.WriteByte(']')
	case syntax.OpAnyCharNotNL:
		b.WriteString(`[^\n]`)
	case syntax.OpAnyChar:
		b.WriteString(`(?s:.)`)
	case syntax.OpBeginLine, syntax.OpBeginText:
		// git compiles with PCRE2_MULTILINE and may search a whole buffer
		// before narrowing to a line, so only ^ and $ mean "line ends".
		b.WriteByte('^')
	case syntax.OpEndLine, syntax.OpEndText:
		b.WriteByte('$')
	case syntax.OpWordBoundary:
		b.WriteString(pcreBound)
	case syntax.OpNoWordBoundary:
		b.WriteString(pcreNoBound)
	case syntax.OpCapture:
		return writeGroup(b, re.Sub[0])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if err := writeGroup(b, re.Sub[0]); err != nil {
			return err
		}
		switch re.Op {
		case syntax.OpStar:
			b.WriteByte('*')
		case syntax.OpPlus:
			b.WriteByte('+')
		case syntax.OpQuest:
			b.WriteByte('?')
		default:
			switch {
			case re.Max == -1:
				fmt.Fprintf(b, "{%d,}", re.Min)
			case re.Min == re.Max:
				fmt.Fprintf(b, "{%d}", re.Min)
			default:
				fmt.Fprintf(b, "{%d,%d}", re.Min, re.Max)
			}
		}
		if re.Flags&syntax.NonGreedy != 0 {
			b.WriteByte('?')
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpAlternate {
				if err := writeGroup(b, sub); err != nil {
					return err
				}
				continue
			}
			if err := writePCRE(b, sub); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		b.WriteString("(?:")
		for i, sub := range re.Sub {
			if i > 0 {
				b.WriteByte('|')
			}
			if err := writePCRE(b, sub); err != nil {
				return err
			}
		}
		b.WriteByte(')')
	default:
		return invalidf("unsupported regular expression construct")
	}
	if b.Len() > maxGrepTranslation {
		return invalidf("pattern is too complex (its translation exceeds %d bytes)", maxGrepTranslation)
	}
	return nil
}

func writeGroup(b *strings.Builder, re *syntax.Regexp) error {
	b.WriteString("(?:")
	if err := writePCRE(b, re); err != nil {
		return err
	}
	b.WriteByte(')')
	return nil
}

// writePCRERune writes r so that it means exactly r, inside or outside a
// class: word characters as themselves, everything else as \x{...}.
func writePCRERune(b *strings.Builder, r rune) {
	if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
		b.WriteRune(r)
		return
	}
	fmt.Fprintf(b, `\x{%x}`, r)
}

// foldOrbit is r with every rune it folds to under Unicode simple case
// folding (what Go's (?i) uses), in increasing order.
func foldOrbit(r rune) []rune {
	orbit := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	for i := 1; i < len(orbit); i++ {
		for j := i; j > 0 && orbit[j] < orbit[j-1]; j-- {
			orbit[j], orbit[j-1] = orbit[j-1], orbit[j]
		}
	}
	return orbit
}

// withoutSurrogates removes U+D800..U+DFFF from class ranges: PCRE2 in UTF
// mode refuses them as range ends, and UTF-8 text never contains them.
func withoutSurrogates(rs []rune) []rune {
	const lo, hi = 0xd800, 0xdfff
	out := make([]rune, 0, len(rs)+2)
	for i := 0; i+1 < len(rs); i += 2 {
		a, z := rs[i], rs[i+1]
		if z < lo || a > hi {
			out = append(out, a, z)
			continue
		}
		if a < lo {
			out = append(out, a, lo-1)
		}
		if z > hi {
			out = append(out, hi+1, z)
		}
	}
	return out
}

// PathFilter selects files by path, for grep and archive.
//
// Globs follow gitignore's conventions on top of git's ":(glob)" pathspec
// magic (wildmatch: "*" and "?" stay within a path component, "**" spans
// components, "[...]" classes, "\" escapes): a glob without a "/" matches
// a file or directory name at any depth ("*.md", "vendor"); a glob with a
// "/" is anchored at the root ("src/*.go"; a leading "/" only anchors); a
// trailing "/" matches only directories. A glob that matches a directory
// matches everything below it. A file is selected when it is below one of
// Paths (all files when Paths is empty), matches an include glob or
// extension (when any are given), and matches no exclude glob. With
// include globs or extensions, Paths entries act as directories.
type PathFilter struct {
	Paths        []string // directory or file paths, CleanPath form
	IncludeGlobs []string
	ExcludeGlobs []string
	Extensions   []string // ".ts" or "ts"
}

// maxGlobLen bounds one glob; maxGlobs bounds how many a filter may hold.
const (
	maxGlobLen = 1024
	maxGlobs   = 256
)

// pathspecs returns the pathspecs git applies for f; matches must also
// pass f.under, for anchored include globs that git cannot intersect with
// Paths.
func (f PathFilter) pathspecs() ([]string, error) {
	if n := len(f.Paths) + len(f.IncludeGlobs) + len(f.ExcludeGlobs) + len(f.Extensions); n > maxGlobs {
		return nil, invalidf("too many paths and globs (%d, at most %d)", n, maxGlobs)
	}
	for _, p := range f.Paths {
		if _, err := git.CleanPath(p); err != nil {
			return nil, invalidf("invalid path %q: %v", trunc(p, 100), err)
		}
	}
	var specs []string
	type include struct {
		glob     string
		anchored bool
		dirOnly  bool
		ext      bool
	}
	var includes []include
	for _, g := range f.IncludeGlobs {
		pat, anchored, dirOnly, err := parseGlob(g)
		if err != nil {
			return nil, err
		}
		includes = append(includes, include{glob: pat, anchored: anchored, dirOnly: dirOnly})
	}
	for _, e := range f.Extensions {
		ext, err := parseExtension(e)
		if err != nil {
			return nil, err
		}
		includes = append(includes, include{glob: "*" + escapeGlob(ext), ext: true})
	}
	switch {
	case len(includes) == 0:
		for _, p := range f.Paths {
			specs = append(specs, ":(literal)"+p)
		}
	default:
		bases := []string{""}
		if len(f.Paths) > 0 {
			bases = bases[:0]
			for _, p := range f.Paths {
				bases = append(bases, escapeGlob(p)+"/")
			}
		}
		seen := map[string]bool{}
		add := func(s string) {
			if !seen[s] {
				seen[s] = true
				specs = append(specs, s)
			}
		}
		for _, in := range includes {
			if in.anchored {
				if !in.dirOnly {
					add(":(glob)" + in.glob)
				}
				add(":(glob)" + in.glob + "/**")
				continue
			}
			for _, base := range bases {
				if in.ext || !in.dirOnly {
					add(":(glob)" + base + "**/" + in.glob)
				}
				if !in.ext {
					add(":(glob)" + base + "**/" + in.glob + "/**")
				}
			}
		}
	}
	for _, g := range f.ExcludeGlobs {
		pat, anchored, dirOnly, err := parseGlob(g)
		if err != nil {
			return nil, err
		}
		if !anchored {
			pat = "**/" + pat
		}
		if !dirOnly {
			specs = append(specs, ":(exclude,glob)"+pat)
		}
		specs = append(specs, ":(exclude,glob)"+pat+"/**")
	}
	return specs, nil
}

// magicPathspecs pins the pathspec environment so the explicit magic
// PathFilter writes (":(glob)", ":(exclude)", ":(literal)") means what it
// says whatever the server's environment holds.
var magicPathspecs = []string{"GIT_LITERAL_PATHSPECS=0", "GIT_GLOB_PATHSPECS=0", "GIT_NOGLOB_PATHSPECS=0", "GIT_ICASE_PATHSPECS=0"}

// under reports whether path is below one of f.Paths (always, without
// Paths). Git gets anchored include globs without the Paths restriction,
// which a pathspec cannot intersect with them, so matches are re-checked.
func (f PathFilter) under(path string) bool {
	if len(f.Paths) == 0 {
		return true
	}
	for _, p := range f.Paths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// parseGlob validates one client glob and returns it without its leading
// and trailing "/", whether it is anchored at the root and whether it names
// only directories.
func parseGlob(g string) (pat string, anchored, dirOnly bool, err error) {
	bad := func(why string) error { return invalidf("invalid glob %q: %s", trunc(g, 100), why) }
	switch {
	case strings.TrimSpace(g) == "":
		return "", false, false, bad("empty")
	case len(g) > maxGlobLen:
		return "", false, false, bad(fmt.Sprintf("longer than %d bytes", maxGlobLen))
	case strings.ContainsAny(g, "\x00\n\r"):
		return "", false, false, bad("contains a NUL, newline or carriage return")
	case !utf8.ValidString(g):
		return "", false, false, bad("not valid UTF-8")
	}
	if err := checkGlob(g); err != "" {
		return "", false, false, bad(err)
	}
	pat = g
	if strings.HasPrefix(pat, "/") {
		anchored = true
		pat = strings.TrimLeft(pat, "/")
	}
	if strings.HasSuffix(pat, "/") && !strings.HasSuffix(pat, `\/`) {
		dirOnly = true
		pat = strings.TrimRight(pat, "/")
	}
	if pat == "" {
		return "", false, false, bad("matches nothing but the root")
	}
	if strings.Contains(pat, "/") {
		anchored = true
	}
	return pat, anchored, dirOnly, nil
}

// checkGlob checks wildmatch syntax: escapes complete, bracket
// expressions closed, character class names known.
func checkGlob(g string) string {
	for i := 0; i < len(g); i++ {
		switch g[i] {
		case '\\':
			if i+1 == len(g) {
				return "trailing backslash"
			}
			i++
		case '[':
			j := i + 1
			if j < len(g) && (g[j] == '!' || g[j] == '^') {
				j++
			}
			if j < len(g) && g[j] == ']' {
				j++
			}
			closed := false
			for ; j < len(g); j++ {
				c := g[j]
				if c == '\\' {
					if j+1 == len(g) {
						return "trailing backslash"
					}
					j++
					continue
				}
				if c == '[' && j+1 < len(g) && g[j+1] == ':' {
					end := strings.Index(g[j+2:], ":]")
					if end < 0 {
						return "unterminated [:class:]"
					}
					if !posixClasses[g[j+2:j+2+end]] {
						return fmt.Sprintf("unknown character class [:%s:]", g[j+2:j+2+end])
					}
					j += 2 + end + 1
					continue
				}
				if c == ']' {
					closed = true
					break
				}
			}
			if !closed {
				return "unterminated '['"
			}
			i = j
		}
	}
	return ""
}

var posixClasses = map[string]bool{
	"alnum": true, "alpha": true, "blank": true, "cntrl": true, "digit": true, "graph": true,
	"lower": true, "print": true, "punct": true, "space": true, "upper": true, "xdigit": true,
}

func parseExtension(e string) (string, error) {
	ext := strings.TrimSpace(e)
	if ext != "" && !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	if len(ext) < 2 || len(ext) > 255 || strings.ContainsAny(ext, "/\x00\n\r") {
		return "", invalidf("invalid extension filter %q", trunc(e, 100))
	}
	return ext, nil
}

// escapeGlob quotes s for a glob: wildmatch's specials get a backslash.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// GrepOptions shape one page of a grep.
type GrepOptions struct {
	Filter PathFilter
	// Before and After are context lines around each match.
	Before, After int
	// MaxMatchesPerFile caps matching lines per file (git grep -m).
	MaxMatchesPerFile int
	// After a cursor: only files whose path sorts after this one.
	StartAfter string
	// MaxFiles caps the files of the page, MaxLines the lines (matches and
	// context) and MaxBytes their text.
	MaxFiles int
	MaxLines int
	MaxBytes int
}

// GrepLine is one line of output.
type GrepLine struct {
	Number int
	Text   string
	Match  bool // false: a context line
}

// GrepFile is one file with matches.
type GrepFile struct {
	Path  string
	Lines []GrepLine
}

// GrepResult is one page.
type GrepResult struct {
	Files []GrepFile
	// More: another file with matches follows the last one.
	More bool
}

// maxGrepLineText bounds the text kept of one line; the rest is cut.
const maxGrepLineText = 16 << 10

// Grep searches the tree of commit with git-grep(1) and returns one page
// of files with matches, in path order. Files are whole within a page:
// a file whose lines would overflow MaxLines or MaxBytes starts the next
// page, unless it is the page's first, which is then cut to fit. Binary
// files (a NUL in their first 8000 bytes, git's test) are skipped.
func (r *Repo) Grep(ctx context.Context, commit git.ObjectID, pat *GrepPattern, opt GrepOptions) (*GrepResult, error) {
	specs, err := opt.Filter.pathspecs()
	if err != nil {
		return nil, err
	}
	if opt.StartAfter != "" {
		specs = append(specs, r.skipSpecs(ctx, commit, opt.StartAfter, maxSkipSpecs)...)
	}
	if opt.MaxFiles <= 0 || opt.MaxLines <= 0 || opt.MaxBytes <= 0 || opt.MaxMatchesPerFile <= 0 || opt.Before < 0 || opt.After < 0 {
		return nil, invalidf("grep limits must be positive")
	}
	big, err := r.bigBlobSpecs(ctx, commit, opt.Filter.Paths)
	if err != nil {
		return nil, err
	}
	specs = append(specs, big...)
	pcre := pat.pcre
	if n := r.limits.GrepMatchLimit; n > 0 {
		// A start-of-pattern option can only lower the limit git sets:
		// a pattern that backtracks catastrophically on a line fails
		// fast ("match limit exceeded") instead of running for minutes.
		pcre = "(*LIMIT_MATCH=" + strconv.Itoa(n) + ")" + pcre
	}
	flags := []string{
		"-P", "-f", "-", // the pattern comes on stdin: never an argument
		"-z", "-n", "--column", "-I", "--no-color", "--no-textconv",
		"--threads=" + strconv.Itoa(min(runtime.NumCPU(), 8)),
		"--max-count=" + strconv.Itoa(opt.MaxMatchesPerFile),
	}
	if opt.Before > 0 {
		flags = append(flags, "-B", strconv.Itoa(opt.Before))
	}
	if opt.After > 0 {
		flags = append(flags, "-A", strconv.Itoa(opt.After))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:    "grep",
		Flags:   flags,
		Args:    []string{string(commit)},
		PostSep: specs,
	}, git.WithStdin(strings.NewReader(pcre+"\n")), git.WithStdoutPipe(), git.WithEnv(magicPathspecs...))
	if err != nil {
		return nil, fmt.Errorf("grep %s: %w", commit, err)
	}
	res, stopped, perr := collectGrep(bufio.NewReaderSize(p.Stdout, 64<<10), string(commit)+":", opt)
	if stopped || perr != nil {
		cancel()
	}
	p.Stdout.Close()
	werr := p.Wait()
	if perr != nil {
		return nil, fmt.Errorf("grep %s: %w", commit, perr)
	}
	if !stopped && werr != nil {
		var ce *git.CommandError
		// Exit 1 is "no match".
		if errors.As(werr, &ce) && ce.ExitCode == 1 && strings.TrimSpace(ce.Stderr) == "" {
			return res, nil
		}
		if errors.As(werr, &ce) && git.IsNoPCRE(ce.Stderr) {
			return nil, fmt.Errorf("%w: grep needs a git built with PCRE2 (USE_LIBPCRE2)", ErrUnsupported)
		}
		if errors.As(werr, &ce) && strings.Contains(ce.Stderr, "pcre2_") {
			return nil, invalidf("pattern is too complex for the matcher: %s", gitMessage(werr))
		}
		return nil, fmt.Errorf("grep %s: %w", commit, werr)
	}
	return res, nil
}

// bigBlobSpecs returns exclude pathspecs for the blobs below paths (all
// when empty) in commit that exceed MaxBlobBytes: git grep reads every
// blob whole, so a file over the cap is skipped rather than loaded.
// `git ls-tree -r -l` takes the sizes from the object headers without
// inflating anything. More such files than maxSkipSpecs is ErrTooLarge.
func (r *Repo) bigBlobSpecs(ctx context.Context, commit git.ObjectID, paths []string) ([]string, error) {
	var specs []string
	for _, p := range paths {
		specs = append(specs, ":(literal)"+p)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:    "ls-tree",
		Flags:   []string{"-r", "-l", "-z", "--full-tree"},
		Args:    []string{string(commit)},
		PostSep: specs,
	}, git.WithStdoutPipe(), git.WithEnv(magicPathspecs...))
	if err != nil {
		return nil, fmt.Errorf("list blob sizes: %w", err)
	}
	max := r.maxBlob()
	var out []string
	var perr error
	br := bufio.NewReaderSize(p.Stdout, 64<<10)
	for {
		// "<mode> SP <type> SP <oid> SP+ <size> TAB <path> NUL"
		rec, err := readField(br, 0, git.MaxPathLen+256)
		if err == io.ErrUnexpectedEOF && rec == "" {
			break
		}
		if err != nil {
			perr = err
			break
		}
		meta, path, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 4 || f[1] != "blob" {
			continue
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || size <= max {
			continue
		}
		if len(out) == maxSkipSpecs {
			perr = &TooLargeError{Path: path, OID: git.ObjectID(f[2]), Size: size, Max: max}
			break
		}
		out = append(out, ":(exclude,literal)"+path)
	}
	if perr != nil {
		cancel()
	}
	werr := p.Wait()
	var tl *TooLargeError
	switch {
	case errors.As(perr, &tl):
		return nil, fmt.Errorf("more than %d files exceed the maximum blob size; narrow the grep with paths: %w", maxSkipSpecs, perr)
	case perr != nil:
		return nil, fmt.Errorf("list blob sizes: %w", perr)
	case werr != nil:
		return nil, fmt.Errorf("list blob sizes: %w", werr)
	}
	return out, nil
}

// maxSkipSpecs bounds the exclude pathspecs skipSpecs adds: git checks
// every path it walks against each of them.
const maxSkipSpecs = 256

// skipSpecs returns exclude pathspecs for the files and directories that
// sort entirely at or before after, level by level along after's path,
// as many as fit in budget. A later page then costs git nothing for the
// pages before it. They only save work: collectGrep still drops every
// path <= after, so a missing tree or a full budget just prunes less.
func (r *Repo) skipSpecs(ctx context.Context, commit git.ObjectID, after string, budget int) []string {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil
	}
	defer release()
	var specs []string
	parts := strings.Split(after, "/")
	treeish, dir := string(commit)+"^{tree}", ""
	for i, comp := range parts {
		info, data, err := rd.ReadObject(ctx, treeish, maxTreeSize)
		if err != nil || info.Type != git.TreeObject {
			break
		}
		entries, err := odb.ParseTree(data)
		if err != nil {
			break
		}
		last := i == len(parts)-1
		key := comp // tree order compares a directory as "name/"
		if !last {
			key += "/"
		}
		var level []string
		for _, e := range entries {
			k := e.Name
			if e.Mode == odb.ModeTree {
				k += "/"
			}
			if k > key || k == key && !last {
				break // entries are in tree order
			}
			level = append(level, ":(exclude,literal)"+dir+e.Name)
		}
		if len(specs)+len(level) <= budget {
			specs = append(specs, level...)
		}
		if last {
			break
		}
		dir += comp + "/"
		treeish = string(commit) + ":" + strings.TrimSuffix(dir, "/")
	}
	return specs
}

// collectGrep reads `git grep -z -n --column` output:
//
//	<commit>:<path> NUL <line> NUL <column> NUL <text> LF   (a match)
//	<commit>:<path> NUL <line> NUL <text> LF                (context)
//	-- LF                                                   (group break)
//
// and builds the page; stopped reports that it quit before git finished.
func collectGrep(br *bufio.Reader, prefix string, opt GrepOptions) (*GrepResult, bool, error) {
	res := &GrepResult{Files: []GrepFile{}}
	usedLines, usedBytes := 0, 0
	var cur *GrepFile // the file being read; nil before the first
	curBytes := 0
	curSkip := false // before the cursor or outside Paths: lines dropped
	// finish decides about cur; false means the page is complete.
	finish := func() bool {
		if cur == nil || curSkip {
			return true
		}
		f := *cur
		if len(res.Files) == opt.MaxFiles {
			res.More = true
			return false
		}
		if usedLines+len(f.Lines) > opt.MaxLines || usedBytes+curBytes > opt.MaxBytes {
			if len(res.Files) > 0 {
				res.More = true
				return false
			}
			n, b := 0, 0
			for n < len(f.Lines) && n < opt.MaxLines && b+len(f.Lines[n].Text) <= opt.MaxBytes {
				b += len(f.Lines[n].Text)
				n++
			}
			f.Lines, curBytes = f.Lines[:n], b
		}
		usedLines += len(f.Lines)
		usedBytes += curBytes
		res.Files = append(res.Files, f)
		return true
	}
	for {
		head, err := br.Peek(len(prefix))
		if len(head) == 0 && err == io.EOF {
			finish()
			return res, false, nil
		}
		if bytes.HasPrefix(head, []byte("--\n")) {
			br.Discard(3)
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		if string(head) != prefix {
			return nil, false, fmt.Errorf("unexpected output %q", trunc(string(head), 100))
		}
		br.Discard(len(prefix))
		path, err := readField(br, 0, git.MaxPathLen+1)
		if err != nil {
			return nil, false, err
		}
		num, err := readField(br, 0, 32)
		if err != nil {
			return nil, false, err
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return nil, false, fmt.Errorf("bad line number %q", num)
		}
		rest, err := readField(br, '\n', maxGrepLineText+32)
		if err != nil {
			return nil, false, err
		}
		if cur == nil || cur.Path != path {
			if !finish() {
				return res, true, nil
			}
			cur = &GrepFile{Path: path}
			curBytes = 0
			curSkip = opt.StartAfter != "" && path <= opt.StartAfter || !opt.Filter.under(path)
		}
		if curSkip || len(cur.Lines) > opt.MaxLines || curBytes > opt.MaxBytes {
			continue // dropped, or over budget: cut or deferred anyway
		}
		line := GrepLine{Number: n, Text: rest}
		// A match carries its column; context lines do not.
		if col, text, ok := strings.Cut(rest, "\x00"); ok && col != "" && digits(col) == len(col) {
			line.Match, line.Text = true, text
		}
		line.Text = cutUTF8(line.Text, maxGrepLineText)
		curBytes += len(line.Text)
		cur.Lines = append(cur.Lines, line)
	}
}

// readField reads up to delim (consumed, not returned), keeping at most
// max bytes and discarding the rest.
func readField(br *bufio.Reader, delim byte, max int) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice(delim)
		keep := chunk
		if err == nil {
			keep = chunk[:len(chunk)-1]
		}
		if room := max - len(buf); room > 0 {
			buf = append(buf, keep[:min(len(keep), room)]...)
		}
		switch {
		case err == nil:
			return string(buf), nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// cutUTF8 shortens s to at most n bytes without splitting a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
