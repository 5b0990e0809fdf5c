package odb

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// Signature is an author, committer or tagger line. It encodes as
// "Name <Email> <unix seconds> <+hhmm>", the offset taken from When's zone
// (seconds beyond whole minutes are dropped).
//
// Name must be non-empty; Name and Email may not contain '<', '>', '\n' or
// NUL. Unlike git it does not trim whitespace or punctuation: what is given
// is what is written. When may not be before 1970.
type Signature struct {
	Name  string
	Email string
	When  time.Time
}

func (s Signature) appendTo(buf []byte, role string) ([]byte, error) {
	if s.Name == "" {
		return nil, fmt.Errorf("%w: %s: empty name", ErrInvalidObject, role)
	}
	if strings.ContainsAny(s.Name, "<>\n\x00") {
		return nil, fmt.Errorf("%w: %s name %s: contains '<', '>', newline or NUL", ErrInvalidObject, role, quoteTrunc(s.Name))
	}
	if strings.ContainsAny(s.Email, "<>\n\x00") {
		return nil, fmt.Errorf("%w: %s email %s: contains '<', '>', newline or NUL", ErrInvalidObject, role, quoteTrunc(s.Email))
	}
	// git stores dates as unsigned seconds; fsck rejects a '-' here.
	unix := s.When.Unix()
	if unix < 0 {
		return nil, fmt.Errorf("%w: %s date %s is before 1970", ErrInvalidObject, role, s.When)
	}
	_, off := s.When.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	hh, mm := off/3600, off/60%60
	if hh > 99 {
		return nil, fmt.Errorf("%w: %s time zone offset out of range", ErrInvalidObject, role)
	}
	buf = append(buf, role...)
	buf = append(buf, ' ')
	buf = append(buf, s.Name...)
	buf = append(buf, " <"...)
	buf = append(buf, s.Email...)
	buf = append(buf, "> "...)
	buf = strconv.AppendInt(buf, unix, 10)
	buf = append(buf, ' ', sign, byte('0'+hh/10), byte('0'+hh%10), byte('0'+mm/10), byte('0'+mm%10), '\n')
	return buf, nil
}

// Commit is the content of a commit object.
type Commit struct {
	Tree      git.ObjectID
	Parents   []git.ObjectID
	Author    Signature
	Committer Signature
	// Message is written as given, plus a final "\n" when it is non-empty
	// and lacks one (as `git commit-tree -m` does). It may not contain NUL.
	Message string
}

// EncodeCommit returns the commit object content for c. Invalid ids or
// identities fail with ErrInvalidObject.
func EncodeCommit(c Commit) ([]byte, error) {
	if err := checkID("commit tree", c.Tree); err != nil {
		return nil, err
	}
	for _, p := range c.Parents {
		if err := checkID("commit parent", p); err != nil {
			return nil, err
		}
	}
	// git refuses a NUL in a log message: everything after it would be
	// invisible to tools that treat the message as a C string.
	if strings.IndexByte(c.Message, 0) >= 0 {
		return nil, fmt.Errorf("%w: commit message contains NUL", ErrInvalidObject)
	}
	buf := make([]byte, 0, 256+len(c.Message)+48*len(c.Parents))
	buf = append(buf, "tree "...)
	buf = append(buf, c.Tree...)
	buf = append(buf, '\n')
	for _, p := range c.Parents {
		buf = append(buf, "parent "...)
		buf = append(buf, p...)
		buf = append(buf, '\n')
	}
	var err error
	if buf, err = c.Author.appendTo(buf, "author"); err != nil {
		return nil, err
	}
	if buf, err = c.Committer.appendTo(buf, "committer"); err != nil {
		return nil, err
	}
	return appendMessage(buf, c.Message), nil
}

// appendMessage ends the header and appends msg, completing its last line.
func appendMessage(buf []byte, msg string) []byte {
	buf = append(buf, '\n')
	buf = append(buf, msg...)
	if msg != "" && !strings.HasSuffix(msg, "\n") {
		buf = append(buf, '\n')
	}
	return buf
}
