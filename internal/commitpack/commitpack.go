// Package commitpack decodes the request bodies of the commit endpoints
// (spec §5.6–5.8): the NDJSON streams of POST /repos/commit-pack and
// /repos/diff-commit, and the single JSON object of /repos/restore-commit.
//
// A commit-pack stream is one metadata line followed by blob chunks:
//
//	{"metadata":{"target_branch":"main","commit_message":"m","author":{...},"files":[...]}}
//	{"blob_chunk":{"content_id":"<id>","data":"<base64, ≤ 4 MiB decoded>","eof":true}}
//
// A diff-commit stream has the same metadata line without "files", followed
// by {"diff_chunk":{"data":...,"eof":...}} lines.
//
// The package knows nothing about git objects or HTTP. Blob bytes go to a
// caller-provided sink as each chunk arrives, so memory stays bounded by one
// line buffer (≤ the line limit) plus one decoded chunk (≤ MaxChunk) whatever
// the size of the files. Mistakes in the stream are *Error values, which the
// HTTP layer maps to 400 with result.status "invalid"; anything else (a read
// error from the body, a sink failure) is returned as is, wrapped with context.
package commitpack

import (
	"fmt"
	"unicode/utf8"
)

const (
	// MaxChunk is the most decoded bytes one blob or diff chunk may carry.
	MaxChunk = 4 << 20
	// DefaultMaxLine is the default line limit. A 4 MiB chunk is 5 592 408
	// base64 characters plus JSON; the spec requires accepting ≥ 6 MiB.
	DefaultMaxLine = 8 << 20
)

// Error is a client mistake in the request body. Its message is safe to
// return to the client.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Signature is an author or committer identity as sent by the client.
type Signature struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// The file operations of a commit-pack entry.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// FileOp is one validated entry of the metadata's "files" array.
type FileOp struct {
	// Path is normalised by git.CleanPath.
	Path string
	// ContentID links blob chunks to an upsert; unique among upserts. It may
	// be empty on a delete.
	ContentID string
	// Operation is OpUpsert or OpDelete (absent on the wire means upsert).
	Operation string
	// Mode is "100644" (default), "100755", "120000" or "160000" for upserts
	// and "" for deletes.
	Mode string
}

// Metadata is the validated first line of a commit-pack or diff-commit
// stream. Newer spellings (spec §10.2) are folded into the fields here:
// expected_target_sha → ExpectedHeadSHA, target_is_ephemeral → Ephemeral,
// base_is_ephemeral → EphemeralBase.
type Metadata struct {
	// TargetBranch is a short branch name; a leading "refs/heads/" sent by
	// the client has been stripped.
	TargetBranch string
	// CommitMessage is as sent; it is non-empty after trimming.
	CommitMessage string
	// Author has trimmed, non-empty fields.
	Author Signature
	// Committer is nil when absent (the author commits); otherwise its
	// fields are trimmed and non-empty.
	Committer *Signature
	// Files is the commit-pack change list (empty when absent; always nil
	// for diff-commit, where a "files" key is ignored).
	Files []FileOp
	// ExpectedHeadSHA is "" or 40 lowercase hex digits.
	ExpectedHeadSHA string
	// BaseBranch is "" or a short branch name.
	BaseBranch string
	// Ephemeral selects the ephemeral namespace for the target branch,
	// EphemeralBase for the base branch (which it requires).
	Ephemeral, EphemeralBase bool
}

// quote quotes client-supplied text for an error message, cut so a hostile
// body can't make the message (and the log line) megabytes long.
func quote(s string) string {
	const n = 128
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
