package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// Signature is an author or committer line.
type Signature struct {
	Name  string
	Email string
	When  time.Time
}

// Commit is a parsed commit object.
type Commit struct {
	OID       git.ObjectID
	Tree      git.ObjectID
	Parents   []git.ObjectID
	Author    Signature
	Committer Signature
	Message   string
	// Signature is the gpgsig header (OpenPGP or SSH armor) with git's
	// continuation indentation removed; Payload is the commit object without
	// that header, i.e. exactly the bytes the signature covers.
	Signature string
	Payload   string
}

// maxCommitSize bounds how much of a commit object is read into memory.
const maxCommitSize = 16 << 20

// ReadCommit reads the commit rev resolves to in namespace ns.
func (r *Repo) ReadCommit(ctx context.Context, ns git.Namespace, rev string) (*Commit, error) {
	oid, err := r.ResolveCommit(ctx, ns, rev)
	if err != nil {
		return nil, err
	}
	return r.readCommitOID(ctx, oid)
}

func (r *Repo) readCommitOID(ctx context.Context, oid git.ObjectID) (*Commit, error) {
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return readCommitWith(ctx, rd, oid)
}

func readCommitWith(ctx context.Context, rd *catfile.Reader, oid git.ObjectID) (*Commit, error) {
	info, data, err := rd.ReadObject(ctx, string(oid), maxCommitSize)
	if errors.Is(err, catfile.ErrNotFound) {
		return nil, notFound("commit", string(oid))
	}
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", oid, err)
	}
	if info.Type != git.CommitObject {
		return nil, notFound("commit", string(oid))
	}
	c, err := ParseCommit(info.OID, data)
	if err != nil {
		return nil, fmt.Errorf("parse commit %s: %w", oid, err)
	}
	return c, nil
}

// ParseCommit parses a raw commit object.
func ParseCommit(oid git.ObjectID, data []byte) (*Commit, error) {
	c := &Commit{OID: oid}
	headerEnd := bytes.Index(data, []byte("\n\n"))
	var header []byte
	if headerEnd < 0 {
		header = data
	} else {
		header = data[:headerEnd]
		c.Message = string(data[headerEnd+2:])
	}
	lines := strings.Split(string(header), "\n")
	var payload strings.Builder
	sigKeys := map[string]bool{"gpgsig": true, "gpgsig-sha256": true}
	inSig := false
	var sig strings.Builder
	for _, line := range lines {
		if strings.HasPrefix(line, " ") {
			if inSig {
				sig.WriteString("\n")
				sig.WriteString(line[1:])
			} else {
				payload.WriteString(line + "\n")
			}
			continue
		}
		inSig = false
		key, val, _ := strings.Cut(line, " ")
		if sigKeys[key] && c.Signature == "" {
			inSig = true
			sig.WriteString(val)
			continue
		}
		payload.WriteString(line + "\n")
		switch key {
		case "tree":
			c.Tree = git.ObjectID(val)
		case "parent":
			c.Parents = append(c.Parents, git.ObjectID(val))
		case "author":
			c.Author = parseSignature(val)
		case "committer":
			c.Committer = parseSignature(val)
		}
	}
	if c.Tree == "" {
		return nil, errors.New("commit has no tree")
	}
	if sig.Len() > 0 {
		c.Signature = sig.String()
		if !strings.HasSuffix(c.Signature, "\n") {
			c.Signature += "\n"
		}
		payload.WriteString("\n")
		payload.WriteString(c.Message)
		c.Payload = payload.String()
	}
	return c, nil
}

// parseSignature reads "Name <email> 1700000000 +0100".
func parseSignature(s string) Signature {
	lt := strings.IndexByte(s, '<')
	gt := strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		return Signature{Name: strings.TrimSpace(s)}
	}
	return signatureAt(strings.TrimSpace(s[:lt]), s[lt+1:gt], s[gt+1:])
}

func parseZone(z string) *time.Location {
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return time.UTC
	}
	h, err1 := strconv.Atoi(z[1:3])
	m, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil {
		return time.UTC
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone(z, off)
}

// logFormat prints the fields of a commit NUL-separated; with -z each
// record also ends in NUL, so the output is logFields tokens per commit.
// %B is the message as stored (re-encoded to UTF-8 when the commit names
// another encoding). --date=raw gives "<unix seconds> <zone>".
const (
	logFormat = "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%B"
	logFields = 10
)

// parseLog splits `git log -z` output in logFormat into commits.
func parseLog(out []byte) ([]*Commit, error) {
	var commits []*Commit
	var f [logFields]string
	for len(out) > 0 {
		for i := range f {
			end := bytes.IndexByte(out, 0)
			if end < 0 {
				if i == logFields-1 {
					end = len(out) // the last record may lack its terminator
				} else {
					return nil, fmt.Errorf("truncated log record (%d fields)", i)
				}
			}
			f[i] = string(out[:end])
			out = out[min(end+1, len(out)):]
		}
		c, err := logRecord(f)
		if err != nil {
			return nil, err
		}
		commits = append(commits, c)
	}
	return commits, nil
}

// logRecord builds a commit from one logFormat record.
func logRecord(f [logFields]string) (*Commit, error) {
	if !git.IsFullHex(f[0]) {
		return nil, fmt.Errorf("malformed log record %.60q", f[0])
	}
	c := &Commit{
		OID:       git.ObjectID(f[0]),
		Tree:      git.ObjectID(f[1]),
		Author:    signatureAt(f[3], f[4], f[5]),
		Committer: signatureAt(f[6], f[7], f[8]),
		Message:   f[9],
	}
	for _, p := range strings.Fields(f[2]) {
		c.Parents = append(c.Parents, git.ObjectID(p))
	}
	return c, nil
}

// signatureAt builds a Signature from a name, an email and a raw date
// ("1700000000 +0100"; without a zone, UTC).
func signatureAt(name, email, date string) Signature {
	sig := Signature{Name: name, Email: email}
	f := strings.Fields(date)
	if len(f) == 0 {
		return sig
	}
	if sec, err := strconv.ParseInt(f[0], 10, 64); err == nil {
		loc := time.UTC
		if len(f) >= 2 {
			loc = parseZone(f[1])
		}
		sig.When = time.Unix(sec, 0).In(loc)
	}
	return sig
}
