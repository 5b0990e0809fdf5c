package odb

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// mktreeInput formats entries for git mktree -z (names may hold newlines).
func mktreeInput(entries []TreeEntry) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		typ := "blob"
		switch e.Mode {
		case ModeTree:
			typ = "tree"
		case ModeSubmodule:
			typ = "commit"
		}
		fmt.Fprintf(&b, "%s %s %s\t%s\x00", e.Mode, typ, e.OID, e.Name)
	}
	return b.Bytes()
}

func TestEncodeTree_matchesMktree(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	blob := mustWrite(t, tx, git.BlobObject, []byte("hello\n"))
	link := mustWrite(t, tx, git.BlobObject, []byte("target"))
	sub := mustWrite(t, tx, git.TreeObject, nil) // the empty tree
	const gitlink = git.ObjectID("0123456789abcdef0123456789abcdef01234567")

	for _, tc := range []struct {
		desc    string
		entries []TreeEntry
	}{
		{desc: "empty", entries: nil},
		{desc: "tree sorts as name+slash", entries: []TreeEntry{
			{ModeFile, "a-b", blob},
			{ModeTree, "a", sub},
			{ModeFile, "a.b", blob},
			{ModeFile, "a0", blob},
			{ModeExecutable, "a_", blob},
			{ModeFile, "A", blob},
			{ModeTree, "a.b.c", sub},
			{ModeSymlink, "ab", link},
			{ModeSubmodule, "a+", gitlink},
		}},
		{desc: "file and tree sharing a prefix", entries: []TreeEntry{
			{ModeTree, "foo", sub},
			{ModeFile, "foo.txt", blob},
			{ModeFile, "foo-bar", blob},
			{ModeTree, "foo0", sub},
			{ModeFile, "fo", blob},
		}},
		{desc: "odd bytes", entries: []TreeEntry{
			{ModeFile, "with space", blob},
			{ModeFile, "new\nline", blob},
			{ModeFile, "\xff\xfe", blob},
			{ModeFile, "ünïcödé", blob},
			{ModeFile, "-dash", blob},
			{ModeFile, ".hidden", blob},
			{ModeFile, ".gitignore", blob},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			data, err := EncodeTree(tc.entries)
			if err != nil {
				t.Fatal(err)
			}
			want := gitOID(t, gitDir, nil, mktreeInput(tc.entries), "mktree", "-z", "--missing")
			if got := HashObject(git.TreeObject, data); got != want {
				t.Errorf("EncodeTree id = %s, git mktree = %s", got, want)
			}
			// The bytes, not only the id, are git's.
			if raw := runGit(t, gitDir, nil, nil, "cat-file", "tree", string(want)); raw != string(data) {
				t.Errorf("EncodeTree = %q, git = %q", data, raw)
			}
			if tc.entries == nil && HashObject(git.TreeObject, data) != git.EmptyTreeOID {
				t.Errorf("empty tree id = %s", HashObject(git.TreeObject, data))
			}
		})
	}
}

func TestEncodeTree_doesNotReorderInput(t *testing.T) {
	t.Parallel()
	in := []TreeEntry{{ModeFile, "b", oidOf("b")}, {ModeFile, "a", oidOf("a")}}
	orig := slices.Clone(in)
	if _, err := EncodeTree(in); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("EncodeTree reordered its input: %v", in)
	}
}

func oidOf(s string) git.ObjectID { return HashObject(git.BlobObject, []byte(s)) }

func TestEncodeTree_rejects(t *testing.T) {
	t.Parallel()
	ok := oidOf("x")
	for _, tc := range []struct {
		desc    string
		entries []TreeEntry
	}{
		{"empty name", []TreeEntry{{ModeFile, "", ok}}},
		{"dot", []TreeEntry{{ModeTree, ".", ok}}},
		{"dot dot", []TreeEntry{{ModeTree, "..", ok}}},
		{"slash", []TreeEntry{{ModeFile, "a/b", ok}}},
		{"trailing slash", []TreeEntry{{ModeTree, "a/", ok}}},
		{"NUL", []TreeEntry{{ModeFile, "a\x00b", ok}}},
		{".git", []TreeEntry{{ModeTree, ".git", ok}}},
		{".GIT", []TreeEntry{{ModeFile, ".GIT", ok}}},
		{"NTFS .git trailing dots", []TreeEntry{{ModeTree, ".git. .", ok}}},
		{"NTFS .git stream", []TreeEntry{{ModeTree, ".git::$INDEX_ALLOCATION", ok}}},
		{"NTFS 8.3 alias", []TreeEntry{{ModeTree, "GIT~1", ok}}},
		{"HFS ignorable", []TreeEntry{{ModeTree, ".g\u200cit", ok}}},
		{"backslash .git", []TreeEntry{{ModeFile, `a\.git`, ok}}},
		{"symlinked .gitmodules", []TreeEntry{{ModeSymlink, ".gitmodules", ok}}},
		{"symlinked .GITMODULES.", []TreeEntry{{ModeSymlink, ".GITMODULES.", ok}}},
		{"symlinked gitmod~1", []TreeEntry{{ModeSymlink, "gitmod~1", ok}}},
		{"zero-padded tree mode", []TreeEntry{{"040000", "d", ok}}},
		{"legacy group-writable mode", []TreeEntry{{"100664", "f", ok}}},
		{"empty mode", []TreeEntry{{"", "f", ok}}},
		{"short id", []TreeEntry{{ModeFile, "f", ok[:39]}}},
		{"upper-case id", []TreeEntry{{ModeFile, "f", git.ObjectID(strings.ToUpper(string(ok)))}}},
		{"zero id", []TreeEntry{{ModeFile, "f", git.ZeroOID}}},
		{"duplicate file", []TreeEntry{{ModeFile, "f", ok}, {ModeExecutable, "f", ok}}},
		{"duplicate file and tree apart", []TreeEntry{{ModeFile, "a", ok}, {ModeFile, "a.b", ok}, {ModeTree, "a", ok}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			data, err := EncodeTree(tc.entries)
			if !errors.Is(err, ErrInvalidObject) {
				t.Fatalf("EncodeTree = %q, %v; want ErrInvalidObject", data, err)
			}
		})
	}
}

