package odb

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zlib"

	"github.com/strata-storage/strata/internal/git"
)

// Pack type codes (gitformat-pack(5)).
var packTypes = map[git.ObjectType]byte{
	git.CommitObject: 1,
	git.TreeObject:   2,
	git.BlobObject:   3,
	git.TagObject:    4,
}

// packFile is a Transaction's pack of new objects: objects/pack/tmp_pack_*
// while it grows (git's temp name: git prune and maintenance's clean-temp
// remove a stale one; git never reads it), then pack-<checksum>.pack and
// .idx once Commit publishes it.
//
// Entries are undeltified: maintenance repacks them with deltas later. The
// header's object count is written last, so Commit reads the pack back
// once to compute the trailing checksum (as git's fast-import and
// bulk-checkin do).
type packFile struct {
	dir     string // objects/pack
	f       *os.File
	tmp     string // "" once published or removed
	bw      *bufio.Writer
	off     int64 // bytes written, buffered included
	entries []packEntry
	err     error // sticky: the pack can't be trusted

	idx    *os.File
	idxTmp string
	sum    []byte // pack checksum, once finished
	// published: pack and index are at their final names.
	published bool
}

// packEntry is one object in the pack.
type packEntry struct {
	oid  git.ObjectID
	typ  git.ObjectType
	off  int64
	crc  uint32 // of the entry's bytes in the pack, for the .idx
	size int64  // entry bytes, header included
}

func newPackFile(objectsDir string) (*packFile, error) {
	dir := filepath.Join(objectsDir, "pack")
	f, name, err := createUnique(dir, "tmp_pack_", 0o444)
	if errors.Is(err, fs.ErrNotExist) {
		// git init makes objects/pack and nothing removes it; 0777 like
		// git: the umask (or core.sharedRepository) decides. Commit syncs
		// objects/.
		if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		f, name, err = createUnique(dir, "tmp_pack_", 0o444)
	}
	if err != nil {
		return nil, err
	}
	p := &packFile{dir: dir, f: f, tmp: name, bw: bufio.NewWriterSize(f, 64<<10)}
	// The object count is patched in by finish.
	var hdr [12]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	p.write(hdr[:])
	return p, p.err
}

func (p *packFile) write(b []byte) {
	if p.err != nil {
		return
	}
	n, err := p.bw.Write(b)
	p.off += int64(n)
	p.err = err
}

// entryWriter counts and checksums one entry's bytes on their way into
// the pack.
type entryWriter struct {
	p   *packFile
	crc hash.Hash32
}

func (e *entryWriter) Write(b []byte) (int, error) {
	if e.p.err != nil {
		return 0, e.p.err
	}
	e.crc.Write(b)
	e.p.write(b)
	if e.p.err != nil {
		return 0, e.p.err
	}
	return len(b), nil
}

// add appends an undeltified entry: the type and size header, then
// zlib(content). Unlike a loose object, the "<type> <size>" header is not
// compressed with the content. It returns the entry's size in the pack.
func (p *packFile) add(typ git.ObjectType, oid git.ObjectID, size int64, src io.Reader) (int64, error) {
	if p.err != nil {
		return 0, p.err
	}
	start := p.off
	ew := &entryWriter{p: p, crc: crc32.NewIEEE()}
	var hdr [16]byte
	ew.Write(appendEntryHeader(hdr[:0], packTypes[typ], size))
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(ew)
	n, err := io.Copy(zw, src)
	if err == nil && n != size {
		err = fmt.Errorf("content is %d bytes, header says %d", n, size)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		// Drop the partial entry so the pack stays well-formed.
		p.bw.Reset(p.f)
		if p.err = p.f.Truncate(start); p.err == nil {
			_, p.err = p.f.Seek(start, io.SeekStart)
		}
		p.off = start
		return 0, err
	}
	p.entries = append(p.entries, packEntry{oid: oid, typ: typ, off: start, crc: ew.crc.Sum32(), size: p.off - start})
	return p.off - start, nil
}

