package odb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

func TestTransaction_writeObjectMatchesGit(t *testing.T) {
	t.Parallel()
	gitDir, oracle := newRepo(t), newRepo(t)
	tx := begin(t, gitDir)

	content := []byte("package main\n\nfunc main() {}\n")
	blob := mustWrite(t, tx, git.BlobObject, content)
	if want := gitOID(t, oracle, nil, content, "hash-object", "-w", "--stdin"); blob != want {
		t.Errorf("blob = %s, git hash-object = %s", blob, want)
	}

	entries := []TreeEntry{{ModeFile, "main.go", blob}, {ModeExecutable, "run.sh", blob}}
	treeData, err := EncodeTree(entries)
	if err != nil {
		t.Fatal(err)
	}
	tree := mustWrite(t, tx, git.TreeObject, treeData)
	if want := gitOID(t, oracle, nil, mktreeInput(entries), "mktree", "-z"); tree != want {
		t.Errorf("tree = %s, git mktree = %s", tree, want)
	}

	committer := Signature{Name: "C O Mitter", Email: "committer@example.com", When: time.Unix(1700000100, 0).In(time.FixedZone("", -7*3600))}
	commitData, err := EncodeCommit(Commit{Tree: tree, Author: testSig, Committer: committer, Message: "initial"})
	if err != nil {
		t.Fatal(err)
	}
	commit := mustWrite(t, tx, git.CommitObject, commitData)
	if want := gitOID(t, oracle, nil, nil, "commit-tree", string(tree), "-m", "initial"); commit != want {
		t.Errorf("commit = %s, git commit-tree = %s", commit, want)
	}

	tagData, err := EncodeTag(Tag{Object: commit, Type: git.CommitObject, Name: "v1", Tagger: committer, Message: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	tag := mustWrite(t, tx, git.TagObject, tagData)

	if objs, blobs, n := tx.Stats(); objs != 4 || blobs != 1 || n <= 0 {
		t.Errorf("Stats = %d, %d, %d; want 4 objects, 1 blob, some bytes", objs, blobs, n)
	}
	mustCommit(t, tx)

	if got := runGit(t, gitDir, nil, nil, "cat-file", "-p", string(blob)); got != string(content) {
		t.Errorf("cat-file blob = %q", got)
	}
	if got := runGit(t, gitDir, nil, nil, "cat-file", "-p", string(tree)); !strings.Contains(got, "100755 blob "+string(blob)+"\trun.sh") {
		t.Errorf("cat-file -p tree = %q", got)
	}
	if got := runGit(t, gitDir, nil, nil, "cat-file", "commit", string(commit)); got != string(commitData) {
		t.Errorf("cat-file commit = %q", got)
	}
	if got := runGit(t, gitDir, nil, nil, "cat-file", "-t", string(tag)); got != "tag\n" {
		t.Errorf("cat-file -t tag = %q", got)
	}
	runGit(t, gitDir, nil, nil, "update-ref", "refs/heads/main", string(commit))
	runGit(t, gitDir, nil, nil, "update-ref", "refs/tags/v1", string(tag))
	fsck(t, gitDir)
}

func TestTransaction_objectsInvisibleBeforeCommit(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	small := mustWrite(t, tx, git.BlobObject, []byte("staged\n"))
	bw := tx.NewBlob()
	bw.Write(bytes.Repeat([]byte("big "), spoolMemory)) // spills
	big, err := bw.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, oid := range []git.ObjectID{small, big} {
		if exists(gitDir, oid) {
			t.Errorf("%s visible before Commit", oid)
		}
		if _, err := os.Lstat(NewWriter(gitDir).objectPath(oid)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("final path of %s exists before Commit: %v", oid, err)
		}
	}
	mustCommit(t, tx)
	for _, oid := range []git.ObjectID{small, big} {
		if !exists(gitDir, oid) {
			t.Errorf("%s missing after Commit", oid)
		}
	}
	fsck(t, gitDir)
}

func TestTransaction_abortLeavesNoFiles(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	before := objectFiles(t, gitDir)
	tx := begin(t, gitDir)
	var ids []git.ObjectID
	for i := range 10 {
		ids = append(ids, mustWrite(t, tx, git.BlobObject, fmt.Appendf(nil, "blob %d\n", i)))
	}
	bw := tx.NewBlob()
	bw.Write(bytes.Repeat([]byte{'x'}, 3*spoolMemory))
	big, err := bw.Close()
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, big)
	open := tx.NewBlob() // still open at Abort: its spool must go too
	open.Write(bytes.Repeat([]byte{'y'}, 2*spoolMemory))

	if len(objectFiles(t, gitDir)) <= len(before) {
		t.Fatal("no temp files written before Abort")
	}
	tx.Abort()
	if after := objectFiles(t, gitDir); !slices.Equal(after, before) {
		t.Errorf("files after Abort = %v, want %v", after, before)
	}
	for _, oid := range ids {
		if exists(gitDir, oid) {
			t.Errorf("%s exists after Abort", oid)
		}
	}
	if objs, blobs, n := tx.Stats(); objs != 0 || blobs != 0 || n != 0 {
		t.Errorf("Stats after Abort = %d, %d, %d", objs, blobs, n)
	}
	if _, err := open.Write([]byte("z")); err == nil {
		t.Error("Write on a BlobWriter of an aborted transaction succeeded")
	}
	fsck(t, gitDir)
}

func TestTransaction_finished(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	mustWrite(t, tx, git.BlobObject, []byte("x"))
	mustCommit(t, tx)
	tx.Abort() // no-op after Commit
	if !exists(gitDir, oidOf("x")) {
		t.Fatal("Abort after Commit removed a committed object")
	}
	if err := tx.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if _, err := tx.WriteObject(git.BlobObject, []byte("y")); err == nil {
		t.Error("WriteObject after Commit succeeded")
	}
	if _, err := tx.NewBlob().Close(); err == nil {
		t.Error("NewBlob().Close() after Commit succeeded")
	}
	if _, err := begin(t, gitDir).WriteObject("blobby", nil); !errors.Is(err, ErrInvalidObject) {
		t.Errorf("WriteObject(bad type) = %v, want ErrInvalidObject", err)
	}
	if _, err := NewWriter(filepath.Join(t.TempDir(), "missing")).Begin(); err == nil {
		t.Error("Begin on a missing repository succeeded")
	}
}

// A small transaction (an API commit's blob, trees and commit) is one
// read-only pack and its index, nothing else: no loose object, no fan-out
// directory, no temp file left.
func TestTransaction_smallIsOnePack(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	tx := begin(t, gitDir)
	blob := mustWrite(t, tx, git.BlobObject, []byte("mode check\n"))
	tree := mustWrite(t, tx, git.TreeObject, mustTree(t, TreeEntry{ModeFile, "f", blob}))
	root := mustWrite(t, tx, git.TreeObject, mustTree(t, TreeEntry{ModeTree, "d", tree}))
	data, err := EncodeCommit(Commit{Tree: root, Author: testSig, Committer: testSig, Message: "small\n"})
	if err != nil {
		t.Fatal(err)
	}
	commit := mustWrite(t, tx, git.CommitObject, data)
	mustCommit(t, tx)
	checkPublishedPack(t, gitDir, 4)
	for _, f := range objectFiles(t, gitDir) {
		if !strings.HasPrefix(f, "pack/pack-") {
			t.Errorf("unexpected file %s", f)
		}
	}
	runGit(t, gitDir, nil, nil, "update-ref", "refs/heads/main", string(commit))
	if got := runGit(t, gitDir, nil, nil, "log", "-1", "--format=%T %s", "main"); got != string(root)+" small\n" {
		t.Errorf("git log -1 = %q", got)
	}
	fsck(t, gitDir)
}

func mustTree(t *testing.T, entries ...TreeEntry) []byte {
	t.Helper()
	data, err := EncodeTree(entries)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTransaction_existingObjects(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	oid := gitOID(t, gitDir, nil, []byte("already here\n"), "hash-object", "-w", "--stdin")
	path := NewWriter(gitDir).objectPath(oid)
	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}

	tx := begin(t, gitDir)
	if got := mustWrite(t, tx, git.BlobObject, []byte("already here\n")); got != oid {
		t.Fatalf("id = %s, want %s", got, oid)
	}
	fresh := mustWrite(t, tx, git.BlobObject, []byte("new\n"))
	mustWrite(t, tx, git.BlobObject, []byte("new\n")) // twice in one transaction
	if objs, blobs, _ := tx.Stats(); objs != 1 || blobs != 1 {
		t.Errorf("Stats = %d objects, %d blobs; want 1, 1", objs, blobs)
	}
	mustCommit(t, tx)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().Before(time.Now().Add(-time.Hour)) {
		t.Errorf("existing object not freshened: mtime %v", fi.ModTime())
	}
	if !exists(gitDir, fresh) {
		t.Errorf("%s missing", fresh)
	}
	fsck(t, gitDir)
}

// Eight transactions write overlapping objects at once: all must succeed,
// and the object database must be exactly the union.
func TestTransaction_concurrentOverlapping(t *testing.T) {
	t.Parallel()
	gitDir := newRepo(t)
	w := NewWriter(gitDir)
	const writers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		commits []git.ObjectID
		added   int
	)
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			tx, err := w.Begin()
			if err != nil {
				errs <- err
				return
			}
			defer tx.Abort()
			var entries []TreeEntry
			for i := range 40 {
				// Half shared by every writer, half shared with one neighbour.
				content := fmt.Appendf(nil, "shared %d\n", i)
				if i%2 == 1 {
					content = fmt.Appendf(nil, "pair %d %d\n", g/2, i)
				}
				oid, err := tx.WriteObject(git.BlobObject, content)
				if err != nil {
					errs <- err
					return
				}
				entries = append(entries, TreeEntry{ModeFile, fmt.Sprintf("f%d", i), oid})
			}
			bw := tx.NewBlob()
			bw.Write(bytes.Repeat([]byte("streamed shared blob\n"), spoolMemory/8)) // spills
			big, err := bw.Close()
			if err != nil {
				errs <- err
				return
			}
			entries = append(entries, TreeEntry{ModeFile, "big", big})
			data, _ := EncodeTree(entries)
			tree, err := tx.WriteObject(git.TreeObject, data)
			if err != nil {
				errs <- err
				return
			}
			data, _ = EncodeCommit(Commit{Tree: tree, Author: testSig, Committer: testSig, Message: fmt.Sprintf("writer %d", g)})
			commit, err := tx.WriteObject(git.CommitObject, data)
			if err != nil {
				errs <- err
				return
			}
			if err := tx.Commit(); err != nil {
				errs <- err
				return
			}
			objs, _, _ := tx.Stats()
			mu.Lock()
			commits = append(commits, commit)
			added += objs
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, c := range commits {
		runGit(t, gitDir, nil, nil, "update-ref", fmt.Sprintf("refs/heads/w%d", i), string(c))
	}
	fsck(t, gitDir)
	// Distinct objects: 20 shared + 4 pairs*20 + big + 4 trees + 8
	// commits; each writer's pack holds all of its 41 + tree + commit.
	want := 20 + 80 + 1 + 4 + 8
	var packs int
	for _, f := range objectFiles(t, gitDir) {
		switch {
		case strings.Contains(f, "tmp_"):
			t.Errorf("leftover temp file %s", f)
		case strings.HasSuffix(f, ".pack"):
			packs++
		}
	}
	if packs != writers {
		t.Errorf("%d packs, want one per writer (%d)", packs, writers)
	}
	all := runGit(t, gitDir, nil, nil, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
	if got := strings.Count(all, "\n"); got != want {
		t.Errorf("%d distinct objects, want %d", got, want)
	}
	if added != writers*43 {
		t.Errorf("Stats across writers sum to %d new objects, want %d (43 per writer's pack)", added, writers*43)
	}
}
