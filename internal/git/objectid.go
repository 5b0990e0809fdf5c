package git

import (
	"errors"
	"fmt"
)

// ObjectID is a full lowercase hex object name (SHA-1 repositories: 40 chars).
type ObjectID string

const (
	// ZeroOID is git's "no object": an absent ref's old value, a deleted ref's new value.
	ZeroOID ObjectID = "0000000000000000000000000000000000000000"
	// EmptyTreeOID is the id of the tree with no entries.
	EmptyTreeOID ObjectID = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	// HexLen is the length of a SHA-1 object id in hex.
	HexLen = 40
)

// ErrInvalidObjectID reports a string that is not a full hex object id.
var ErrInvalidObjectID = errors.New("invalid object id")

// NewObjectID validates s as a full lowercase hex object id.
func NewObjectID(s string) (ObjectID, error) {
	if !IsFullHex(s) {
		return "", fmt.Errorf("%w: %q", ErrInvalidObjectID, s)
	}
	return ObjectID(s), nil
}

// IsFullHex reports whether s is 40 lowercase hex digits.
func IsFullHex(s string) bool {
	if len(s) != HexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IsZero reports whether id is the zero id (or empty).
func (id ObjectID) IsZero() bool { return id == "" || id == ZeroOID }

// String returns the hex form.
func (id ObjectID) String() string { return string(id) }

// Short returns the first 7 characters, as git abbreviates by default.
func (id ObjectID) Short() string {
	if len(id) < 7 {
		return string(id)
	}
	return string(id[:7])
}

// ObjectType is the type of a git object.
type ObjectType string

// The four object types.
const (
	BlobObject   ObjectType = "blob"
	TreeObject   ObjectType = "tree"
	CommitObject ObjectType = "commit"
	TagObject    ObjectType = "tag"
)
