package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

func TestValidateBlameRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rng string
		ok  bool
	}{
		{"10", true}, {"10,20", true}, {"10,+5", true}, {"10,-5", true}, {"10,", true}, {",20", true},
		{"/re/", true}, {"/start/,/end/", true}, {"/re/,+30", true}, {":funcname", true},
		{":^func .*Foo", true}, {"^:Bar", true}, {"^/re/", true}, {"^/re/,+2", true},
		{`/a\/b/`, true}, {`/a,b/,5`, true}, {`:a\:b`, true}, {"/[0-9]+/,/}/", true},
		{"", false}, {",", false}, {"0", false}, {"0,5", false}, {"5,0", false}, {"abc", false},
		{"10,+", false}, {"10,+0", false}, {"+5", false}, {"-5", false}, {"10,20,30", false},
		{"//", false}, {"/unterminated", false}, {`/trailing\`, false}, {":", false}, {"^:", false},
		{":a:b", false}, {`:trailing\`, false}, {"1234567890", false}, {"1,/x/y", false},
		{"10\n", false}, {"a\x00", false}, {"^10", false}, {"10,^/x/", false}, {"-L5", false},
		{" 10", false}, {"10 ", false}, {strings.Repeat("/a", 600) + "/", false},
	} {
		err := ValidateBlameRange(tc.rng)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateBlameRange(%q) = %v, want ok=%v", tc.rng, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateBlameRange(%q) = %v, not ErrInvalid", tc.rng, err)
		}
	}
}

// linePorcelain parses `git blame --line-porcelain`, which repeats every
// field for every line: an oracle independent of Blame's stateful parser.
func linePorcelain(t *testing.T, out string) []BlameLine {
	t.Helper()
	var lines []BlameLine
	var cur *BlameLine
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "\t") {
			lines = append(lines, *cur)
			cur = nil
			continue
		}
		if cur == nil {
			f := strings.Fields(l)
			orig, _ := strconv.Atoi(f[1])
			final, _ := strconv.Atoi(f[2])
			cur = &BlameLine{Commit: git.ObjectID(f[0]), OriginalLineNumber: orig, LineNumber: final}
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		sec := func() time.Time { n, _ := strconv.ParseInt(v, 10, 64); return time.Unix(n, 0) }
		switch k {
		case "author":
			cur.Author.Name = v
		case "author-mail":
			cur.Author.Email = strings.Trim(v, "<>")
		case "author-time":
			cur.Author.When = sec()
		case "committer":
			cur.Committer.Name = v
		case "committer-mail":
			cur.Committer.Email = strings.Trim(v, "<>")
		case "committer-time":
			cur.Committer.When = sec()
		case "summary":
			cur.Summary = v
		case "boundary":
			cur.Boundary = true
		case "previous":
			sha, p, _ := strings.Cut(v, " ")
			cur.Previous, cur.PreviousPath = git.ObjectID(sha), unquoteC(p)
		case "filename":
			cur.OriginalPath = unquoteC(v)
		}
	}
	return lines
}

func TestBlame_matchesLinePorcelain(t *testing.T) {
	t.Parallel()
	r := newBGTRepo(t)
	work := t.TempDir()
	bgtGit(t, work, "", "init", "-q", "-b", "main")
	write := func(p, c string) {
		full := filepath.Join(work, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(msg string) {
		bgtGit(t, work, "", "add", "-A")
		bgtGit(t, work, "", "commit", "-q", "-m", msg)
	}
	write("old name.go", "package main\n\nfunc Foo() {\n\tprintln(1)\n}\n")
	write("other.go", "package main\n\nfunc Moved() {\n\tprintln(\"moved block line one\")\n\tprintln(\"moved block line two\")\n\tprintln(\"moved block line three\")\n}\n")
	commit("first")
	os.MkdirAll(filepath.Join(work, "dir"), 0o755)
	bgtGit(t, work, "", "mv", "old name.go", "dir/ünïcode \"name\".go")
	commit("rename")
	write("dir/ünïcode \"name\".go", "package main\n\nfunc Foo() {\n\tprintln(2)\n}\n\nfunc Bar() {\n\tprintln(3)\n}\n")
	commit("second")
	write("other.go", "package main\n")
	write("dir/ünïcode \"name\".go", "package main\n\nfunc Foo() {\n\tprintln(2)\n}\n\nfunc Bar() {\n\tprintln(3)\n}\n\nfunc Moved() {\n\tprintln(\"moved block line one\")\n\tprintln(\"moved block line two\")\n\tprintln(\"moved block line three\")\n}\n")
	commit("move")
	bgtGit(t, work, "", "push", "-q", r.Path(), "HEAD:refs/heads/main")
	head := git.ObjectID(strings.TrimSpace(bgtGit(t, work, "", "rev-parse", "HEAD")))
	path := "dir/ünïcode \"name\".go"

	for _, tc := range []struct {
		desc   string
		opt    BlameOptions
		gitOpt []string
	}{
		{"whole file", BlameOptions{}, nil},
		{"ranges", BlameOptions{Ranges: []string{"2,4", ":Bar"}}, []string{"-L2,4", "-L:Bar"}},
		{"moves", BlameOptions{DetectMoves: true}, []string{"-M", "-C", "-C"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"blame", "--line-porcelain"}, tc.gitOpt...)
			want := linePorcelain(t, bgtGit(t, r.Path(), "", append(args, string(head), "--", path)...))
			s, err := r.Blame(context.Background(), head, path, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []BlameLine
			for s.Next() {
				got = append(got, s.Line())
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("%d lines, want %d", len(got), len(want))
			}
			for i := range got {
				g, w := got[i], want[i]
				if !g.Author.When.Equal(w.Author.When) || !g.Committer.When.Equal(w.Committer.When) {
					t.Errorf("line %d times %v/%v, want %v/%v", i, g.Author.When, g.Committer.When, w.Author.When, w.Committer.When)
				}
				g.Author.When, g.Committer.When, w.Author.When, w.Committer.When = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				if g != w {
					t.Errorf("line %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
			if tc.desc == "moves" && got[len(got)-2].OriginalPath != "other.go" {
				t.Errorf("moved lines attributed to %q, want other.go", got[len(got)-2].OriginalPath)
			}
		})
	}

	for _, tc := range []struct {
		desc string
		path string
		opt  BlameOptions
		want error
	}{
		{"past the end", path, BlameOptions{Ranges: []string{"100"}}, ErrInvalid},
		{"no match", path, BlameOptions{Ranges: []string{"/nothing like this/"}}, ErrInvalid},
		{"no function", path, BlameOptions{Ranges: []string{":Nope"}}, ErrInvalid},
		{"bad regex", path, BlameOptions{Ranges: []string{`/a\{1/`}}, ErrInvalid},
		{"too many", path, BlameOptions{Ranges: strings.Split(strings.Repeat("1,", 17), ",")[:17]}, ErrInvalid},
		{"missing path", "nope.go", BlameOptions{}, ErrNotFound},
		{"directory", "dir", BlameOptions{}, ErrNotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			s, err := r.Blame(context.Background(), head, tc.path, tc.opt)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Blame error = %v, want %v", err, tc.want)
			}
		})
	}
}
