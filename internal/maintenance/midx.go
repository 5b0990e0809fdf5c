package maintenance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// midxPacks returns the packs (by base name, "pack-<hex>") that the
// multi-pack-index in packDir covers, read from its pack-name chunk
// (gitformat-pack(5), "multi-pack-index files"); none if there is no
// multi-pack-index. Only the header, the chunk table and that chunk are
// read, not the object tables.
func midxPacks(packDir string) (map[string]bool, error) {
	f, err := os.Open(filepath.Join(packDir, "multi-pack-index"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// Header: "MIDX", version 1, hash version, chunk count, base count
	// (0), pack count; then the chunk table: (chunks+1) entries of a 4-byte
	// id and an 8-byte offset, ending with id 0.
	var hdr [12]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("read multi-pack-index: %w", err)
	}
	if string(hdr[:4]) != "MIDX" || hdr[4] != 1 {
		return nil, fmt.Errorf("read multi-pack-index: not a version 1 multi-pack-index")
	}
	chunks, packs := int(hdr[6]), binary.BigEndian.Uint32(hdr[8:])
	table := make([]byte, (chunks+1)*12)
	if _, err := f.ReadAt(table, 12); err != nil {
		return nil, fmt.Errorf("read multi-pack-index chunk table: %w", err)
	}
	for i := range chunks {
		e := table[i*12:]
		if string(e[:4]) != "PNAM" {
			continue
		}
		start, end := binary.BigEndian.Uint64(e[4:]), binary.BigEndian.Uint64(e[16:])
		if start > end || end > uint64(fi.Size()) || end-start > 64<<20 {
			return nil, fmt.Errorf("read multi-pack-index: bad pack-name chunk %d-%d", start, end)
		}
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, int64(start)); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read multi-pack-index pack names: %w", err)
		}
		names := make(map[string]bool, packs)
		for _, name := range strings.Split(string(buf), "\x00") {
			if base, ok := strings.CutSuffix(name, ".idx"); ok {
				names[base] = true
			}
		}
		if len(names) != int(packs) {
			return nil, fmt.Errorf("read multi-pack-index: %d pack names, header says %d", len(names), packs)
		}
		return names, nil
	}
	return nil, fmt.Errorf("read multi-pack-index: no pack-name chunk")
}
