package upstream

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
)

func TestPlanSync(t *testing.T) {
	t.Parallel()
	const (
		a, b, c, d = git.ObjectID("aaaa"), git.ObjectID("bbbb"), git.ObjectID("cccc"), git.ObjectID("dddd")
		zero       = git.ZeroOID
	)
	// ancestry: a < b < c; d unrelated.
	isAncestor := func(_ context.Context, x, y git.ObjectID) (bool, error) {
		order := map[git.ObjectID]int{a: 1, b: 2, c: 3}
		return order[x] != 0 && order[y] != 0 && order[x] <= order[y], nil
	}
	type m = map[string]git.ObjectID
	for _, tc := range []struct {
		desc                  string
		local, upstream, last m
		only                  string
		want                  []refs.Update
		wantSynced            map[string]string
		wantKept              []string
	}{
		{desc: "new upstream branch and tag are created",
			local: m{}, upstream: m{"refs/heads/main": a, "refs/tags/v1": b}, last: m{},
			want:       []refs.Update{{Ref: "refs/heads/main", Old: zero, New: a}, {Ref: "refs/tags/v1", Old: zero, New: b}},
			wantSynced: map[string]string{"refs/heads/main": "aaaa", "refs/tags/v1": "bbbb"}},
		{desc: "fast-forward",
			local: m{"refs/heads/main": a}, upstream: m{"refs/heads/main": c}, last: m{"refs/heads/main": a},
			want:       []refs.Update{{Ref: "refs/heads/main", Old: a, New: c}},
			wantSynced: map[string]string{"refs/heads/main": "cccc"}},
		{desc: "fast-forward of a branch never synced before",
			local: m{"refs/heads/main": a}, upstream: m{"refs/heads/main": b}, last: m{},
			want:       []refs.Update{{Ref: "refs/heads/main", Old: a, New: b}},
			wantSynced: map[string]string{"refs/heads/main": "bbbb"}},
		{desc: "upstream force-push of a branch untouched here",
			local: m{"refs/heads/main": c}, upstream: m{"refs/heads/main": d}, last: m{"refs/heads/main": c},
			want:       []refs.Update{{Ref: "refs/heads/main", Old: c, New: d}},
			wantSynced: map[string]string{"refs/heads/main": "dddd"}},
		{desc: "diverged here: kept",
			local: m{"refs/heads/main": d}, upstream: m{"refs/heads/main": c}, last: m{"refs/heads/main": a},
			wantSynced: map[string]string{"refs/heads/main": "aaaa"}, wantKept: []string{"refs/heads/main"}},
		{desc: "ahead here: kept, not rewound",
			local: m{"refs/heads/main": c}, upstream: m{"refs/heads/main": b}, last: m{"refs/heads/main": b},
			wantSynced: map[string]string{"refs/heads/main": "bbbb"}, wantKept: []string{"refs/heads/main"}},
		{desc: "moved tag untouched here follows",
			local: m{"refs/tags/v1": a}, upstream: m{"refs/tags/v1": d}, last: m{"refs/tags/v1": a},
			want:       []refs.Update{{Ref: "refs/tags/v1", Old: a, New: d}},
			wantSynced: map[string]string{"refs/tags/v1": "dddd"}},
		{desc: "tag changed here: kept, even as an ancestor",
			local: m{"refs/tags/v1": a}, upstream: m{"refs/tags/v1": b}, last: m{},
			wantSynced: map[string]string{}, wantKept: []string{"refs/tags/v1"}},
		{desc: "deleted upstream, untouched here: deleted",
			local: m{"refs/heads/main": a, "refs/heads/old": b}, upstream: m{"refs/heads/main": a}, last: m{"refs/heads/main": a, "refs/heads/old": b},
			want:       []refs.Update{{Ref: "refs/heads/old", Old: b, New: zero}},
			wantSynced: map[string]string{"refs/heads/main": "aaaa"}},
		{desc: "deleted upstream, changed here: kept and no longer synced",
			local: m{"refs/heads/old": c}, upstream: m{}, last: m{"refs/heads/old": b},
			wantSynced: map[string]string{}, wantKept: []string{"refs/heads/old"}},
		{desc: "the default branch is never deleted",
			local: m{"refs/heads/main": a}, upstream: m{}, last: m{"refs/heads/main": a},
			wantSynced: map[string]string{}, wantKept: []string{"refs/heads/main"}},
		{desc: "local-only branch left alone",
			local: m{"refs/heads/mine": d}, upstream: m{}, last: m{},
			wantSynced: map[string]string{}},
		{desc: "one ref only",
			local: m{"refs/heads/main": a, "refs/heads/dev": a}, upstream: m{"refs/heads/dev": b}, last: m{"refs/heads/main": a, "refs/heads/dev": a}, only: "refs/heads/dev",
			want:       []refs.Update{{Ref: "refs/heads/dev", Old: a, New: b}},
			wantSynced: map[string]string{"refs/heads/main": "aaaa", "refs/heads/dev": "bbbb"}},
		{desc: "re-created upstream branch deleted here",
			local: m{}, upstream: m{"refs/heads/x": b}, last: m{"refs/heads/x": a},
			want:       []refs.Update{{Ref: "refs/heads/x", Old: zero, New: b}},
			wantSynced: map[string]string{"refs/heads/x": "bbbb"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := planSync(context.Background(), tc.local, tc.upstream, tc.last, tc.only, "refs/heads/main", isAncestor)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.updates, tc.want) {
				t.Errorf("updates = %v, want %v", p.updates, tc.want)
			}
			if !maps.Equal(p.synced, tc.wantSynced) {
				t.Errorf("synced = %v, want %v", p.synced, tc.wantSynced)
			}
			if !slices.Equal(p.kept, tc.wantKept) {
				t.Errorf("kept = %v, want %v", p.kept, tc.wantKept)
			}
		})
	}

	boom := errors.New("boom")
	_, err := planSync(context.Background(), m{"refs/heads/x": a}, m{"refs/heads/x": b}, m{}, "", "refs/heads/main",
		func(context.Context, git.ObjectID, git.ObjectID) (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Errorf("ancestry failure = %v, want it passed on", err)
	}
}
