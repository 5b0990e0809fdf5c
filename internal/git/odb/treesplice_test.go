package odb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// TestSpliceTree_matchesMktree edits trees at random and checks each
// result byte for byte against git mktree given the edited entry list.
func TestSpliceTree_matchesMktree(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	blob := gitOID(t, gitDir, nil, []byte("x"), "hash-object", "-w", "--stdin")
	empty := gitOID(t, gitDir, nil, nil, "mktree")
	// Names that sort differently as a file and as a tree, and prefixes.
	names := []string{"a", "a.b", "a-b", "a0", "a_", "ab", "A", "foo", "foo.txt", "foo0", "fo", "z", "b/c"[:1]}
	modes := []string{ModeFile, ModeExecutable, ModeSymlink, ModeTree}
	rng := rand.New(rand.NewPCG(1, 2))
	entry := func(name string) TreeEntry {
		mode := modes[rng.IntN(len(modes))]
		if mode == ModeTree {
			return TreeEntry{mode, name, empty}
		}
		return TreeEntry{mode, name, blob}
	}
	current := map[string]TreeEntry{}
	data := []byte(nil)
	for round := range 60 {
		var remove []string
		var add []TreeEntry
		picked := map[string]bool{}
		for range rng.IntN(4) + 1 {
			name := names[rng.IntN(len(names))]
			if picked[name] {
				continue
			}
			picked[name] = true
			if rng.IntN(3) == 0 {
				remove = append(remove, name)
				delete(current, name)
			} else {
				e := entry(name)
				add = append(add, e)
				current[name] = e
			}
		}
		got, err := SpliceTree(data, remove, add)
		if err != nil {
			t.Fatalf("round %d: SpliceTree: %v", round, err)
		}
		var want []TreeEntry
		for _, e := range current {
			want = append(want, e)
		}
		id := gitOID(t, gitDir, nil, mktreeInput(want), "mktree", "-z")
		if raw := runGit(t, gitDir, nil, nil, "cat-file", "tree", string(id)); !bytes.Equal(got, []byte(raw)) {
			t.Fatalf("round %d: SpliceTree(remove %q, add %v) differs from git mktree of %v", round, remove, add, want)
		}
		for _, name := range names {
			e, ok, err := LookupTree(got, name)
			if err != nil {
				t.Fatal(err)
			}
			if w, in := current[name]; ok != in || ok && e != w {
				t.Fatalf("round %d: LookupTree(%q) = %v, %v; want %v, %v", round, name, e, ok, w, in)
			}
		}
		data = got
	}
}

