package vfs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// writeTree creates files under root: "a/b.txt" → content; a name ending
// in "/" makes an empty directory.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if name[len(name)-1] == '/' {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func walkRels(t testing.TB, root string, ex *ExcludeFilter) []string {
	t.Helper()
	files, err := walkDisk(root, false, ex.walker(root), func(string, error) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for _, f := range files {
		rels = append(rels, f.rel)
	}
	return rels
}

func TestExcludeFilter_basePatterns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc     string
		patterns []string
		rel      string
		isDir    bool
		want     bool
	}{
		{"glob any depth", []string{"*.pyc"}, "a/b/c.pyc", false, true},
		{"glob other ext", []string{"*.pyc"}, "a/b/c.py", false, false},
		{"dir-only matches dir", []string{"build/"}, "src/build", true, true},
		{"dir-only skips file", []string{"build/"}, "src/build", false, false},
		{"dir-only covers files below", []string{"build/"}, "build/x.o", false, true},
		{"anchored at root", []string{"/build"}, "build", true, true},
		{"anchored not deeper", []string{"/build"}, "src/build", true, false},
		{"negation re-includes", []string{"*.log", "!keep.log"}, "keep.log", false, false},
		{"negation leaves others", []string{"*.log", "!keep.log"}, "x.log", false, true},
		{"later rule wins", []string{"!keep.log", "*.log"}, "keep.log", false, true},
		{"double star", []string{"**/cache"}, "a/b/cache", true, true},
		{"inner slash anchors", []string{"doc/*.txt"}, "x/doc/a.txt", false, false},
		{"inner slash matches", []string{"doc/*.txt"}, "doc/a.txt", false, true},
		{"fnmatch negated class", []string{"[!a]*.txt"}, "b.txt", false, true},
		{"fnmatch negated class miss", []string{"[!a]*.txt"}, "a.txt", false, false},
		{"pycache", []string{"__pycache__/"}, "pkg/__pycache__", true, true},
		{"blank pattern ignored", []string{"", "  "}, "x", false, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			f, err := NewExcludeFilter(tc.patterns, "", false)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.IsExcluded(tc.rel, tc.isDir); got != tc.want {
				t.Errorf("IsExcluded(%q, %v) = %v, want %v", tc.rel, tc.isDir, got, tc.want)
			}
		})
	}
}

func TestExcludeFilter_excludeFrom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "ex")
	if err := os.WriteFile(file, []byte("# comment\n\n  *.tmp  \n#*.log\nsecret/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := NewExcludeFilter([]string{"*.bak"}, file, false)
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]bool{"a.tmp": true, "a.bak": true, "a.log": false, "# comment": false} {
		if got := f.IsExcluded(rel, false); got != want {
			t.Errorf("IsExcluded(%q) = %v, want %v", rel, got, want)
		}
	}
	if !f.IsExcluded("secret", true) {
		t.Error("secret/ not excluded")
	}
	if _, err := NewExcludeFilter(nil, filepath.Join(dir, "missing"), false); err == nil {
		t.Error("missing exclude-from file: no error")
	}
	var nilFilter *ExcludeFilter
	if nilFilter.Active() || nilFilter.IsExcluded("x", false) {
		t.Error("nil filter excludes")
	}
	if empty, _ := NewExcludeFilter(nil, "", false); empty.Active() {
		t.Error("empty filter active")
	}
}

func TestExcludeFilter_gitignoreDeepestWins(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		".gitignore":                   "*.log\nbuild/\n/top.txt\n",
		"a.log":                        "",
		"top.txt":                      "",
		"keep.txt":                     "",
		"build/out.o":                  "",
		"sub/top.txt":                  "", // /top.txt is anchored to the root
		"sub/.gitignore":               "!important.log\n",
		"sub/important.log":            "",
		"sub/other.log":                "",
		"sub/deeper/.gitignore":        "important.log\n",
		"sub/deeper/important.log":     "",
		"sub/deeper/x.txt":             "",
		"sub/build/y":                  "",
		"other/important.log":          "", // the re-include is sub/'s only
		"lazy/.gitignore":              "*\n!.gitignore\n",
		"lazy/hidden":                  "",
		"notadir/build":                "", // a file named build is not build/
		"notadir/.gitignore/..ignored": "", // a directory named .gitignore is walked
	})
	f, err := NewExcludeFilter(nil, "", true)
	if err != nil {
		t.Fatal(err)
	}
	got := walkRels(t, root, f)
	want := []string{
		"keep.txt",
		"notadir/.gitignore/..ignored",
		"notadir/build",
		"sub/deeper/x.txt",
		"sub/important.log",
		"sub/top.txt",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("walk =\n%q\nwant\n%q", got, want)
	}
}

func TestExcludeFilter_basePatternBeatsGitignore(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		".gitignore": "!*.tmp\n",
		"a.tmp":      "",
		"b.txt":      "",
	})
	f, err := NewExcludeFilter([]string{"*.tmp"}, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := walkRels(t, root, f), []string{"b.txt"}; !reflect.DeepEqual(got, want) {
		t.Errorf("walk = %q, want %q", got, want)
	}
}

func TestExcludeFilter_prunesDirectories(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"node_modules/x/y.js": "",
		"src/a.js":            "",
	})
	if err := os.Chmod(filepath.Join(root, "node_modules", "x"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "node_modules", "x"), 0o755) })
	f, _ := NewExcludeFilter([]string{"node_modules/"}, "", false)
	// A pruned directory is never read: the walk's error hook must not fire.
	files, err := walkDisk(root, false, f.walker(root), func(p string, err error) error { return err })
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].rel != "src/a.js" {
		t.Errorf("walk = %v", files)
	}
}

func TestExcludeWalk_protected(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{".gitignore": "*.pyc\n", "d/.gitignore": "gen/\n"})
	f, _ := NewExcludeFilter([]string{"cache/"}, "", true)
	w := f.walker(root)
	for rel, want := range map[string]bool{
		"app.pyc":        true,
		"app.py":         false,
		"cache/x":        true,
		"d/gen/a":        true,
		"d/other":        false,
		".gitignore":     true,
		"gone/deep/f.py": false, // directories missing on disk have no rules
	} {
		got, err := w.protected(rel)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("protected(%q) = %v, want %v", rel, got, want)
		}
	}
}
