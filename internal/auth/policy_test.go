package auth

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestNewPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc   string
		refs   []RawRule
		legacy []Op
		want   Policy
	}{
		{desc: "nothing", want: Policy{}},
		{
			desc: "normalisation",
			refs: []RawRule{
				{Pattern: "main", Ops: []Op{OpNoPush}},
				{Pattern: "agents/*", Ops: []Op{OpNoForcePush}},
				{Pattern: "refs/tags/v1"},
				{Pattern: "refs/notes/*"},
				{Pattern: "HEAD"},
				{Pattern: "*"},
				{Pattern: "refsy/x"}, // only a "refs/" prefix counts
			},
			want: Policy{Rules: []Rule{
				{Pattern: "refs/heads/main", Ops: []Op{OpNoPush}},
				{Pattern: "refs/heads/agents/*", Ops: []Op{OpNoForcePush}},
				{Pattern: "refs/tags/v1", Ops: []Op{}},
				{Pattern: "refs/notes/*", Ops: []Op{}},
				{Pattern: "HEAD", Ops: []Op{}},
				{Pattern: "*", Ops: []Op{}},
				{Pattern: "refs/heads/refsy/x", Ops: []Op{}},
			}},
		},
		{
			desc: "unknown and repeated ops dropped",
			refs: []RawRule{{Pattern: "main", Ops: []Op{"rewind", OpNoPush, OpNoPush, OpVerifySig}}},
			want: Policy{Rules: []Rule{{Pattern: "refs/heads/main", Ops: []Op{OpNoPush, OpVerifySig}}}},
		},
		{
			desc:   "legacy ops without refs become a * rule",
			legacy: []Op{OpNoForcePush},
			want:   Policy{Rules: []Rule{{Pattern: "*", Ops: []Op{OpNoForcePush}}}},
		},
		{
			desc:   "legacy ops merge into the existing * rule (set union)",
			refs:   []RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}, {Pattern: "*", Ops: []Op{OpVerifySig}}, {Pattern: "dev"}},
			legacy: []Op{OpNoForcePush, OpVerifySig},
			want: Policy{Rules: []Rule{
				{Pattern: "refs/heads/main", Ops: []Op{OpNoPush}},
				{Pattern: "*", Ops: []Op{OpVerifySig, OpNoForcePush}},
				{Pattern: "refs/heads/dev", Ops: []Op{}},
			}},
		},
		{
			desc:   "legacy ops appended after refs without *",
			refs:   []RawRule{{Pattern: "main"}},
			legacy: []Op{OpNoPush},
			want: Policy{Rules: []Rule{
				{Pattern: "refs/heads/main", Ops: []Op{}},
				{Pattern: "*", Ops: []Op{OpNoPush}},
			}},
		},
		{
			desc:   "unknown legacy ops fold to nothing",
			refs:   []RawRule{{Pattern: "main"}},
			legacy: []Op{"rewind"},
			want:   Policy{Rules: []Rule{{Pattern: "refs/heads/main", Ops: []Op{}}}},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			if got := NewPolicy(tc.refs, tc.legacy); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NewPolicy = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPolicy_Ops(t *testing.T) {
	t.Parallel()
	p := NewPolicy([]RawRule{
		{Pattern: "main", Ops: []Op{OpNoPush}},
		{Pattern: "feature/*", Ops: []Op{OpNoForcePush}},
		{Pattern: "feature/open"}, // shadowed by the glob above
		{Pattern: "refs/tags/*", Ops: []Op{OpVerifySig}},
		{Pattern: "refs/tags/v1", Ops: []Op{OpNoPush}}, // shadowed as well
		{Pattern: "HEAD", Ops: []Op{OpNoPush}},
		{Pattern: "release*", Ops: []Op{OpNoPush}}, // no wildcard: exact match only
		{Pattern: "refs/notes/commits"},
	}, nil)
	for _, tc := range []struct {
		ref  string
		want []Op
	}{
		{ref: "refs/heads/main", want: []Op{OpNoPush}},
		{ref: "refs/heads/mainline", want: nil},
		{ref: "refs/heads/main/x", want: nil},
		{ref: "main", want: nil}, // refs are checked fully qualified
		{ref: "refs/heads/feature/a", want: []Op{OpNoForcePush}},
		{ref: "refs/heads/feature/a/b/c", want: []Op{OpNoForcePush}},
		{ref: "refs/heads/feature/open", want: []Op{OpNoForcePush}},
		{ref: "refs/heads/feature", want: nil},
		{ref: "refs/heads/featurex", want: nil},
		{ref: "refs/tags/v1", want: []Op{OpVerifySig}},
		{ref: "HEAD", want: []Op{OpNoPush}},
		{ref: "refs/heads/release-1", want: nil},
		{ref: "refs/heads/release*", want: []Op{OpNoPush}},
		{ref: "refs/notes/commits", want: []Op{}}, // explicit allow
		{ref: "refs/notes/other", want: nil},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			t.Parallel()
			got := p.Ops(tc.ref)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Ops(%q) = %#v, want %#v", tc.ref, got, tc.want)
			}
			for _, op := range []Op{OpNoPush, OpNoForcePush, OpVerifySig} {
				if want := slices.Contains(tc.want, op); p.Has(tc.ref, op) != want {
					t.Errorf("Has(%q, %s) = %v, want %v", tc.ref, op, !want, want)
				}
			}
		})
	}

	// Ops returns a copy.
	p.Ops("refs/heads/main")[0] = OpVerifySig
	if !p.Has("refs/heads/main", OpNoPush) {
		t.Errorf("Ops result aliases the policy")
	}
}

