package vfscli

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/vfs"
)

// fsCLIStdin is fsCLI with stdin.
func fsCLIStdin(t *testing.T, repo string, stdin []byte, args ...string) cliResult {
	t.Helper()
	var stdout, stderr syncBuffer
	a := &app{stdin: bytes.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	root := a.rootCommand()
	root.SetArgs(append([]string{"-r", repo}, args...))
	err := root.ExecuteContext(context.Background())
	a.closeStores()
	return cliResult{stdout.String(), stderr.String(), a.report(err)}
}

func TestArchive_roundTrips(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	mustCLI(t, repo, "cp", "v1:hello.txt", ":sub/")
	s := repoTip(t, repo, "main").Store()
	tip, _ := s.Branches().Get("main")
	if _, err := tip.WriteSymlink("ln", "hello.txt", vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"a.zip", "a.tar", "a.tar.gz", "a.TGZ", "a.tar.xz"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name)
			r := fsCLI(t, repo, "-v", "archive", file)
			if r.code != 0 || !strings.Contains(r.stderr, "Wrote 6 file(s) to "+file) {
				t.Fatalf("archive: %d %q", r.code, r.stderr)
			}
			dst := filepath.Join(t.TempDir(), "dst")
			r = fsCLI(t, dst, "-v", "unarchive", file)
			if r.code != 0 || !strings.Contains(r.stderr, "Imported 6 file(s) from "+file) {
				t.Fatalf("unarchive: %d %q", r.code, r.stderr)
			}
			got := repoTip(t, dst, "main")
			wantRepoFile(t, got, "run.sh", "#!/bin/sh\n", vfs.Executable)
			wantRepoFile(t, got, "dir/sub/b.txt", "b\n", vfs.Blob)
			if target, err := got.Readlink("ln"); err != nil || target != "hello.txt" {
				t.Fatalf("ln -> %q, %v", target, err)
			}
		})
	}
	// zip/unzip and tar/untar are the fixed-format forms.
	mustCLI(t, repo, "zip", filepath.Join(dir, "plain.bin"))
	dst := filepath.Join(t.TempDir(), "dst")
	mustCLI(t, dst, "unzip", filepath.Join(dir, "plain.bin"))
	wantRepoFile(t, repoTip(t, dst, "main"), "hello.txt", "hello\n", vfs.Blob)
	mustCLI(t, repo, "tar", filepath.Join(dir, "t.tgz"))
	mustCLI(t, dst, "branch", "set", "other")
	mustCLI(t, dst, "-b", "other", "untar", "--no-create", filepath.Join(dir, "t.tgz"))
	failCLI(t, dst, "Branch not found: nope", "-b", "nope", "untar", filepath.Join(dir, "t.tgz"))
}

func TestArchive_stdio(t *testing.T) {
	t.Parallel()
	repo := cliRepo(t)
	failCLI(t, repo, "Use --format with stdout (-)", "archive", "-")
	failCLI(t, repo, "Cannot detect archive format from extension: x.rar\nUse --format zip or --format tar", "archive", "x.rar")
	failCLI(t, repo, "Use --format when reading from stdin", "unarchive")

	zipOut := mustCLI(t, repo, "archive", "--format", "zip", "-")
	zr, err := zip.NewReader(bytes.NewReader([]byte(zipOut)), int64(len(zipOut)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.CreatorVersion>>8 != 3 {
			t.Fatalf("%s: create_system %d", f.Name, f.CreatorVersion>>8)
		}
		if f.Name == "run.sh" && f.ExternalAttrs>>16 != 0o100755 {
			t.Fatalf("run.sh mode %o", f.ExternalAttrs>>16)
		}
	}
	tarOut := mustCLI(t, repo, "tar", "--before", "2999-01-01", "-")
	tr := tar.NewReader(strings.NewReader(tarOut))
	n := 0
	for {
		if _, err := tr.Next(); err != nil {
			break
		}
		n++
	}
	if n != 4 {
		t.Fatalf("tar on stdout has %d entries, want 4 (uncompressed)", n)
	}

	dst := filepath.Join(t.TempDir(), "dst")
	r := fsCLIStdin(t, dst, []byte(tarOut), "untar")
	if r.code != 0 {
		t.Fatalf("untar from stdin: %d %s", r.code, r.stderr)
	}
	wantRepoFile(t, repoTip(t, dst, "main"), "dir/a.txt", "a\n", vfs.Blob)
	dst2 := filepath.Join(t.TempDir(), "dst")
	if r := fsCLIStdin(t, dst2, []byte(zipOut), "unarchive", "--format", "zip", "-"); r.code != 0 {
		t.Fatalf("unarchive zip from stdin: %d %s", r.code, r.stderr)
	}
	wantRepoFile(t, repoTip(t, dst2, "main"), "run.sh", "#!/bin/sh\n", vfs.Executable)
}

func TestArchive_importRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "./././a.txt", Mode: 0o644, Typeflag: tar.TypeReg}, "A")
	add(&tar.Header{Name: "./d/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
	add(&tar.Header{Name: "hard", Linkname: "a.txt", Typeflag: tar.TypeLink}, "")
	add(&tar.Header{Name: "lost", Linkname: "nowhere", Typeflag: tar.TypeLink}, "")
	tw.Close()
	file := filepath.Join(dir, "x.tar")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	r := fsCLI(t, repo, "-v", "untar", file)
	if r.code != 0 || !strings.Contains(r.stderr, "Imported 2 file(s) from "+file+" (1 hard link(s) skipped)") ||
		!strings.Contains(r.stderr, "Warning: ") {
		t.Fatalf("untar: %d %q", r.code, r.stderr)
	}
	tip := repoTip(t, repo, "main")
	wantRepoFile(t, tip, "a.txt", "A", vfs.Blob)
	wantRepoFile(t, tip, "hard", "A", vfs.Blob)

	empty := filepath.Join(dir, "empty.zip")
	zw := zip.NewWriter(&bytes.Buffer{})
	zw.Close()
	var zb bytes.Buffer
	zw = zip.NewWriter(&zb)
	zw.Close()
	if err := os.WriteFile(empty, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	failCLI(t, repo, "Zip file contains no files", "unzip", empty)
	bogus := filepath.Join(dir, "bogus.zip")
	if err := os.WriteFile(bogus, []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	failCLI(t, repo, "Not a valid zip file: "+bogus, "unzip", bogus)
	failCLI(t, repo, "Not a valid tar archive", "untar", bogus)
	failCLI(t, repo, "File not found: "+filepath.Join(dir, "missing.zip"), "unzip", filepath.Join(dir, "missing.zip"))

	// Imports create the repository unless --no-create.
	fresh := filepath.Join(t.TempDir(), "fresh")
	failCLI(t, fresh, "Repository not found", "untar", "--no-create", file)
	mustCLI(t, fresh, "-b", "dev", "untar", "--tag", "imported", file)
	dev := repoTip(t, fresh, "dev")
	if tag, err := dev.Store().Tags().Get("imported"); err != nil || tag.Hash() != dev.Hash() {
		t.Fatalf("tag: %v", err)
	}
}