// appendEntryHeader appends a pack entry header: the type in bits 4-6 of
// the first byte, the size in its low 4 bits and then 7 bits a byte, least
// significant first, each byte but the last with its high bit set.
func appendEntryHeader(buf []byte, typ byte, size int64) []byte {
	c := typ<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		buf = append(buf, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(buf, c)
}

// lookup returns the entry holding oid.
func (p *packFile) lookup(oid git.ObjectID) (packEntry, bool) {
	i := slices.IndexFunc(p.entries, func(e packEntry) bool { return e.oid == oid })
	if i < 0 {
		return packEntry{}, false
	}
	return p.entries[i], true
}

// open returns a reader of oid's content and its size.
func (p *packFile) open(e packEntry) (io.ReadCloser, int64, error) {
	if p.err == nil {
		p.err = p.bw.Flush()
	}
	if p.err != nil {
		return nil, 0, p.err
	}
	r := bufio.NewReader(io.NewSectionReader(p.f, e.off, e.size))
	c, err := r.ReadByte()
	if err != nil {
		return nil, 0, err
	}
	size, shift := int64(c&0x0f), 4
	for c&0x80 != 0 {
		if c, err = r.ReadByte(); err != nil {
			return nil, 0, err
		}
		size |= int64(c&0x7f) << shift
		shift += 7
	}
	zr, err := zlib.NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	return zr, size, nil
}

// finish completes the pack (object count, trailing checksum) and writes
// its .idx to objects/pack/tmp_idx_*. Both stay open for Commit to sync.
func (p *packFile) finish() error {
	if p.err == nil {
		p.err = p.bw.Flush()
	}
	if p.err != nil {
		return p.err
	}
	var count [4]byte
	binary.BigEndian.PutUint32(count[:], uint32(len(p.entries)))
	if _, err := p.f.WriteAt(count[:], 8); err != nil {
		return err
	}
	h := sha1.New()
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if n, err := io.Copy(h, p.f); err != nil {
		return err
	} else if n != p.off {
		return fmt.Errorf("pack is %d bytes, wrote %d", n, p.off)
	}
	p.sum = h.Sum(nil)
	if _, err := p.f.Write(p.sum); err != nil {
		return err
	}

	f, name, err := createUnique(p.dir, "tmp_idx_", 0o444)
	if err != nil {
		return err
	}
	p.idx, p.idxTmp = f, name
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := writeIndex(bw, p.entries, p.sum); err != nil {
		return err
	}
	return bw.Flush()
}

// writeIndex writes a pack index, version 2 (gitformat-pack(5)), exactly
// as git index-pack does: entries sorted by id, 256 cumulative fan-out
// counts, ids, CRC32s, 31-bit offsets (high bit set: an index into the
// table of 64-bit offsets that follows, for entries past 2 GiB), the
// pack's checksum and the index's own.
func writeIndex(w io.Writer, entries []packEntry, packSum []byte) error {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b packEntry) int { return strings.Compare(string(a.oid), string(b.oid)) })
	h := sha1.New()
	out := io.MultiWriter(w, h)
	var buf bytes.Buffer
	buf.Write([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
	var fanout [256]uint32
	for _, e := range sorted {
		fanout[fanoutIndex(e.oid)]++
	}
	var total uint32
	for _, n := range fanout {
		total += n
		buf.Write(binary.BigEndian.AppendUint32(nil, total))
	}
	if _, err := out.Write(buf.Bytes()); err != nil {
		return err
	}
	for _, e := range sorted {
		raw, err := hex.DecodeString(string(e.oid))
		if err != nil {
			return err
		}
		if _, err := out.Write(raw); err != nil {
			return err
		}
	}
	var b [8]byte
	for _, e := range sorted {
		if _, err := out.Write(binary.BigEndian.AppendUint32(b[:0], e.crc)); err != nil {
			return err
		}
	}
	var large []int64
	for _, e := range sorted {
		v := uint32(e.off)
		if e.off >= 1<<31 {
			v = 1<<31 | uint32(len(large))
			large = append(large, e.off)
		}
		if _, err := out.Write(binary.BigEndian.AppendUint32(b[:0], v)); err != nil {
			return err
		}
	}
	for _, off := range large {
		if _, err := out.Write(binary.BigEndian.AppendUint64(b[:0], uint64(off))); err != nil {
			return err
		}
	}
	if _, err := out.Write(packSum); err != nil {
		return err
	}
	_, err := w.Write(h.Sum(nil))
	return err
}

// files are the pack's open files, for Commit to sync and close.
func (p *packFile) files() []**os.File { return []**os.File{&p.f, &p.idx} }

// publish renames the pack, then its index, to their final names: git
// uses a pack only once its .idx exists, by which time the pack is whole.
// A pack of the same name has the same content (the name is its
// checksum), so replacing one changes nothing for its readers, who keep
// the file they opened.
func (p *packFile) publish() error {
	base := filepath.Join(p.dir, "pack-"+hex.EncodeToString(p.sum))
	if err := os.Rename(p.tmp, base+".pack"); err != nil {
		return err
	}
	p.tmp = ""
	// Should this fail, the .pack stays: it may have replaced an identical
	// pack whose index exists, and without an index of its own it is
	// harmless garbage.
	if err := os.Rename(p.idxTmp, base+".idx"); err != nil {
		return err
	}
	p.idxTmp = ""
	p.published = true
	return nil
}

// remove closes and deletes whatever is not published.
func (p *packFile) remove() {
	for _, f := range p.files() {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	for _, name := range []*string{&p.tmp, &p.idxTmp} {
		if *name != "" {
			os.Remove(*name)
			*name = ""
		}
	}
}
