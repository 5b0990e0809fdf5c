package cluster

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/metadata"
)

func TestGeometricMerge(t *testing.T) {
	packs := func(sizes ...int64) []metadata.PackRecord {
		var ps []metadata.PackRecord
		for i, s := range sizes {
			ps = append(ps, metadata.PackRecord{Name: string(rune('a' + i)), Bytes: s})
		}
		return ps
	}
	names := func(ps []metadata.PackRecord) string {
		var n []string
		for _, p := range ps {
			n = append(n, p.Name)
		}
		return strings.Join(n, "")
	}
	for _, tc := range []struct {
		sizes []int64
		merge string
	}{
		{[]int64{1000, 10, 10, 10}, "bcd"},      // the big pack stays
		{[]int64{10, 10, 10, 10}, "abcd"},       // no progression: all
		{[]int64{1000, 100, 10, 10, 10}, "cde"}, // 1000 ≥ 2·130, 100 ≥ 2·30
		{[]int64{1000, 100, 40, 10}, ""},        // already geometric: 40 ≥ 2·10, so only 10 is left alone
		{[]int64{1000, 30, 20, 10}, "bcd"},      // 30 < 2·30
		{[]int64{5}, ""},
	} {
		got := names(geometricMerge(packs(tc.sizes...)))
		if len(got) < 2 {
			got = ""
		}
		// geometricMerge returns largest first; compare as sets of letters.
		if sortString(got) != tc.merge {
			t.Errorf("sizes %v: merge %q, want %q", tc.sizes, got, tc.merge)
		}
	}
}

func sortString(s string) string {
	b := []byte(s)
	slices.Sort(b)
	return string(b)
}

// A node starts at most maxCompactions at once, and one per repository.
func TestCompactLater_bounded(t *testing.T) {
	c := &Cluster{compacting: make(map[string]struct{}), stop: context.Background()}
	c.compacting["busy1"] = struct{}{}
	c.compacting["busy2"] = struct{}{}
	c.compactLater("other", t.TempDir())
	if _, started := c.compacting["other"]; started || len(c.compacting) != maxCompactions {
		t.Fatalf("a compaction started past the limit: %v", c.compacting)
	}
}
