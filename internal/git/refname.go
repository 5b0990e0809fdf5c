package git

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidRefName reports a name git would refuse as a reference.
var ErrInvalidRefName = errors.New("invalid ref name")

// RefNameError says which name was refused and why. It matches
// ErrInvalidRefName with errors.Is.
type RefNameError struct {
	Kind   string // "ref", "branch" or "tag"
	Name   string // as the caller gave it
	Reason string
}

func (e *RefNameError) Error() string {
	return fmt.Sprintf("invalid %s name %s: %s", e.Kind, quoteTrunc(e.Name, 200), e.Reason)
}

// Is makes errors.Is(err, ErrInvalidRefName) true.
func (e *RefNameError) Is(target error) bool { return target == ErrInvalidRefName }

// CheckRefFormat accepts exactly the full reference names (e.g.
// "refs/heads/x") that `git check-ref-format <name>` accepts: at least two
// components (no --allow-onelevel), no --normalize, no --refspec-pattern.
// The rules are git-check-ref-format(1)'s, applied byte-wise as
// refs.c:check_refname_component does (bytes >= 0x80 are allowed).
func CheckRefFormat(name string) error {
	if why := refFormatReason(name); why != "" {
		return &RefNameError{Kind: "ref", Name: name, Reason: why}
	}
	return nil
}

// ValidateBranchName checks a short branch name: refs/heads/<branch> must be
// a valid ref, and, like `git check-ref-format --branch` and `git branch`,
// the name must not start with '-' (it would read as an option) or be "HEAD"
// or "@". It is the one rule for creating and for reading branches, so it
// also refuses names that would not read back as the branch: a name
// starting with "refs/" is taken as a full ref name by every reader
// (refs/heads/refs/tags/v9 would read as the tag v9).
func ValidateBranchName(branch string) error {
	why := shortNameReason(branch)
	if why == "" {
		why = refFormatReason("refs/heads/" + branch)
	}
	if why != "" {
		return &RefNameError{Kind: "branch", Name: branch, Reason: why}
	}
	return nil
}

// ValidateTagName checks a short tag name by the branch name rules:
// refs/tags/<tag> must be a valid ref, and the name must not start with '-'
// or "refs/", or be "HEAD" or "@".
func ValidateTagName(tag string) error {
	why := shortNameReason(tag)
	if why == "" {
		why = refFormatReason("refs/tags/" + tag)
	}
	if why != "" {
		return &RefNameError{Kind: "tag", Name: tag, Reason: why}
	}
	return nil
}

// shortNameReason returns why a short branch or tag name is refused before
// git's ref-name rules apply, or "". "HEAD" and "@" (git's shorthand for
// HEAD) would make every clone warn "refname is ambiguous".
func shortNameReason(name string) string {
	switch {
	case name == "":
		return "empty"
	case strings.HasPrefix(name, "-"):
		return "starts with '-'"
	case name == "HEAD" || name == "@":
		return fmt.Sprintf("%q is reserved", name)
	case strings.HasPrefix(name, "refs/"):
		return `starts with "refs/" (it would read as a full ref name)`
	}
	return ""
}

// refFormatReason returns why name fails git's ref-name rules, or "".
// The checks follow the order of refs.c so the reasons are stable, but only
// acceptance has to match git.
func refFormatReason(name string) string {
	if name == "" {
		return "empty"
	}
	if name == "@" {
		return `is "@"`
	}
	components := 0
	for rest := name; ; {
		comp, tail, more := strings.Cut(rest, "/")
		if why := refComponentReason(comp); why != "" {
			return why
		}
		components++
		if !more {
			break
		}
		rest = tail
	}
	if strings.HasSuffix(name, ".") {
		return "ends with '.'"
	}
	if components < 2 {
		return "has only one component (needs a '/')"
	}
	return ""
}

// refComponentReason checks one '/'-separated component.
func refComponentReason(c string) string {
	if c == "" {
		return "empty component (leading, trailing or double '/')"
	}
	var last byte
	for i := 0; i < len(c); i++ {
		ch := c[i]
		switch {
		case ch < 0x20 || ch == 0x7f:
			return fmt.Sprintf("control character %q", ch)
		case ch == ' ', ch == '~', ch == '^', ch == ':', ch == '?', ch == '*', ch == '[', ch == '\\':
			return fmt.Sprintf("forbidden character %q", ch)
		case ch == '.' && last == '.':
			return `contains ".."`
		case ch == '{' && last == '@':
			return `contains "@{"`
		}
		last = ch
	}
	if c[0] == '.' {
		return "component starts with '.'"
	}
	if strings.HasSuffix(c, ".lock") {
		return `component ends with ".lock"`
	}
	return ""
}
