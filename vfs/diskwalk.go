package vfs

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
)

// diskFile is one file found on disk by a copy: a regular file or a
// symlink stored as a link.
type diskFile struct {
	rel  string      // slash path relative to the walked root
	abs  string      // path on disk
	info fs.FileInfo // Lstat, or Stat when the link is followed
	link bool        // stored as a symlink: never followed
}

// fileType is the git type a local file is stored as.
func (d diskFile) fileType() FileType {
	return diskFileType(d.info, d.link)
}

func diskFileType(info fs.FileInfo, link bool) FileType {
	switch {
	case link:
		return Link
	case info.Mode()&0o111 != 0:
		return Executable
	}
	return Blob
}

// walkDisk lists the files under root, sorted by relative path. Symlinks
// are files of their own (never descended) unless follow is set; then they
// are dereferenced, a directory reached twice by its real path is skipped
// (so link cycles end), and a dangling link is still stored as a link.
// root itself is always followed: a `dir/` source names the contents. FIFOs,
// sockets and devices are skipped, since reading them could block or never
// end. A directory that cannot be read goes to onErr; when onErr returns
// nil the walk goes on without it.
func walkDisk(root string, follow bool, ex *excludeWalk, onErr func(path string, err error) error) ([]diskFile, error) {
	var out []diskFile
	seen := map[string]bool{}
	if follow {
		if real, err := filepath.EvalSymlinks(root); err == nil {
			seen[real] = true
		}
	}
	var walk func(dirAbs, dirRel string) error
	walk = func(dirAbs, dirRel string) error {
		entries, err := os.ReadDir(dirAbs)
		if err != nil {
			return onErr(dirAbs, err)
		}
		for _, e := range entries {
			rel := path.Join(dirRel, e.Name())
			abs := filepath.Join(dirAbs, e.Name())
			info, err := os.Lstat(abs)
			if err != nil {
				if err := onErr(abs, err); err != nil {
					return err
				}
				continue
			}
			link := info.Mode()&fs.ModeSymlink != 0
			if link && follow {
				if target, err := os.Stat(abs); err == nil {
					info, link = target, false
				}
			}
			isDir := !link && info.IsDir()
			if !link && !isDir && !info.Mode().IsRegular() {
				continue
			}
			skip, err := ex.excluded(rel, isDir)
			if err != nil {
				if err := onErr(abs, err); err != nil {
					return err
				}
				continue
			}
			if skip {
				continue
			}
			if !isDir {
				out = append(out, diskFile{rel: rel, abs: abs, info: info, link: link})
				continue
			}
			if follow {
				real, err := filepath.EvalSymlinks(abs)
				if err != nil {
					if err := onErr(abs, err); err != nil {
						return err
					}
					continue
				}
				if seen[real] {
					continue
				}
				seen[real] = true
			}
			if err := walk(abs, rel); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	// ReadDir sorts each directory by name, but "a/b" vs "a.txt" orders
	// differently as whole paths; one sort makes plans deterministic.
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

// diskChanged is a plan's change test between local files and the
// repository files they pair with, both keyed by rel: another type is a
// change; with mtime, a file no newer than the commit (commitTime, Unix
// seconds) is taken as unchanged; otherwise the blob ids decide.
func diskChanged(local map[string]diskFile, repo map[string]repoFile, mtime bool, commitTime int64) func(planSource, FileType) (bool, error) {
	return func(s planSource, old FileType) (bool, error) {
		if s.typ != old {
			return true, nil
		}
		d := local[s.rel]
		if mtime && !d.link && d.info.ModTime().Unix() <= commitTime {
			return false, nil
		}
		h, err := blobHash(d.abs, d.link)
		if err != nil {
			return false, err
		}
		return h != repo[s.rel].oid, nil
	}
}

// blobHash is the git blob id of a local file, streamed through SHA-1 as
// `blob <size>\0<content>`; a symlink (unless followed) hashes its target.
func blobHash(abs string, link bool) (string, error) {
	h := sha1.New()
	if link {
		target, err := os.Readlink(abs)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "blob %d\x00%s", len(target), target)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", &fs.PathError{Op: "hash", Path: abs, Err: ErrIsDir}
	}
	io.WriteString(h, "blob "+strconv.FormatInt(st.Size(), 10)+"\x00")
	// The header promised st.Size() bytes; a file that shrinks meanwhile
	// is an error rather than a wrong id.
	if _, err := io.CopyN(h, f, st.Size()); err != nil {
		return "", fmt.Errorf("hash %s: %w", abs, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
