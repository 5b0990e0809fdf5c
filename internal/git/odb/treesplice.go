package odb

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/strata-storage/strata/internal/git"
)

// Editing a tree through ParseTree and EncodeTree turns every entry into
// hex and back and checks it again, which made up most of an API commit's
// CPU time in a directory of a few hundred files (docs/benchmarks.md,
// finding 5). LookupTree and SpliceTree work on the stored bytes instead:
// the entries an edit does not touch are copied as they are, and only the
// new ones are encoded and checked.

// rawEntry is one entry of tree content, pointing into it.
type rawEntry struct {
	mode string // a Mode constant
	name []byte
	id   []byte // rawIDLen bytes
	end  int    // offset just past the entry
}

func (e rawEntry) isTree() bool { return e.mode == ModeTree }

// nextRawEntry parses the entry of data at off. It checks the structure
// (canonical mode, a non-empty name without '/', a whole id), not the
// name rules EncodeTree applies to new entries.
func nextRawEntry(data []byte, off int) (rawEntry, error) {
	rest := data[off:]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return rawEntry{}, fmt.Errorf("%w: tree entry at offset %d: no mode", ErrInvalidObject, off)
	}
	mode, ok := canonicalMode(rest[:sp])
	if !ok {
		return rawEntry{}, fmt.Errorf("%w: tree entry at offset %d: bad mode %s", ErrInvalidObject, off, quoteTrunc(string(rest[:sp])))
	}
	rest = rest[sp+1:]
	nul := bytes.IndexByte(rest, 0)
	if nul <= 0 {
		return rawEntry{}, fmt.Errorf("%w: tree entry at offset %d: empty or unterminated name", ErrInvalidObject, off)
	}
	name := rest[:nul]
	if bytes.IndexByte(name, '/') >= 0 {
		return rawEntry{}, fmt.Errorf("%w: tree entry %s: contains '/'", ErrInvalidObject, quoteTrunc(string(name)))
	}
	rest = rest[nul+1:]
	if len(rest) < rawIDLen {
		return rawEntry{}, fmt.Errorf("%w: tree entry %s: truncated id", ErrInvalidObject, quoteTrunc(string(name)))
	}
	return rawEntry{mode: mode, name: name, id: rest[:rawIDLen], end: len(data) - len(rest) + rawIDLen}, nil
}

// compareTreeNames is compareEntries on names given as strings or bytes.
func compareTreeNames[A, B string | []byte](a A, aTree bool, b B, bTree bool) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return cmp.Compare(a[i], b[i])
		}
	}
	return cmp.Compare(nameByte(a, n, aTree), nameByte(b, n, bTree))
}

// nameByte is name[i], or past its end what git compares there: '/' for a
// tree, NUL for anything else.
func nameByte[S string | []byte](name S, i int, tree bool) byte {
	switch {
	case i < len(name):
		return name[i]
	case tree:
		return '/'
	}
	return 0
}

// LookupTree finds the entry called name in tree content data without
// decoding the others. ok is false when there is none.
func LookupTree(data []byte, name string) (e TreeEntry, ok bool, err error) {
	for off := 0; off < len(data); {
		r, err := nextRawEntry(data, off)
		if err != nil {
			return TreeEntry{}, false, err
		}
		if string(r.name) == name {
			return TreeEntry{Mode: r.mode, Name: name, OID: git.ObjectID(hex.EncodeToString(r.id))}, true, nil
		}
		off = r.end
	}
	return TreeEntry{}, false, nil
}

// SpliceTree returns tree content data without its entries named in remove
// or in add, and with add's entries, in git's order. The entries it keeps
// are copied byte for byte; data must be in git's order without
// duplicates next to each other (ErrInvalidObject otherwise). add is
// checked as EncodeTree checks its entries.
func SpliceTree(data []byte, remove []string, add []TreeEntry) ([]byte, error) {
	size, err := checkEntries(add)
	if err != nil {
		return nil, err
	}
	size += len(data)
	drop := make(map[string]struct{}, len(remove)+len(add))
	for _, name := range remove {
		drop[name] = struct{}{}
	}
	for _, e := range add {
		drop[e.Name] = struct{}{}
	}
	sorted := slices.Clone(add)
	slices.SortFunc(sorted, compareEntries)

	out := make([]byte, 0, size)
	next := 0 // the first entry of sorted not yet written
	var prev rawEntry
	for off := 0; off < len(data); {
		r, err := nextRawEntry(data, off)
		if err != nil {
			return nil, err
		}
		if off > 0 && compareTreeNames(prev.name, prev.isTree(), r.name, r.isTree()) >= 0 {
			return nil, fmt.Errorf("%w: tree entry %s: not sorted or duplicated", ErrInvalidObject, quoteTrunc(string(r.name)))
		}
		prev = r
		if _, ok := drop[string(r.name)]; !ok {
			for next < len(sorted) && compareTreeNames(sorted[next].Name, sorted[next].Mode == ModeTree, r.name, r.isTree()) < 0 {
				out = appendTreeEntry(out, sorted[next])
				next++
			}
			out = append(out, data[off:r.end]...)
		}
		off = r.end
	}
	for _, e := range sorted[next:] {
		out = appendTreeEntry(out, e)
	}
	return out, nil
}

// appendTreeEntry appends e, already checked, in tree object format.
func appendTreeEntry(buf []byte, e TreeEntry) []byte {
	buf = append(buf, e.Mode...)
	buf = append(buf, ' ')
	buf = append(buf, e.Name...)
	buf = append(buf, 0)
	buf, _ = hex.AppendDecode(buf, []byte(e.OID))
	return buf
}
