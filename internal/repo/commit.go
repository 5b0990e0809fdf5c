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
	var sig Signature
	lt := strings.IndexByte(s, '<')
	gt := strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		sig.Name = strings.TrimSpace(s)
		return sig
	}
	sig.Name = strings.TrimSpace(s[:lt])
	sig.Email = s[lt+1 : gt]
	f := strings.Fields(s[gt+1:])
	if len(f) >= 1 {
		if sec, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			loc := time.UTC
			if len(f) >= 2 {
				loc = parseZone(f[1])
			}
			sig.When = time.Unix(sec, 0).In(loc)
		}
	}
	return sig
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

// LogOptions select a page of history.
type LogOptions struct {
	Path  string // only commits touching this file or subtree ("" = all)
	Skip  int
	Limit int
}

// Log returns up to opt.Limit commits reachable from tip, newest first
// (git log order), and whether more follow. The walk runs in git
// (rev-list handles path simplification); objects come from the pool.
func (r *Repo) Log(ctx context.Context, tip git.ObjectID, opt LogOptions) ([]*Commit, bool, error) {
	cmd := git.Command{
		Name:  "rev-list",
		Flags: []string{"--max-count=" + strconv.Itoa(opt.Limit+1), "--skip=" + strconv.Itoa(opt.Skip)},
		Args:  []string{string(tip)},
	}
	if opt.Path != "" {
		cmd.PostSep = []string{git.LiteralPathspec(opt.Path)}
	}
	out, err := r.git.Output(ctx, r.path, cmd)
	if err != nil {
		return nil, false, fmt.Errorf("walk history of %s: %w", tip, err)
	}
	ids := strings.Fields(string(out))
	more := len(ids) > opt.Limit
	if more {
		ids = ids[:opt.Limit]
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, false, err
	}
	defer release()
	commits := make([]*Commit, 0, len(ids))
	for _, id := range ids {
		c, err := readCommitWith(ctx, rd, git.ObjectID(id))
		if err != nil {
			return nil, false, err
		}
		commits = append(commits, c)
	}
	return commits, more, nil
}
