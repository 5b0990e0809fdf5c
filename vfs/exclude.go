package vfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// ExcludeFilter decides which local files a copy or sync into the repo
// leaves out, with gitignore(5) pattern rules: `*.pyc`, `build/` (directories
// only), `/build` (anchored at the source root), `!keep` (re-include),
// `**` (any depth). Paths are relative to the walked source root.
//
// With gitignore set, each directory's .gitignore is read when the walk
// enters it and applies to that directory and below; the deepest matching
// rule wins, and .gitignore files themselves are never copied. A base
// pattern (from NewExcludeFilter's patterns or excludeFrom) excludes a path
// outright, before any .gitignore is consulted.
//
// Excluded paths are also kept out of deletes: a copy or sync with delete
// leaves destination files that the filter excludes alone, as rsync does.
//
// A filter holds no per-walk state, so one value may serve many copies,
// also concurrently. The nil *ExcludeFilter excludes nothing.
type ExcludeFilter struct {
	base      []gitignore.Pattern
	gitignore bool
}

// NewExcludeFilter builds a filter from patterns, the lines of the file
// excludeFrom ("" for none; blank lines and lines starting with # are
// skipped), and, when gitignore is set, per-directory .gitignore files.
func NewExcludeFilter(patterns []string, excludeFrom string, gitignore bool) (*ExcludeFilter, error) {
	f := &ExcludeFilter{gitignore: gitignore}
	for _, p := range patterns {
		if pat, ok := parseIgnoreLine(strings.TrimSpace(p), nil); ok {
			f.base = append(f.base, pat)
		}
	}
	if excludeFrom != "" {
		pats, err := readIgnoreFile(excludeFrom, nil, true)
		if err != nil {
			return nil, fmt.Errorf("read exclude file: %w", err)
		}
		f.base = append(f.base, pats...)
	}
	return f, nil
}

// Active reports whether the filter can exclude anything.
func (f *ExcludeFilter) Active() bool {
	return f != nil && (len(f.base) > 0 || f.gitignore)
}

// IsExcluded reports whether the base patterns exclude rel, a slash path
// relative to the source root (.gitignore files are not consulted: they
// need a walk; see the type's doc).
func (f *ExcludeFilter) IsExcluded(rel string, isDir bool) bool {
	if f == nil || len(f.base) == 0 {
		return false
	}
	return matchIgnore(f.base, splitRel(rel), isDir)
}

// parseIgnoreLine turns one gitignore line into a pattern scoped to the
// directory domain; ok is false for blank lines and comments.
func parseIgnoreLine(line string, domain []string) (gitignore.Pattern, bool) {
	line = strings.TrimSuffix(line, "\r")
	if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
		return nil, false
	}
	// go-git matches with path/filepath.Match, whose negated class is
	// [^…]; gitignore (fnmatch) writes it [!…].
	line = strings.ReplaceAll(line, "[!", "[^")
	return gitignore.ParsePattern(line, domain), true
}

// readIgnoreFile reads a pattern file. An exclude-from file's lines are
// stripped first (gitstore does); a .gitignore's leading spaces are part of
// the pattern, as in git.
func readIgnoreFile(name string, domain []string, strip bool) ([]gitignore.Pattern, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var pats []gitignore.Pattern
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := sc.Text()
		if strip {
			line = strings.TrimSpace(line)
		}
		if pat, ok := parseIgnoreLine(line, domain); ok {
			pats = append(pats, pat)
		}
	}
	return pats, sc.Err()
}

// matchIgnore applies gitignore precedence: the last matching pattern
// decides, so later (deeper) rules override earlier ones.
func matchIgnore(pats []gitignore.Pattern, parts []string, isDir bool) bool {
	if len(parts) == 0 {
		return false
	}
	return gitignore.NewMatcher(pats).Match(parts, isDir)
}

func splitRel(rel string) []string {
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

// excludeWalk is one walk's view of a filter: the source root on disk and
// the .gitignore files read so far, keyed by directory (relative slash
// path, "" for the root).
type excludeWalk struct {
	f     *ExcludeFilter
	root  string
	rules map[string][]gitignore.Pattern // patterns in force in a directory: its ancestors' and its own
}

// walker returns the per-walk state for a source rooted at root; nil when
// the filter excludes nothing, so callers can skip all checks.
func (f *ExcludeFilter) walker(root string) *excludeWalk {
	if !f.Active() {
		return nil
	}
	return &excludeWalk{f: f, root: root, rules: map[string][]gitignore.Pattern{}}
}

// excluded reports whether rel (relative to the walk root) is left out.
// Directories are checked too, so the walk can prune them.
func (w *excludeWalk) excluded(rel string, isDir bool) (bool, error) {
	if w == nil {
		return false, nil
	}
	parts := splitRel(rel)
	if len(parts) == 0 {
		return false, nil
	}
	if matchIgnore(w.f.base, parts, isDir) {
		return true, nil
	}
	if !w.f.gitignore {
		return false, nil
	}
	if !isDir && parts[len(parts)-1] == ".gitignore" {
		return true, nil
	}
	pats, err := w.dirRules(path.Dir(strings.Join(parts, "/")))
	if err != nil {
		return false, err
	}
	return matchIgnore(pats, parts, isDir), nil
}

// protected reports whether a destination path that the sources do not
// cover must survive a delete: it, or a directory above it, is excluded.
func (w *excludeWalk) protected(rel string) (bool, error) {
	if w == nil {
		return false, nil
	}
	parts := splitRel(rel)
	for i := 1; i <= len(parts); i++ {
		ex, err := w.excluded(strings.Join(parts[:i], "/"), i < len(parts))
		if ex || err != nil {
			return ex, err
		}
	}
	return false, nil
}

// dirRules returns the .gitignore patterns in force in directory dir,
// reading each directory's file once, on first use.
func (w *excludeWalk) dirRules(dir string) ([]gitignore.Pattern, error) {
	if dir == "." {
		dir = ""
	}
	if pats, ok := w.rules[dir]; ok {
		return pats, nil
	}
	var inherited []gitignore.Pattern
	if dir != "" {
		parent := path.Dir(dir)
		var err error
		if inherited, err = w.dirRules(parent); err != nil {
			return nil, err
		}
	}
	own, err := readIgnoreFile(filepath.Join(w.root, filepath.FromSlash(dir), ".gitignore"), splitRel(dir), false)
	// A directory that does not exist on disk (a destination-only path
	// checked before a delete) simply has no rules.
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, syscall.EISDIR) {
		return nil, fmt.Errorf("read %s: %w", path.Join(dir, ".gitignore"), err)
	}
	// Copy so that siblings never share (and overwrite) one backing array.
	pats := append(append([]gitignore.Pattern(nil), inherited...), own...)
	w.rules[dir] = pats
	return pats, nil
}
