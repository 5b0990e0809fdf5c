package git

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("d/", MaxPathLen/2)
	for _, tc := range []struct {
		desc, in, want, why string // why: substring of the error; "" = accepted
	}{
		{desc: "plain", in: "a.txt", want: "a.txt"},
		{desc: "nested", in: "docs/a.md", want: "docs/a.md"},
		{desc: "double slash", in: "a//b", want: "a/b"},
		{desc: "slash runs", in: "a///b////c", want: "a/b/c"},
		{desc: "trailing slash", in: "a/b/", want: "a/b"},
		{desc: "trailing slashes", in: "a/b//", want: "a/b"},
		{desc: "dots inside names", in: "a..b/.c/d.", want: "a..b/.c/d."},
		{desc: "gitignore", in: ".gitignore", want: ".gitignore"},
		{desc: "gitmodules", in: ".gitmodules", want: ".gitmodules"},
		{desc: "git without dot", in: "git/x", want: "git/x"},
		{desc: "dot git suffix", in: "x.git/y", want: "x.git/y"},
		{desc: "dotgitx", in: ".gitx", want: ".gitx"},
		{desc: "git~2", in: "git~2", want: "git~2"},
		{desc: "unicode", in: "ünï/cødé ✓.txt", want: "ünï/cødé ✓.txt"},
		{desc: "tab and CR allowed", in: "a\tb\r", want: "a\tb\r"},
		{desc: "spaces", in: " a / b ", want: " a / b "},
		{desc: "backslash is a byte", in: `a\b`, want: `a\b`},
		{desc: "max segment", in: strings.Repeat("s", MaxSegmentLen), want: strings.Repeat("s", MaxSegmentLen)},
		{desc: "max length", in: long[:MaxPathLen-1] + "x", want: long[:MaxPathLen-1] + "x"},
		{desc: "collapse brings it under the limit", in: "a" + strings.Repeat("/", MaxPathLen) + "b", want: "a/b"},

		{desc: "empty", in: "", why: "empty path"},
		{desc: "only slash", in: "/", why: "absolute path"},
		{desc: "absolute", in: "/a", why: "absolute path"},
		{desc: "double leading slash", in: "//a", why: "absolute path"},
		{desc: "NUL", in: "a\x00b", why: "NUL byte"},
		{desc: "newline", in: "a\nb", why: "newline"},
		{desc: "dotdot", in: "a/../b", why: `".." segment`},
		{desc: "leading dotdot", in: "../a", why: `".." segment`},
		{desc: "trailing dotdot", in: "a/..", why: `".." segment`},
		{desc: "dot", in: "./a", why: `"." segment`},
		{desc: "inner dot", in: "a/./b", why: `"." segment`},
		{desc: "lone dot", in: ".", why: `"." segment`},
		{desc: ".git", in: ".git", why: "reserved name"},
		{desc: ".git dir", in: ".git/config", why: "reserved name"},
		{desc: "nested .git", in: "sub/.git/hooks/post-checkout", why: "reserved name"},
		{desc: "upper .GIT", in: ".GIT/config", why: "reserved name"},
		{desc: "mixed .Git", in: "a/.Git", why: "reserved name"},
		{desc: "trailing dot", in: ".git./x", why: "reserved name"},
		{desc: "trailing space", in: ".git /x", why: "reserved name"},
		{desc: "trailing dots and spaces", in: ".git. . ./x", why: "reserved name"},
		{desc: "NTFS stream", in: ".git::$INDEX_ALLOCATION/x", why: "reserved name"},
		{desc: "NTFS short name", in: "GIT~1/config", why: "reserved name"},
		{desc: "NTFS short name dots", in: "git~1.", why: "reserved name"},
		{desc: "HFS ignorable", in: ".g\u200cit/config", why: "reserved name"},
		{desc: "HFS BOM", in: "\ufeff.git", why: "reserved name"},
		{desc: "backslash separator", in: `a\.git\config`, why: "reserved name"},
		{desc: "segment too long", in: "a/" + strings.Repeat("s", MaxSegmentLen+1), why: "segment longer than 255 bytes"},
		{desc: "path too long", in: long + "x", why: "longer than 4096 bytes"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			got, err := CleanPath(tc.in)
			if tc.why == "" {
				if err != nil || got != tc.want {
					t.Fatalf("CleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("CleanPath(%q) = %q, want error containing %q", tc.in, got, tc.why)
			}
			if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("CleanPath(%q) error %q: want ErrInvalidPath mentioning %q", tc.in, err, tc.why)
			}
		})
	}
}

func TestCleanPath_errorMessage(t *testing.T) {
	t.Parallel()
	_, err := CleanPath("a/../b")
	if got, want := err.Error(), `invalid path "a/../b": ".." segment`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	_, err = CleanPath(strings.Repeat("é", 5000) + "/..")
	if len(err.Error()) > 300 {
		t.Fatalf("error for a huge path is %d bytes long", len(err.Error()))
	}
}

func TestCleanDirPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"/", "", true},
		{"docs", "docs", true},
		{"docs/", "docs", true},
		{"a//b/", "a/b", true},
		{"//", "", false},
		{"/docs", "", false},
		{"..", "", false},
		{".git", "", false},
	} {
		got, err := CleanDirPath(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanDirPath(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"a", "a/b", "a//b/", "/a", "", "/", ".", "..", "a/../b", ".git", ".GIT. ",
		"git~1", ".g\u200dit", `x\.git`, "a\x00b", "a\nb", "\xff\xfe/x",
		strings.Repeat("a/", 3000), strings.Repeat("x", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CleanPath(in)
		dirOut, dirErr := CleanDirPath(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("CleanPath(%q) error %v does not wrap ErrInvalidPath", in, err)
			}
			if out != "" {
				t.Fatalf("CleanPath(%q) returned %q with an error", in, out)
			}
			if dirErr == nil && dirOut != "" {
				t.Fatalf("CleanDirPath(%q) = %q but CleanPath rejects it: %v", in, dirOut, err)
			}
			return
		}
		if dirErr != nil || dirOut != out {
			t.Fatalf("CleanDirPath(%q) = %q, %v; CleanPath = %q", in, dirOut, dirErr, out)
		}
		again, err := CleanPath(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: CleanPath(%q) = %q, CleanPath(%q) = %q, %v", in, out, out, again, err)
		}
		switch {
		case out == "", len(out) > MaxPathLen:
			t.Fatalf("CleanPath(%q) = %q: bad length", in, out)
		case strings.HasPrefix(out, "/"), strings.HasSuffix(out, "/"), strings.Contains(out, "//"):
			t.Fatalf("CleanPath(%q) = %q: not normalised", in, out)
		case strings.ContainsAny(out, "\x00\n"):
			t.Fatalf("CleanPath(%q) = %q: NUL or newline", in, out)
		}
		for seg := range strings.SplitSeq(out, "/") {
			if seg == "." || seg == ".." || strings.EqualFold(seg, ".git") || len(seg) > MaxSegmentLen {
				t.Fatalf("CleanPath(%q) = %q: bad segment %q", in, out, seg)
			}
			if strings.EqualFold(strings.TrimRight(seg, ". "), ".git") {
				t.Fatalf("CleanPath(%q) = %q: NTFS .git alias %q", in, out, seg)
			}
		}
	})
}
