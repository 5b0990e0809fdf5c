package vfs

import (
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// cleanPath normalises a path inside a snapshot: leading and trailing "/"
// are stripped and "." segments collapse (as gitstore does since v0.68.3;
// v0.57 refused them). ".." and empty segments ("a//b") are refused, since
// they would name something the caller did not write. "" is the root.
func cleanPath(op, p string) (string, error) {
	s := strings.Trim(p, "/")
	if s == "" {
		return "", nil
	}
	if !strings.Contains(s, "/") && s != "." && s != ".." {
		return s, nil // the common case, with nothing to rewrite
	}
	parts := strings.Split(s, "/")
	out := parts[:0]
	for _, seg := range parts {
		switch seg {
		case "":
			return "", pathErr(op, p, errorf(ErrInvalid, "Empty segment in path: '%s'", p))
		case ".":
			continue
		case "..":
			return "", pathErr(op, p, errorf(ErrInvalid, "Invalid path segment: '..'"))
		}
		out = append(out, seg)
	}
	return strings.Join(out, "/"), nil
}

// cleanFilePath is cleanPath for a path that must name an entry, not the
// root.
func cleanFilePath(op, p string) (string, error) {
	s, err := cleanPath(op, p)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", pathErr(op, p, errorf(ErrInvalid, "Path must not be empty"))
	}
	return s, nil
}

// cleanWritePath is cleanFilePath plus the rules git applies to what it
// checks out (no ".git" by any spelling, no NUL or newline, length limits),
// so nothing a Store writes can be refused by git fsck or a clone.
func cleanWritePath(op, p string) (string, error) {
	s, err := cleanFilePath(op, p)
	if err != nil {
		return "", err
	}
	if _, err := git.CleanPath(s); err != nil {
		return "", pathErr(op, p, errorf(ErrInvalid, "%v", err))
	}
	return s, nil
}

// joinPath joins a directory ("" = root) and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	if name == "" {
		return dir
	}
	return dir + "/" + name
}

// splitPath splits a path into its directory ("" = root) and base name.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}
