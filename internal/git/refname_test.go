package git

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// refNameFactory is shared by the reference-name tests: each comparison spawns
// `git check-ref-format`, the oracle our implementation must agree with.
var refNameFactory = sync.OnceValues(func() (*Factory, error) {
	return NewFactory(FactoryOptions{})
})

// gitAcceptsRef runs `git check-ref-format <name>` (or `--branch <name>`).
// ok is false when git can't be asked: a full name starting with '-' would be
// parsed as an option, and argv can't carry NUL.
func gitAcceptsRef(tb testing.TB, name string, branch bool) (accepted, ok bool) {
	tb.Helper()
	if strings.IndexByte(name, 0) >= 0 || (!branch && strings.HasPrefix(name, "-")) {
		return false, false
	}
	f, err := refNameFactory()
	if err != nil {
		tb.Fatalf("git factory: %v", err)
	}
	cmd := Command{Name: "check-ref-format", Args: []string{name}}
	if branch {
		// --branch must be argv[1] and takes the name verbatim, '-' or not.
		cmd = Command{Name: "check-ref-format", Flags: []string{"--branch", name}}
	}
	// Outside any repository, so "@{-1}" can't expand to a real branch.
	err = f.Run(context.Background(), "", cmd, WithDir(os.TempDir()))
	if err == nil {
		return true, true
	}
	var ce *CommandError
	if errors.As(err, &ce) && (ce.ExitCode == 1 || branch && ce.ExitCode == 128) {
		return false, true
	}
	tb.Fatalf("git check-ref-format %q: %v", name, err)
	return false, false
}

var trickyRefNames = []string{
	"refs/heads/main",
	"refs/heads/feature/x",
	"refs/tags/v1.0.0",
	"refs/namespaces/ephemeral/refs/heads/main",
	"heads/main",
	"main",
	"",
	"/",
	"refs",
	"refs/",
	"/refs/heads/x",
	"refs/heads/x/",
	"refs//heads/x",
	"refs/heads/x//y",
	"refs/heads/.x",
	"refs/heads/x/.y",
	"refs/heads/x.",
	"refs/heads/x./y",
	"refs/heads/a..b",
	"refs/heads/a.b",
	"refs/heads/...",
	"refs/heads/.",
	"refs/heads/..",
	"refs/heads/x.lock",
	"refs/heads/x.lock/y",
	"refs/heads/x.lockx",
	"refs/heads/.lock",
	"refs/heads/x.LOCK",
	"refs/heads/lock",
	"refs/heads/a.lock.",
	"@",
	"refs/heads/@",
	"refs/@/x",
	"refs/heads/a@b",
	"refs/heads/a@",
	"refs/heads/a@{b",
	"refs/heads/@{",
	"refs/heads/a@}",
	"refs/heads/a{b}",
	"refs/heads/a b",
	"refs/heads/a\tb",
	"refs/heads/a\x01b",
	"refs/heads/a\x1fb",
	"refs/heads/a\x7fb",
	"refs/heads/a~1",
	"refs/heads/a^",
	"refs/heads/a:b",
	"refs/heads/a?",
	"refs/heads/a*",
	"refs/heads/*",
	"refs/heads/a[b",
	"refs/heads/a]b",
	"refs/heads/a\\b",
	"refs/heads/é",
	"refs/heads/\x80\xff",
	"refs/heads/-x",
	"refs/heads/HEAD",
	"refs/heads/x#y",
	"refs/heads/x!y",
	"refs/heads/x,y;z",
	"refs/heads/x'\"y",
	"refs/heads/x%20y",
	"refs/heads/x+y=z",
	"refs/heads/x|y<z>",
	"refs/heads/x$y&z(1)",
	"refs/heads/a/b/c/d/e/f",
	"a/b",
	"./a",
	"a/.",
	"a/..",
	"refs/heads/" + strings.Repeat("x", 300),
}

