package vfs

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/ulikunitz/xz"
)

// maxLinkTarget bounds a symlink target read into memory, from the store
// or from an archive.
const maxLinkTarget = 64 << 10

// archiveFile is one file of a snapshot being exported.
type archiveFile struct {
	path string
	mode string
	oid  git.ObjectID
}

// exportFiles calls fn for every file and symlink of the snapshot, a
// directory's own files before its subdirectories', each in tree order
// (gitstore's walk order). fn reads the blob through rd, which nothing
// else uses meanwhile, so nothing is held but the trees on the way.
func (f *FS) exportFiles(fn func(ctx context.Context, rd *catfile.Reader, af archiveFile) error) error {
	return f.withReader(func(ctx context.Context, rd *catfile.Reader) error {
		var walk func(dir string, tree git.ObjectID) error
		walk = func(dir string, tree git.ObjectID) error {
			list, err := f.store.readTree(ctx, rd, tree)
			if err != nil {
				return err
			}
			for _, e := range list {
				if e.Mode == odb.ModeTree || e.Mode == odb.ModeSubmodule {
					continue
				}
				if err := fn(ctx, rd, archiveFile{path: joinPath(dir, e.Name), mode: e.Mode, oid: e.OID}); err != nil {
					return err
				}
			}
			for _, e := range list {
				if e.Mode == odb.ModeTree {
					if err := walk(joinPath(dir, e.Name), e.OID); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return walk("", f.tree)
	})
}

// readLinkTarget reads a symlink blob as the UTF-8 text archives store.
func readLinkTarget(ctx context.Context, rd *catfile.Reader, af archiveFile) (string, error) {
	_, data, err := rd.ReadObject(ctx, string(af.oid), maxLinkTarget)
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", af.path, err)
	}
	if !utf8.Valid(data) {
		return "", pathErr("export", af.path, errorf(ErrInvalid, "Symlink target for %s is not valid UTF-8", af.path))
	}
	return string(data), nil
}

// ExportZip writes the snapshot's files and symlinks to w as a zip
// archive and returns how many it wrote. Entries are DEFLATE-compressed,
// made on Unix (create_system 3) with the git mode in the high 16 bits of
// the external attributes (0o100644, 0o100755, and 0o120000 for a symlink,
// whose content is its target); there are no directory entries. Every
// entry is dated at the commit time. Contents stream from the repository.
func (f *FS) ExportZip(w io.Writer) (int, error) {
	zw := zip.NewWriter(w)
	n := 0
	err := f.exportFiles(func(ctx context.Context, rd *catfile.Reader, af archiveFile) error {
		mode, err := modeBits(af)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{
			Name:           af.path,
			Method:         zip.Deflate,
			CreatorVersion: 3<<8 | 20, // Unix, zip 2.0
			ExternalAttrs:  mode << 16,
			Modified:       f.when,
		}
		if af.mode == odb.ModeSymlink {
			target, err := readLinkTarget(ctx, rd, af)
			if err != nil {
				return err
			}
			ew, err := zw.CreateHeader(h)
			if err == nil {
				_, err = io.WriteString(ew, target)
			}
			if err != nil {
				return fmt.Errorf("zip %s: %w", af.path, err)
			}
			n++
			return nil
		}
		ew, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip %s: %w", af.path, err)
		}
		if err := copyBlob(ctx, rd, af, ew, nil); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := zw.Close(); err != nil {
		return n, fmt.Errorf("zip: %w", err)
	}
	return n, nil
}

// modeBits is the Unix mode an archive records for a file.
func modeBits(af archiveFile) (uint32, error) {
	t, ok := fileTypeOfGit(af.mode)
	if !ok || t == Tree {
		return 0, pathErr("export", af.path, errorf(ErrInvalid, "unsupported file mode %s", af.mode))
	}
	return t.Mode(), nil
}

// copyBlob streams a file's blob into w; with header set, it is called
// with the blob's size first (a tar header needs it).
func copyBlob(ctx context.Context, rd *catfile.Reader, af archiveFile, w io.Writer, header func(size int64) error) error {
	obj, err := rd.Object(ctx, string(af.oid))
	if err != nil {
		return fmt.Errorf("read %s: %w", af.path, err)
	}
	defer obj.Close()
	if obj.Type != git.BlobObject {
		return fmt.Errorf("read %s: object %s is a %s, not a blob", af.path, af.oid, obj.Type)
	}
	if header != nil {
		if err := header(obj.Size); err != nil {
			return err
		}
	}
	if _, err := io.Copy(w, obj); err != nil {
		return fmt.Errorf("archive %s: %w", af.path, err)
	}
	return nil
}

// ExportTar writes the snapshot's files and symlinks to w as a tar archive
// and returns how many it wrote. compression is "" (none), "gz" or "xz";
// "bz2" is refused, as Go has no bzip2 compressor (ImportTar reads
// bzip2). Files have mode 0644 or 0755, symlinks are symlink entries;
// owner 0, no directory entries, and every entry is dated at the commit
// time (gitstore wrote 0, the epoch, which extracts as 1970). Contents
// stream from the repository.
func (f *FS) ExportTar(w io.Writer, compression string) (int, error) {
	var zw io.WriteCloser
	switch compression {
	case "":
	case "gz":
		zw = gzip.NewWriter(w)
	case "xz":
		x, err := xz.NewWriter(w)
		if err != nil {
			return 0, fmt.Errorf("xz: %w", err)
		}
		zw = x
	case "bz2":
		return 0, errorf(ErrInvalid, "Cannot write .tar.bz2: bzip2 compression is not supported for export (use gz or xz)")
	default:
		return 0, errorf(ErrInvalid, "Unknown tar compression: '%s' (use gz, xz or none)", compression)
	}
	out := w
	if zw != nil {
		out = zw
	}
	tw := tar.NewWriter(out)
	n := 0
	err := f.exportFiles(func(ctx context.Context, rd *catfile.Reader, af archiveFile) error {
		mode, err := modeBits(af)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: af.path, ModTime: f.when, Format: tar.FormatPAX}
		if af.mode == odb.ModeSymlink {
			target, err := readLinkTarget(ctx, rd, af)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, target, 0o777
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("tar %s: %w", af.path, err)
			}
			n++
			return nil
		}
		h.Typeflag, h.Mode = tar.TypeReg, int64(mode&0o7777)
		err = copyBlob(ctx, rd, af, tw, func(size int64) error {
			h.Size = size
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("tar %s: %w", af.path, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := tw.Close(); err != nil {
		return n, fmt.Errorf("tar: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return n, fmt.Errorf("tar: %w", err)
		}
	}
	return n, nil
}

// ImportOptions configure ImportZip and ImportTar.
type ImportOptions struct {
	// Message is the commit message; "" generates one (operation "ar").
	Message string
}

// ImportStats says what an import took from the archive.
type ImportStats struct {
	// Files is the number of files and symlinks written, hard links
	// included.
	Files int
	// SkippedLinks is the number of hard links left out because their
	// target was not an earlier file of the archive.
	SkippedLinks int
	// Warnings name each skipped entry and why.
	Warnings []string
}

// archivePath turns an entry name into a repository path: leading "./"
// removed (repeatedly), then normalised as every write path is; ".." and
// other invalid paths are an error that aborts the import.
func archivePath(name string) (string, error) {
	for strings.HasPrefix(name, "./") {
		name = strings.TrimLeft(name[2:], "/")
	}
	p, err := cleanWritePath("import", name)
	if err != nil {
		// gitstore's wording; still ErrInvalid for errors.Is.
		return "", &kindError{msg: "Invalid repo path: " + err.Error(), kind: ErrInvalid}
	}
	return p, nil
}

// importBatch writes an archive's entries into one batch (op "ar"):
// additive, an existing path is overwritten, nothing is deleted.
type importBatch struct {
	b     *Batch
	stats ImportStats
	files map[string]FileType // regular files written so far, for hard links
}

func (f *FS) newImport(opt ImportOptions) (*importBatch, error) {
	b, err := f.Batch(BatchOptions{Message: opt.Message, Operation: "ar"})
	if err != nil {
		return nil, err
	}
	return &importBatch{b: b, files: map[string]FileType{}}, nil
}

func (ib *importBatch) file(path string, r io.Reader, mode FileType) error {
	if err := ib.b.WriteFrom(path, r, mode); err != nil {
		return err
	}
	ib.files[path] = mode
	ib.stats.Files++
	return nil
}

func (ib *importBatch) symlink(path, target string) error {
	if err := ib.b.WriteSymlink(path, target); err != nil {
		return err
	}
	delete(ib.files, path)
	ib.stats.Files++
	return nil
}

// commit ends the import; an archive with nothing to import is empty.
func (ib *importBatch) commit(empty string) (*FS, ImportStats, error) {
	if ib.stats.Files == 0 {
		ib.b.Abort()
		return nil, ib.stats, errorf(ErrInvalid, "%s", empty)
	}
	snap, err := ib.b.Commit()
	if err != nil {
		return nil, ib.stats, err
	}
	return snap, ib.stats, nil
}

// zipFileType reads a zip entry's type from the Unix mode in its external
// attributes, as gitstore does: a symlink by its file type bits,
// executable by any execute bit, anything else a regular file.
func zipFileType(zf *zip.File) FileType {
	mode := zf.ExternalAttrs >> 16
	switch {
	case mode&0o170000 == 0o120000:
		return Link
	case mode&0o111 != 0:
		return Executable
	}
	return Blob
}

// ImportZip imports a zip archive into the snapshot's branch as one commit
// (operation "ar") and returns the new snapshot. It is additive: existing
// files are overwritten, none deleted. Directory entries are skipped; an
// entry whose Unix mode says symlink becomes a symlink to its (UTF-8)
// content, an execute bit makes an executable. An invalid entry path
// ("..") aborts the import with nothing committed. Contents stream from r
// into the repository.
func (f *FS) ImportZip(r io.ReaderAt, size int64, opt ImportOptions) (*FS, ImportStats, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, ImportStats{}, errorf(ErrInvalid, "Not a valid zip file")
	}
	// Check every path first: a bad one must abort before any blob is
	// written.
	paths := make([]string, len(zr.File))
	for i, zf := range zr.File {
		if zf.FileInfo().IsDir() || strings.HasSuffix(zf.Name, "/") {
			continue
		}
		if paths[i], err = archivePath(zf.Name); err != nil {
			return nil, ImportStats{}, err
		}
	}
	ib, err := f.newImport(opt)
	if err != nil {
		return nil, ImportStats{}, err
	}
	for i, zf := range zr.File {
		if paths[i] == "" {
			continue
		}
		if err := ib.zipEntry(zf, paths[i]); err != nil {
			ib.b.Abort()
			return nil, ib.stats, err
		}
	}
	return ib.commit("Zip file contains no files")
}

func (ib *importBatch) zipEntry(zf *zip.File, path string) error {
	rc, err := zf.Open()
	if err != nil {
		return errorf(ErrInvalid, "Not a valid zip file: %s: %v", zf.Name, err)
	}
	defer rc.Close()
	mode := zipFileType(zf)
	if mode == Link {
		target, err := readTarget(rc, path)
		if err != nil {
			return err
		}
		return ib.symlink(path, target)
	}
	return ib.file(path, rc, mode)
}

// readTarget reads a symlink target stored as an entry's content.
func readTarget(r io.Reader, path string) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxLinkTarget+1))
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", path, err)
	}
	if len(data) > maxLinkTarget {
		return "", errorf(ErrInvalid, "Symlink target for %s is too long", path)
	}
	if !utf8.Valid(data) {
		return "", errorf(ErrInvalid, "Symlink target for %s is not valid UTF-8", path)
	}
	return string(data), nil
}

// Compressed tar streams, by their magic bytes.
var (
	gzipMagic  = []byte{0x1f, 0x8b}
	bzip2Magic = []byte("BZh")
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// decompress detects gzip, bzip2 or xz by magic bytes and returns the
// plain tar stream (r itself when it is not compressed).
func decompress(r io.Reader) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(len(xzMagic))
	nop := func() error { return nil }
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	case bytes.HasPrefix(head, bzip2Magic):
		return bzip2.NewReader(br), nop, nil
	case bytes.HasPrefix(head, xzMagic):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return xr, nop, nil
	}
	return br, nop, nil
}

