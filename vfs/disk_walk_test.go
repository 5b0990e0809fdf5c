package vfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestWalkDisk_symlinksNotFollowed(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	writeTree(t, root, map[string]string{"d/f.txt": "x", ".hidden": "h", "empty/": ""})
	writeTree(t, outside, map[string]string{"o.txt": "o"})
	symlink(t, "f.txt", filepath.Join(root, "d", "lf"))
	symlink(t, outside, filepath.Join(root, "ldir"))
	symlink(t, "nowhere", filepath.Join(root, "dangling"))
	files, err := walkDisk(root, false, nil, func(_ string, err error) error { return err })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]FileType{}
	for _, f := range files {
		got[f.rel] = f.fileType()
	}
	want := map[string]FileType{".hidden": Blob, "d/f.txt": Blob, "d/lf": Link, "ldir": Link, "dangling": Link}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("walk = %v, want %v", got, want)
	}
}

func TestWalkDisk_followWithCycle(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a/f.txt": "x"})
	symlink(t, "..", filepath.Join(root, "a", "up"))   // a cycle back to root
	symlink(t, "a", filepath.Join(root, "alias"))      // the same directory twice
	symlink(t, "a/f.txt", filepath.Join(root, "lf"))   // a file link: its content
	symlink(t, "missing", filepath.Join(root, "dead")) // dangling: still a link
	files, err := walkDisk(root, true, nil, func(_ string, err error) error { return err })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]FileType{}
	for _, f := range files {
		got[f.rel] = f.fileType()
	}
	want := map[string]FileType{"a/f.txt": Blob, "lf": Blob, "dead": Link}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("walk = %v, want %v", got, want)
	}
}

func TestWalkDisk_executableAndSkipsFifos(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{"run.sh": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(root, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("mkfifo", filepath.Join(root, "pipe")).Run(); err != nil {
		t.Skip("mkfifo:", err)
	}
	files, err := walkDisk(root, false, nil, func(_ string, err error) error { return err })
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].rel != "run.sh" || files[0].fileType() != Executable {
		t.Errorf("walk = %+v", files)
	}
}

// blobHash must agree with git hash-object, for files and for links.
func TestBlobHash_matchesGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 70_000) // > one copy buffer
	for name, data := range map[string][]byte{"empty": nil, "small": []byte("hello\n"), "big": big} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("git", "hash-object", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := blobHash(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s: hash %s, git says %s", name, got, want)
		}
	}
	link := filepath.Join(dir, "link")
	symlink(t, "../some/target", link)
	cmd := exec.Command("git", "hash-object", "--stdin")
	cmd.Stdin = strings.NewReader("../some/target")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := blobHash(link, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); got != want {
		t.Errorf("link: hash %s, git says %s", got, want)
	}
}
