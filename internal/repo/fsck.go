package repo

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/odb"
)

// A push runs receive.fsckObjects; Strata's own writes (commit-pack,
// diff-commit, restore, snapshot and fork copies) build their trees in
// process, where odb.EncodeTree already applies fsck's tree rules. What
// it cannot see is the rules git applies to *special files*: a .gitmodules
// whose url or path looks like an option or whose name escapes, a
// symlinked .gitattributes/.gitignore/.mailmap (an error or a warning,
// depending on the git version), an oversized .gitattributes. Rather than
// re-implement fsck.c, the new special entries of a write are shown to git
// itself: each becomes a one-entry tree in a tiny pack that
// `git index-pack --strict` checks exactly as receive-pack checks a push
// (the blob is read from the repository). Only entries whose name could be
// special are checked, and each (name, mode, blob) verdict is remembered,
// so an ordinary commit costs nothing and a commit to a repository with a
// .gitattributes pays one index-pack (about 2 ms) per new version of it.

// specialEntry is a tree entry git's fsck looks into.
type specialEntry struct {
	Path string // the full path, for the error message
	Mode string
	OID  git.ObjectID
}

// mayBeSpecial reports whether fsck could treat a file named name as
// special: a superset of git's .gitmodules/.gitattributes/.gitignore/
// .mailmap spellings, including case variants, HFS+ ignorable code points
// and NTFS 8.3 short names (which contain '~').
func mayBeSpecial(name string) bool {
	n := strings.ToLower(stripIgnorable(name))
	return strings.HasPrefix(n, ".git") || strings.HasPrefix(n, ".mailmap") || strings.Contains(n, "~")
}

// stripIgnorable drops every non-ASCII rune: HFS+ ignores some of them
// when comparing names, and a superset is what mayBeSpecial needs.
func stripIgnorable(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x80 {
			return -1
		}
		return r
	}, s)
}

// fsckVerdicts remembers the special entries git has accepted. A verdict
// depends only on the name, the mode and the content (the blob id), not
// on the repository, so one bounded set serves all of them.
var fsckVerdicts = struct {
	sync.Mutex
	ok map[string]struct{}
}{ok: make(map[string]struct{})}

const maxFsckVerdicts = 4096

func verdictKey(e specialEntry) string { return e.Mode + " " + path.Base(e.Path) + " " + string(e.OID) }

// checkSpecial refuses, with ErrInvalid, entries git's fsck refuses. Their
// blobs are in the repository or pending in tx (may be nil): the check
// runs before anything of the write becomes visible, so a refused write
// leaves nothing `git fsck` could complain about.
func (r *Repo) checkSpecial(ctx context.Context, entries []specialEntry, tx *odb.Transaction) error {
	var todo []specialEntry
	fsckVerdicts.Lock()
	for _, e := range entries {
		if e.Mode == "160000" || !mayBeSpecial(path.Base(e.Path)) {
			continue
		}
		if _, ok := fsckVerdicts.ok[verdictKey(e)]; !ok && !slices.ContainsFunc(todo, func(t specialEntry) bool { return verdictKey(t) == verdictKey(e) }) {
			todo = append(todo, e)
		}
	}
	fsckVerdicts.Unlock()
	if len(todo) == 0 {
		return nil
	}
	pack, names, err := specialPack(todo)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(r.path, "fsck-")
	if err != nil {
		return fmt.Errorf("fsck new objects: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "pack"), 0o755); err != nil {
		return fmt.Errorf("fsck new objects: %w", err)
	}
	if tx != nil {
		// Blobs this write has not committed yet: hard-linked into the
		// scratch object directory, where git finds them as loose objects.
		for _, e := range todo {
			src := tx.PendingPath(e.OID)
			if src == "" {
				continue
			}
			dst := filepath.Join(tmp, string(e.OID[:2]), string(e.OID[2:]))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("fsck new objects: %w", err)
			}
			if err := os.Link(src, dst); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("fsck new objects: %w", err)
			}
		}
	}
	alternates := []string{filepath.Join(r.path, "objects")}
	if data, err := os.ReadFile(filepath.Join(r.path, "objects", "info", "alternates")); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if line = strings.TrimSpace(line); line == "" || line[0] == '#' {
				continue
			}
			if !filepath.IsAbs(line) {
				line = filepath.Join(r.path, "objects", line)
			}
			alternates = append(alternates, line)
		}
	}
	err = r.git.Run(ctx, r.path, git.Command{Name: "index-pack", Flags: []string{"--strict", "--stdin"}},
		git.WithStdin(bytes.NewReader(pack)),
		git.WithConfig("core.fsync=none"), // the scratch pack is deleted unread
		git.WithEnv("GIT_OBJECT_DIRECTORY="+tmp, "GIT_ALTERNATE_OBJECT_DIRECTORIES="+strings.Join(alternates, ":")))
	var ce *git.CommandError
	if errors.As(err, &ce) && ctx.Err() == nil {
		return fsckRefusal(ce.Stderr, names, todo)
	}
	if err != nil {
		return fmt.Errorf("fsck new objects: %w", err)
	}
	fsckVerdicts.Lock()
	if len(fsckVerdicts.ok)+len(todo) > maxFsckVerdicts {
		clear(fsckVerdicts.ok) // crude but bounded: the next writes re-check
	}
	for _, e := range todo {
		fsckVerdicts.ok[verdictKey(e)] = struct{}{}
	}
	fsckVerdicts.Unlock()
	return nil
}

