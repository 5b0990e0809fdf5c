package vfs

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// arFiles is what arSnapshot writes: path → (type, content or target).
var arFiles = map[string]struct {
	typ  FileType
	data string
}{
	"a.txt":            {Blob, "alpha\n"},
	"bin/run.sh":       {Executable, "#!/bin/sh\necho hi\n"},
	"link":             {Link, "a.txt"},
	"dir/sub/deep.txt": {Blob, strings.Repeat("deep ", 1000)},
	"dir/ünï.txt":      {Blob, ""},
}

// arSnapshot is a store whose main branch holds arFiles.
func arSnapshot(t testing.TB) *FS {
	t.Helper()
	s := nmStore(t, Options{})
	main, err := s.Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]WriteEntry{}
	for p, f := range arFiles {
		if f.typ == Link {
			writes[p] = WriteEntry{Target: f.data}
		} else {
			writes[p] = WriteEntry{Data: []byte(f.data), Mode: f.typ}
		}
	}
	snap, err := main.Apply(writes, nil, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// arMain is a fresh store's main branch.
func arMain(t testing.TB) *FS {
	t.Helper()
	main, err := nmStore(t, Options{}).Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	return main
}

// arCheck asserts snap holds exactly arFiles with their types.
func arCheck(t testing.TB, snap *FS) {
	t.Helper()
	n := 0
	err := snap.Walk("", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, ok := arFiles[p]
		if !ok {
			t.Errorf("unexpected file %s", p)
			return nil
		}
		typ, err := snap.FileType(p)
		if err != nil || typ != want.typ {
			t.Errorf("%s: type %s, %v; want %s", p, typ, err, want.typ)
		}
		got, err := snap.Read(p)
		if err != nil || string(got) != want.data {
			t.Errorf("%s: content %.40q, %v", p, got, err)
		}
		return nil
	})
	if err != nil || n != len(arFiles) {
		t.Fatalf("walk: %d files, %v", n, err)
	}
}

func TestArchive_zipRoundTrip(t *testing.T) {
	t.Parallel()
	snap := arSnapshot(t)
	var buf bytes.Buffer
	n, err := snap.ExportZip(&buf)
	if err != nil || n != len(arFiles) {
		t.Fatalf("ExportZip = %d, %v", n, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	// A directory's own files come before its subdirectories'.
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
		if zf.CreatorVersion>>8 != 3 {
			t.Errorf("%s: create_system %d, want 3", zf.Name, zf.CreatorVersion>>8)
		}
		if zf.Method != zip.Deflate {
			t.Errorf("%s: method %d", zf.Name, zf.Method)
		}
		if want := arFiles[zf.Name].typ.Mode(); zf.ExternalAttrs>>16 != want {
			t.Errorf("%s: external_attr>>16 = %o, want %o", zf.Name, zf.ExternalAttrs>>16, want)
		}
		if !zf.Modified.Equal(snap.Time()) {
			t.Errorf("%s: dated %v, want the commit time %v", zf.Name, zf.Modified, snap.Time())
		}
	}
	if got := strings.Join(names, " "); got != "a.txt link bin/run.sh dir/ünï.txt dir/sub/deep.txt" {
		t.Errorf("entry order: %s", got)
	}

	dst := arMain(t)
	out, stats, err := dst.ImportZip(bytes.NewReader(buf.Bytes()), int64(buf.Len()), ImportOptions{})
	if err != nil || stats.Files != len(arFiles) {
		t.Fatalf("ImportZip = %+v, %v", stats, err)
	}
	arCheck(t, out)
	if p, err := out.Parent(); err != nil || p.Hash() != dst.Hash() {
		t.Fatalf("import is not one commit on the branch: %v, %v", p, err)
	}
}

func TestArchive_tarRoundTrip(t *testing.T) {
	t.Parallel()
	snap := arSnapshot(t)
	for _, comp := range []string{"", "gz", "xz"} {
		var buf bytes.Buffer
		n, err := snap.ExportTar(&buf, comp)
		if err != nil || n != len(arFiles) {
			t.Fatalf("ExportTar(%q) = %d, %v", comp, n, err)
		}
		var plain io.Reader = bytes.NewReader(buf.Bytes())
		switch comp {
		case "gz":
			if plain, err = gzip.NewReader(plain); err != nil {
				t.Fatal(err)
			}
		case "xz":
			if plain, err = xz.NewReader(plain); err != nil {
				t.Fatal(err)
			}
		}
		tr := tar.NewReader(plain)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%q: %v", comp, err)
			}
			want := arFiles[h.Name]
			switch want.typ {
			case Link:
				if h.Typeflag != tar.TypeSymlink || h.Linkname != want.data {
					t.Errorf("%q %s: type %c -> %q", comp, h.Name, h.Typeflag, h.Linkname)
				}
			case Executable:
				if h.Typeflag != tar.TypeReg || h.Mode != 0o755 {
					t.Errorf("%q %s: type %c mode %o", comp, h.Name, h.Typeflag, h.Mode)
				}
			default:
				if h.Typeflag != tar.TypeReg || h.Mode != 0o644 {
					t.Errorf("%q %s: type %c mode %o", comp, h.Name, h.Typeflag, h.Mode)
				}
			}
			if !h.ModTime.Equal(snap.Time()) || h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%q %s: mtime %v uid %d gid %d", comp, h.Name, h.ModTime, h.Uid, h.Gid)
			}
		}
		dst := arMain(t)
		out, stats, err := dst.ImportTar(bytes.NewReader(buf.Bytes()), ImportOptions{Message: "from tar"})
		if err != nil || stats.Files != len(arFiles) {
			t.Fatalf("ImportTar(%q) = %+v, %v", comp, stats, err)
		}
		arCheck(t, out)
		if out.Message() != "from tar" {
			t.Errorf("message %q", out.Message())
		}
	}
	if _, err := snap.ExportTar(io.Discard, "bz2"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "bzip2") {
		t.Fatalf("bz2 export: %v", err)
	}
	if _, err := snap.ExportTar(io.Discard, "zst"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown compression: %v", err)
	}
}

