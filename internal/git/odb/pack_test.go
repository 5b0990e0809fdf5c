package odb

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// packFiles lists objects/pack/* (names only).
func packFiles(tb testing.TB, gitDir string) []string {
	tb.Helper()
	var names []string
	for _, f := range objectFiles(tb, gitDir) {
		if name, ok := strings.CutPrefix(f, "pack/"); ok {
			names = append(names, name)
		}
	}
	return names
}

// writeMany writes n blobs (one of them streamed past the spool limit,
// after the switch to the pack), a tree of them and a commit; it returns
// every id with its content.
func writeMany(tb testing.TB, tx *Transaction, n int) (ids []git.ObjectID, contents map[git.ObjectID][]byte, commit git.ObjectID) {
	tb.Helper()
	contents = make(map[git.ObjectID][]byte)
	var entries []TreeEntry
	for i := range n {
		content := fmt.Appendf(nil, "file %d\n", i)
		var oid git.ObjectID
		if i == n-10 {
			content = bytes.Repeat([]byte("streamed into the pack\n"), spoolMemory/16)
			bw := tx.NewBlob()
			bw.Write(content)
			var err error
			if oid, err = bw.Close(); err != nil {
				tb.Fatal(err)
			}
		} else {
			oid = mustWrite(tb, tx, git.BlobObject, content)
		}
		mustWrite(tb, tx, git.BlobObject, content) // a duplicate is skipped
		ids = append(ids, oid)
		contents[oid] = content
		entries = append(entries, TreeEntry{ModeFile, fmt.Sprintf("f%04d", i), oid})
	}
	data, err := EncodeTree(entries)
	if err != nil {
		tb.Fatal(err)
	}
	tree := mustWrite(tb, tx, git.TreeObject, data)
	data, err = EncodeCommit(Commit{Tree: tree, Author: testSig, Committer: testSig, Message: "many\n"})
	if err != nil {
		tb.Fatal(err)
	}
	commit = mustWrite(tb, tx, git.CommitObject, data)
	ids = append(ids, tree)
	return ids, contents, commit
}

