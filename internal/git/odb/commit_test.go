package odb

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// identEnv sets git's identity variables from s for role AUTHOR or COMMITTER.
func identEnv(role string, s Signature) []string {
	_, off := s.When.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return []string{
		"GIT_" + role + "_NAME=" + s.Name,
		"GIT_" + role + "_EMAIL=" + s.Email,
		fmt.Sprintf("GIT_%s_DATE=@%d %s%02d%02d", role, s.When.Unix(), sign, off/3600, off/60%60),
	}
}

func TestEncodeCommit_matchesCommitTree(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tree := gitOID(t, gitDir, nil, nil, "mktree")
	root := gitOID(t, gitDir, nil, nil, "commit-tree", string(tree), "-m", "root")
	second := gitOID(t, gitDir, nil, nil, "commit-tree", string(tree), "-p", string(root), "-m", "second")

	india := time.FixedZone("", 5*3600+30*60)
	west := time.FixedZone("", -7*3600)
	for _, tc := range []struct {
		desc   string
		commit Commit
	}{
		{"root", Commit{Tree: tree, Author: testSig, Committer: testSig, Message: "root\n"}},
		{"message gets final newline", Commit{Tree: tree, Author: testSig, Committer: testSig, Message: "no newline"}},
		{"empty message", Commit{Tree: tree, Author: testSig, Committer: testSig}},
		{"multi-line message kept as is", Commit{Tree: tree, Author: testSig, Committer: testSig, Message: "subject\n\n  body  \n\n\n"}},
		{"one parent", Commit{Tree: tree, Parents: []git.ObjectID{root}, Author: testSig, Committer: testSig, Message: "x"}},
		{"merge", Commit{Tree: tree, Parents: []git.ObjectID{root, second}, Author: testSig, Committer: testSig, Message: "merge"}},
		{"zones and distinct identities", Commit{
			Tree:      tree,
			Author:    Signature{Name: "Ädä Lovelace", Email: "ada@example.org", When: time.Unix(1234567890, 0).In(india)},
			Committer: Signature{Name: "Bot", Email: "", When: time.Unix(0, 0).In(west)},
			Message:   "zones",
		}},
		{"UTC", Commit{Tree: tree, Author: Signature{"U", "u@x", time.Unix(1700000000, 0).UTC()}, Committer: testSig, Message: "utc"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			data, err := EncodeCommit(tc.commit)
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"commit-tree", string(tc.commit.Tree)}
			for _, p := range tc.commit.Parents {
				args = append(args, "-p", string(p))
			}
			args = append(args, "-m", tc.commit.Message)
			env := append(identEnv("AUTHOR", tc.commit.Author), identEnv("COMMITTER", tc.commit.Committer)...)
			want := gitOID(t, gitDir, env, nil, args...)
			if got := HashObject(git.CommitObject, data); got != want {
				raw := runGit(t, gitDir, nil, nil, "cat-file", "commit", string(want))
				t.Errorf("EncodeCommit id = %s, git commit-tree = %s\nours: %q\ngit:  %q", got, want, data, raw)
			}
		})
	}
}

func TestEncodeCommit_rejects(t *testing.T) {
	t.Parallel()
	tree := git.EmptyTreeOID
	sig := func(name, email string) Signature { return Signature{Name: name, Email: email, When: testWhen} }
	for _, tc := range []struct {
		desc   string
		commit Commit
	}{
		{"name with <", Commit{Tree: tree, Author: sig("a <b", "e"), Committer: testSig}},
		{"name with >", Commit{Tree: tree, Author: sig("a>", "e"), Committer: testSig}},
		{"name with newline", Commit{Tree: tree, Author: testSig, Committer: sig("a\nb", "e")}},
		{"name with NUL", Commit{Tree: tree, Author: sig("a\x00", "e"), Committer: testSig}},
		{"empty name", Commit{Tree: tree, Author: sig("", "e"), Committer: testSig}},
		{"email with >", Commit{Tree: tree, Author: sig("a", "e>x"), Committer: testSig}},
		{"email with <", Commit{Tree: tree, Author: testSig, Committer: sig("a", "<e")}},
		{"email with newline", Commit{Tree: tree, Author: sig("a", "e\nparent x"), Committer: testSig}},
		{"date before 1970", Commit{Tree: tree, Author: Signature{"a", "e", time.Unix(-1, 0)}, Committer: testSig}},
		{"zero time", Commit{Tree: tree, Author: Signature{Name: "a", Email: "e"}, Committer: testSig}},
		{"missing tree", Commit{Author: testSig, Committer: testSig}},
		{"zero tree", Commit{Tree: git.ZeroOID, Author: testSig, Committer: testSig}},
		{"bad parent", Commit{Tree: tree, Parents: []git.ObjectID{"HEAD"}, Author: testSig, Committer: testSig}},
		{"NUL in message", Commit{Tree: tree, Author: testSig, Committer: testSig, Message: "a\x00b"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			data, err := EncodeCommit(tc.commit)
			if !errors.Is(err, ErrInvalidObject) {
				t.Fatalf("EncodeCommit = %q, %v; want ErrInvalidObject", data, err)
			}
		})
	}
}

