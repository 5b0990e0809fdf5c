package vfscli

import (
	"strconv"
	"strings"
)

// refPath is one command-line path argument, parsed by parseRefPath:
// `[ref[~N]]:path` names a path in the repository, anything else a local
// path.
type refPath struct {
	Repo bool   // false: a local path, kept whole in Path
	Ref  string // "" = not given: --ref, -b or the current branch decides
	Back int    // the ~N suffix: walk N first parents back
	Path string // the text after the first colon, not yet normalised
}

// explicit reports whether the argument names its own ref (`dev:x`); a bare
// `:x` or `~2:x` takes the ref from the flags.
func (r refPath) explicit() bool { return r.Repo && r.Ref != "" }

// parseRefPath applies the checklist's rules (§3) in order, looking only at
// the first colon:
//  1. no colon: local;
//  2. a leading colon: the current branch;
//  3. one letter, a colon and a slash or backslash: a Windows drive (local);
//  4. a slash or backslash before the colon: local (so `./a:b` stays a file,
//     and refs containing `/` can't be written this way);
//  5. otherwise `ref:path`, where the last `~` of the ref splits off N.
func parseRefPath(arg string) (refPath, error) {
	i := strings.IndexByte(arg, ':')
	switch {
	case i < 0:
		return refPath{Path: arg}, nil
	case i == 0:
		return refPath{Repo: true, Path: arg[1:]}, nil
	case i == 1 && isLetter(arg[0]) && len(arg) > 2 && (arg[2] == '/' || arg[2] == '\\'):
		return refPath{Path: arg}, nil
	case strings.ContainsAny(arg[:i], `/\`):
		return refPath{Path: arg}, nil
	}
	ref, path := arg[:i], arg[i+1:]
	back := 0
	if j := strings.LastIndexByte(ref, '~'); j >= 0 {
		suffix := ref[j+1:]
		n, err := strconv.Atoi(suffix)
		if suffix == "" || !allDigits(suffix) || err != nil {
			return refPath{}, failf("Invalid ancestor suffix '~%s' — must be a positive integer", suffix)
		}
		ref = ref[:j]
		if n == 0 {
			return refPath{}, failf("Invalid ancestor '~%s' — use '%s:path' instead", suffix, ref)
		}
		back = n
	}
	return refPath{Repo: true, Ref: ref, Back: back, Path: path}, nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseRepoArg parses an argument of a command where the colon is optional
// (ls, cat, rm, write): a bare `x` is the repository path `x`. `ref:path`
// still works because rule 5 applies whenever no slash precedes the colon.
func parseRepoArg(arg string) (refPath, error) {
	rp, err := parseRefPath(arg)
	if err != nil {
		return rp, err
	}
	rp.Repo = true
	return rp, nil
}

// parseArgs parses every argument with parse, in order; the first error
// stops it.
func parseArgs(args []string, parse func(string) (refPath, error)) ([]refPath, error) {
	rps := make([]refPath, len(args))
	for i, arg := range args {
		rp, err := parse(arg)
		if err != nil {
			return nil, err
		}
		rps[i] = rp
	}
	return rps, nil
}

// repoPaths is the paths of rps, not yet normalised.
func repoPaths(rps []refPath) []string {
	out := make([]string, len(rps))
	for i, rp := range rps {
		out[i] = rp.Path
	}
	return out
}

// normRepoPath normalises a repository path as the library does: leading
// and trailing slashes go, `.` segments collapse, "" is the root; `..` and
// empty segments are refused, worded as gitstore's CLI words them.
func normRepoPath(p string) (string, error) {
	t := strings.Trim(p, "/")
	if t == "" {
		return "", nil
	}
	var out []string
	for _, seg := range strings.Split(t, "/") {
		switch seg {
		case "":
			return "", failf("Invalid repo path: Empty segment in path: '%s'", p)
		case ".":
			continue
		case "..":
			return "", failf("Invalid repo path: Invalid path segment: '..'")
		}
		out = append(out, seg)
	}
	return strings.Join(out, "/"), nil
}

// normFilePath is normRepoPath where a file is required: the root is an
// error.
func normFilePath(p string) (string, error) {
	n, err := normRepoPath(p)
	if err == nil && n == "" {
		return "", failf("Repo path must not be empty")
	}
	return n, err
}

// hasTrailingSlash reports the rsync-style "contents of" marker on a
// source, or "move into" on an mv destination.
func hasTrailingSlash(p string) bool { return strings.HasSuffix(p, "/") }

// isGlob reports whether a source is expanded as a pattern: only `*` and
// `?` make it one, so a literal `[` in a name needs no escaping.
func isGlob(p string) bool { return strings.ContainsAny(p, "*?") }
