package githttp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PushObserver hears what a push stored, once at least one of its ref
// updates is applied (so the new objects are reachable). It runs before
// the push is answered and must not block; the maintenance worker's
// ObjectsAdded only counts and queues.
type PushObserver interface {
	Pushed(storageKey string, st PushStats)
}

// PushStats is what one push added to a repository's object store.
type PushStats struct {
	Packs   int   // pack files
	Objects int64 // objects, packed or loose
	Bytes   int64 // bytes of packs and loose object files
}

// manifestFile is one object file the pre-receive hook saw the push add.
type manifestFile struct {
	path string // absolute
	ino  uint64
}

// readManifest returns the object files the pre-receive hook listed for
// this push; none if it wrote no manifest (a push of no objects).
func (s *pushSession) readManifest() ([]manifestFile, error) {
	data, err := os.ReadFile(s.manifest)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	objects := filepath.Join(s.req.repo.Path(), "objects")
	var files []manifestFile
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		ino, rel, ok := strings.Cut(line, " ")
		n, err := strconv.ParseUint(ino, 10, 64)
		if !ok || err != nil || !objectFileName(rel) {
			continue
		}
		files = append(files, manifestFile{filepath.Join(objects, rel), n})
	}
	return files, nil
}

// stats measures what the push stored from its manifest: pack sizes from
// stat, object counts from each pack index's fan-out table, so it costs
// a stat and a 4-byte read per file whatever the push's size. A file
// already gone (repacked by maintenance meanwhile) is not counted.
func (s *pushSession) stats() (PushStats, error) {
	files, err := s.readManifest()
	if err != nil {
		return PushStats{}, err
	}
	var st PushStats
	for _, f := range files {
		switch filepath.Ext(f.path) {
		case ".pack":
			if fi, err := os.Stat(f.path); err == nil {
				st.Packs++
				st.Bytes += fi.Size()
			}
		case ".idx":
			if n, err := idxObjects(f.path); err == nil {
				st.Objects += n
			}
		case ".rev", ".bitmap", ".promisor", ".mtimes":
		default: // a loose object
			if fi, err := os.Stat(f.path); err == nil {
				st.Objects++
				st.Bytes += fi.Size()
			}
		}
	}
	return st, nil
}

// idxObjects reads the number of objects in a pack index: the last entry
// of its fan-out table (gitformat-pack(5)), after an 8-byte header in
// version 2 and at the start of the file in version 1.
func idxObjects(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var head [8]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return 0, err
	}
	off := int64(255 * 4)
	if string(head[:4]) == "\xfftOc" {
		if v := binary.BigEndian.Uint32(head[4:]); v != 2 {
			return 0, fmt.Errorf("pack index version %d", v)
		}
		off += 8
	}
	var n [4]byte
	if _, err := f.ReadAt(n[:], off); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint32(n[:])), nil
}