func TestEncodeTag_matchesGit(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tree := gitOID(t, gitDir, nil, nil, "mktree")
	commit := gitOID(t, gitDir, nil, nil, "commit-tree", string(tree), "-m", "c")
	tagger := Signature{Name: "C O Mitter", Email: "committer@example.com", When: time.Unix(1700000100, 0).In(time.FixedZone("", -7*3600))}

	for _, tc := range []struct {
		desc string
		tag  Tag
	}{
		{"commit", Tag{Object: commit, Type: git.CommitObject, Name: "v1.0", Tagger: tagger, Message: "release 1.0"}},
		{"tree", Tag{Object: tree, Type: git.TreeObject, Name: "tree-tag", Tagger: tagger, Message: "a tree\n\nwith body\n"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			data, err := EncodeTag(tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			runGit(t, gitDir, identEnv("COMMITTER", tc.tag.Tagger), nil, "tag", "-a", "-m", tc.tag.Message, tc.tag.Name, string(tc.tag.Object))
			want := gitOID(t, gitDir, nil, nil, "rev-parse", "refs/tags/"+tc.tag.Name)
			if got := HashObject(git.TagObject, data); got != want {
				raw := runGit(t, gitDir, nil, nil, "cat-file", "tag", string(want))
				t.Errorf("EncodeTag id = %s, git tag = %s\nours: %q\ngit:  %q", got, want, data, raw)
			}
			// mktag runs fsck's strict tag checks on our bytes.
			if got := gitOID(t, gitDir, nil, data, "mktag"); got != want {
				t.Errorf("git mktag = %s, want %s", got, want)
			}
		})
	}
}

func TestEncodeTag_rejects(t *testing.T) {
	t.Parallel()
	ok := Tag{Object: git.EmptyTreeOID, Type: git.TreeObject, Name: "v1", Tagger: testSig, Message: "m"}
	for _, tc := range []struct {
		desc   string
		modify func(*Tag)
	}{
		{"bad type", func(t *Tag) { t.Type = "blobby" }},
		{"zero object", func(t *Tag) { t.Object = git.ZeroOID }},
		{"empty name", func(t *Tag) { t.Name = "" }},
		{"name with newline", func(t *Tag) { t.Name = "v1\ntagger x" }},
		{"bad tagger", func(t *Tag) { t.Tagger.Email = "a>b" }},
		{"NUL in message", func(t *Tag) { t.Message = "\x00" }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			tag := ok
			tc.modify(&tag)
			if _, err := EncodeTag(tag); !errors.Is(err, ErrInvalidObject) {
				t.Fatalf("EncodeTag: %v; want ErrInvalidObject", err)
			}
		})
	}
	if _, err := EncodeTag(ok); err != nil {
		t.Fatalf("EncodeTag(valid): %v", err)
	}
}

func TestHashObject_matchesGit(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	for _, tc := range []struct {
		typ  git.ObjectType
		data string
	}{
		{git.BlobObject, ""},
		{git.BlobObject, "hello\n"},
		{git.BlobObject, "\x00\x01\xff binary"},
		{git.BlobObject, strings.Repeat("long line ", 10000)},
		{git.TreeObject, ""},
	} {
		want := gitOID(t, gitDir, nil, []byte(tc.data), "hash-object", "-t", string(tc.typ), "--stdin")
		if got := HashObject(tc.typ, []byte(tc.data)); got != want {
			t.Errorf("HashObject(%s, %.20q) = %s, git = %s", tc.typ, tc.data, got, want)
		}
	}
}