// arBzip2 is `tar cf - d/f.txt d/x.sh | bzip2` (0644 "hello bz2\n" and
// 0755 "#!/bin/sh\n"): Go has no bzip2 writer to make one.
const arBzip2 = "QlpoOTFBWSZTWXkGgfwAAJr7hMoQBEBoAfeAADB3ZZ5QAACICCAAlISpoFGRiNHojT0Jp6j9UwklJmpiNknqGTQyGE9JZr28mOBxYAGoQkiBGNQUkRhwPGEgmGO5OY82Gm16/vctaJWWDC4QAnnYMmhmSIvQ8kB4uJXE4QMCECqKcUEa4aGRpbP/k9TxT6qpqHwP5A1Nuchxmw8okO7QrEg3F3JFOFCQeQaB/A=="

func TestImportTar_bzip2(t *testing.T) {
	t.Parallel()
	raw, err := base64.StdEncoding.DecodeString(arBzip2)
	if err != nil {
		t.Fatal(err)
	}
	out, stats, err := arMain(t).ImportTar(bytes.NewReader(raw), ImportOptions{})
	if err != nil || stats.Files != 2 {
		t.Fatalf("ImportTar(bzip2) = %+v, %v", stats, err)
	}
	if got, _ := out.ReadText("d/f.txt"); got != "hello bz2\n" {
		t.Errorf("d/f.txt = %q", got)
	}
	if typ, _ := out.FileType("d/x.sh"); typ != Executable {
		t.Errorf("d/x.sh is %s", typ)
	}
}

// arTar builds a tar archive from headers (regular files get body as
// content).
func arTar(t testing.TB, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = h.Uname // content smuggled in Uname, cleared below
			h.Uname = ""
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func arReg(name, content string, mode int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uname: content, ModTime: time.Unix(1700000000, 0)}
}

func TestImportTar_pathsHardLinksAndIgnoredTypes(t *testing.T) {
	t.Parallel()
	raw := arTar(t,
		&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeDir, Name: "./d/", Mode: 0o755},
		arReg("./d/run", "#!/bin/sh\n", 0o750),
		arReg("././/plain.txt", "plain\n", 0o600),
		&tar.Header{Typeflag: tar.TypeLink, Name: "./d/hard", Linkname: "./d/run"},
		&tar.Header{Typeflag: tar.TypeLink, Name: "dangling", Linkname: "not/in/archive"},
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "./sym", Linkname: "d/run"},
		&tar.Header{Typeflag: tar.TypeFifo, Name: "./fifo", Mode: 0o644},
	)
	out, stats, err := arMain(t).ImportTar(bytes.NewReader(raw), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Files != 4 || stats.SkippedLinks != 1 || len(stats.Warnings) != 1 || !strings.Contains(stats.Warnings[0], "dangling -> not/in/archive") {
		t.Fatalf("stats = %+v", stats)
	}
	for p, want := range map[string]FileType{"d/run": Executable, "plain.txt": Blob, "d/hard": Executable, "sym": Link} {
		if typ, err := out.FileType(p); err != nil || typ != want {
			t.Errorf("%s: %s, %v; want %s", p, typ, err, want)
		}
	}
	if got, _ := out.ReadText("d/hard"); got != "#!/bin/sh\n" {
		t.Errorf("hard link content %q", got)
	}
	for _, p := range []string{"fifo", "dangling"} {
		if ok, _ := out.Exists(p); ok {
			t.Errorf("%s imported", p)
		}
	}
	// Additive: a second import overwrites and keeps the rest.
	out2, _, err := out.ImportTar(bytes.NewReader(arTar(t, arReg("plain.txt", "new\n", 0o644))), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := out2.ReadText("plain.txt"); got != "new\n" {
		t.Errorf("overwrite: %q", got)
	}
	if ok, _ := out2.Exists("d/run"); !ok {
		t.Error("import deleted a file")
	}
}

func TestImportZip_leadingDotSlashAndDirs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct {
		name string
		mode uint32
		body string
	}{
		{"./top/", 0o040755, ""},
		{"./top/x.sh", 0o100700, "x"},
		{"././top/l", 0o120777, "x.sh"},
		{"plain", 0, "no unix mode"},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, ExternalAttrs: e.mode << 16, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body)
	}
	zw.Close()
	out, stats, err := arMain(t).ImportZip(bytes.NewReader(buf.Bytes()), int64(buf.Len()), ImportOptions{})
	if err != nil || stats.Files != 3 {
		t.Fatalf("ImportZip = %+v, %v", stats, err)
	}
	for p, want := range map[string]FileType{"top/x.sh": Executable, "top/l": Link, "plain": Blob} {
		if typ, err := out.FileType(p); err != nil || typ != want {
			t.Errorf("%s: %s, %v; want %s", p, typ, err, want)
		}
	}
	if target, _ := out.Readlink("top/l"); target != "x.sh" {
		t.Errorf("symlink target %q", target)
	}
}

