package odb

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// Tree entry modes as git writes them in tree objects.
const (
	ModeFile       = "100644"
	ModeExecutable = "100755"
	ModeSymlink    = "120000"
	ModeSubmodule  = "160000" // gitlink: OID is a commit in another repository
	ModeTree       = "40000"  // no leading zero, as git writes it
)

// TreeEntry is one entry of a tree object.
type TreeEntry struct {
	// Mode is one of the Mode constants; any other spelling (git's old
	// "100664", a zero-padded "040000") is refused.
	Mode string
	// Name is a single path component: not empty, no '/' or NUL, not "."
	// or "..", and nothing a filesystem would treat as ".git".
	Name string
	// OID is the entry's object id in hex.
	OID git.ObjectID
}

const rawIDLen = git.HexLen / 2

// EncodeTree returns the tree object content for entries, which may be in
// any order: git requires a tree's entries sorted by name, comparing a
// subtree as if its name ended in '/'. It refuses anything `git fsck
// --strict` would reject (see TreeEntry, plus duplicate names, the zero id
// and a symlinked .gitmodules), wrapping ErrInvalidObject. The empty tree
// encodes as no bytes (git.EmptyTreeOID).
func EncodeTree(entries []TreeEntry) ([]byte, error) {
	size, err := checkEntries(entries)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, compareEntries)

	buf := make([]byte, 0, size)
	for _, e := range sorted {
		buf = appendTreeEntry(buf, e) // checked above
	}
	return buf, nil
}

// ParseTree parses tree object content. It is strict: it accepts exactly
// the trees EncodeTree produces (canonical modes, valid names, git's order,
// no duplicates), so EncodeTree(ParseTree(data)) == data. A tree git
// accepted with a legacy mode or an fsck warning fails with ErrInvalidObject.
func ParseTree(data []byte) ([]TreeEntry, error) {
	var entries []TreeEntry
	for off := 0; off < len(data); {
		rest := data[off:]
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("%w: tree entry at offset %d: no mode", ErrInvalidObject, off)
		}
		mode, ok := canonicalMode(rest[:sp])
		if !ok {
			return nil, fmt.Errorf("%w: tree entry at offset %d: bad mode %s", ErrInvalidObject, off, quoteTrunc(string(rest[:sp])))
		}
		rest = rest[sp+1:]
		nul := bytes.IndexByte(rest, 0)
		if nul < 0 {
			return nil, fmt.Errorf("%w: tree entry at offset %d: unterminated name", ErrInvalidObject, off)
		}
		name := string(rest[:nul])
		rest = rest[nul+1:]
		if len(rest) < rawIDLen {
			return nil, fmt.Errorf("%w: tree entry %s: truncated id", ErrInvalidObject, quoteTrunc(name))
		}
		e := TreeEntry{Mode: mode, Name: name, OID: git.ObjectID(hex.EncodeToString(rest[:rawIDLen]))}
		if err := checkEntry(e); err != nil {
			return nil, err
		}
		if n := len(entries); n > 0 && compareEntries(entries[n-1], e) >= 0 {
			return nil, fmt.Errorf("%w: tree entry %s: not sorted or duplicated", ErrInvalidObject, quoteTrunc(name))
		}
		entries = append(entries, e)
		off = len(data) - len(rest) + rawIDLen
	}
	// Sorted order puts a file "a" and a tree "a" apart ("a" < "a.b" < "a/"),
	// so the order check above does not catch that duplicate.
	if err := checkDuplicateNames(entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// canonicalMode maps b to its Mode constant without allocating.
func canonicalMode(b []byte) (string, bool) {
	switch string(b) {
	case ModeFile:
		return ModeFile, true
	case ModeExecutable:
		return ModeExecutable, true
	case ModeSymlink:
		return ModeSymlink, true
	case ModeSubmodule:
		return ModeSubmodule, true
	case ModeTree:
		return ModeTree, true
	}
	return "", false
}

// compareEntries is git's tree order (base_name_compare): bytewise by name,
// where a subtree's name compares as if followed by '/'.
func compareEntries(a, b TreeEntry) int {
	return compareTreeNames(a.Name, a.Mode == ModeTree, b.Name, b.Mode == ModeTree)
}

// checkEntries applies EncodeTree's rules to entries and returns their
// encoded size.
func checkEntries(entries []TreeEntry) (int, error) {
	size := 0
	for _, e := range entries {
		if err := checkEntry(e); err != nil {
			return 0, err
		}
		size += len(e.Mode) + len(e.Name) + 2 + rawIDLen
	}
	return size, checkDuplicateNames(entries)
}

func checkDuplicateNames(entries []TreeEntry) error {
	if len(entries) < 2 {
		return nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	slices.Sort(names)
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return fmt.Errorf("%w: duplicate tree entry %s", ErrInvalidObject, quoteTrunc(names[i]))
		}
	}
	return nil
}