// TestPolicy_legacyShadowing is §3.4's closing remark: a more specific
// earlier rule shadows legacy ops for its refs.
func TestPolicy_legacyShadowing(t *testing.T) {
	t.Parallel()
	p := NewPolicy([]RawRule{{Pattern: "sandbox/*"}}, []Op{OpNoPush})
	if err := p.Check("refs/heads/sandbox/a", UpdateNonFastForward); err != nil {
		t.Errorf("sandbox ref: %v, want allowed", err)
	}
	if err := p.Check("refs/heads/main", UpdateFastForward); err == nil {
		t.Errorf("main: allowed, want denied by legacy no-push")
	}
}

func TestPolicy_Check(t *testing.T) {
	t.Parallel()
	p := NewPolicy([]RawRule{
		{Pattern: "locked", Ops: []Op{OpNoPush}},
		{Pattern: "linear", Ops: []Op{OpNoForcePush}},
		{Pattern: "signed", Ops: []Op{OpVerifySig}},
		{Pattern: "both", Ops: []Op{OpNoForcePush, OpNoPush}},
	}, nil)
	kinds := []UpdateKind{UpdateCreate, UpdateFastForward, UpdateNonFastForward, UpdateDelete, UpdateKind(0), UpdateKind(99)}
	for _, tc := range []struct {
		ref    string
		denied []bool // per kinds
		op     Op
	}{
		{ref: "refs/heads/locked", denied: []bool{true, true, true, true, true, true}, op: OpNoPush},
		{ref: "refs/heads/linear", denied: []bool{false, false, true, true, true, true}, op: OpNoForcePush},
		{ref: "refs/heads/signed", denied: []bool{false, false, false, false, false, false}},
		{ref: "refs/heads/both", denied: []bool{true, true, true, true, true, true}, op: OpNoPush},
		{ref: "refs/heads/free", denied: []bool{false, false, false, false, false, false}},
	} {
		for i, kind := range kinds {
			t.Run(tc.ref+"/"+kind.String(), func(t *testing.T) {
				t.Parallel()
				err := p.Check(tc.ref, kind)
				if !tc.denied[i] {
					if err != nil {
						t.Errorf("Check = %v, want allowed", err)
					}
					return
				}
				var denied *DeniedError
				if !errors.As(err, &denied) {
					t.Fatalf("Check = %v, want *DeniedError", err)
				}
				if denied.Op != tc.op || denied.Ref != tc.ref {
					t.Errorf("DeniedError = %+v, want op %s ref %s", denied, tc.op, tc.ref)
				}
				if want := "denied by policy: " + string(tc.op) + " on " + tc.ref; err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			})
		}
	}
	if err := (Policy{}).Check("refs/heads/main", UpdateDelete); err != nil {
		t.Errorf("empty policy: %v", err)
	}
}

func TestRawRule_JSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal([]RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}, {Pattern: "*"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `[["main",["no-push"]],["*",[]]]`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	var back []RawRule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if want := []RawRule{{Pattern: "main", Ops: []Op{OpNoPush}}, {Pattern: "*", Ops: []Op{}}}; !reflect.DeepEqual(back, want) {
		t.Errorf("Unmarshal = %+v, want %+v", back, want)
	}
	for _, bad := range []string{
		`null`, `{}`, `"main"`, `[]`, `["main"]`, `["main", [], []]`, `[1, []]`, `[null, []]`,
		`["", []]`, `["main", null]`, `["main", "no-push"]`, `["main", [1]]`, `["main", [null]]`,
	} {
		var r RawRule
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want error", bad, r)
		}
	}
}

func TestPrincipal_Has(t *testing.T) {
	t.Parallel()
	all := []Scope{ScopeGitRead, ScopeGitWrite, ScopeRepoWrite, ScopeOrgRead}
	for _, tc := range []struct {
		have []Scope
		want []Scope
	}{
		{have: nil, want: nil},
		{have: []Scope{ScopeGitRead}, want: []Scope{ScopeGitRead}},
		{have: []Scope{ScopeGitWrite}, want: []Scope{ScopeGitRead, ScopeGitWrite}},
		{have: []Scope{ScopeRepoWrite}, want: []Scope{ScopeRepoWrite}},
		{have: []Scope{ScopeOrgRead}, want: []Scope{ScopeOrgRead}},
		{have: []Scope{ScopeRepoWrite, ScopeOrgRead}, want: []Scope{ScopeRepoWrite, ScopeOrgRead}},
	} {
		p := &Principal{Scopes: tc.have}
		for _, s := range all {
			if got, want := p.Has(s), slices.Contains(tc.want, s); got != want {
				t.Errorf("%v.Has(%s) = %v, want %v", tc.have, s, got, want)
			}
		}
	}
}