// fsckRefusal turns index-pack's complaint ("error: object <id>: <msgId>:
// <text>") into an ErrInvalid naming the path.
func fsckRefusal(stderr string, names map[git.ObjectID]string, todo []specialEntry) error {
	for line := range strings.SplitSeq(stderr, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "error: object ")
		if !ok {
			continue
		}
		oid, msg, ok := strings.Cut(rest, ": ")
		if !ok {
			continue
		}
		p, ok := names[git.ObjectID(oid)]
		if !ok {
			p = todo[0].Path
		}
		return invalidf("%s: refused by git fsck, as a push would be: %s", p, msg)
	}
	return invalidf("%s: refused by git fsck, as a push would be: %s", todo[0].Path, strings.TrimSpace(stderr))
}

// specialPack is a pack of one one-entry tree per entry, and which path
// each tree and blob id stands for.
func specialPack(entries []specialEntry) ([]byte, map[git.ObjectID]string, error) {
	var b bytes.Buffer
	b.WriteString("PACK")
	_ = binary.Write(&b, binary.BigEndian, uint32(2))
	_ = binary.Write(&b, binary.BigEndian, uint32(len(entries)))
	names := make(map[git.ObjectID]string, 2*len(entries))
	for _, e := range entries {
		raw, err := hex.DecodeString(string(e.OID))
		if err != nil {
			return nil, nil, fmt.Errorf("fsck new objects: bad id %q", e.OID)
		}
		mode := strings.TrimPrefix(e.Mode, "0")
		tree := append([]byte(mode+" "+path.Base(e.Path)+"\x00"), raw...)
		h := sha1.New()
		fmt.Fprintf(h, "tree %d\x00", len(tree))
		h.Write(tree)
		names[git.ObjectID(hex.EncodeToString(h.Sum(nil)))] = e.Path
		names[e.OID] = e.Path
		// Object header: type 2 (tree), size in 4 + 7n bits.
		size := len(tree)
		c := byte(2<<4 | size&0x0f)
		size >>= 4
		for size > 0 {
			b.WriteByte(c | 0x80)
			c = byte(size & 0x7f)
			size >>= 7
		}
		b.WriteByte(c)
		zw := zlib.NewWriter(&b)
		zw.Write(tree)
		if err := zw.Close(); err != nil {
			return nil, nil, err
		}
	}
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes(), names, nil
}