// ImportTar imports a tar archive, plain or compressed with gzip, bzip2 or
// xz (detected from its first bytes), into the snapshot's branch as one
// commit (operation "ar") and returns the new snapshot. It is additive.
// Regular files (executable if any execute bit is set) and symlinks are
// imported, directories, devices and fifos ignored. A hard link gets the
// content and type of the earlier file it names; one naming no earlier
// file of the archive is skipped, with a warning in the stats. The archive
// is read once, as a stream; an invalid entry path ("..") aborts the
// import with nothing committed.
func (f *FS) ImportTar(r io.Reader, opt ImportOptions) (*FS, ImportStats, error) {
	plain, closeZ, err := decompress(r)
	if err != nil {
		return nil, ImportStats{}, errorf(ErrInvalid, "Not a valid tar archive: %v", err)
	}
	defer closeZ()
	ib, err := f.newImport(opt)
	if err != nil {
		return nil, ImportStats{}, err
	}
	tr := tar.NewReader(plain)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			ib.b.Abort()
			return nil, ib.stats, errorf(ErrInvalid, "Not a valid tar archive: %v", err)
		}
		if err := ib.tarEntry(tr, h); err != nil {
			ib.b.Abort()
			return nil, ib.stats, err
		}
	}
	return ib.commit("Tar archive contains no files")
}

