package repo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// newBGTRepo returns an empty repository with default branch main.
func newBGTRepo(t *testing.T) *Repo {
	t.Helper()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	t.Cleanup(cache.Stop)
	m, err := NewManager(t.TempDir(), f, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	r, err := m.Create(context.Background(), "testrepo", "main")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bgtGit runs git in dir with a clean, deterministic environment.
func bgtGit(t *testing.T, dir string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Ann Author", "GIT_AUTHOR_EMAIL=ann@example.com", "GIT_AUTHOR_DATE=1700000000 +0100",
		"GIT_COMMITTER_NAME=Cy Committer", "GIT_COMMITTER_EMAIL=cy@example.com", "GIT_COMMITTER_DATE=1700000000 +0100",
	)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("git %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

// bgtCommit commits files (path → content) on top of main in r and
// returns the commit id.
func bgtCommit(t *testing.T, r *Repo, files map[string]string) git.ObjectID {
	t.Helper()
	work := t.TempDir()
	bgtGit(t, work, "", "init", "-q", "-b", "main")
	if _, err := os.Stat(filepath.Join(r.Path(), "refs", "heads", "main")); err == nil {
		bgtGit(t, work, "", "fetch", "-q", r.Path(), "main")
		bgtGit(t, work, "", "reset", "-q", "--hard", "FETCH_HEAD")
	}
	for p, c := range files {
		full := filepath.Join(work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bgtGit(t, work, "", "add", "-A")
	bgtGit(t, work, "", "commit", "-q", "-m", "commit")
	bgtGit(t, work, "", "push", "-q", r.Path(), "HEAD:refs/heads/main")
	return git.ObjectID(strings.TrimSpace(bgtGit(t, work, "", "rev-parse", "HEAD")))
}

var dialectLines = []string{
	"hello world", "Hello World", "HELLO", "foo_bar baz", "foobar", "foo bar",
	"x=1; y=22; z=333", "café crème", "CAFÉ", "Kelvin \u212a sign", "kelvin k", "straße STRASSE",
	"ſtop", "STOP", "tab\there", "  leading spaces", "trailing  ", "αβγ δεζ", "ΑΒΓ",
	"日本語テキスト", "emoji 😀 here", "a.b.c", "a+b*c?", "[brackets] (parens) {braces}",
	`back\slash`, "dollar $5", "caret ^up", "pipe|bar", "-dash-start", "end.", "",
	"123-456-7890", "user@example.com", "mixed CaSe WoRdS", "x", "xx", "xxx",
	"aaaaaaaaab", "é", "e\u0301", "word_boundary_test", "über alles", "naïve café",
}

var dialectPatterns = []string{
	`hello`, `(?i)hello`, `^hello`, `world$`, `\bfoo\b`, `\Bbar`, `foo\w+`, `[[:upper:]]{3,}`,
	`\d{3}-\d{3}`, `\p{Greek}+`, `\pL{3}`, `[^\x00-\x7f]`, `caf.`, `^.{4} `, `é`, `\x{e9}`,
	`\x{212a}`, `(?i)k`, `(?i)ss`, `(?i)ſ`, `(?i)ST`, `a\.b`, `a\+b\*c\?`, `\[brackets\]`, `\\`,
	`\$5`, `\^up`, `pipe\|bar`, `^-`, `\.$`, `^$`, `x{2}`, `x{2,}`, `^x{1,2}$`, `(foo|bar)baz`,
	`(?:ab)+`, `[a-c]+\.[a-c]`, `\s{2}`, `\S+@\S+`, `(?U)a+b`, `a*?b`, `\Ahello`, `hello\z`,
	`(?m)^Hello`, `(?s)a.b`, `\p{Han}`, `\x{1F600}`, `\QA+B\E`, `\Qa+b\E`, `[^a-z ]+$`,
	`(?i)[a-c]afé`, `(?i:CA)fé`, `^\W`, `\w+$`, `[\d\s]`, `\D{20,}`, `.`, `x*`, `(?i)über`,
	`[[:^alpha:]]`, `[^\n]`, `\pN`, `\PL+`, `(?i)Σ`, `(a|b|c)+\z`, `(?i)[^a-z]`, `e\x{301}`,
	`\b`, `\B`, `^\b`, `[^\\]`, `(?i)Ǆ`, `🙂|😀`, `\x20{2}`, `\t`, `\v`, `\f`, `[\r]`,
}

// TestCompileGrepPattern_dialect checks that git grep, running the
// translation, selects exactly the lines Go's regexp does.
func TestCompileGrepPattern_dialect(t *testing.T) {
	t.Parallel()
	r := newBGTRepo(t)
	commit := bgtCommit(t, r, map[string]string{"lines.txt": strings.Join(dialectLines, "\n") + "\n"})
	for _, cs := range []bool{true, false} {
		for _, p := range dialectPatterns {
			t.Run(fmt.Sprintf("%s/case=%v", p, cs), func(t *testing.T) {
				t.Parallel()
				src := p
				if !cs {
					src = "(?i)" + p
				}
				re := regexp.MustCompile(src)
				var want []int
				for i, l := range dialectLines {
					if re.MatchString(l) {
						want = append(want, i+1)
					}
				}
				pat, err := CompileGrepPattern(p, cs)
				if err != nil {
					t.Fatal(err)
				}
				res, err := r.Grep(context.Background(), commit, pat, GrepOptions{MaxFiles: 10, MaxLines: 1000, MaxBytes: 1 << 20, MaxMatchesPerFile: 1000})
				if err != nil {
					t.Fatalf("grep %q (pcre %q): %v", p, pat.PCRE(), err)
				}
				var got []int
				for _, f := range res.Files {
					for _, l := range f.Lines {
						if !l.Match {
							t.Errorf("context line without context requested: %+v", l)
						}
						got = append(got, l.Number)
						if l.Text != dialectLines[l.Number-1] {
							t.Errorf("line %d text %q, want %q", l.Number, l.Text, dialectLines[l.Number-1])
						}
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("pattern %q (pcre %q): lines %v, Go regexp says %v", p, pat.PCRE(), got, want)
				}
			})
		}
	}
}

func TestCompileGrepPattern_invalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ desc, pattern string }{
		{"empty", ""},
		{"unclosed group", "(abc"},
		{"unclosed class", "[abc"},
		{"backreference", `(a)\1`},
		{"lookahead", `a(?=b)`},
		{"lookbehind", `(?<=a)b`},
		{"possessive", `a++`},
		{"bad repeat", `a{1001}`},
		{"nothing to repeat", `*a`},
		{"bad escape", `\o`},
		{"invalid utf8", "a\xffb"},
		{"too long", strings.Repeat("a", maxGrepPattern+1)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			if _, err := CompileGrepPattern(tc.pattern, true); err == nil || !strings.Contains(err.Error(), "invalid") && !strings.Contains(err.Error(), "empty") && !strings.Contains(err.Error(), "longer") {
				t.Fatalf("CompileGrepPattern(%q) = %v, want an invalid-request error", tc.pattern, err)
			} else if !bgtInvalid(err) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func bgtInvalid(err error) bool {
	return err != nil && strings.Contains(err.Error(), ErrInvalid.Error())
}

func TestGrep_pathFilter(t *testing.T) {
	t.Parallel()
	r := newBGTRepo(t)
	files := []string{
		"README.md", "a/b/c.go", "a/x.ts", "a/y.tsx", "vendor/v.go", "src/vendor/y.go", "src/main.go",
		"docs/readme.md", "weird[1].txt", "dir.ts/inner.txt", "src/deep/er/z.ts", "star*name.go",
	}
	content := map[string]string{}
	for _, f := range files {
		content[f] = "needle in " + f + "\n"
	}
	commit := bgtCommit(t, r, content)
	pat, err := CompileGrepPattern("needle", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc   string
		filter PathFilter
		want   []string
	}{
		{"all", PathFilter{}, files},
		{"paths", PathFilter{Paths: []string{"a", "src/deep"}}, []string{"a/b/c.go", "a/x.ts", "a/y.tsx", "src/deep/er/z.ts"}},
		{"path is a file", PathFilter{Paths: []string{"README.md"}}, []string{"README.md"}},
		{"extension", PathFilter{Extensions: []string{".ts"}}, []string{"a/x.ts", "src/deep/er/z.ts"}},
		{"extension without dot", PathFilter{Extensions: []string{"go", "md"}}, []string{"README.md", "a/b/c.go", "vendor/v.go", "src/vendor/y.go", "src/main.go", "docs/readme.md", "star*name.go"}},
		{"unanchored include", PathFilter{IncludeGlobs: []string{"*.md"}}, []string{"README.md", "docs/readme.md"}},
		{"anchored include", PathFilter{IncludeGlobs: []string{"/*.md"}}, []string{"README.md"}},
		{"include with slash", PathFilter{IncludeGlobs: []string{"src/*.go"}}, []string{"src/main.go"}},
		{"include doublestar", PathFilter{IncludeGlobs: []string{"src/**/*.ts"}}, []string{"src/deep/er/z.ts"}},
		{"include directory name", PathFilter{IncludeGlobs: []string{"vendor"}}, []string{"vendor/v.go", "src/vendor/y.go"}},
		{"include directory only", PathFilter{IncludeGlobs: []string{"dir.ts/"}}, []string{"dir.ts/inner.txt"}},
		{"exclude directory", PathFilter{ExcludeGlobs: []string{"vendor"}}, []string{"README.md", "a/b/c.go", "a/x.ts", "a/y.tsx", "src/main.go", "docs/readme.md", "weird[1].txt", "dir.ts/inner.txt", "src/deep/er/z.ts", "star*name.go"}},
		{"exclude anchored directory", PathFilter{ExcludeGlobs: []string{"/vendor/"}, Extensions: []string{".go"}}, []string{"a/b/c.go", "src/vendor/y.go", "src/main.go", "star*name.go"}},
		{"include and exclude", PathFilter{IncludeGlobs: []string{"*.go"}, ExcludeGlobs: []string{"**/vendor/**"}}, []string{"a/b/c.go", "src/main.go", "star*name.go"}},
		{"paths and include", PathFilter{Paths: []string{"src"}, IncludeGlobs: []string{"*.ts"}}, []string{"src/deep/er/z.ts"}},
		{"paths and anchored include", PathFilter{Paths: []string{"src"}, IncludeGlobs: []string{"a/*"}}, nil},
		{"paths and extension", PathFilter{Paths: []string{"a", "src/vendor"}, Extensions: []string{".go"}}, []string{"a/b/c.go", "src/vendor/y.go"}},
		{"bracket class", PathFilter{IncludeGlobs: []string{"[rR]EADME.*"}}, []string{"README.md"}},
		{"escaped bracket", PathFilter{IncludeGlobs: []string{`weird\[1\].txt`}}, []string{"weird[1].txt"}},
		{"literal star in path", PathFilter{Paths: []string{"star*name.go"}}, []string{"star*name.go"}},
		{"question mark", PathFilter{IncludeGlobs: []string{"?.ts"}}, []string{"a/x.ts", "src/deep/er/z.ts"}},
		{"anchored question mark", PathFilter{IncludeGlobs: []string{"a/?.ts"}}, []string{"a/x.ts"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			res, err := r.Grep(context.Background(), commit, pat, GrepOptions{Filter: tc.filter, MaxFiles: 100, MaxLines: 100, MaxBytes: 1 << 20, MaxMatchesPerFile: 10})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Files {
				got = append(got, f.Path)
			}
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("files %q, want %q", got, want)
			}
		})
	}
}

func TestPathFilter_invalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc   string
		filter PathFilter
	}{
		{"unterminated bracket", PathFilter{IncludeGlobs: []string{"a[b"}}},
		{"trailing backslash", PathFilter{ExcludeGlobs: []string{`a\`}}},
		{"unknown class", PathFilter{IncludeGlobs: []string{"[[:nope:]]"}}},
		{"empty glob", PathFilter{IncludeGlobs: []string{" "}}},
		{"root only", PathFilter{IncludeGlobs: []string{"/"}}},
		{"newline", PathFilter{IncludeGlobs: []string{"a\nb"}}},
		{"bad extension", PathFilter{Extensions: []string{"a/b"}}},
		{"empty extension", PathFilter{Extensions: []string{"."}}},
		{"bad path", PathFilter{Paths: []string{"../etc"}}},
		{"too many", PathFilter{IncludeGlobs: slices.Repeat([]string{"*.go"}, maxGlobs+1)}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.filter.pathspecs(); !bgtInvalid(err) {
				t.Fatalf("pathspecs() error = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestSkipSpecs: the pruning of a later page never hides a path after the
// cursor, and does hide what lies before it.
func TestSkipSpecs(t *testing.T) {
	t.Parallel()
	r := newBGTRepo(t)
	files := []string{"a.txt", "b-x/1.txt", "b.txt", "b/c/d.txt", "b/c/e.txt", "b/c-d.txt", "b/z.txt", "bz/1.txt", "c[1]*.txt", "z.txt"}
	content := map[string]string{}
	for _, f := range files {
		content[f] = "x\n"
	}
	commit := bgtCommit(t, r, content)
	for _, tc := range []struct {
		after  string
		budget int
	}{
		{"a.txt", 256}, {"b.txt", 256}, {"b/c/d.txt", 256}, {"b/c/e.txt", 256}, {"b/c-d.txt", 256},
		{"b/z.txt", 256}, {"c[1]*.txt", 256}, {"z.txt", 256}, {"b/c/d.txt", 2}, {"b/gone/x.txt", 256}, {"b", 256},
	} {
		specs := r.skipSpecs(context.Background(), commit, tc.after, tc.budget)
		if len(specs) > tc.budget {
			t.Errorf("%s: %d specs over budget %d", tc.after, len(specs), tc.budget)
		}
		args := append([]string{"diff-tree", "-r", "--name-only", "--no-renames", string(git.EmptyTreeOID), string(commit), "--"}, specs...)
		if len(specs) == 0 {
			args = args[:len(args)-1]
		}
		left := strings.Fields(bgtGit(t, r.Path(), "", args...))
		var want []string
		for _, f := range files {
			if f > tc.after {
				want = append(want, f)
			}
		}
		for _, w := range want {
			if !slices.Contains(left, w) {
				t.Errorf("after %q: %s pruned (specs %q)", tc.after, w, specs)
			}
		}
		if tc.budget > 2 && tc.after != "b/gone/x.txt" && len(left) != len(want) {
			t.Errorf("after %q: %d paths left, want exactly %d (%q)", tc.after, len(left), len(want), left)
		}
	}
}
