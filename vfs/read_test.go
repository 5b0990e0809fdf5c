package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func coreSample(t testing.TB) *FS {
	t.Helper()
	return must(coreMain(t).Apply(map[string]WriteEntry{
		"a.txt":           {Data: []byte("alpha")},
		"a.b":             {Data: []byte("dot")},
		"a/inner.txt":     {Data: []byte("inner")},
		"bin/run":         {Data: []byte("#!/bin/sh\n"), Mode: Executable},
		"link":            {Target: "a.txt"},
		".hidden":         {Data: []byte("h")},
		".dot/x.py":       {Data: []byte("x")},
		"src/main.py":     {Data: []byte("main")},
		"src/lib/util.py": {Data: []byte("util")},
		"src/lib/.cache":  {Data: []byte("c")},
		"empty":           {Data: []byte{}},
	}, nil, ApplyOptions{}))(t)
}

func TestReads(t *testing.T) {
	t.Parallel()
	snap := coreSample(t)
	if got := must(snap.ReadText("a/inner.txt"))(t); got != "inner" {
		t.Fatalf("read %q", got)
	}
	if got := must(snap.Read("empty"))(t); len(got) != 0 {
		t.Fatalf("empty %q", got)
	}
	if got := must(snap.ReadText("/link/"))(t); got != "a.txt" {
		t.Fatalf("symlink reads as its target: %q", got)
	}
	// git order: the tree "a" after "a.b" and "a.txt".
	if got := strings.Join(must(snap.Ls(""))(t), " "); got != ".dot .hidden a.b a.txt a bin empty link src" {
		t.Fatalf("ls: %s", got)
	}
	if got := strings.Join(must(snap.Ls("/src/"))(t), " "); got != "lib main.py" {
		t.Fatalf("ls src: %s", got)
	}
	for _, tc := range []struct {
		desc string
		err  error
		do   func() error
	}{
		{"read missing", fs.ErrNotExist, func() error { _, err := snap.Read("nope"); return err }},
		{"read dir", ErrIsDir, func() error { _, err := snap.Read("src"); return err }},
		{"read through a file", ErrNotDir, func() error { _, err := snap.Read("a.txt/x"); return err }},
		{"ls file", ErrNotDir, func() error { _, err := snap.Ls("a.txt"); return err }},
		{"ls missing", fs.ErrNotExist, func() error { _, err := snap.Ls("nope"); return err }},
		{"readlink file", ErrNotSymlink, func() error { _, err := snap.Readlink("a.txt"); return err }},
		{"readlink missing", fs.ErrNotExist, func() error { _, err := snap.Readlink("nope"); return err }},
		{"filetype missing", fs.ErrNotExist, func() error { _, err := snap.FileType("nope"); return err }},
		{"size missing", fs.ErrNotExist, func() error { _, err := snap.Size("nope"); return err }},
		{"dotdot", fs.ErrInvalid, func() error { _, err := snap.Read("../x"); return err }},
	} {
		err := tc.do()
		var pe *fs.PathError
		if !errors.Is(err, tc.err) || !errors.As(err, &pe) {
			t.Fatalf("%s: %v, want a *fs.PathError matching %v", tc.desc, err, tc.err)
		}
	}
	var pe *fs.PathError
	if _, err := snap.Read("a.txt/x/y"); !errors.As(err, &pe) || pe.Path != "a.txt" {
		t.Fatalf("through a file names the file: %v", err)
	}
	if !must(snap.Exists("src/lib"))(t) || must(snap.Exists("a.txt/x"))(t) || must(snap.Exists("nope"))(t) {
		t.Fatal("exists")
	}
	if !must(snap.IsDir(""))(t) || must(snap.IsDir("a.txt"))(t) || must(snap.IsDir("nope"))(t) {
		t.Fatal("isdir")
	}
	for path, want := range map[string]FileType{"a.txt": Blob, "bin/run": Executable, "link": Link, "src": Tree} {
		if got := must(snap.FileType(path))(t); got != want {
			t.Fatalf("%s: %s", path, got)
		}
	}
	if got := must(snap.Size("a.txt"))(t); got != 5 {
		t.Fatalf("size %d", got)
	}
	if got := must(snap.Size("link"))(t); got != 5 {
		t.Fatalf("link size %d", got)
	}
	if got := must(snap.ObjectHash("a.txt"))(t); got != coreGit(t, snap.Store().Path(), "rev-parse", snap.Hash()+":a.txt") {
		t.Fatalf("hash %s", got)
	}
	if got := must(snap.ObjectHash(""))(t); got != string(snap.tree) {
		t.Fatalf("root hash %s", got)
	}
}

func TestWalk(t *testing.T) {
	t.Parallel()
	snap := coreSample(t)
	var seen []string
	err := snap.Walk("src", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		seen = append(seen, p)
		return nil
	})
	if err != nil || strings.Join(seen, " ") != "src src/lib src/lib/.cache src/lib/util.py src/main.py" {
		t.Fatalf("walk: %v %v", seen, err)
	}
	seen = nil
	err = snap.Walk("", func(p string, d fs.DirEntry, err error) error {
		seen = append(seen, p)
		if d.IsDir() && p != "" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil || strings.Join(seen, " ") != " .dot .hidden a a.b a.txt bin empty link src" {
		t.Fatalf("walk with SkipDir: %q %v", seen, err)
	}
	err = snap.Walk("nope", func(p string, d fs.DirEntry, err error) error { return err })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("walk missing: %v", err)
	}
}