func TestSpliceTree_keepsEntriesAsStored(t *testing.T) {
	t.Parallel()
	id := string(bytes.Repeat([]byte{0xab}, 20))
	// A carried entry is copied as it is, even one EncodeTree would refuse
	// today: editing a neighbour must not fail on it.
	data := []byte("100644 .GIT\x00" + id + "100644 b\x00" + id)
	got, err := SpliceTree(data, nil, []TreeEntry{{ModeFile, "c", oidOf("c")}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, data) {
		t.Errorf("carried entries changed: %q", got)
	}
	if out, err := SpliceTree(data, []string{"b", ".GIT", "missing"}, nil); err != nil || len(out) != 0 {
		t.Errorf("removing every entry = %q, %v; want an empty tree", out, err)
	}
}

func TestSpliceTree_rejects(t *testing.T) {
	t.Parallel()
	id := string(bytes.Repeat([]byte{0xab}, 20))
	good := []byte("100644 a\x00" + id)
	for _, tc := range []struct {
		desc string
		data []byte
		add  []TreeEntry
	}{
		{"unsorted tree", []byte("100644 b\x00" + id + "100644 a\x00" + id), nil},
		{"duplicate in tree", []byte("100644 a\x00" + id + "100644 a\x00" + id), nil},
		{"truncated tree", []byte("100644 a\x00" + id[:3]), nil},
		{"bad mode in tree", []byte("100664 a\x00" + id), nil},
		{"slash in tree", []byte("100644 a/b\x00" + id), nil},
		{"empty name in tree", []byte("100644 \x00" + id), nil},
		{"added .git", good, []TreeEntry{{ModeTree, ".git", oidOf("t")}}},
		{"added twice", good, []TreeEntry{{ModeFile, "b", oidOf("1")}, {ModeTree, "b", oidOf("2")}}},
		{"added bad id", good, []TreeEntry{{ModeFile, "b", "xyz"}}},
		{"added zero id", good, []TreeEntry{{ModeFile, "b", git.ObjectID(strings.Repeat("0", 40))}}},
		{"added symlinked .gitmodules", good, []TreeEntry{{ModeSymlink, ".gitmodules", oidOf("m")}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			out, err := SpliceTree(tc.data, nil, tc.add)
			if !errors.Is(err, ErrInvalidObject) {
				t.Fatalf("SpliceTree = %q, %v; want ErrInvalidObject", out, err)
			}
		})
	}
	if _, _, err := LookupTree([]byte("100644 a\x00"+id[:3]), "b"); !errors.Is(err, ErrInvalidObject) {
		t.Errorf("LookupTree on a truncated tree: %v; want ErrInvalidObject", err)
	}
}

// FuzzSpliceTree checks that SpliceTree never panics and agrees with
// ParseTree and EncodeTree on the trees ParseTree accepts.
func FuzzSpliceTree(f *testing.F) {
	id := string(bytes.Repeat([]byte{0x5a}, 20))
	for _, seed := range []string{
		"",
		"100644 a\x00" + id,
		"100644 a\x00" + id + "40000 a.b\x00" + id + "100755 a0\x00" + id,
		"40000 a\x00" + id + "100644 a.b\x00" + id,
		"100644 b\x00" + id + "100644 a\x00" + id,
		"100644 a\x00" + id[:5],
	} {
		f.Add([]byte(seed), "a", "a.b")
	}
	f.Fuzz(func(t *testing.T, data []byte, removed, added string) {
		add := []TreeEntry{{ModeTree, added, oidOf(added)}}
		got, err := SpliceTree(data, []string{removed}, add)
		if err != nil {
			if !errors.Is(err, ErrInvalidObject) {
				t.Fatalf("SpliceTree error %v does not wrap ErrInvalidObject", err)
			}
			return
		}
		entries, perr := ParseTree(data)
		if perr != nil {
			return // structurally fine, but not a tree EncodeTree would write
		}
		entries = slices.DeleteFunc(entries, func(e TreeEntry) bool { return e.Name == removed || e.Name == added })
		want, err := EncodeTree(append(entries, add...))
		if err != nil {
			t.Fatalf("SpliceTree accepted what EncodeTree refuses: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("SpliceTree(%q, %q, %q) = %q, EncodeTree gives %q", data, removed, added, got, want)
		}
	})
}

func BenchmarkTreeEdit(b *testing.B) {
	var entries []TreeEntry
	for i := range 500 {
		entries = append(entries, TreeEntry{ModeTree, fmt.Sprintf("d%03d", i), oidOf(fmt.Sprint(i))})
	}
	data, err := EncodeTree(entries)
	if err != nil {
		b.Fatal(err)
	}
	change := TreeEntry{ModeTree, "d250", oidOf("new")}
	b.Run("parse-encode", func(b *testing.B) {
		for b.Loop() {
			list, err := ParseTree(data)
			if err != nil {
				b.Fatal(err)
			}
			i := slices.IndexFunc(list, func(e TreeEntry) bool { return e.Name == change.Name })
			list[i] = change
			if _, err := EncodeTree(list); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("splice", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := LookupTree(data, change.Name); err != nil {
				b.Fatal(err)
			}
			if _, err := SpliceTree(data, nil, []TreeEntry{change}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
