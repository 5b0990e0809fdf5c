package odb

import (
	"fmt"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// Tag is the content of an annotated tag object.
type Tag struct {
	// Object is what the tag points at, and Type that object's type.
	Object git.ObjectID
	Type   git.ObjectType
	// Name is the tag's short name ("v1.0"). Only newline and NUL are
	// refused here; ref-name rules belong to whoever creates the ref.
	Name   string
	Tagger Signature
	// Message is written as given, plus a final "\n" when it is non-empty
	// and lacks one. It may not contain NUL.
	Message string
}

// EncodeTag returns the tag object content for t, laid out as `git tag -a`
// writes it. Invalid fields fail with ErrInvalidObject.
func EncodeTag(t Tag) ([]byte, error) {
	if err := checkID("tag object", t.Object); err != nil {
		return nil, err
	}
	if !validType(t.Type) {
		return nil, fmt.Errorf("%w: tag object type %s", ErrInvalidObject, quoteTrunc(string(t.Type)))
	}
	if t.Name == "" || strings.ContainsAny(t.Name, "\n\x00") {
		return nil, fmt.Errorf("%w: tag name %s", ErrInvalidObject, quoteTrunc(t.Name))
	}
	if strings.IndexByte(t.Message, 0) >= 0 {
		return nil, fmt.Errorf("%w: tag message contains NUL", ErrInvalidObject)
	}
	buf := make([]byte, 0, 256+len(t.Message))
	buf = append(buf, "object "...)
	buf = append(buf, t.Object...)
	buf = append(buf, "\ntype "...)
	buf = append(buf, t.Type...)
	buf = append(buf, "\ntag "...)
	buf = append(buf, t.Name...)
	buf = append(buf, '\n')
	buf, err := t.Tagger.appendTo(buf, "tagger")
	if err != nil {
		return nil, err
	}
	return appendMessage(buf, t.Message), nil
}
