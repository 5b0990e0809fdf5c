package api_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

type grepLine struct {
	LineNumber int    `json:"line_number"`
	Text       string `json:"text"`
	Type       string `json:"type"`
}

type grepResponse struct {
	Query struct {
		Pattern       string `json:"pattern"`
		CaseSensitive *bool  `json:"case_sensitive"`
	} `json:"query"`
	Repo struct {
		Ref    string `json:"ref"`
		Commit string `json:"commit"`
	} `json:"repo"`
	Matches []struct {
		Path  string     `json:"path"`
		Lines []grepLine `json:"lines"`
	} `json:"matches"`
	NextCursor *string `json:"next_cursor"`
	HasMore    *bool   `json:"has_more"`
}

// lineSpec renders lines as "5m 6c" for compact comparisons.
func lineSpec(lines []grepLine) string {
	var parts []string
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("%d%c", l.LineNumber, l.Type[0]))
	}
	return strings.Join(parts, " ")
}

func TestGrep(t *testing.T) {
	t.Parallel()
	f := newBGTFixture(t)
	var ctx strings.Builder
	for i := 1; i <= 20; i++ {
		if i == 5 || i == 8 || i == 15 {
			fmt.Fprintf(&ctx, "line %d has a MATCH\n", i)
		} else {
			fmt.Fprintf(&ctx, "line %d\n", i)
		}
	}
	f.write("ctx.txt", ctx.String())
	f.write("many.txt", strings.Repeat("needle\n", 10))
	f.write("case.txt", "Needle upper\nneedle lower\nNEEDLE shout\n")
	f.write("bin.dat", "needle\x00binary needle\n")
	f.write("src/app.ts", "const needle = 1;\n")
	f.write("src/app.go", "var needle = 1\n")
	f.write("vendor/lib.go", "var needle = 2\n")
	f.write("docs/guide.md", "a needle in docs\n")
	f.write("unicode.txt", "café NEEDLE ñ\n")
	pageFiles := []string{"pages-x/a.txt", "pages.txt", "pagesz/b.txt", "pages/sub/deep.txt", "pages/sub.txt", "0first.txt", "zlast.txt"}
	for i := 0; i < 23; i++ {
		pageFiles = append(pageFiles, fmt.Sprintf("pages/f%02d.txt", i))
	}
	slices.Sort(pageFiles)
	for i, p := range pageFiles {
		f.write(p, strings.Repeat(fmt.Sprintf("pageword %d\n", i), i%4+1))
	}
	head := f.commit("fixture")

	grep := func(t *testing.T, body map[string]any) (grepResponse, int, []byte) {
		t.Helper()
		var got grepResponse
		status, data := f.call("POST", "/api/v1/repos/grep", f.tok, body, &got)
		return got, status, data
	}
	q := func(pattern string) map[string]any { return map[string]any{"pattern": pattern} }

	t.Run("shape and defaults", func(t *testing.T) {
		t.Parallel()
		got, status, data := grep(t, map[string]any{"query": q("MATCH")})
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, data)
		}
		if got.Query.Pattern != "MATCH" || got.Query.CaseSensitive == nil || !*got.Query.CaseSensitive {
			t.Errorf("query echo %+v", got.Query)
		}
		if got.Repo.Ref != "main" || got.Repo.Commit != head {
			t.Errorf("repo %+v, want main %s", got.Repo, head)
		}
		if got.HasMore == nil || *got.HasMore || got.NextCursor != nil {
			t.Errorf("paging has_more=%v next=%v", got.HasMore, got.NextCursor)
		}
		if len(got.Matches) != 1 || got.Matches[0].Path != "ctx.txt" || lineSpec(got.Matches[0].Lines) != "5m 8m 15m" {
			t.Fatalf("matches %+v", got.Matches)
		}
		if got.Matches[0].Lines[0].Text != "line 5 has a MATCH" {
			t.Errorf("text %q", got.Matches[0].Lines[0].Text)
		}
	})

	for _, tc := range []struct {
		desc string
		body map[string]any
		want map[string]string // path → line spec
	}{
		{"context", map[string]any{"query": q("MATCH"), "context": map[string]any{"before": 1, "after": 1}},
			map[string]string{"ctx.txt": "4c 5m 6c 7c 8m 9c 14c 15m 16c"}},
		{"context after only", map[string]any{"query": q("MATCH"), "context": map[string]any{"after": 2}},
			map[string]string{"ctx.txt": "5m 6c 7c 8m 9c 10c 15m 16c 17c"}},
		{"empty objects", map[string]any{"query": q("MATCH"), "context": map[string]any{}, "limits": map[string]any{}, "pagination": map[string]any{}, "file_filters": map[string]any{}},
			map[string]string{"ctx.txt": "5m 8m 15m"}},
		{"max matches per file", map[string]any{"query": q("^needle$"), "limits": map[string]any{"max_matches_per_file": 3}},
			map[string]string{"many.txt": "1m 2m 3m"}},
		{"case sensitive", map[string]any{"query": q("Needle")},
			map[string]string{"case.txt": "1m"}},
		{"case insensitive", map[string]any{"query": map[string]any{"pattern": "needle", "case_sensitive": false}, "paths": []string{"case.txt", "unicode.txt"}},
			map[string]string{"case.txt": "1m 2m 3m", "unicode.txt": "1m"}},
		{"inline flag", map[string]any{"query": q("(?i)^needle [a-z]+$"), "paths": []string{"case.txt"}},
			map[string]string{"case.txt": "1m 2m 3m"}},
		{"binary skipped", map[string]any{"query": q("binary")}, map[string]string{}},
		{"paths", map[string]any{"query": q("needle"), "paths": []string{"src", "docs/"}},
			map[string]string{"src/app.go": "1m", "src/app.ts": "1m", "docs/guide.md": "1m"}},
		{"extension filter", map[string]any{"query": q("needle"), "file_filters": map[string]any{"extension_filters": []string{".go"}}},
			map[string]string{"src/app.go": "1m", "vendor/lib.go": "1m"}},
		{"include glob", map[string]any{"query": q("needle"), "file_filters": map[string]any{"include_globs": []string{"*.md", "src/*.ts"}}},
			map[string]string{"docs/guide.md": "1m", "src/app.ts": "1m"}},
		{"exclude glob", map[string]any{"query": q("needle"), "file_filters": map[string]any{"extension_filters": []string{"go"}, "exclude_globs": []string{"vendor/"}}},
			map[string]string{"src/app.go": "1m"}},
		{"exclude everything but", map[string]any{"query": q("needle"), "file_filters": map[string]any{"exclude_globs": []string{"*.txt", "*.go", "*.md"}}},
			map[string]string{"src/app.ts": "1m"}},
		{"legacy rev", map[string]any{"query": q("MATCH"), "rev": head},
			map[string]string{"ctx.txt": "5m 8m 15m"}},
		{"no match", map[string]any{"query": q("zzzz-nothing")}, map[string]string{}},
		{"unicode class", map[string]any{"query": q(`caf\pL \p{Lu}+`)}, map[string]string{"unicode.txt": "1m"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			got, status, data := grep(t, tc.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, data)
			}
			gotMap := map[string]string{}
			for _, m := range got.Matches {
				gotMap[m.Path] = lineSpec(m.Lines)
			}
			if fmt.Sprint(gotMap) != fmt.Sprint(tc.want) {
				t.Errorf("matches %v, want %v", gotMap, tc.want)
			}
			if got.Matches == nil {
				t.Errorf("matches is null: %s", data)
			}
		})
	}

	// Walk every page; the union must be exactly the files a Go regexp
	// finds, each once, in path order.
	for _, tc := range []struct {
		desc     string
		limit    int
		maxLines int
	}{
		{"by files", 7, 0},
		{"one file per page", 1, 0},
		{"by lines", 0, 5},
		{"files and lines", 4, 6},
	} {
		t.Run("pagination "+tc.desc, func(t *testing.T) {
			t.Parallel()
			want := pageFiles
			var seen []string
			cursor := ""
			for page := 0; ; page++ {
				if page > 30 {
					t.Fatal("too many pages")
				}
				body := map[string]any{"query": q(`^pageword \d+$`)}
				pg := map[string]any{}
				if tc.limit > 0 {
					pg["limit"] = tc.limit
				}
				if cursor != "" {
					pg["cursor"] = cursor
				}
				body["pagination"] = pg
				if tc.maxLines > 0 {
					body["limits"] = map[string]any{"max_lines": tc.maxLines}
				}
				got, status, data := grep(t, body)
				if status != http.StatusOK {
					t.Fatalf("page %d: status %d: %s", page, status, data)
				}
				lines := 0
				for _, m := range got.Matches {
					seen = append(seen, m.Path)
					lines += len(m.Lines)
					n := slices.Index(pageFiles, m.Path)
					if len(m.Lines) != n%4+1 {
						t.Errorf("%s: %d lines, want %d", m.Path, len(m.Lines), n%4+1)
					}
				}
				if tc.limit > 0 && len(got.Matches) > tc.limit {
					t.Errorf("page %d: %d files > limit %d", page, len(got.Matches), tc.limit)
				}
				if tc.maxLines > 0 && lines > tc.maxLines {
					t.Errorf("page %d: %d lines > max_lines %d", page, lines, tc.maxLines)
				}
				if !*got.HasMore {
					if got.NextCursor != nil {
						t.Errorf("last page has next_cursor %q", *got.NextCursor)
					}
					break
				}
				if got.NextCursor == nil || *got.NextCursor == "" || len(got.Matches) == 0 {
					t.Fatalf("page %d: has_more without cursor or matches: %s", page, data)
				}
				cursor = *got.NextCursor
			}
			if !slices.Equal(seen, want) {
				t.Errorf("pages gave %q\nwant %q", seen, want)
			}
		})
	}

	t.Run("file larger than max_lines is cut", func(t *testing.T) {
		t.Parallel()
		got, status, data := grep(t, map[string]any{"query": q("needle"), "paths": []string{"many.txt"}, "limits": map[string]any{"max_lines": 4}})
		if status != http.StatusOK || len(got.Matches) != 1 || lineSpec(got.Matches[0].Lines) != "1m 2m 3m 4m" || *got.HasMore {
			t.Fatalf("status %d: %s", status, data)
		}
	})

	t.Run("regexp oracle", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		// Every text file of the tree, matched line by line with Go.
		re := regexp.MustCompile(`(?i)n[e]+dle\b`)
		files := strings.Fields(f.gitBare("ls-tree", "-r", "--name-only", head))
		want := map[string][]int{}
		for _, p := range files {
			content := f.gitBare("cat-file", "blob", head+":"+p)
			if strings.Contains(content, "\x00") {
				continue
			}
			for i, l := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
				if re.MatchString(l) {
					want[p] = append(want[p], i+1)
				}
			}
		}
		got, status, data := grep(t, map[string]any{"query": q(`(?i)n[e]+dle\b`), "limits": map[string]any{"max_matches_per_file": 100}})
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, data)
		}
		gotMap := map[string][]int{}
		for _, m := range got.Matches {
			for _, l := range m.Lines {
				gotMap[m.Path] = append(gotMap[m.Path], l.LineNumber)
			}
		}
		if fmt.Sprint(gotMap) != fmt.Sprint(want) {
			t.Errorf("got %v\nwant %v", gotMap, want)
		}
	})

	t.Run("ephemeral", func(t *testing.T) {
		t.Parallel()
		f := f.with(t)
		f.gitBare("update-ref", "refs/namespaces/ephemeral/refs/heads/eph", head)
		got, status, data := grep(t, map[string]any{"query": q("MATCH"), "ref": "eph", "ephemeral": true})
		if status != http.StatusOK || got.Repo.Ref != "eph" || got.Repo.Commit != head || len(got.Matches) != 1 {
			t.Fatalf("status %d: %s", status, data)
		}
		if status, data := f.call("POST", "/api/v1/repos/grep", f.tok, map[string]any{"query": q("MATCH"), "ref": "eph"}, nil); status != http.StatusNotFound {
			t.Fatalf("normal namespace: status %d: %s", status, data)
		}
	})

	for _, tc := range []struct {
		desc   string
		body   any
		status int
	}{
		{"invalid regex", map[string]any{"query": q("(unclosed")}, http.StatusBadRequest},
		{"backreference", map[string]any{"query": q(`(a)\1`)}, http.StatusBadRequest},
		{"empty pattern", map[string]any{"query": q("")}, http.StatusBadRequest},
		{"missing query", map[string]any{}, http.StatusBadRequest},
		{"unknown ref", map[string]any{"query": q("x"), "ref": "nope"}, http.StatusNotFound},
		{"bad cursor", map[string]any{"query": q("x"), "pagination": map[string]any{"cursor": "!!!"}}, http.StatusBadRequest},
		{"bad glob", map[string]any{"query": q("x"), "file_filters": map[string]any{"include_globs": []string{"a[b"}}}, http.StatusBadRequest},
		{"bad exclude", map[string]any{"query": q("x"), "file_filters": map[string]any{"exclude_globs": []string{`x\`}}}, http.StatusBadRequest},
		{"bad path", map[string]any{"query": q("x"), "paths": []string{"../x"}}, http.StatusBadRequest},
		{"negative context", map[string]any{"query": q("x"), "context": map[string]any{"before": -1}}, http.StatusBadRequest},
		{"not json", "{", http.StatusBadRequest},
		{"too complex for pcre", map[string]any{"query": q(`^(a|aa)*$`), "paths": []string{"long.txt"}}, 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			f := f.with(t)
			status, data := f.call("POST", "/api/v1/repos/grep", f.tok, tc.body, nil)
			if tc.status == 0 {
				// No long.txt in the tree: the pattern itself is fine.
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, data)
				}
				return
			}
			if status != tc.status || bgtError(data) == "" {
				t.Fatalf("status %d body %s, want %d with an error", status, data, tc.status)
			}
		})
	}
}

// TestGrep_backtrackingLimit: PCRE2's match limit is reported as a 400,
// not a 500.
func TestGrep_backtrackingLimit(t *testing.T) {
	t.Parallel()
	f := newBGTFixture(t)
	f.write("long.txt", strings.Repeat("a", 40)+"b\n")
	f.commit("long")
	status, data := f.call("POST", "/api/v1/repos/grep", f.tok, map[string]any{"query": map[string]any{"pattern": `^(a|aa)*$`}}, nil)
	if status != http.StatusBadRequest || !strings.Contains(bgtError(data), "too complex") {
		t.Fatalf("status %d: %s", status, data)
	}
}

// TestGrep_withoutPCRE: a server whose git lacks PCRE2 answers grep with a
// clear 501, not a 500.
func TestGrep_withoutPCRE(t *testing.T) {
	t.Parallel()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\n" +
		"for a in \"$@\"; do\n" +
		"  if [ \"$a\" = grep ]; then echo 'fatal: cannot use Perl-compatible regexes when not compiled with USE_LIBPCRE' >&2; exit 128; fi\n" +
		"done\n" +
		"exec " + real + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := start(t, servertest.WithConfig(func(c *config.Config) { c.GitBinary = fake }))
	r, _ := e.seededRepo(t, upsert("a.txt", "needle\n"))
	resp := e.do(t, "POST", "/api/v1/repos/grep", r.Read, jsonBody(t, map[string]any{"query": map[string]any{"pattern": "needle"}}))
	body := wantError(t, resp, http.StatusNotImplemented)
	if msg, _ := body["error"].(string); !strings.Contains(msg, "PCRE2") {
		t.Fatalf("error %q does not say what is missing", msg)
	}
}
