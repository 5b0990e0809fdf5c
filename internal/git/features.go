package git

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
)

// pcreProbe caches HasPCRE's answer.
type pcreProbe struct {
	once sync.Once
	ok   bool
	err  error
}

// HasPCRE reports whether this git was built with PCRE2, which `git grep
// -P` (and so POST /repos/grep) needs; Debian's git is. It is probed once,
// by grepping the empty tree of a throwaway repository: exit 1 ("no
// match") means supported.
func (f *Factory) HasPCRE(ctx context.Context) (bool, error) {
	f.pcre.once.Do(func() { f.pcre.ok, f.pcre.err = f.probePCRE(ctx) })
	return f.pcre.ok, f.pcre.err
}

func (f *Factory) probePCRE(ctx context.Context) (bool, error) {
	dir, err := os.MkdirTemp("", "strata-pcre-probe-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if err := f.Run(ctx, dir, Command{Name: "init", Flags: []string{"-q", "--bare", dir}}); err != nil {
		return false, err
	}
	err = f.Run(ctx, dir, Command{Name: "grep", Flags: []string{"-P", "-e", "(?=x)x"}, Args: []string{string(EmptyTreeOID)}})
	var ce *CommandError
	switch {
	case errors.As(err, &ce) && ce.ExitCode == 1:
		return true, nil
	case errors.As(err, &ce) && IsNoPCRE(ce.Stderr):
		return false, nil
	case err == nil:
		return false, errors.New("probe git grep -P: the empty tree matched")
	}
	return false, err
}

// IsNoPCRE recognises git's complaint that it was built without PCRE.
func IsNoPCRE(stderr string) bool {
	return strings.Contains(stderr, "Perl-compatible") || strings.Contains(stderr, "USE_LIBPCRE")
}
