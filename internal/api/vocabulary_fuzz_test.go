package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// fuzzAliasSets are the alias lists the handlers pass to readJSON and
// queryOf (one per call site), so the fuzzer explores the real
// vocabularies.
var fuzzAliasSets = [][]alias{
	{{"target_branch", "name"}},
	{{"ref", "branch"}},
	{{"ref", "sha"}},
	{{"ref", "sha"}, {"base_ref", "baseSha"}, {"git_apply_compatible", "gitApplyCompatible"}},
	{{"source_ref", "source_branch"}},
	noteAliases,
	{{"ref", "target"}},
}

// checkNormalised checks normalise's contract on one map: for each alias
// the standard name keeps its value when it was sent (the standard name
// wins), else takes the old name's value when that was sent, else stays
// absent; no other key is added, removed or changed.
func checkNormalised[T any](t *testing.T, before, after map[string]T, aliases []alias) {
	t.Helper()
	touched := map[string]bool{}
	for _, a := range aliases {
		touched[a.standard] = true
		std, hadStd := before[a.standard]
		old, hadOld := before[a.old]
		got, has := after[a.standard]
		switch {
		case hadStd:
			if !has || !reflect.DeepEqual(got, std) {
				t.Fatalf("%s was sent as %v and became %v (the standard name must win over %s)", a.standard, std, got, a.old)
			}
		case hadOld:
			if !has || !reflect.DeepEqual(got, old) {
				t.Fatalf("%s = %v, want the value of %s: %v", a.standard, got, a.old, old)
			}
		default:
			if has {
				t.Fatalf("%s appeared (%v) though neither it nor %s was sent", a.standard, got, a.old)
			}
		}
	}
	for k, v := range before {
		if touched[k] {
			continue
		}
		if got, ok := after[k]; !ok || !reflect.DeepEqual(got, v) {
			t.Fatalf("key %q changed from %v to %v", k, v, got)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok && !touched[k] {
			t.Fatalf("key %q appeared", k)
		}
	}
}

// The vocabulary decoders: normalise over a JSON object and over a query
// string, and readJSON's whole path (aliases renamed, then decoded),
// against a direct decode of the normalised object. Never panics; the
// standard name wins; no key other than the standard names changes.
func FuzzNormalise(f *testing.F) {
	f.Add(uint8(0), `{"name":"feature","target_branch":"main"}`, "name=feature&target_branch=")
	f.Add(uint8(1), `{"branch":"dev"}`, "branch=dev&branch=x")
	f.Add(uint8(3), `{"sha":"abc","baseSha":"def","gitApplyCompatible":false,"git_apply_compatible":true}`, "sha=a&baseSha=b&gitApplyCompatible=true")
	f.Add(uint8(4), `{"source_branch":null,"source_ref":""}`, "source_branch=a%00b")
	f.Add(uint8(5), `{"sha":"x","ref":"refs/notes/commits","expected_ref_sha":"0","expected_notes_ref_sha":null}`, "ref=&sha=%ff")
	f.Add(uint8(6), `{"target":{"nested":[1,2]},"ref":1e400}`, ";;&=&a=1")
	f.Add(uint8(2), `{"sha":"a","sha":"b"}`, "")
	f.Add(uint8(0), `  `, "")
	f.Add(uint8(0), `[1,2]`, "")
	f.Add(uint8(0), `{"name":"a"} trailing`, "")
	f.Fuzz(func(t *testing.T, set uint8, body, rawQuery string) {
		aliases := fuzzAliasSets[int(set)%len(fuzzAliasSets)]

		// The query family.
		if q, err := url.ParseQuery(rawQuery); err == nil {
			before := map[string][]string{}
			for k, v := range q {
				before[k] = append([]string(nil), v...)
			}
			normalise(q, aliases)
			checkNormalised(t, before, q, aliases)
			got := queryOf(&http.Request{URL: &url.URL{Path: "/x", RawQuery: rawQuery}}, aliases...)
			if !reflect.DeepEqual(got.v, map[string][]string(q)) {
				t.Fatalf("queryOf(%q) = %v, want %v", rawQuery, got.v, q)
			}
		}

		// The JSON family, on the decoded object.
		var fields map[string]json.RawMessage
		objErr := json.Unmarshal([]byte(body), &fields)
		if objErr == nil && fields != nil {
			before := maps.Clone(fields)
			normalise(fields, aliases)
			checkNormalised(t, before, fields, aliases)
		}

		// readJSON end to end, into a generic object.
		h := &Handler{limits: Limits{MaxJSONBody: 1 << 20}}
		r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
		var got map[string]any
		err := h.readJSON(r, &got, aliases...)
		if strings.TrimSpace(body) == "" {
			if err != nil || got != nil {
				t.Fatalf("an empty body must decode as {}: %v, %v", got, err)
			}
			return
		}
		if objErr != nil || fields == nil {
			if err == nil && objErr != nil {
				t.Fatalf("readJSON accepted %q, which is not a JSON object: %v", body, got)
			}
			return
		}
		data, mErr := json.Marshal(fields)
		if mErr != nil {
			t.Fatalf("re-encoding a decoded object: %v", mErr)
		}
		var want map[string]any
		wantErr := json.Unmarshal(data, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("readJSON(%q): %v, a direct decode of the normalised object: %v", body, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("readJSON(%q) = %v, want %v", body, got, want)
		}
	})
}