func TestOpenFile(t *testing.T) {
	t.Parallel()
	big := make([]byte, 3<<20+17) // streams: bigger than smallFile and than cat-file's drain limit
	for i := range big {
		big[i] = byte(rand.N(256))
	}
	snap := must(coreMain(t).Write("big.bin", big, WriteOptions{}))(t)
	snap = must(snap.WriteText("small", "0123456789", WriteOptions{}))(t)

	for _, name := range []string{"big.bin", "small"} {
		want := must(snap.Read(name))(t)
		f := must(snap.OpenFile(name))(t)
		if info := must(f.Stat())(t); info.Size() != int64(len(want)) || info.Name() != name || info.IsDir() {
			t.Fatalf("%s stat: %v", name, info)
		}
		got := must(io.ReadAll(f))(t)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes, want %d", name, len(got), len(want))
		}
		// Backward, forward and relative seeks.
		for _, off := range []int64{int64(len(want)) / 2, 3, int64(len(want)) - 4, 0} {
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			n, err := io.ReadFull(f, buf)
			if err != nil || !bytes.Equal(buf[:n], want[off:off+4]) {
				t.Fatalf("%s at %d: %q %v", name, off, buf[:n], err)
			}
		}
		if pos := must(f.Seek(-2, io.SeekEnd))(t); pos != int64(len(want))-2 {
			t.Fatalf("seek end: %d", pos)
		}
		rest := must(io.ReadAll(f))(t)
		if !bytes.Equal(rest, want[len(want)-2:]) {
			t.Fatalf("tail %q", rest)
		}
		// Closing mid-stream gives the reader back (the pool kills it).
		f.Seek(10, io.SeekStart)
		f.Read(make([]byte, 1))
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
	}
	if _, err := snap.OpenFile("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	// The pool still works after abandoned streams.
	if got := must(snap.ReadText("small"))(t); got != "0123456789" {
		t.Fatal(got)
	}
}

func TestIOFS(t *testing.T) {
	t.Parallel()
	snap := coreSample(t)
	// Glob skips dot-names where path.Match does not; fstest's Glob
	// checks hold where there are none, and everything else holds always.
	plain := must(coreMain(t).Apply(map[string]WriteEntry{
		"a.txt": {Data: []byte("a")}, "a/inner.txt": {Data: []byte("i")}, "bin/run": {Data: []byte("r"), Mode: Executable},
		"link": {Target: "a.txt"}, "src/lib/util.py": {Data: []byte("u")}, "empty": {Data: []byte{}},
	}, nil, ApplyOptions{}))(t)
	if err := fstest.TestFS(plain, "a.txt", "a/inner.txt", "bin/run", "link", "src/lib/util.py", "empty"); err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(struct{ fs.ReadDirFS }{snap}, "a.txt", "a/inner.txt", "bin/run", "link", ".hidden", "src/lib/util.py", "empty"); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Open("/a.txt"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("invalid name: %v", err)
	}
	if _, err := snap.Open("a.txt/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("through a file: %v", err)
	}
	info := must(snap.Stat("bin/run"))(t)
	if info.Mode() != 0o755 || !info.ModTime().Equal(snap.Time()) {
		t.Fatalf("stat: %v %v", info.Mode(), info.ModTime())
	}
	if info := must(snap.Stat("link"))(t); info.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link mode %v", info.Mode())
	}
	matches := must(fs.Glob(snap, "src/*.py"))(t)
	if strings.Join(matches, " ") != "src/main.py" {
		t.Fatalf("fs.Glob: %v", matches)
	}

	srv := httptest.NewServer(http.FileServer(http.FS(snap)))
	defer srv.Close()
	resp := must(http.Get(srv.URL + "/a/inner.txt"))(t)
	body := must(io.ReadAll(resp.Body))(t)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "inner" {
		t.Fatalf("http file: %d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/src/main.py", nil)
	req.Header.Set("Range", "bytes=1-2")
	resp = must(http.DefaultClient.Do(req))(t)
	body = must(io.ReadAll(resp.Body))(t)
	resp.Body.Close()
	if resp.StatusCode != 206 || string(body) != "ai" {
		t.Fatalf("http range: %d %q", resp.StatusCode, body)
	}
	resp = must(http.Get(srv.URL + "/src/"))(t)
	body = must(io.ReadAll(resp.Body))(t)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "main.py") || !strings.Contains(string(body), "lib/") {
		t.Fatalf("http dir: %d %s", resp.StatusCode, body)
	}
}

// BenchmarkRead: a 4 KiB file from a snapshot.
func BenchmarkRead(b *testing.B) {
	snap := must(coreMain(b).Write("dir/sub/file.bin", bytes.Repeat([]byte("x"), 4096), WriteOptions{}))(b)
	b.ResetTimer()
	for range b.N {
		if _, err := snap.Read("dir/sub/file.bin"); err != nil {
			b.Fatal(err)
		}
	}
}
