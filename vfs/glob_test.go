package vfs

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	t.Parallel()
	snap := coreSample(t)
	for _, tc := range []struct{ pattern, want string }{
		{"*", "a a.b a.txt bin empty link src"},
		{".*", ".dot .hidden"},
		{"*.txt", "a.txt"},
		{"a?b", "a.b"},
		{"[ab]*", "a a.b a.txt bin"},
		{"[!ab]*", "empty link src"},
		{"src/*", "src/lib src/main.py"},
		{"src/lib/*", "src/lib/util.py"},
		{"src/lib/.*", "src/lib/.cache"},
		{"**/*.py", "src/lib/util.py src/main.py"},
		{"**/a.txt", "a.txt"},
		{"src/**", "src/lib src/lib/util.py src/main.py"},
		{"**", "a a.b a.txt a/inner.txt bin bin/run empty link src src/lib src/lib/util.py src/main.py"},
		{"src/./**/*.py", "src/./lib/util.py src/./main.py"},
		{"./src/*.py", "src/main.py"},
		{"/src/*.py/", "src/main.py"},
		{"*/*/*", "src/lib/util.py"}, // wildcards over files with segments left: skipped
		{"a.txt/*", ""},
		{"src/main.py", "src/main.py"},
		{"nope", ""},
		{"", ""},
		{"/", ""},
	} {
		got := must(snap.Glob(tc.pattern))(t)
		if strings.Join(got, " ") != tc.want {
			t.Fatalf("glob %q: %q, want %q", tc.pattern, got, tc.want)
		}
		if got == nil {
			t.Fatalf("glob %q: nil, want an empty slice", tc.pattern)
		}
	}
	if _, err := snap.Glob("src/[a"); !errors.Is(err, path.ErrBadPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
}

func TestFnmatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "a\nb", true},
		{"a*", "abc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[!a]x", "bx", true},
		{"[!a]x", "ax", false},
		{"[a-c]", "b", true},
		{"[]]", "]", true},
		{"[^]", "^", true},
		{"a[", "a[", true},
		{`a\*`, `a\bc`, true},
		{"+ *", "+ deploy", true},
		{"(x)", "(x)", true},
	} {
		if got := fnmatchFunc(tc.pattern, false)(tc.s); got != tc.want {
			t.Fatalf("fnmatch(%q, %q) = %v (regexp %s)", tc.s, tc.pattern, got, fnmatchRegexp(tc.pattern))
		}
	}
}

func TestDiskGlob(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, p := range []string{"a.txt", ".hidden", "src/main.py", "src/lib/util.py", "src/.dot/x.py"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(p), 0o644)
	}
	os.Symlink(filepath.Join(root, "src"), filepath.Join(root, "linked"))
	os.Symlink(".", filepath.Join(root, "src", "lib", "loop")) // a cycle "**" must not follow
	for _, tc := range []struct{ pattern, want string }{
		{"/*", "/a.txt /linked /src"},
		{"/.*", "/.hidden"},
		{"/**/*.py", "/linked/lib/util.py /linked/main.py /src/lib/util.py /src/main.py"},
		{"/src/./**/*.py", "/src/./lib/util.py /src/./main.py"},
		{"/*/*/*", "/linked/lib/loop /linked/lib/util.py /src/lib/loop /src/lib/util.py"},
		{"/nope/*", ""},
	} {
		got := must(DiskGlob(root + tc.pattern))(t)
		for i := range got {
			got[i] = strings.TrimPrefix(got[i], filepath.ToSlash(root))
		}
		if strings.Join(got, " ") != tc.want {
			t.Fatalf("disk glob %q: %q, want %q", tc.pattern, got, tc.want)
		}
	}
	// Relative patterns are relative to the working directory.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, root)
	if err != nil {
		t.Skip(err)
	}
	got := must(DiskGlob(filepath.ToSlash(rel) + "/src/*.py"))(t)
	if len(got) != 1 || !strings.HasSuffix(got[0], "/src/main.py") || strings.HasPrefix(got[0], "/") {
		t.Fatalf("relative: %v", got)
	}
}
