package vfs

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
)

// fnmatchFunc compiles a Python fnmatch pattern: "*" matches anything
// (newlines too), "?" one character, "[seq]" and "[!seq]" a set; there is
// no escape character, and a "[" without its "]" is literal. With
// segment, "*" and "?" never match "/"; patterns come one path segment at
// a time, so that changes nothing.
func fnmatchFunc(pattern string, segment bool) func(string) bool {
	key := pattern
	if segment {
		key = "\x00" + pattern
	}
	if m, ok := fnmatchCache.Load(key); ok {
		return m.(func(string) bool)
	}
	var m func(string) bool
	if !strings.ContainsAny(pattern, "*?[") {
		m = func(s string) bool { return s == pattern }
	} else {
		re := regexp.MustCompile(fnmatchRegexp(pattern))
		m = re.MatchString
	}
	fnmatchCache.Store(key, m)
	return m
}

// fnmatchCache keeps compiled patterns; a glob applies one pattern to
// every name of a directory.
var fnmatchCache sync.Map

// fnmatchRegexp translates pattern as Python's fnmatch.translate does.
func fnmatchRegexp(pattern string) string {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case '*':
			b.WriteString(".*")
			for i+1 < len(rs) && rs[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteString(".")
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				b.WriteString(`\[`)
				continue
			}
			set := rs[i+1 : j]
			i = j
			b.WriteByte('[')
			if len(set) > 0 && set[0] == '!' {
				b.WriteByte('^')
				set = set[1:]
			} else if len(set) > 0 && set[0] == '^' {
				b.WriteString(`\^`)
				set = set[1:]
			}
			for k, r := range set {
				switch {
				case r == '-' && k > 0 && k < len(set)-1:
					b.WriteByte('-') // a range
				case r == '\\' || r == ']' || r == '[' || r == '-' || r == '^':
					b.WriteByte('\\')
					b.WriteRune(r)
				default:
					b.WriteRune(r)
				}
			}
			b.WriteByte(']')
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`\z`)
	return b.String()
}

// globEntry is a directory entry as the glob sees it.
type globEntry struct {
	name  string
	isDir bool
}

// globSource is what a glob walks: a snapshot's trees or the local disk.
// Paths are real ones (no pivot "." segments).
type globSource interface {
	// list returns dir's entries; ok is false when dir is not a directory.
	list(dir string) (entries []globEntry, ok bool, err error)
	// stat reports whether p exists and is a directory.
	stat(p string) (exists, isDir bool, err error)
	join(dir, name string) string
}

// matchSegment applies one pattern segment to a name with gitstore's
// dotfile rule: a wildcard never matches a name starting with "." unless
// the segment itself starts with ".".
func matchSegment(seg, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(seg, ".") {
		return false
	}
	return fnmatchFunc(seg, true)(name)
}

func hasWildcard(seg string) bool { return strings.ContainsAny(seg, "*?[") }

// globWalk matches segs below (real, shown): real is the path to read,
// shown the path to report (it keeps a pivot's "/./"). emit gets every
// match's shown path.
func globWalk(src globSource, segs []string, real, shown string, emit func(string)) error {
	if len(segs) == 0 {
		emit(shown)
		return nil
	}
	seg, rest := segs[0], segs[1:]
	switch {
	case seg == ".":
		// A pivot: it moves nowhere but stays in the results.
		return globWalk(src, rest, real, src.join(shown, "."), emit)
	case seg == "**":
		if len(rest) == 0 {
			return globAll(src, real, shown, emit)
		}
		if err := globWalk(src, rest, real, shown, emit); err != nil {
			return err
		}
		entries, ok, err := src.list(real)
		if err != nil || !ok {
			return err
		}
		for _, e := range entries {
			if e.isDir && !strings.HasPrefix(e.name, ".") {
				if err := globWalk(src, segs, src.join(real, e.name), src.join(shown, e.name), emit); err != nil {
					return err
				}
			}
		}
		return nil
	case !hasWildcard(seg):
		p := src.join(real, seg)
		exists, isDir, err := src.stat(p)
		if err != nil || !exists || (len(rest) > 0 && !isDir) {
			return err
		}
		return globWalk(src, rest, p, src.join(shown, seg), emit)
	}
	entries, ok, err := src.list(real)
	if err != nil || !ok {
		return err
	}
	for _, e := range entries {
		// A file cannot have children: with segments left, skip it (the
		// crash gitstore fixed in v0.68.4).
		if (len(rest) > 0 && !e.isDir) || !matchSegment(seg, e.name) {
			continue
		}
		if err := globWalk(src, rest, src.join(real, e.name), src.join(shown, e.name), emit); err != nil {
			return err
		}
	}
	return nil
}