func (ib *importBatch) tarEntry(tr *tar.Reader, h *tar.Header) error {
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeSymlink, tar.TypeLink: // the reader reports old-style regular files as TypeReg
	default:
		return nil // directories, devices, fifos, …
	}
	path, err := archivePath(h.Name)
	if err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		if !utf8.ValidString(h.Linkname) {
			return errorf(ErrInvalid, "Symlink target for %s is not valid UTF-8", path)
		}
		return ib.symlink(path, h.Linkname)
	case tar.TypeLink:
		return ib.hardLink(path, h)
	}
	mode := Blob
	if h.Mode&0o111 != 0 {
		mode = Executable
	}
	return ib.file(path, tr, mode)
}

// hardLink writes path with the content and type of the earlier archive
// file its link names.
func (ib *importBatch) hardLink(path string, h *tar.Header) error {
	target, err := archivePath(h.Linkname)
	mode, known := ib.files[target]
	if err != nil || !known {
		ib.stats.SkippedLinks++
		ib.stats.Warnings = append(ib.stats.Warnings,
			fmt.Sprintf("skipping hard link (target is not an earlier file of the archive): %s -> %s", h.Name, h.Linkname))
		return nil
	}
	if err := ib.b.copyPending(target, path); err != nil {
		return err
	}
	ib.files[path] = mode
	ib.stats.Files++
	return nil
}
