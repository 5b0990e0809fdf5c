package vfs

import (
	"fmt"
	"sort"
	"strings"
)

// planSource is one file a copy would write: rel is its path relative to
// the destination, src where it comes from (a local path or a repo path),
// typ the type it would have at the destination.
type planSource struct {
	rel string
	src string
	typ FileType
}

// planOptions are the knobs of a plan; see CopyInOptions.
type planOptions struct {
	delete         bool
	ignoreExisting bool
	ignoreErrors   bool
}

// plan is what a copy does, computed once and used both by the dry run and
// by the real run, so the two cannot disagree.
type plan struct {
	add, update []planSource
	delete      []FileEntry // rel paths, typed as they are at the destination
	errors      []ChangeError
	warnings    []ChangeError
	// ok counts the source files that need nothing or can be written: a
	// run whose every file failed is an error even with ignoreErrors.
	ok int
}

// buildPlan compares sources (in source order; an earlier source wins a
// destination path) with existing, every file at the destination that the
// copy may touch (in delete mode: every file under the destination),
// keyed by rel.
//
// changed reports whether a source differs from the file it would replace;
// its errors end up in plan.errors when ignoring errors (the file is then
// skipped: writing it would fail the same way) and abort the plan
// otherwise. keep reports destination-only files that delete mode must
// leave alone (excluded ones).
func buildPlan(sources []planSource, existing map[string]FileType, opt planOptions,
	changed func(planSource, FileType) (bool, error), keep func(rel string) (bool, error)) (*plan, error) {
	p := &plan{}
	covered := make(map[string]bool, len(sources))
	for _, s := range sources {
		if covered[s.rel] {
			p.warnings = append(p.warnings, ChangeError{
				Path:  s.src,
				Error: fmt.Sprintf("Overlapping destination '%s': skipping (kept earlier source)", s.rel),
			})
			continue
		}
		covered[s.rel] = true
		old, exists := existing[s.rel]
		if !exists {
			p.add = append(p.add, s)
			p.ok++
			continue
		}
		if opt.ignoreExisting {
			p.ok++
			continue
		}
		diff, err := changed(s, old)
		if err != nil {
			if !opt.ignoreErrors {
				return nil, err
			}
			p.errors = append(p.errors, ChangeError{Path: s.src, Error: err.Error()})
			continue
		}
		p.ok++
		if diff {
			p.update = append(p.update, s)
		}
	}
	if opt.delete {
		written := make([]string, 0, len(p.add)+len(p.update))
		for _, s := range p.add {
			written = append(written, s.rel)
		}
		for _, s := range p.update {
			written = append(written, s.rel)
		}
		sort.Strings(written)
		rels := make([]string, 0, len(existing))
		for rel := range existing {
			if !covered[rel] {
				rels = append(rels, rel)
			}
		}
		sort.Strings(rels)
		for _, rel := range rels {
			if crossesWrite(written, rel) {
				continue
			}
			if keep != nil {
				k, err := keep(rel)
				if err != nil {
					if !opt.ignoreErrors {
						return nil, err
					}
					p.errors = append(p.errors, ChangeError{Path: rel, Error: err.Error()})
					continue
				}
				if k {
					continue
				}
			}
			p.delete = append(p.delete, FileEntry{Path: rel, Type: existing[rel]})
		}
	}
	sortSources(p.add)
	sortSources(p.update)
	return p, nil
}

// crossesWrite reports whether deleting rel collides with a write at a
// file/directory boundary: writing a/b replaces a file a, writing a
// replaces a directory holding a/b. The write already removes rel, and
// removing it as well would fight the write. written is sorted.
func crossesWrite(written []string, rel string) bool {
	// A write at an ancestor of rel: some prefix of rel ending at a "/".
	for i := strings.IndexByte(rel, '/'); i >= 0; i = nextSlash(rel, i) {
		if sortedHas(written, rel[:i]) {
			return true
		}
	}
	// A write below rel: the first written path >= rel+"/" starts with it.
	i := sort.SearchStrings(written, rel+"/")
	return i < len(written) && strings.HasPrefix(written[i], rel+"/")
}

func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func sortedHas(sorted []string, s string) bool {
	i := sort.SearchStrings(sorted, s)
	return i < len(sorted) && sorted[i] == s
}

func sortSources(s []planSource) {
	sort.SliceStable(s, func(i, j int) bool { return s[i].rel < s[j].rel })
}

// report turns a plan into the ChangeReport a copy returns, with the
// entries that failed while running (failed, by rel) left out; nil when
// nothing at all is in it, as for every other write.
func (p *plan) report(failed map[string]bool) *ChangeReport {
	r := &ChangeReport{}
	for _, s := range p.add {
		if !failed[s.rel] {
			r.Add = append(r.Add, FileEntry{Path: s.rel, Type: s.typ, Src: s.src})
		}
	}
	for _, s := range p.update {
		if !failed[s.rel] {
			r.Update = append(r.Update, FileEntry{Path: s.rel, Type: s.typ, Src: s.src})
		}
	}
	for _, d := range p.delete {
		if !failed[d.Path] {
			r.Delete = append(r.Delete, d)
		}
	}
	r.Errors = append(r.Errors, p.errors...)
	r.Warnings = append(r.Warnings, p.warnings...)
	if len(r.Add)+len(r.Update)+len(r.Delete)+len(r.Errors)+len(r.Warnings) == 0 {
		return nil
	}
	return r
}
