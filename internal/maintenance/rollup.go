package maintenance

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
)

// packInfo is a pack of objects/pack: its base name ("pack-<hex>") and
// how many objects its index lists.
type packInfo struct {
	base    string
	objects uint32
}

// rollUp combines the small packs no bitmap covers into one, the way
// `git repack -d --geometric=2` combines packs, without its cost: git
// repack hands pack-objects the packs (--stdin-packs), which walks the
// trees of every commit in them to order the objects, 0.1-0.2 s of CPU
// on a repository of 300k objects whatever the packs hold; here
// pack-objects gets the object ids from the packs' indexes and takes a
// few milliseconds (docs/maintenance.md, "Packs from API commits").
//
// The candidates are the packs with an index that are not in the
// multi-pack-index and have no bitmap, .keep (a push whose refs are not
// updated yet), .promisor or .mtimes (a cruft pack): what a roll-up may
// rewrite without invalidating a bitmap or an object's age. They are
// split as git does (geometricRollUp); the new pack is written by git
// with core.fsync, its directory entry synced, and only then are the
// rolled packs deleted, index first: a reader that still has one open
// keeps reading it, and one that misses an object re-scans the pack
// directory and finds the new pack, as with git repack -d. Loose objects
// are left to the scheduled runs.
func (w *Worker) rollUp(ctx context.Context, gitDir string) error {
	dir := filepath.Join(gitDir, "objects", "pack")
	roll, err := rollUpPacks(gitDir)
	if err != nil || len(roll) < 2 {
		return err
	}
	var list bytes.Buffer
	seen := make(map[string]bool)
	for _, p := range roll {
		err := readIndexIDs(filepath.Join(dir, p.base+".idx"), func(oid string) {
			if !seen[oid] {
				seen[oid] = true
				list.WriteString(oid)
				list.WriteByte('\n')
			}
		})
		if err != nil {
			return err
		}
	}
	out, err := w.git.Output(ctx, gitDir, git.Command{Name: "pack-objects", Flags: []string{"-q", "--delta-base-offset"},
		Args: []string{filepath.Join(dir, "pack")}}, git.WithStdin(&list))
	if err != nil {
		return err
	}
	sum := strings.TrimSpace(string(out))
	if !git.IsFullHex(sum) {
		return fmt.Errorf("pack-objects printed %q, not a pack name", out)
	}
	// git fsyncs the files, not their names: the new pack must be durable
	// under its name before the packs it replaces can go.
	if err := durable.SyncDir(dir); err != nil {
		return err
	}
	var errs []error
	for _, p := range roll {
		if p.base == "pack-"+sum {
			continue // the very same pack again
		}
		for _, ext := range []string{".idx", ".pack", ".rev"} {
			if err := os.Remove(filepath.Join(dir, p.base+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// rollUpPacks lists the packs a roll-up of gitDir would combine now.
func rollUpPacks(gitDir string) ([]packInfo, error) {
	cands, err := rollUpCandidates(filepath.Join(gitDir, "objects", "pack"))
	if err != nil {
		return nil, err
	}
	return geometricRollUp(cands), nil
}

// rollUpCandidates lists the packs of packDir a roll-up may rewrite (see
// rollUp) with their object counts.
func rollUpCandidates(packDir string) ([]packInfo, error) {
	covered, err := midxPacks(packDir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(packDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(ents))
	for _, e := range ents {
		names[e.Name()] = true
	}
	var packs []packInfo
	for name := range names {
		base, ok := strings.CutSuffix(name, ".idx")
		if !ok || !strings.HasPrefix(base, "pack-") || !names[base+".pack"] || covered[base] ||
			slices.ContainsFunc([]string{".bitmap", ".keep", ".promisor", ".mtimes"}, func(ext string) bool { return names[base+ext] }) {
			continue
		}
		n, err := indexObjects(filepath.Join(packDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		packs = append(packs, packInfo{base: base, objects: n})
	}
	return packs, nil
}

// geometricRollUp picks the packs to combine so that the remaining ones
// and the new one form a geometric progression of factor 2, as git
// repack --geometric=2 does (builtin/repack.c, split_pack_geometry):
// sorted by object count, the largest packs that each hold at least
// twice the objects of the next smaller one stay, the smaller ones are
// combined, and so is any pack that then holds fewer than twice their
// total. Each object is rewritten O(log n) times as packs accumulate.
func geometricRollUp(packs []packInfo) []packInfo {
	p := slices.Clone(packs)
	slices.SortFunc(p, func(a, b packInfo) int {
		if a.objects != b.objects {
			return int(int64(a.objects) - int64(b.objects))
		}
		return strings.Compare(a.base, b.base)
	})
	split := 0
	for i := len(p) - 1; i > 0; i-- {
		if uint64(p[i].objects) < 2*uint64(p[i-1].objects) {
			split = i + 1
			break
		}
	}
	var total uint64
	for _, q := range p[:split] {
		total += uint64(q.objects)
	}
	for split < len(p) && uint64(p[split].objects) < 2*total {
		total += uint64(p[split].objects)
		split++
	}
	return p[:split]
}

// indexHeader is the part of a version 2 pack index (gitformat-pack(5))
// before the object ids: magic, version, 256 cumulative fan-out counts.
const indexHeader = 8 + 256*4

// indexObjects returns how many objects a version 2 pack index lists
// (the last fan-out count), reading only its header.
func indexObjects(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var hdr [indexHeader]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, fmt.Errorf("read pack index %s: %w", path, err)
	}
	if !bytes.Equal(hdr[:8], []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}) {
		return 0, fmt.Errorf("read pack index %s: not a version 2 index", path)
	}
	return binary.BigEndian.Uint32(hdr[indexHeader-4:]), nil
}

// readIndexIDs calls emit with each object id a version 2 pack index
// lists, in hex.
func readIndexIDs(path string, emit func(oid string)) error {
	n, err := indexObjects(path)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ids := make([]byte, 20*int64(n))
	if _, err := f.ReadAt(ids, indexHeader); err != nil {
		return fmt.Errorf("read pack index %s: %w", path, err)
	}
	for i := 0; i < len(ids); i += 20 {
		emit(hex.EncodeToString(ids[i : i+20]))
	}
	return nil
}