func TestTransaction_packsManyObjects(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	const n = 1000
	ids, contents, commit := writeMany(t, tx, n)
	if objs, blobs, size := tx.Stats(); objs != n+2 || blobs != n || size <= 0 {
		t.Errorf("Stats = %d, %d, %d; want %d objects, %d blobs", objs, blobs, size, n+2, n)
	}

	// Before Commit: packThreshold loose temp files, one temp pack,
	// nothing visible.
	var loose, packs int
	for _, f := range objectFiles(t, gitDir) {
		switch {
		case strings.HasPrefix(f, "pack/tmp_pack_"):
			packs++
		case strings.Contains(f, "/tmp_obj_"):
			loose++
		default:
			t.Errorf("unexpected file %s before Commit", f)
		}
	}
	if loose != packThreshold || packs != 1 {
		t.Errorf("%d loose temps, %d temp packs; want %d, 1", loose, packs, packThreshold)
	}
	if exists(gitDir, commit) || exists(gitDir, ids[n-1]) {
		t.Error("objects visible before Commit")
	}
	mustCommit(t, tx)

	names := packFiles(t, gitDir)
	if len(names) != 2 || !strings.HasSuffix(names[0], ".idx") || !strings.HasSuffix(names[1], ".pack") {
		t.Fatalf("objects/pack = %v, want one pack and its index", names)
	}
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(gitDir, "objects", "pack", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o444 {
			t.Errorf("%s mode = %v, want 0444", name, fi.Mode().Perm())
		}
	}
	pack := filepath.Join(gitDir, "objects", "pack", names[1])
	out := runGit(t, gitDir, nil, nil, "verify-pack", "-v", pack)
	if want := fmt.Sprintf("non delta: %d objects", n+2-packThreshold); !strings.Contains(out, want) {
		t.Errorf("verify-pack -v: want %q in\n%s", want, out)
	}
	if got := runGit(t, gitDir, nil, nil, "count-objects", "-v"); !strings.Contains(got, fmt.Sprintf("count: %d\n", packThreshold)) ||
		!strings.Contains(got, fmt.Sprintf("in-pack: %d\n", n+2-packThreshold)) || !strings.Contains(got, "garbage: 0\n") {
		t.Errorf("count-objects -v:\n%s", got)
	}

	var batch bytes.Buffer
	for _, oid := range ids {
		fmt.Fprintln(&batch, oid)
	}
	got := runGit(t, gitDir, nil, batch.Bytes(), "cat-file", "--batch")
	var want strings.Builder
	for _, oid := range ids {
		if c, ok := contents[oid]; ok {
			fmt.Fprintf(&want, "%s blob %d\n%s\n", oid, len(c), c)
		} else {
			data := runGit(t, gitDir, nil, nil, "cat-file", "tree", string(oid))
			fmt.Fprintf(&want, "%s tree %d\n%s\n", oid, len(data), data)
		}
	}
	if got != want.String() {
		t.Error("cat-file --batch output differs from the contents written")
	}
	runGit(t, gitDir, nil, nil, "update-ref", "refs/heads/main", string(commit))
	runGit(t, gitDir, nil, nil, "fsck", "--full", "--strict", "--no-dangling")

	// The index is byte for byte git index-pack's for the same pack.
	dir := t.TempDir()
	data, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	copyPack := filepath.Join(dir, "copy.pack")
	if err := os.WriteFile(copyPack, data, 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, gitDir, nil, nil, "index-pack", "-o", filepath.Join(dir, "copy.idx"), copyPack)
	ours, err := os.ReadFile(strings.TrimSuffix(pack, ".pack") + ".idx")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(filepath.Join(dir, "copy.idx"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, theirs) {
		t.Errorf("our .idx (%d bytes) differs from git index-pack's (%d bytes)", len(ours), len(theirs))
	}
}

func TestTransaction_packAbortLeavesNoFiles(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	before := objectFiles(t, gitDir)
	tx := begin(t, gitDir)
	ids, _, commit := writeMany(t, tx, packThreshold+50)
	if path := tx.PendingPath(ids[len(ids)-2]); path == "" { // a loose copy, to be removed too
		t.Fatal("no PendingPath for a packed blob")
	}
	if len(packFiles(t, gitDir)) != 1 {
		t.Fatal("no temp pack before Abort")
	}
	tx.Abort()
	if after := objectFiles(t, gitDir); !slices.Equal(after, before) {
		t.Errorf("files after Abort = %v, want %v", after, before)
	}
	if objs, blobs, n := tx.Stats(); objs != 0 || blobs != 0 || n != 0 {
		t.Errorf("Stats after Abort = %d, %d, %d", objs, blobs, n)
	}
	if exists(gitDir, commit) {
		t.Error("commit exists after Abort")
	}
}

func TestTransaction_packCrashLeftoversArePruned(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	writeMany(t, tx, packThreshold+5)
	// Simulate a crash: nothing is finished or removed.
	for _, p := range tx.pending {
		if p.f != nil {
			p.f.Close()
		}
	}
	tx.pending = nil
	tx.pack.f.Close()
	tx.pack = nil
	runGit(t, gitDir, nil, nil, "prune", "--expire=now")
	if files := objectFiles(t, gitDir); len(files) != 0 {
		t.Errorf("files after git prune = %v", files)
	}
}

func TestTransaction_pendingPathOfPackedObject(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	ids, contents, _ := writeMany(t, tx, packThreshold+20)
	for _, oid := range []git.ObjectID{ids[0], ids[len(ids)-3], ids[len(ids)-11], ids[len(ids)-1]} {
		path := tx.PendingPath(oid)
		if path == "" {
			t.Fatalf("PendingPath(%s) = \"\"", oid)
		}
		if again := tx.PendingPath(oid); again != path {
			t.Errorf("PendingPath(%s) = %s, then %s", oid, path, again)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zlib.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		typ, content, _ := bytes.Cut(data, []byte{0})
		if c, ok := contents[oid]; ok && !bytes.Equal(content, c) {
			t.Errorf("loose copy of %s holds other content", oid)
		}
		if got := HashObject(git.ObjectType(strings.Fields(string(typ))[0]), content); got != oid {
			t.Errorf("loose copy of %s hashes to %s", oid, got)
		}
	}
	if path := tx.PendingPath(oidOf("never written")); path != "" {
		t.Errorf("PendingPath of an unknown object = %s", path)
	}
	mustCommit(t, tx)
	for _, f := range objectFiles(t, gitDir) {
		if strings.Contains(f, "tmp_") {
			t.Errorf("leftover temp file %s after Commit", f)
		}
	}
	fsck(t, gitDir)
}

// Entries past 2 GiB take their offset from the 64-bit table, as git's
// index-pack writes them.
func TestWriteIndex_largeOffsets(t *testing.T) {
	t.Parallel()
	entries := []packEntry{
		{oid: oidOf("b"), off: 3 << 30, crc: 2},
		{oid: oidOf("a"), off: 12, crc: 1},
		{oid: oidOf("c"), off: 5 << 30, crc: 3},
	}
	var buf bytes.Buffer
	sum := bytes.Repeat([]byte{0xab}, 20)
	if err := writeIndex(&buf, entries, sum); err != nil {
		t.Fatal(err)
	}
	idx := buf.Bytes()
	const n = 3
	if want := 8 + 256*4 + n*(20+4+4) + 2*8 + 40; len(idx) != want {
		t.Fatalf("index is %d bytes, want %d", len(idx), want)
	}
	if got := binary.BigEndian.Uint32(idx[8+255*4:]); got != n {
		t.Errorf("fan-out total = %d", got)
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b packEntry) int { return strings.Compare(string(a.oid), string(b.oid)) })
	offs := idx[8+256*4+n*24:]
	large := offs[n*4:]
	var next uint32
	for i, e := range sorted {
		v := binary.BigEndian.Uint32(offs[i*4:])
		if e.off < 1<<31 {
			if int64(v) != e.off {
				t.Errorf("offset %d = %#x, want %d", i, v, e.off)
			}
			continue
		}
		if v != 1<<31|next {
			t.Errorf("offset %d = %#x, want large-offset index %d", i, v, next)
		}
		if got := binary.BigEndian.Uint64(large[next*8:]); int64(got) != e.off {
			t.Errorf("large offset %d = %d, want %d", next, got, e.off)
		}
		next++
	}
	if !bytes.Equal(idx[len(idx)-40:len(idx)-20], sum) {
		t.Error("pack checksum missing before the index checksum")
	}
}