func TestEncodeTree_acceptsGitmodulesFile(t *testing.T) {
	t.Parallel()
	// Only a symlinked .gitmodules is refused; the file, and a symlinked
	// .gitignore, are fine.
	if _, err := EncodeTree([]TreeEntry{{ModeFile, ".gitmodules", oidOf("x")}, {ModeSymlink, ".gitignore", oidOf("y")}, {ModeTree, ".github", oidOf("z")}}); err != nil {
		t.Fatal(err)
	}
}

func TestParseTree_roundTripGitTrees(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	blob := gitOID(t, gitDir, nil, []byte("x"), "hash-object", "-w", "--stdin")
	empty := gitOID(t, gitDir, nil, nil, "mktree")
	var entries []TreeEntry
	for i := range 300 {
		mode, oid := ModeFile, blob
		switch i % 5 {
		case 1:
			mode = ModeExecutable
		case 2:
			mode, oid = ModeTree, empty
		case 3:
			mode = ModeSymlink
		}
		entries = append(entries, TreeEntry{mode, fmt.Sprintf("name-%d.%c", i, 'a'+i%26), oid})
	}
	for _, tc := range []struct {
		desc    string
		entries []TreeEntry
	}{
		{"empty", nil},
		{"one", entries[:1]},
		{"many", entries},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			id := gitOID(t, gitDir, nil, mktreeInput(tc.entries), "mktree", "-z")
			raw := []byte(runGit(t, gitDir, nil, nil, "cat-file", "tree", string(id)))
			got, err := ParseTree(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tc.entries)
			slices.SortFunc(want, compareEntries)
			if !slices.Equal(got, want) {
				t.Errorf("ParseTree = %v, want %v", got, want)
			}
			again, err := EncodeTree(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, raw) {
				t.Errorf("EncodeTree(ParseTree(t)) differs from t")
			}
		})
	}
}

func TestParseTree_rejects(t *testing.T) {
	t.Parallel()
	raw := func(entries ...string) []byte { return []byte(strings.Join(entries, "")) }
	id := string(bytes.Repeat([]byte{0xab}, 20))
	for _, tc := range []struct {
		desc string
		data []byte
	}{
		{"no mode", raw("100644")},
		{"no name terminator", raw("100644 a")},
		{"truncated id", raw("100644 a\x00" + id[:19])},
		{"zero-padded mode", raw("040000 d\x00" + id)},
		{"unknown mode", raw("100664 f\x00" + id)},
		{"unsorted", raw("100644 b\x00"+id, "100644 a\x00"+id)},
		{"tree order, not byte order", raw("40000 a\x00"+id, "100644 a.b\x00"+id)},
		{"duplicate", raw("100644 a\x00"+id, "100644 a\x00"+id)},
		{"duplicate file and tree", raw("100644 a\x00"+id, "100644 a.b\x00"+id, "40000 a\x00"+id)},
		{"empty name", raw("100644 \x00" + id)},
		{".git", raw("40000 .git\x00" + id)},
		{"zero id", raw("100644 a\x00" + strings.Repeat("\x00", 20))},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			entries, err := ParseTree(tc.data)
			if !errors.Is(err, ErrInvalidObject) {
				t.Fatalf("ParseTree = %v, %v; want ErrInvalidObject", entries, err)
			}
		})
	}
}

// FuzzParseTree checks that ParseTree never panics and that whatever it
// accepts encodes back to the same bytes.
func FuzzParseTree(f *testing.F) {
	id := string(bytes.Repeat([]byte{0x5a}, 20))
	for _, seed := range []string{
		"",
		"100644 a\x00" + id,
		"100644 a\x00" + id + "40000 a.b\x00" + id + "100755 a0\x00" + id,
		"100644 a.b\x00" + id + "40000 a\x00" + id,
		"40000 a\x00" + id + "100644 a.b\x00" + id,
		"120000 link\x00" + id + "160000 sub\x00" + id,
		"040000 d\x00" + id,
		"100644 .git\x00" + id,
		"100644 a\x00" + id[:5],
		"100644 a/b\x00" + id,
		"100644 a\x00" + id + "100644 a\x00" + id,
		"100644 a\x00" + id + "100644 a-b\x00" + id + "40000 a\x00" + id,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseTree(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidObject) {
				t.Fatalf("ParseTree error %v does not wrap ErrInvalidObject", err)
			}
			return
		}
		again, err := EncodeTree(entries)
		if err != nil {
			t.Fatalf("EncodeTree(ParseTree(%q)): %v", data, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("EncodeTree(ParseTree(%q)) = %q", data, again)
		}
	})
}
