package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type archiveEntry struct {
	typ      byte
	mode     int64
	linkname string
	blob     string // git blob id of the content (regular files)
	size     int64
}

// readArchive untars a response body and checks the gzip/tar framing.
func readArchive(t *testing.T, body []byte) (map[string]archiveEntry, []string, map[string]string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	entries := map[string]archiveEntry{}
	var order []string
	var global map[string]string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			global = h.PAXRecords
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		e := archiveEntry{typ: h.Typeflag, mode: h.Mode, linkname: h.Linkname, size: h.Size}
		if h.Typeflag == tar.TypeReg {
			sum := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(data))), data...))
			e.blob = hex.EncodeToString(sum[:])
		}
		if _, dup := entries[h.Name]; dup {
			t.Errorf("duplicate entry %s", h.Name)
		}
		entries[h.Name] = e
		order = append(order, h.Name)
	}
	return entries, order, global
}

func TestArchive(t *testing.T) {
	t.Parallel()
	f := newBGTFixture(t)
	f.write("README.md", "# readme\n")
	f.write("src/main.go", "package main\n")
	f.write("src/deep/x.ts", "export {}\n")
	f.write("vendor/lib/v.go", "package lib\n")
	f.write("docs/a.md", "doc\n")
	f.write("big.bin", strings.Repeat("0123456789", 1000)+"\x00\xff")
	f.write("small.bin", "\x00\x01\x02")
	f.write("ünï cödé/file with spaces.txt", "unicode\n")
	f.write("long/"+strings.Repeat("d", 120)+"/"+strings.Repeat("n", 120)+".txt", "long name\n")
	f.write("run.sh", "#!/bin/sh\necho hi\n")
	if err := os.Chmod(filepath.Join(f.work, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("src/main.go", filepath.Join(f.work, "link")); err != nil {
		t.Fatal(err)
	}
	head := f.commit("archive fixture")
	// A submodule entry (gitlink), added to the index directly.
	f.git("update-index", "--add", "--cacheinfo", "160000,"+head+",sub")
	f.git("commit", "-q", "-m", "with submodule") // not f.commit: add -A would drop the gitlink
	f.git("push", "-q", f.bare, "HEAD:refs/heads/main")
	head = strings.TrimSpace(f.git("rev-parse", "HEAD"))

	// tree: path → (mode, blob id, size), from git as the oracle.
	type treeEntry struct {
		mode, oid string
		size      int64
	}
	tree := map[string]treeEntry{}
	for _, l := range strings.Split(strings.TrimSuffix(f.gitBare("ls-tree", "-r", "-l", "-z", head), "\x00"), "\x00") {
		meta, path, _ := strings.Cut(l, "\t")
		fl := strings.Fields(meta)
		var size int64
		fmt.Sscan(fl[3], &size)
		tree[path] = treeEntry{mode: fl[0], oid: fl[2], size: size}
	}

	archive := func(t *testing.T, body any) (map[string]archiveEntry, []string, map[string]string, *http.Response) {
		t.Helper()
		var rd io.Reader
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			rd = strings.NewReader(bgtJSON(t, body))
		}
		resp := f.with(t).do("POST", "/api/v1/repos/archive", f.tok, rd)
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, data)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/gzip" {
			t.Errorf("Content-Type %q", ct)
		}
		e, o, g := readArchive(t, data)
		// GNU tar must read it too (pax global header, long names).
		if _, err := exec.LookPath("tar"); err == nil {
			cmd := exec.Command("tar", "-tzf", "-")
			cmd.Stdin = bytes.NewReader(data)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("tar -tzf: %v\n%s", err, out)
			} else if n := strings.Count(string(out), "\n"); n != len(o) {
				t.Errorf("tar lists %d entries, Go %d", n, len(o))
			}
		}
		return e, o, g, resp
	}
	// check compares the archive's files with the tree, for the paths
	// selected by keep, under prefix.
	check := func(t *testing.T, entries map[string]archiveEntry, prefix string, keep func(path string, e treeEntry) bool) {
		t.Helper()
		var want []string
		for path, te := range tree {
			if !keep(path, te) {
				continue
			}
			want = append(want, prefix+path)
			e, ok := entries[prefix+path]
			if !ok {
				t.Errorf("missing %s", prefix+path)
				continue
			}
			switch te.mode {
			case "100644", "100755":
				wantMode := int64(0o644)
				if te.mode == "100755" {
					wantMode = 0o755
				}
				if e.typ != tar.TypeReg || e.blob != te.oid || e.size != te.size || e.mode != wantMode {
					t.Errorf("%s: type %c blob %s size %d mode %o; tree has %s %s %d", path, e.typ, e.blob, e.size, e.mode, te.mode, te.oid, te.size)
				}
			case "120000":
				if e.typ != tar.TypeSymlink || e.linkname != "src/main.go" {
					t.Errorf("%s: symlink %c -> %q", path, e.typ, e.linkname)
				}
			case "160000":
				t.Errorf("%s: submodule listed as a file", path)
			}
		}
		var got []string
		for name, e := range entries {
			if e.typ != tar.TypeDir {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("files %q\nwant %q", got, want)
		}
		// Every file's directories are there too.
		for _, name := range got {
			rest := strings.TrimPrefix(name, prefix)
			for i := strings.IndexByte(rest, '/'); i >= 0; i = strings.IndexByte(rest[i+1:], '/') + i + 1 {
				if entries[prefix+rest[:i+1]].typ != tar.TypeDir {
					t.Errorf("no directory entry %s for %s", prefix+rest[:i+1], name)
				}
				if strings.IndexByte(rest[i+1:], '/') < 0 {
					break
				}
			}
		}
	}
	files := func(path string, e treeEntry) bool { return e.mode != "160000" }

	t.Run("empty body: whole tree", func(t *testing.T) {
		t.Parallel()
		entries, order, global, resp := archive(t, "")
		check(t, entries, "", files)
		if global["comment"] != head {
			t.Errorf("pax comment %q, want %s", global["comment"], head)
		}
		if e := entries["sub/"]; e.typ != tar.TypeDir {
			t.Errorf("submodule entry %+v, want a directory", e)
		}
		if resp.Header.Get("X-Commit-Sha") != head {
			t.Errorf("X-Commit-Sha %q", resp.Header.Get("X-Commit-Sha"))
		}
		if !slices.IsSorted(order) {
			t.Errorf("entries not in tree order: %q", order)
		}
	})
	t.Run("prefix", func(t *testing.T) {
		t.Parallel()
		entries, _, _, _ := archive(t, map[string]any{"archive": map[string]any{"prefix": "repo-1.0/"}, "ref": "main"})
		check(t, entries, "repo-1.0/", files)
		if entries["repo-1.0/"].typ != tar.TypeDir {
			t.Error("no prefix directory entry")
		}
	})
	t.Run("prefix verbatim", func(t *testing.T) {
		t.Parallel()
		entries, order, _, _ := archive(t, map[string]any{"archive": map[string]any{"prefix": "x-"}, "include_globs": []string{"*.md"}})
		if want := []string{"x-README.md", "x-docs/", "x-docs/a.md"}; !slices.Equal(order, want) {
			t.Errorf("entries %q, want %q", order, want)
		}
		check(t, entries, "x-", func(p string, e treeEntry) bool { return strings.HasSuffix(p, ".md") })
	})
	t.Run("include globs", func(t *testing.T) {
		t.Parallel()
		entries, _, _, _ := archive(t, map[string]any{"include_globs": []string{"*.go", "docs/"}})
		check(t, entries, "", func(p string, e treeEntry) bool {
			return strings.HasSuffix(p, ".go") || strings.HasPrefix(p, "docs/")
		})
	})
	t.Run("exclude globs", func(t *testing.T) {
		t.Parallel()
		entries, _, _, _ := archive(t, map[string]any{"exclude_globs": []string{"vendor", "*.bin", "sub"}})
		check(t, entries, "", func(p string, e treeEntry) bool {
			return files(p, e) && !strings.HasPrefix(p, "vendor/") && !strings.HasSuffix(p, ".bin")
		})
	})
	t.Run("include and exclude", func(t *testing.T) {
		t.Parallel()
		entries, _, _, _ := archive(t, map[string]any{"include_globs": []string{"src/**"}, "exclude_globs": []string{"*.ts"}})
		check(t, entries, "", func(p string, e treeEntry) bool { return p == "src/main.go" })
	})
	t.Run("max blob size", func(t *testing.T) {
		t.Parallel()
		entries, _, _, _ := archive(t, map[string]any{"max_blob_size": 100})
		check(t, entries, "", func(p string, e treeEntry) bool { return files(p, e) && e.size <= 100 })
		if _, ok := entries["big.bin"]; ok {
			t.Error("big.bin kept")
		}
	})
	t.Run("max blob size zero", func(t *testing.T) {
		t.Parallel()
		entries, _, _, _ := archive(t, map[string]any{"max_blob_size": 0})
		check(t, entries, "", func(p string, e treeEntry) bool { return false })
	})
	t.Run("by sha", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		first := strings.TrimSpace(f.git("rev-parse", "HEAD~1"))
		entries, _, global, _ := archive(t, map[string]any{"ref": first})
		if global["comment"] != first {
			t.Errorf("comment %q", global["comment"])
		}
		if _, ok := entries["sub/"]; ok {
			t.Error("submodule in the older commit")
		}
	})

	for _, tc := range []struct {
		desc   string
		body   string
		status int
	}{
		{"unknown ref", `{"ref":"nope"}`, http.StatusNotFound},
		{"bad include glob", `{"include_globs":["a[b"]}`, http.StatusBadRequest},
		{"bad exclude glob", `{"exclude_globs":["x\\"]}`, http.StatusBadRequest},
		{"negative size", `{"max_blob_size":-1}`, http.StatusBadRequest},
		{"absolute prefix", `{"archive":{"prefix":"/etc/"}}`, http.StatusBadRequest},
		{"dotdot prefix", `{"archive":{"prefix":"a/../../"}}`, http.StatusBadRequest},
		{"bad json", `{"ref":`, http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := f.with(t)
			status, data := f.call("POST", "/api/v1/repos/archive", f.tok, tc.body, nil)
			if status != tc.status || bgtError(data) == "" {
				t.Fatalf("status %d body %s, want %d with an error", status, data, tc.status)
			}
		})
	}
}

func bgtJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