func checkEntry(e TreeEntry) error {
	if _, ok := canonicalMode([]byte(e.Mode)); !ok {
		return fmt.Errorf("%w: tree entry %s: bad mode %s", ErrInvalidObject, quoteTrunc(e.Name), quoteTrunc(e.Mode))
	}
	if why := badName(e.Name); why != "" {
		return fmt.Errorf("%w: tree entry %s: %s", ErrInvalidObject, quoteTrunc(e.Name), why)
	}
	if err := checkID("tree entry "+quoteTrunc(e.Name), e.OID); err != nil {
		return err
	}
	// A symlinked .gitmodules lets a clone write outside the worktree
	// (CVE-2018-11235); fsck rejects it.
	if e.Mode == ModeSymlink && isDotGitmodules(e.Name) {
		return fmt.Errorf("%w: tree entry %s: .gitmodules may not be a symlink", ErrInvalidObject, quoteTrunc(e.Name))
	}
	return nil
}

// badName returns why name cannot be a tree entry name, or "". These are
// the name rules of git's fsck_tree, which `fsck --strict` (and
// receive.fsckObjects) enforce. Newlines and long names are legal in trees;
// the stricter client path policy is git.CleanPath's.
func badName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case name == "." || name == "..":
		return "reserved name"
	case strings.IndexByte(name, '/') >= 0:
		return "contains '/'"
	case strings.IndexByte(name, 0) >= 0:
		return "contains NUL"
	}
	for part := range strings.SplitSeq(name, `\`) {
		if isDotGit(part) {
			return "reserved name"
		}
	}
	return ""
}

// isDotGit reports whether a name would open ".git" on some filesystem a
// clone may land on: case folding and HFS+ ignorable code points, NTFS
// trailing dots/spaces, ":stream" suffixes and the 8.3 alias "git~1" (git's
// is_hfs_dotgit/is_ntfs_dotgit). Same rule as git.CleanPath's, which is
// unexported there.
func isDotGit(s string) bool {
	s = stripHFSIgnorable(s)
	switch {
	case len(s) >= 4 && strings.EqualFold(s[:4], ".git"):
		return ntfsTail(s[4:])
	case len(s) >= 5 && strings.EqualFold(s[:5], "git~1"):
		return ntfsTail(s[5:])
	}
	return false
}

// isDotGitmodules reports the names fsck treats as .gitmodules (8.3 aliases
// only as "gitmod~N"; git also checks hashed short names, which would need
// NTFS's hashing).
func isDotGitmodules(s string) bool {
	s = stripHFSIgnorable(s)
	switch {
	case len(s) >= 11 && strings.EqualFold(s[:11], ".gitmodules"):
		return ntfsTail(s[11:])
	case len(s) >= 8 && strings.EqualFold(s[:7], "gitmod~") && s[7] >= '1' && s[7] <= '4':
		return ntfsTail(s[8:])
	}
	return false
}

// ntfsTail reports whether NTFS would ignore tail: trailing dots and spaces,
// or an alternate data stream (":...").
func ntfsTail(tail string) bool {
	for i := 0; i < len(tail); i++ {
		switch tail[i] {
		case '.', ' ':
		case ':':
			return true
		default:
			return false
		}
	}
	return true
}

func stripHFSIgnorable(s string) string {
	if strings.IndexFunc(s, hfsIgnorable) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if hfsIgnorable(r) {
			return -1
		}
		return r
	}, s)
}

// hfsIgnorable reports code points HFS+ drops when comparing names.
func hfsIgnorable(r rune) bool {
	return r >= 0x200c && r <= 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x206a && r <= 0x206f || r == 0xfeff
}
