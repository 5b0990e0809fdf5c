package odb

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/strata-storage/strata/internal/git"
)

// ErrInvalidObject reports content that is not a valid git object of its
// kind: a bad tree entry, identity or id. Callers map it to a client error.
var ErrInvalidObject = errors.New("invalid object")

// HashObject returns the id git gives data stored as an object of type typ
// (what `git hash-object -t typ` prints). It does not validate data.
func HashObject(typ git.ObjectType, data []byte) git.ObjectID {
	h := sha1.New()
	var hdr [32]byte
	h.Write(appendHeader(hdr[:0], typ, int64(len(data))))
	h.Write(data)
	return sumID(h.Sum(hdr[:0]))
}

// appendHeader appends the loose-object header "<type> <size>\x00".
func appendHeader(buf []byte, typ git.ObjectType, size int64) []byte {
	buf = append(buf, typ...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, size, 10)
	return append(buf, 0)
}

func sumID(sum []byte) git.ObjectID { return git.ObjectID(hex.EncodeToString(sum)) }

func validType(typ git.ObjectType) bool {
	switch typ {
	case git.BlobObject, git.TreeObject, git.CommitObject, git.TagObject:
		return true
	}
	return false
}

// checkID validates an id that an object refers to. The zero id is refused:
// git fsck reports a null sha1 in a tree, and a commit or tag pointing at it
// is broken.
func checkID(what string, id git.ObjectID) error {
	if !git.IsFullHex(string(id)) {
		return fmt.Errorf("%w: %s %s: not a full lowercase hex id", ErrInvalidObject, what, quoteTrunc(string(id)))
	}
	if id == git.ZeroOID {
		return fmt.Errorf("%w: %s is the zero id", ErrInvalidObject, what)
	}
	return nil
}

// quoteTrunc quotes s for an error message, cut so hostile input can't make
// the message (and the log line) huge.
func quoteTrunc(s string) string {
	const max = 100
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "..."
}
