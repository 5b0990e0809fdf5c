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

// writeMany writes n blobs (with n ≥ 10, one of them streamed past the
// spool limit), a tree of them and a commit; it returns every id with its
// content.
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

// A transaction of any size writes one pack: a small one (an API commit)
// and one of a thousand objects.
func TestTransaction_onePack(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 12, 1000} {
		t.Run(fmt.Sprintf("%d blobs", n), func(t *testing.T) {
			t.Parallel()
			gitDir := newRepo(t)
			tx := begin(t, gitDir)
			ids, contents, commit := writeMany(t, tx, n)
			if objs, blobs, size := tx.Stats(); objs != n+2 || blobs != n || size <= 0 {
				t.Errorf("Stats = %d, %d, %d; want %d objects, %d blobs", objs, blobs, size, n+2, n)
			}

			// Before Commit: one temp pack, nothing visible.
			if files := objectFiles(t, gitDir); len(files) != 1 || !strings.HasPrefix(files[0], "pack/tmp_pack_") {
				t.Errorf("files before Commit = %v, want one pack/tmp_pack_*", files)
			}
			for _, oid := range []git.ObjectID{commit, ids[0], ids[len(ids)-1]} {
				if exists(gitDir, oid) {
					t.Errorf("%s visible before Commit", oid)
				}
			}
			mustCommit(t, tx)

			checkPublishedPack(t, gitDir, n+2)
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
		})
	}
}

// checkPublishedPack checks that objects/pack holds exactly one pack of
// objects undeltified entries and its index, as git would have written
// them: read-only, named by the pack's trailing checksum, accepted by
// verify-pack, the index byte for byte git index-pack's, no garbage.
func checkPublishedPack(t *testing.T, gitDir string, objects int) {
	t.Helper()
	names := packFiles(t, gitDir)
	if len(names) != 2 || !strings.HasSuffix(names[0], ".idx") || !strings.HasSuffix(names[1], ".pack") ||
		strings.TrimSuffix(names[0], ".idx") != strings.TrimSuffix(names[1], ".pack") {
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
	data, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("pack-%x.pack", data[len(data)-20:]); names[1] != want {
		t.Errorf("pack named %s, want %s (its checksum)", names[1], want)
	}
	if got := binary.BigEndian.Uint32(data[8:12]); string(data[:8]) != "PACK\x00\x00\x00\x02" || got != uint32(objects) {
		t.Errorf("pack header %q, %d objects; want PACK v2, %d", data[:8], got, objects)
	}
	out := runGit(t, gitDir, nil, nil, "verify-pack", "-v", pack)
	if want := fmt.Sprintf("non delta: %d objects", objects); !strings.Contains(out, want) {
		t.Errorf("verify-pack -v: want %q in\n%s", want, out)
	}
	if got := runGit(t, gitDir, nil, nil, "count-objects", "-v"); !strings.Contains(got, "count: 0\n") ||
		!strings.Contains(got, fmt.Sprintf("in-pack: %d\n", objects)) || !strings.Contains(got, "garbage: 0\n") {
		t.Errorf("count-objects -v:\n%s", got)
	}

	// The index is byte for byte git index-pack's for the same pack.
	dir := t.TempDir()
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
	ids, _, commit := writeMany(t, tx, 50)
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

// A process killed at any point of a transaction leaves nothing git reads:
// a temp pack being written, a finished temp pack and index, or a pack
// renamed without its index are invisible (git uses a pack only through
// its .idx), fsck stays clean, and git prune removes the temp files. Once
// both are published the objects are there but unreferenced: harmless
// until a ref points at them.
func TestTransaction_crashedPackNeverSeenByGit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		// crash stops tx at some point of its life, as a SIGKILL would:
		// files closed by the kernel, nothing removed.
		crash   func(t *testing.T, tx *Transaction)
		visible bool
		pruned  bool // git prune --expire=now leaves objects/pack empty
	}{
		{desc: "while writing", pruned: true, crash: func(t *testing.T, tx *Transaction) {
			tx.pack.bw.Flush()
			tx.pack.f.Write([]byte("half an entry"))
		}},
		{desc: "pack and index finished", pruned: true, crash: func(t *testing.T, tx *Transaction) {
			if err := tx.pack.finish(); err != nil {
				t.Fatal(err)
			}
		}},
		{desc: "pack renamed, index not", crash: func(t *testing.T, tx *Transaction) {
			if err := tx.pack.finish(); err != nil {
				t.Fatal(err)
			}
			base := filepath.Join(tx.pack.dir, fmt.Sprintf("pack-%x", tx.pack.sum))
			if err := os.Rename(tx.pack.tmp, base+".pack"); err != nil {
				t.Fatal(err)
			}
		}},
		{desc: "published, no ref", visible: true, crash: func(t *testing.T, tx *Transaction) {
			if err := tx.pack.finish(); err != nil {
				t.Fatal(err)
			}
			if err := tx.pack.publish(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			gitDir := newRepo(t)
			tx := begin(t, gitDir)
			ids, _, commit := writeMany(t, tx, 20)
			tc.crash(t, tx)
			for _, f := range tx.pack.files() {
				if *f != nil {
					(*f).Close()
				}
			}
			tx.done = true // dead: no Abort, no cleanup

			for _, oid := range append(ids, commit) {
				if got := exists(gitDir, oid); got != tc.visible {
					t.Errorf("%s visible = %v, want %v", oid, got, tc.visible)
				}
			}
			fsck(t, gitDir)
			runGit(t, gitDir, nil, nil, "prune", "--expire=now")
			if files := packFiles(t, gitDir); tc.pruned && len(files) != 0 {
				t.Errorf("objects/pack after git prune = %v", files)
			}
			for _, f := range packFiles(t, gitDir) {
				if strings.HasPrefix(f, "tmp_") {
					t.Errorf("temp file %s survived git prune", f)
				}
			}
		})
	}
}

func TestTransaction_pendingPathOfPackedObject(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	ids, contents, _ := writeMany(t, tx, 20)
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