// changedSpecial lists the entries of tree that may be special and are not
// in base (a tree, or "" for none) with the same mode and id: what a write
// that replaces base's tree by tree brings in.
func (r *Repo) changedSpecial(ctx context.Context, base, tree git.ObjectID) ([]specialEntry, error) {
	if base == "" {
		base = git.EmptyTreeOID
	}
	out, err := r.git.Output(ctx, r.path, git.Command{Name: "diff-tree",
		Flags: []string{"-r", "-z", "--no-renames", "--diff-filter=AMT"}, Args: []string{string(base), string(tree)}})
	if err != nil {
		return nil, fmt.Errorf("list new special files: %w", err)
	}
	return parseRawDiff(out), nil
}

// parseRawDiff reads `git diff-* -z` raw records, ":<old mode> <new mode>
// <old id> <new id> <status>\0<path>\0", keeping the new side of the
// paths that may be special.
func parseRawDiff(out []byte) []specialEntry {
	var entries []specialEntry
	fields := strings.Split(string(out), "\x00")
	for i := 0; i+1 < len(fields); i += 2 {
		meta := strings.Fields(strings.TrimPrefix(fields[i], ":"))
		if len(meta) < 5 {
			continue
		}
		p := fields[i+1]
		entries = append(entries, specialDirs(p)...)
		if mayBeSpecial(path.Base(p)) {
			entries = append(entries, specialEntry{Path: p, Mode: meta[1], OID: git.ObjectID(meta[3])})
		}
	}
	return entries
}

// specialDirs lists the directories on p that may be special: fsck
// refuses a .gitmodules that is not a blob. Whether a tree there is
// acceptable does not depend on its content, so the empty tree stands in
// for it and the verdict is remembered once per name.
func specialDirs(p string) []specialEntry {
	var entries []specialEntry
	for i := strings.IndexByte(p, '/'); i >= 0; {
		dir := p[:i]
		if mayBeSpecial(path.Base(dir)) {
			entries = append(entries, specialEntry{Path: dir, Mode: "40000", OID: git.EmptyTreeOID})
		}
		j := strings.IndexByte(p[i+1:], '/')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return entries
}

// checkWrite applies the special-file fsck rules to what a commit of req
// onto parent (a commit, or ZeroOID) with tree brings in; tx holds the
// write's uncommitted objects.
func (r *Repo) checkWrite(ctx context.Context, req CommitRequest, parent, tree git.ObjectID, tx *odb.Transaction) error {
	if req.checked {
		return nil
	}
	if req.Tree == "" {
		var entries []specialEntry
		for _, c := range req.Changes {
			if c.Delete {
				continue
			}
			entries = append(entries, specialDirs(c.Path)...)
			if mayBeSpecial(path.Base(c.Path)) {
				mode := c.Mode
				if mode == "" {
					mode = "100644"
				}
				entries = append(entries, specialEntry{Path: c.Path, Mode: mode, OID: c.OID})
			}
		}
		return r.checkSpecial(ctx, entries, tx)
	}
	// A whole tree (restore, snapshot, fork): it is in the repository
	// already; what it adds to the parent's tree is checked.
	base := git.ObjectID("")
	if !parent.IsZero() {
		c, err := r.readCommitOID(ctx, parent)
		if err != nil {
			return err
		}
		base = c.Tree
	}
	entries, err := r.changedSpecial(ctx, base, tree)
	if err != nil {
		return err
	}
	return r.checkSpecial(ctx, entries, tx)
}

// indexSpecial lists the entries of the index at indexFile (GIT_INDEX_FILE)
// that may be special and differ from tree: what a patch applied to it
// brings in, before write-tree writes any tree.
func (r *Repo) indexSpecial(ctx context.Context, indexFile string, tree git.ObjectID) ([]specialEntry, error) {
	out, err := r.git.Output(ctx, r.path, git.Command{Name: "diff-index",
		Flags: []string{"--cached", "-z", "--no-renames", "--diff-filter=AMT"}, Args: []string{string(tree)}},
		git.WithEnv("GIT_INDEX_FILE="+indexFile))
	if err != nil {
		return nil, fmt.Errorf("list new special files: %w", err)
	}
	return parseRawDiff(out), nil
}
