package vfs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func rels(s []planSource) []string {
	var out []string
	for _, p := range s {
		out = append(out, p.rel)
	}
	return out
}

func delRels(s []FileEntry) []string {
	var out []string
	for _, p := range s {
		out = append(out, p.Path)
	}
	return out
}

func TestBuildPlan(t *testing.T) {
	t.Parallel()
	src := func(rels ...string) []planSource {
		var out []planSource
		for _, r := range rels {
			out = append(out, planSource{rel: r, src: "/l/" + r, typ: Blob})
		}
		return out
	}
	// "same*" files are unchanged, anything else that exists differs.
	changed := func(s planSource, old FileType) (bool, error) {
		if strings.HasPrefix(s.rel, "bad") {
			return false, errors.New("unreadable")
		}
		return !strings.HasPrefix(s.rel, "same"), nil
	}
	for _, tc := range []struct {
		desc                string
		sources             []planSource
		existing            map[string]FileType
		opt                 planOptions
		add, update, delete []string
		warnings, errors    int
		ok                  int
	}{
		{
			desc:     "add and update without delete",
			sources:  src("new", "same", "diff"),
			existing: map[string]FileType{"same": Blob, "diff": Blob, "extra": Blob},
			add:      []string{"new"}, update: []string{"diff"}, ok: 3,
		},
		{
			desc:     "delete mode removes extras",
			sources:  src("new", "same"),
			existing: map[string]FileType{"same": Blob, "extra": Blob, "d/x": Link},
			opt:      planOptions{delete: true},
			add:      []string{"new"}, delete: []string{"d/x", "extra"}, ok: 2,
		},
		{
			desc:     "ignore existing keeps adds only",
			sources:  src("new", "diff"),
			existing: map[string]FileType{"diff": Blob},
			opt:      planOptions{ignoreExisting: true},
			add:      []string{"new"}, ok: 2,
		},
		{
			desc:     "overlap: the earlier source wins, with a warning",
			sources:  append(src("dup"), planSource{rel: "dup", src: "/other/dup", typ: Blob}),
			existing: map[string]FileType{},
			opt:      planOptions{delete: true},
			add:      []string{"dup"}, warnings: 1, ok: 1,
		},
		{
			desc:     "write a/b drops the delete of file a",
			sources:  src("a/b"),
			existing: map[string]FileType{"a": Blob, "z": Blob},
			opt:      planOptions{delete: true},
			add:      []string{"a/b"}, delete: []string{"z"}, ok: 1,
		},
		{
			desc:     "write a drops the deletes under directory a",
			sources:  src("a"),
			existing: map[string]FileType{"a/x": Blob, "a/y/z": Blob, "ab": Blob},
			opt:      planOptions{delete: true},
			add:      []string{"a"}, delete: []string{"ab"}, ok: 1,
		},
		{
			desc:     "errors are collected when ignored",
			sources:  src("bad1", "new"),
			existing: map[string]FileType{"bad1": Blob},
			opt:      planOptions{ignoreErrors: true},
			add:      []string{"new"}, errors: 1, ok: 1,
		},
		{
			desc:     "results sorted by path",
			sources:  src("z", "a/b", "m"),
			existing: map[string]FileType{},
			add:      []string{"a/b", "m", "z"}, ok: 3,
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := buildPlan(tc.sources, tc.existing, tc.opt, changed, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := rels(p.add); !reflect.DeepEqual(got, tc.add) {
				t.Errorf("add = %q, want %q", got, tc.add)
			}
			if got := rels(p.update); !reflect.DeepEqual(got, tc.update) {
				t.Errorf("update = %q, want %q", got, tc.update)
			}
			if got := delRels(p.delete); !reflect.DeepEqual(got, tc.delete) {
				t.Errorf("delete = %q, want %q", got, tc.delete)
			}
			if len(p.warnings) != tc.warnings || len(p.errors) != tc.errors || p.ok != tc.ok {
				t.Errorf("warnings %d errors %d ok %d, want %d %d %d", len(p.warnings), len(p.errors), p.ok, tc.warnings, tc.errors, tc.ok)
			}
		})
	}
}

func TestBuildPlan_errorsAbortUnlessIgnored(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	_, err := buildPlan([]planSource{{rel: "a"}}, map[string]FileType{"a": Blob}, planOptions{},
		func(planSource, FileType) (bool, error) { return false, boom }, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestBuildPlan_keepProtectsDeletes(t *testing.T) {
	t.Parallel()
	keep := func(rel string) (bool, error) { return strings.HasSuffix(rel, ".pyc"), nil }
	p, err := buildPlan(nil, map[string]FileType{"app.pyc": Blob, "old.py": Blob}, planOptions{delete: true}, nil, keep)
	if err != nil {
		t.Fatal(err)
	}
	if got := delRels(p.delete); !reflect.DeepEqual(got, []string{"old.py"}) {
		t.Errorf("delete = %q", got)
	}
}

func TestPlanReport_overlapWarningText(t *testing.T) {
	t.Parallel()
	p, _ := buildPlan([]planSource{{rel: "x", src: "a/x"}, {rel: "x", src: "b/x"}}, nil, planOptions{delete: true}, nil, nil)
	r := p.report(nil)
	want := ChangeError{Path: "b/x", Error: "Overlapping destination 'x': skipping (kept earlier source)"}
	if len(r.Warnings) != 1 || r.Warnings[0] != want {
		t.Errorf("warnings = %v", r.Warnings)
	}
	if empty := (&plan{}).report(nil); empty != nil {
		t.Errorf("empty report = %v, want nil", empty)
	}
}

func TestAllFailed(t *testing.T) {
	t.Parallel()
	if allFailed(nil, 0) != nil || allFailed([]ChangeError{{"a", "x"}}, 1) != nil {
		t.Error("allFailed with successes or without errors")
	}
	err := allFailed([]ChangeError{{"a", "denied"}}, 0)
	if err == nil || !strings.HasPrefix(err.Error(), "All files failed to copy: ") {
		t.Errorf("err = %v", err)
	}
}