func TestCheckRefFormat_matchesGit(t *testing.T) {
	t.Parallel()
	for _, name := range trickyRefNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, ok := gitAcceptsRef(t, name, false)
			if !ok {
				t.Skip("git cannot be asked about this name")
			}
			err := CheckRefFormat(name)
			if got := err == nil; got != want {
				t.Fatalf("CheckRefFormat(%q) = %v, git accepts: %v", name, err, want)
			}
			if err != nil && !errors.Is(err, ErrInvalidRefName) {
				t.Fatalf("error %v does not wrap ErrInvalidRefName", err)
			}
		})
	}
}

var trickyBranchNames = []string{
	"main", "feature/x", "x", "-x", "--", "HEAD", "head", "HEAD/x", "x/HEAD",
	"@", "a@b", "@{-1}", "a@{u}", "", "/", "x/", "/x", "a..b", ".x", "x.",
	"x.lock", "x y", "x~", "x^", "x:y", "x?", "x*", "x[", "x\\y", "é",
	"refs/heads/x", "refs/tags/v9", "namespaces/x", "a//b", "x\x7f",
}

// stricterThanGit reports the branch names git accepts and Strata refuses:
// "@" (ambiguous with HEAD) and names that would not read back as the
// branch (issue 10, findings 12 and 13).
func stricterThanGit(name string) bool { return name == "@" || strings.HasPrefix(name, "refs/") }

func TestValidateBranchName_matchesGit(t *testing.T) {
	t.Parallel()
	for _, name := range trickyBranchNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, ok := gitAcceptsRef(t, name, true)
			if !ok {
				t.Skip("git cannot be asked about this name")
			}
			if stricterThanGit(name) {
				want = false
			}
			err := ValidateBranchName(name)
			if got := err == nil; got != want {
				t.Fatalf("ValidateBranchName(%q) = %v, git check-ref-format --branch accepts: %v", name, err, want)
			}
		})
	}
}

func TestValidateTagName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc, tag string
		ok        bool
	}{
		{"plain", "v1.0.0", true},
		{"nested", "release/2024", true},
		{"HEAD is ambiguous", "HEAD", false},
		{"@ is ambiguous", "@", false},
		{"HEAD inside is fine", "x/HEAD", true},
		{"full ref name", "refs/tags/v1", false},
		{"namespaces", "namespaces/x", true},
		{"empty", "", false},
		{"leading dash", "-v1", false},
		{"double dot", "v1..2", false},
		{"lock", "v1.lock", false},
		{"space", "v 1", false},
		{"trailing slash", "v1/", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := ValidateTagName(tc.tag)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateTagName(%q) = %v, want ok=%v", tc.tag, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidRefName) {
				t.Fatalf("error %v does not wrap ErrInvalidRefName", err)
			}
		})
	}
}

func TestRefNameError_message(t *testing.T) {
	t.Parallel()
	err := ValidateBranchName("a..b")
	if got, want := err.Error(), `invalid branch name "a..b": contains ".."`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	err = CheckRefFormat("refs/heads/x.lock")
	if got, want := err.Error(), `invalid ref name "refs/heads/x.lock": component ends with ".lock"`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FuzzCheckRefFormat compares CheckRefFormat and ValidateBranchName with the
// git binary on every input (one process per input: slow, but exact).
func FuzzCheckRefFormat(f *testing.F) {
	for _, n := range trickyRefNames {
		f.Add(n)
	}
	for _, n := range trickyBranchNames {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckRefFormat(name)
		if want, ok := gitAcceptsRef(t, name, false); ok && (err == nil) != want {
			t.Fatalf("CheckRefFormat(%q) = %v, git accepts: %v", name, err, want)
		}
		berr := ValidateBranchName(name)
		if want, ok := gitAcceptsRef(t, name, true); ok && (berr == nil) != (want && !stricterThanGit(name)) {
			t.Fatalf("ValidateBranchName(%q) = %v, git --branch accepts: %v", name, berr, want)
		}
		if berr == nil && CheckRefFormat("refs/heads/"+name) != nil {
			t.Fatalf("branch %q accepted but refs/heads/%s is not a valid ref", name, name)
		}
	})
}