func TestImport_emptyAndInvalidArchives(t *testing.T) {
	t.Parallel()
	main := arMain(t)
	var empty bytes.Buffer
	zw := zip.NewWriter(&empty)
	zw.Create("only-a-dir/")
	zw.Close()
	for _, tc := range []struct {
		desc string
		run  func() error
		want string
	}{
		{"empty zip", func() error {
			_, _, err := main.ImportZip(bytes.NewReader(empty.Bytes()), int64(empty.Len()), ImportOptions{})
			return err
		}, "Zip file contains no files"},
		{"not a zip", func() error {
			_, _, err := main.ImportZip(strings.NewReader("not a zip at all"), 16, ImportOptions{})
			return err
		}, "Not a valid zip file"},
		{"empty tar", func() error {
			_, _, err := main.ImportTar(bytes.NewReader(arTar(t, &tar.Header{Typeflag: tar.TypeDir, Name: "d/"})), ImportOptions{})
			return err
		}, "Tar archive contains no files"},
		{"not a tar", func() error {
			_, _, err := main.ImportTar(strings.NewReader(strings.Repeat("garbage!", 200)), ImportOptions{})
			return err
		}, "Not a valid tar archive: "},
		{"corrupt gzip", func() error {
			_, _, err := main.ImportTar(bytes.NewReader([]byte{0x1f, 0x8b, 1, 2, 3}), ImportOptions{})
			return err
		}, "Not a valid tar archive: "},
		{"non-UTF-8 symlink", func() error {
			raw := arTar(t, &tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "\xff\xfe"})
			_, _, err := main.ImportTar(bytes.NewReader(raw), ImportOptions{})
			return err
		}, "not valid UTF-8"},
	} {
		err := tc.run()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v; want %q", tc.desc, err, tc.want)
		}
	}
	if tip, _ := main.Store().Branches().Get("main"); tip.Hash() != main.Hash() {
		t.Fatal("a failed import committed")
	}
}

func TestImport_dotDotAbortsWholeImport(t *testing.T) {
	t.Parallel()
	main := arMain(t)
	raw := arTar(t, arReg("good.txt", "fine\n", 0o644), arReg("a/../../evil", "bad\n", 0o644))
	if _, _, err := main.ImportTar(bytes.NewReader(raw), ImportOptions{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Invalid repo path") {
		t.Fatalf("tar with ..: %v", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"good.txt", "../evil"} {
		w, _ := zw.Create(name)
		io.WriteString(w, "x")
	}
	zw.Close()
	if _, _, err := main.ImportZip(bytes.NewReader(buf.Bytes()), int64(buf.Len()), ImportOptions{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Invalid repo path") {
		t.Fatalf("zip with ..: %v", err)
	}
	tip, err := main.Store().Branches().Get("main")
	if err != nil || tip.Hash() != main.Hash() {
		t.Fatalf("an aborted import committed: %v", err)
	}
	if ok, _ := tip.Exists("good.txt"); ok {
		t.Fatal("good.txt committed")
	}
}

func TestExport_nonUTF8SymlinkTarget(t *testing.T) {
	t.Parallel()
	main := arMain(t)
	dir := main.Store().Path()
	blob := strings.TrimSpace(nmGit(t, dir, "\xff\xfe", "hash-object", "-w", "--stdin"))
	tree := strings.TrimSpace(nmGit(t, dir, "120000 blob "+blob+"\tbad\n", "mktree"))
	commit := strings.TrimSpace(nmGit(t, dir, "", "commit-tree", "-p", main.Hash(), "-m", "bad link", tree))
	nmGit(t, dir, "", "update-ref", "refs/heads/main", commit)
	snap, err := main.Store().Branches().Get("main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.ExportZip(io.Discard); err == nil || !strings.Contains(err.Error(), "Symlink target for bad is not valid UTF-8") {
		t.Fatalf("zip: %v", err)
	}
	if _, err := snap.ExportTar(io.Discard, ""); err == nil || !strings.Contains(err.Error(), "Symlink target for bad is not valid UTF-8") {
		t.Fatalf("tar: %v", err)
	}
}
