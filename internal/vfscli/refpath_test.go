package vfscli

import (
	"strings"
	"testing"
	"time"
)

// TestParseRefPath is the checklist's parser table (§5.10).
func TestParseRefPath(t *testing.T) {
	t.Parallel()
	local := func(p string) refPath { return refPath{Path: p} }
	repo := func(ref string, back int, p string) refPath {
		return refPath{Repo: true, Ref: ref, Back: back, Path: p}
	}
	for _, tc := range []struct {
		desc, in string
		want     refPath
	}{
		{"plain file is local", "file.txt", local("file.txt")},
		{"empty is local", "", local("")},
		{"leading colon is the current branch", ":file.txt", repo("", 0, "file.txt")},
		{"colon alone is the root", ":", repo("", 0, "")},
		{"explicit ref", "main:file.txt", repo("main", 0, "file.txt")},
		{"explicit ref, empty path", "main:", repo("main", 0, "")},
		{"dot in ref name", "v1.0:data/file", repo("v1.0", 0, "data/file")},
		{"ancestor suffix", "main~3:file.txt", repo("main", 3, "file.txt")},
		{"ancestor on a tag keeps the trailing slash", "v1.0~1:data/", repo("v1.0", 1, "data/")},
		{"ancestor of the current branch", "~3:file.txt", repo("", 3, "file.txt")},
		{"ancestor of the current branch, root", "~3:", repo("", 3, "")},
		{"large ancestor", "main~100:path", repo("main", 100, "path")},
		{"windows drive with slash", "C:/Users/foo", local("C:/Users/foo")},
		{"windows drive with backslash", `C:\Users\foo`, local(`C:\Users\foo`)},
		{"single letter without slash is a ref", "D:file", repo("D", 0, "file")},
		{"single letter, empty path", "D:", repo("D", 0, "")},
		{"slash before colon is local", "path/to:rest", local("path/to:rest")},
		{"dot slash before colon is local", "./local:file", local("./local:file")},
		{"backslash before colon is local", `path\to:rest`, local(`path\to:rest`)},
		{"first colon splits", "ref:path:with:colons", repo("ref", 0, "path:with:colons")},
		{"tilde after the colon is path", "main:dir/file~backup", repo("main", 0, "dir/file~backup")},
		{"last tilde of the ref splits", "a~b~2:x", repo("a~b", 2, "x")},
		{"leading slash kept raw", ":/foo", repo("", 0, "/foo")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseRefPath(tc.in)
			if err != nil {
				t.Fatalf("parseRefPath(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("parseRefPath(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRefPath_errors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ desc, in, want string }{
		{"non-numeric suffix", "main~abc:f", "Invalid ancestor suffix '~abc' — must be a positive integer"},
		{"empty suffix", "main~:f", "Invalid ancestor suffix '~' — must be a positive integer"},
		{"negative", "main~-1:f", "must be a positive integer"},
		{"zero", "main~0:f", "Invalid ancestor '~0' — use 'main:path' instead"},
		{"zeros", "main~00:f", "Invalid ancestor '~00'"},
		{"overflow", "main~99999999999999999999999:f", "must be a positive integer"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parseRefPath(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseRefPath(%q) error = %v, want %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseRepoArg(t *testing.T) {
	t.Parallel()
	// ls, cat, rm and write: the colon is optional.
	got, err := parseRepoArg("dir/file.txt")
	if err != nil || got != (refPath{Repo: true, Path: "dir/file.txt"}) {
		t.Fatalf("parseRepoArg = %+v, %v", got, err)
	}
	got, err = parseRepoArg("dev:x")
	if err != nil || got != (refPath{Repo: true, Ref: "dev", Path: "x"}) {
		t.Fatalf("parseRepoArg = %+v, %v", got, err)
	}
}

func TestNormRepoPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want, err string }{
		{"", "", ""},
		{"/", "", ""},
		{"/foo", "foo", ""},
		{"a/b/", "a/b", ""},
		{"a/./b", "a/b", ""},
		{"a/../b", "", "Invalid repo path: Invalid path segment: '..'"},
		{"..", "", "Invalid repo path: Invalid path segment: '..'"},
		{"a//b", "", "Empty segment in path"},
	} {
		got, err := normRepoPath(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("normRepoPath(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normRepoPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := normFilePath(":"[1:]); err == nil || !strings.Contains(err.Error(), "Repo path must not be empty") {
		t.Errorf("normFilePath(\"\") error = %v", err)
	}
}

func TestParseBefore(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2024-01-15", utc("2024-01-15T23:59:59.999999Z")},
		{"2024-01-15T14:30:00", utc("2024-01-15T14:30:00Z")},
		{"2024-01-15t14:30", utc("2024-01-15T14:30:00Z")},
		{"2024-01-15 14:30:00", utc("2024-01-15T14:30:00Z")},
		{"2024-01-15T14:30:00+02:00", utc("2024-01-15T12:30:00Z")},
		{"2024-01-15T14:30:00Z", utc("2024-01-15T14:30:00Z")},
		{"2024-01-15T14:30:00.5", utc("2024-01-15T14:30:00.5Z")},
	} {
		got, err := parseBefore(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseBefore(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"yesterday", "2024-13-01", "2024-01-15T25:00", ""} {
		_, err := parseBefore(bad)
		if err == nil || !strings.Contains(err.Error(), "Invalid date: "+bad+" (use ISO 8601") {
			t.Errorf("parseBefore(%q) error = %v", bad, err)
		}
	}
}

func TestCheckRefConflicts(t *testing.T) {
	t.Parallel()
	p := func(s string) refPath {
		rp, err := parseRepoArg(s)
		if err != nil {
			t.Fatal(err)
		}
		return rp
	}
	for _, tc := range []struct {
		desc      string
		paths     []string
		branchSet bool
		opts      snapshotOpts
		want      string
	}{
		{"-b with explicit ref", []string{"main:"}, true, snapshotOpts{}, "Cannot use -b/--branch with explicit ref: in path"},
		{"--ref with explicit ref", []string{"main:"}, false, snapshotOpts{ref: "main"}, "Cannot use --ref with explicit ref: in path"},
		{"--back with ~N", []string{"~1:a"}, false, snapshotOpts{back: 1}, "Cannot use --back with ~N in path"},
		{"filters over different refs", []string{"main:", "dev:"}, false, snapshotOpts{back: 1}, "Cannot use snapshot filters with paths targeting different refs"},
		{"filters over one ref", []string{"main:", "main:x"}, false, snapshotOpts{match: "x*"}, ""},
		{"bare paths never conflict", []string{":a", "b"}, true, snapshotOpts{ref: "v1", back: 2}, ""},
		{"-b with ~N only", []string{"~1:a"}, true, snapshotOpts{}, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var rps []refPath
			for _, s := range tc.paths {
				rps = append(rps, p(s))
			}
			err := checkRefConflicts(rps, tc.branchSet, &tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseRefPath: the parser never panics, and what it returns can be
// read back out of its input.
func FuzzParseRefPath(f *testing.F) {
	for _, s := range []string{"", ":", "a:b", "main~3:x", "~2:", "C:/x", `C:\x`, "D:file", "./a:b",
		"a:b:c", "main:x~1", "~:", "~0:", "~~1:", "main~99999999999999999999:x", "\x00:\xff", "é:ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rp, err := parseRefPath(in)
		if err != nil {
			if !strings.Contains(in, ":") {
				t.Fatalf("error without a colon: %q: %v", in, err)
			}
			return
		}
		if !rp.Repo {
			if rp.Path != in || rp.Ref != "" || rp.Back != 0 {
				t.Fatalf("local %q parsed as %+v", in, rp)
			}
			return
		}
		i := strings.IndexByte(in, ':')
		if i < 0 || rp.Path != in[i+1:] {
			t.Fatalf("repo %q: path %q is not the text after the first colon", in, rp.Path)
		}
		if rp.Back < 0 || strings.ContainsAny(rp.Ref, `:/\`) {
			t.Fatalf("repo %q parsed as %+v", in, rp)
		}
		if !strings.HasPrefix(in, rp.Ref) {
			t.Fatalf("repo %q: ref %q is not its prefix", in, rp.Ref)
		}
	})
}
