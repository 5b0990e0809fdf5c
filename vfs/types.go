package vfs

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Signature is the author and committer of every commit a Store makes.
type Signature struct{ Name, Email string }

// FileType is the kind of a tree entry.
type FileType string

// The four entry kinds gitstore knows; git modes 100644, 100755, 120000
// and 040000.
const (
	Blob       FileType = "blob"
	Executable FileType = "executable"
	Link       FileType = "link"
	Tree       FileType = "tree"
)

// Mode is t's git file mode (0 for an unknown type).
func (t FileType) Mode() uint32 {
	switch t {
	case Blob:
		return 0o100644
	case Executable:
		return 0o100755
	case Link:
		return 0o120000
	case Tree:
		return 0o040000
	}
	return 0
}

// gitMode is t's mode as tree objects spell it.
func (t FileType) gitMode() string {
	switch t {
	case Executable:
		return "100755"
	case Link:
		return "120000"
	case Tree:
		return "40000"
	}
	return "100644"
}

func (t FileType) String() string { return string(t) }

// FileTypeOf maps a git file mode to its type; gitlinks and other modes
// are an error wrapping ErrInvalid.
func FileTypeOf(mode uint32) (FileType, error) {
	switch mode {
	case 0o100644:
		return Blob, nil
	case 0o100755:
		return Executable, nil
	case 0o120000:
		return Link, nil
	case 0o040000:
		return Tree, nil
	}
	return "", errorf(ErrInvalid, "unsupported file mode %o", mode)
}

// fileTypeOfGit maps a tree entry's mode string.
func fileTypeOfGit(mode string) (FileType, bool) {
	switch mode {
	case "100644", "100664":
		return Blob, true
	case "100755":
		return Executable, true
	case "120000":
		return Link, true
	case "40000", "040000":
		return Tree, true
	}
	return "", false
}

// checkWriteType validates a mode given to a write; "" means Blob.
func checkWriteType(t FileType) (FileType, error) {
	switch t {
	case "":
		return Blob, nil
	case Blob, Executable, Link:
		return t, nil
	}
	return "", errorf(ErrInvalid, "invalid file mode for a write: %q", string(t))
}

// FileEntry is one file of a ChangeReport. Src is the file it came from
// (a local path or repository path) when there is one.
type FileEntry struct {
	Path string
	Type FileType
	Src  string
}

// ChangeError is a path that failed or was skipped, with why.
type ChangeError struct{ Path, Error string }

// ChangeReport is what a write changed (or, after a dry run, would change).
type ChangeReport struct {
	Add, Update, Delete []FileEntry
	Errors, Warnings    []ChangeError
}

// InSync reports whether nothing was added, updated or deleted (errors and
// warnings do not count).
func (c *ChangeReport) InSync() bool { return c == nil || c.Total() == 0 }

// Total is the number of added, updated and deleted files.
func (c *ChangeReport) Total() int {
	if c == nil {
		return 0
	}
	return len(c.Add) + len(c.Update) + len(c.Delete)
}

// ChangeAction is one path of a ChangeReport and what happened to it:
// "add", "update" or "delete".
type ChangeAction struct{ Path, Action string }

// Actions lists every change sorted by path.
func (c *ChangeReport) Actions() []ChangeAction {
	if c == nil {
		return nil
	}
	var out []ChangeAction
	for _, e := range c.Add {
		out = append(out, ChangeAction{e.Path, "add"})
	}
	for _, e := range c.Update {
		out = append(out, ChangeAction{e.Path, "update"})
	}
	for _, e := range c.Delete {
		out = append(out, ChangeAction{e.Path, "delete"})
	}
	slices.SortStableFunc(out, func(a, b ChangeAction) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// finalized turns an empty report into nil, as gitstore does.
func (c *ChangeReport) finalized() *ChangeReport {
	if c == nil || (c.Total() == 0 && len(c.Errors) == 0 && len(c.Warnings) == 0) {
		return nil
	}
	return c
}

// ReflogEntry is one line of a branch's reflog.
type ReflogEntry struct {
	Old, New  string
	Committer string // "Name <email>"
	Time      time.Time
	Message   string
}

// WriteOptions configure a single-file write.
type WriteOptions struct {
	// Message is the commit message; "" generates one. With "{", the
	// placeholders {default}, {add_count}, {update_count}, {delete_count},
	// {total_count} and {op} are substituted ("{{" and "}}" escape braces).
	Message string
	// Mode is the stored type; "" means Blob (WriteFromFile: detected
	// from the file's executable bits).
	Mode FileType
}

// WriteEntry is one write of Apply: exactly one of Data and Target (a
// symlink's target) is set.
type WriteEntry struct {
	Data   []byte
	Target string
	Mode   FileType
}

func (e WriteEntry) check() error {
	switch {
	case e.Data != nil && e.Target != "":
		return errorf(ErrInvalid, "Cannot specify both data and target")
	case e.Data == nil && e.Target == "":
		return errorf(ErrInvalid, "Must specify either data or target")
	case e.Target != "" && e.Mode != "" && e.Mode != Link:
		return errorf(ErrInvalid, "Cannot specify mode for symlinks")
	}
	return nil
}

// ApplyOptions configure Apply; Operation names the operation in the
// automatic message ("Batch <op>: …").
type ApplyOptions struct{ Message, Operation string }

// RemoveOptions configure Remove.
type RemoveOptions struct {
	Recursive, DryRun bool
	Message           string
}

// MoveOptions configure Move.
type MoveOptions struct {
	Recursive, DryRun bool
	Message           string
}

// CopyRefOptions configure CopyRef.
type CopyRefOptions struct {
	Delete, DryRun bool
	Message        string
}

// BatchOptions configure a Batch.
type BatchOptions struct{ Message, Operation string }

// LogOptions filter Log; the zero value keeps every commit.
type LogOptions struct {
	Path   string    // only commits that changed the entry at Path (content or mode)
	Match  string    // fnmatch pattern over the whole message ("*" crosses newlines)
	Before time.Time // skip commits newer than Before
}

func (t FileType) suffix() string {
	switch t {
	case Executable, Link:
		return fmt.Sprintf(" (%s)", t)
	}
	return ""
}
