package git

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidPath reports a repository path a client may not use.
var ErrInvalidPath = errors.New("invalid path")

// Limits on client-supplied tree paths. Git has none, but every checkout
// lands on a filesystem: 255 bytes is the common NAME_MAX and 4096 PATH_MAX.
const (
	MaxPathLen    = 4096
	MaxSegmentLen = 255
)

// CleanPath validates a repository-relative file path and returns its
// normal form. It is applied to every path a client sends (commit-pack
// entries, file reads, listings).
//
// Normalisation only collapses runs of "/" and drops a trailing "/". The SDK
// already strips exactly one leading "/", so a path that still starts with
// "/" was absolute and is rejected rather than silently re-rooted.
//
// Rejected: the empty path (also "/" or "///"), NUL and newline bytes, "." and
// ".." segments, any segment git itself refuses to check out as ".git"
// (case-insensitively, with NTFS trailing dots/spaces or ":stream" suffixes,
// the 8.3 alias "git~1", HFS+ ignorable code points, or hidden behind a
// backslash that Windows treats as a separator), paths longer than
// MaxPathLen and segments longer than MaxSegmentLen bytes.
//
// Other control characters are allowed because git allows them; NUL cannot be
// stored in a tree entry and a newline would break the line-based git
// protocols (ls-tree, cat-file --batch, update-index --index-info) Strata
// feeds paths through.
func CleanPath(p string) (string, error) {
	if p == "" {
		return "", pathError(p, "empty path")
	}
	if strings.HasPrefix(p, "/") {
		return "", pathError(p, "absolute path")
	}
	return cleanPath(p)
}

// CleanDirPath is CleanPath for directory arguments: "" and "/" both mean the
// repository root and come back as "".
func CleanDirPath(p string) (string, error) {
	if p == "" || p == "/" {
		return "", nil
	}
	return CleanPath(p)
}

func cleanPath(p string) (string, error) {
	if i := strings.IndexAny(p, "\x00\n"); i >= 0 {
		if p[i] == 0 {
			return "", pathError(p, "NUL byte")
		}
		return "", pathError(p, "newline")
	}
	// Fast path: already clean paths (the common case) are returned as is.
	var b strings.Builder
	clean := !strings.Contains(p, "//") && !strings.HasSuffix(p, "/")
	if !clean {
		b.Grow(len(p))
	}
	n := 0
	for rest := p; rest != ""; {
		seg, tail, _ := strings.Cut(rest, "/")
		rest = tail
		if seg == "" {
			continue // collapsed "//" or trailing "/"
		}
		if why := checkSegment(seg); why != "" {
			return "", pathError(p, why)
		}
		if !clean {
			if n > 0 {
				b.WriteByte('/')
			}
			b.WriteString(seg)
		}
		n++
	}
	out := p
	if !clean {
		out = b.String()
	}
	if out == "" {
		return "", pathError(p, "empty path")
	}
	if len(out) > MaxPathLen {
		return "", pathError(p, fmt.Sprintf("longer than %d bytes", MaxPathLen))
	}
	return out, nil
}

// checkSegment returns why seg is not a usable path component, or "".
func checkSegment(seg string) string {
	switch {
	case seg == ".":
		return `"." segment`
	case seg == "..":
		return `".." segment`
	case len(seg) > MaxSegmentLen:
		return fmt.Sprintf("segment longer than %d bytes", MaxSegmentLen)
	}
	// A backslash is an ordinary byte to git on Unix but a separator on
	// Windows, so "a\.git" would become a/.git on a Windows clone.
	for part := range strings.SplitSeq(seg, `\`) {
		if isDotGit(part) {
			return fmt.Sprintf("%q is a reserved name", seg)
		}
	}
	return ""
}

// isDotGit reports whether a path component would be treated as ".git" by
// some filesystem a clone may land on. It mirrors git's is_hfs_dotgit and
// is_ntfs_dotgit (verify_path in read-cache.c): case folding, HFS+ ignorable
// code points, NTFS trailing dots and spaces, alternate data streams
// (".git::$INDEX_ALLOCATION") and the 8.3 short name "git~1".
func isDotGit(s string) bool {
	if strings.IndexFunc(s, hfsIgnorable) >= 0 {
		s = strings.Map(func(r rune) rune {
			if hfsIgnorable(r) {
				return -1
			}
			return r
		}, s)
	}
	switch {
	case len(s) >= 4 && strings.EqualFold(s[:4], ".git"):
		s = s[4:]
	case len(s) >= 5 && strings.EqualFold(s[:5], "git~1"):
		s = s[5:]
	default:
		return false
	}
	// NTFS ignores trailing dots and spaces and treats ':' as the start of a
	// stream name, so ".git. ." and ".git:x" both open ".git".
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', ' ':
			continue
		case ':':
			return true
		default:
			return false
		}
	}
	return true
}

// hfsIgnorable reports code points HFS+ drops when comparing names (the list
// git checks in utf8.c next_hfs_char).
func hfsIgnorable(r rune) bool {
	switch {
	case r >= 0x200c && r <= 0x200f, // zero-width (non-)joiner, LRM, RLM
		r >= 0x202a && r <= 0x202e, // bidi embedding and override
		r >= 0x206a && r <= 0x206f, // deprecated format characters
		r == 0xfeff:                // zero-width no-break space
		return true
	}
	return false
}

// pathError builds an error wrapping ErrInvalidPath; long paths are cut so
// a hostile client can't make the error (and the log line) megabytes long.
func pathError(p, why string) error {
	return fmt.Errorf("%w %s: %s", ErrInvalidPath, quoteTrunc(p, 200), why)
}

// quoteTrunc quotes s, cutting it to at most n bytes on a rune boundary.
func quoteTrunc(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...(%d bytes)", s[:cut], len(s))
}

// LiteralPathspec makes p match exactly the path p when handed to git as a
// pathspec: without it, "star*.txt" is a wildcard and ":x" pathspec magic.
func LiteralPathspec(p string) string { return ":(literal)" + p }