// globAll emits every entry below real (files and directories) at every
// depth, never entering or yielding dot-named ones.
func globAll(src globSource, real, shown string, emit func(string)) error {
	entries, ok, err := src.list(real)
	if err != nil || !ok {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.name, ".") {
			continue
		}
		emit(src.join(shown, e.name))
		if e.isDir {
			if err := globAll(src, src.join(real, e.name), src.join(shown, e.name), emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// globCollect runs a glob and returns its matches sorted and unique.
func globCollect(src globSource, segs []string, real, shown string) ([]string, error) {
	var out []string
	err := globWalk(src, segs, real, shown, func(p string) { out = append(out, p) })
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// splitGlob splits a pattern into segments, dropping empty ones and a
// leading "." (a pivot counts only after the first segment).
func splitGlob(pattern string) []string {
	var segs []string
	for _, s := range strings.Split(pattern, "/") {
		if s == "" || (s == "." && len(segs) == 0) {
			continue
		}
		segs = append(segs, s)
	}
	return segs
}

// Glob returns the paths matching pattern, sorted and unique: segments
// matched with fnmatch, "*" and "?" skipping dot-names unless the segment
// starts with ".", "**" for any number of directories (never entering or
// yielding dot-names; last, it yields files and directories at every
// depth), and a "/./" pivot kept in the results ("src/./**/*.py" gives
// "src/./main.py"). Files and directories both match.
//
// A malformed segment ("[" that never closes, by path.Match's syntax) is
// path.ErrBadPattern. Because of this method *FS is an fs.GlobFS, so
// fs.Glob uses these rules too: unlike path.Match, "*" skips dot-names.
func (f *FS) Glob(pattern string) ([]string, error) {
	segs := splitGlob(pattern)
	if len(segs) == 0 {
		return []string{}, nil
	}
	if err := checkGlob(segs); err != nil {
		return nil, err
	}
	var out []string
	err := f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		var err error
		out, err = globCollect(&treeGlob{f: f, ctx: ctx, rd: rd}, segs, "", "")
		return err
	})
	if out == nil {
		out = []string{}
	}
	return out, err
}

// treeGlob is a snapshot as a globSource.
type treeGlob struct {
	f   *FS
	ctx context.Context
	rd  *catfile.Reader
}

func (t *treeGlob) list(dir string) ([]globEntry, bool, error) {
	e, ok, err := t.f.lookupOptional(t.ctx, t.rd, dir)
	if err != nil || !ok || !e.isDir() {
		return nil, false, err
	}
	list, err := t.f.store.readTree(t.ctx, t.rd, e.oid)
	if err != nil {
		return nil, false, err
	}
	out := make([]globEntry, len(list))
	for i, x := range list {
		out[i] = globEntry{name: x.Name, isDir: x.Mode == odb.ModeTree}
	}
	return out, true, nil
}

func (t *treeGlob) stat(p string) (bool, bool, error) {
	e, ok, err := t.f.lookupOptional(t.ctx, t.rd, p)
	return ok, ok && e.isDir(), err
}

func (t *treeGlob) join(dir, name string) string { return joinPath(dir, name) }

// DiskGlob is Glob over the local filesystem, with the same rules. A
// relative pattern is relative to the working directory; "**" follows
// symlinked directories (each real directory entered once per branch of
// the walk, so a link cycle ends).
func DiskGlob(pattern string) ([]string, error) {
	pattern = filepath.ToSlash(pattern)
	root := ""
	if vol := filepath.VolumeName(filepath.FromSlash(pattern)); vol != "" {
		root = filepath.ToSlash(vol)
		pattern = pattern[len(vol):]
	}
	if strings.HasPrefix(pattern, "/") {
		root += "/"
	}
	segs := splitGlob(pattern)
	if len(segs) == 0 {
		return []string{}, nil
	}
	if err := checkGlob(segs); err != nil {
		return nil, err
	}
	out, err := globCollect(diskGlob{}, segs, root, root)
	if out == nil {
		out = []string{}
	}
	return out, err
}

// diskGlob is the local filesystem as a globSource.
type diskGlob struct{}

func (diskGlob) local(p string) string {
	if p == "" {
		return "."
	}
	return filepath.FromSlash(p)
}

func (d diskGlob) list(dir string) ([]globEntry, bool, error) {
	ents, err := os.ReadDir(d.local(dir))
	if err != nil {
		// Unreadable or not a directory: no matches, as os.listdir's
		// callers in gitstore skip them.
		return nil, false, nil
	}
	out := make([]globEntry, 0, len(ents))
	for _, e := range ents {
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			// os.path.isdir follows links; a link to the directory itself
			// or one above it is not descended into, so "**" ends.
			full := filepath.Join(d.local(dir), e.Name())
			fi, err := os.Stat(full)
			isDir = err == nil && fi.IsDir() && !linksAbove(d.local(dir), full)
		}
		out = append(out, globEntry{name: e.Name(), isDir: isDir})
	}
	return out, true, nil
}

func (d diskGlob) stat(p string) (bool, bool, error) {
	fi, err := os.Stat(d.local(p))
	if err != nil {
		_, lerr := os.Lstat(d.local(p))
		return lerr == nil, false, nil // a dangling link exists, as a file
	}
	return true, fi.IsDir(), nil
}

func (diskGlob) join(dir, name string) string {
	switch {
	case dir == "":
		return name
	case strings.HasSuffix(dir, "/"):
		return dir + name
	}
	return dir + "/" + name
}

// linksAbove reports whether the directory link resolves to dir or one of
// its ancestors: descending into it would never end.
func linksAbove(dir, link string) bool {
	target, err1 := filepath.EvalSymlinks(link)
	here, err2 := filepath.EvalSymlinks(dir)
	if err1 != nil || err2 != nil {
		return true
	}
	return here == target || strings.HasPrefix(here, strings.TrimSuffix(target, string(filepath.Separator))+string(filepath.Separator))
}

// checkGlob refuses malformed segments as path.Match would.
func checkGlob(segs []string) error {
	for _, seg := range segs {
		if _, err := path.Match(seg, ""); err != nil {
			return err
		}
	}
	return nil
}
