package catfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/strata-storage/strata/internal/git"
)

// maxRevLen bounds a revision so git's echo of it in a "missing" reply
// always fits the stdout buffer (paths are at most PATH_MAX anyway).
const maxRevLen = 16 << 10

// maxDrain is how much of an unread object Close reads and discards to keep
// the process; beyond it, killing the process and starting another is cheaper.
const maxDrain = 1 << 20

var (
	// ErrNotFound matches (errors.Is) every NotFoundError.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidRevision is a revision that can't be sent to cat-file.
	ErrInvalidRevision = errors.New("invalid revision")
	// ErrObjectTooLarge is an object bigger than ReadObject's limit.
	ErrObjectTooLarge = errors.New("object too large")

	errReleased = errors.New("catfile: reader used after release")
	errClosed   = errors.New("catfile: read from closed object")
)

// NotFoundError is a revision that names no object, or an abbreviated id
// that names more than one (Ambiguous). Match it with errors.Is(err,
// ErrNotFound) or errors.As into a NotFoundError.
type NotFoundError struct {
	Revision  string
	Ambiguous bool
}

func (e NotFoundError) Error() string {
	if e.Ambiguous {
		return "object not found: " + e.Revision + " (ambiguous short object id)"
	}
	return "object not found: " + e.Revision
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ObjectInfo is what cat-file reports about an object.
type ObjectInfo struct {
	OID  git.ObjectID
	Type git.ObjectType
	Size int64
}

// Reader is one checked-out cat-file process. It is not safe for concurrent
// use, and at most one Object may be open at a time: finish or Close it
// before the next request.
type Reader struct {
	proc     *process
	obj      *Object // the open object, until its last byte and trailing LF are read
	dirty    bool    // the stream position is unknown: never reuse
	released bool
}

// Info resolves rev (an object id, a ref, or "<rev>:<path>") and returns its
// id, type and size without reading its contents. A missing object is a
// NotFoundError, and leaves the reader usable.
func (r *Reader) Info(ctx context.Context, rev string) (ObjectInfo, error) {
	if err := r.begin(ctx, rev); err != nil {
		return ObjectInfo{}, err
	}
	unwatch := r.watch(ctx)
	info, err := r.request(ctx, "info", rev)
	if unwatch() {
		return ObjectInfo{}, r.fail(ctx, context.Cause(ctx))
	}
	return info, err
}

// Object resolves rev and returns its contents as a stream of exactly Size
// bytes. The Object must be read to the end or closed before the Reader is
// used again or released (an abandoned one makes the Reader dirty). ctx
// covers the whole read: cancelling it kills the process and fails Read.
func (r *Reader) Object(ctx context.Context, rev string) (*Object, error) {
	if err := r.begin(ctx, rev); err != nil {
		return nil, err
	}
	unwatch := r.watch(ctx)
	info, err := r.request(ctx, "contents", rev)
	if err != nil {
		if unwatch() {
			return nil, r.fail(ctx, context.Cause(ctx))
		}
		return nil, err
	}
	o := &Object{ObjectInfo: info, r: r, ctx: ctx, unwatch: unwatch, remaining: info.Size}
	r.obj = o
	if o.remaining == 0 {
		if err := o.finish(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// ReadObject reads a whole object into memory: for commits, trees and tags,
// whose size the caller bounds with maxSize. A bigger object is not read
// (an ErrObjectTooLarge error, with its ObjectInfo); the Reader stays usable
// where draining it is cheap.
func (r *Reader) ReadObject(ctx context.Context, rev string, maxSize int64) (ObjectInfo, []byte, error) {
	o, err := r.Object(ctx, rev)
	if err != nil {
		return ObjectInfo{}, nil, err
	}
	if o.Size > maxSize {
		if err := o.Close(); err != nil {
			return o.ObjectInfo, nil, err
		}
		return o.ObjectInfo, nil, fmt.Errorf("catfile: %w: %s is %d bytes, limit %d", ErrObjectTooLarge, rev, o.Size, maxSize)
	}
	buf := make([]byte, o.Size)
	if _, err := io.ReadFull(o, buf); err != nil {
		_ = o.Close()
		return ObjectInfo{}, nil, err
	}
	// Read consumed the trailing LF along with the last byte, so this
	// Close has nothing left to drain.
	if err := o.Close(); err != nil {
		return ObjectInfo{}, nil, err
	}
	return o.ObjectInfo, buf, nil
}

// begin checks that a new request may be sent.
func (r *Reader) begin(ctx context.Context, rev string) error {
	switch {
	case r.released:
		return errReleased
	case r.dirty:
		return errors.New("catfile: reader is unusable after an earlier error")
	case r.obj != nil:
		return errors.New("catfile: previous object not read to the end or closed")
	}
	if err := validateRevision(rev); err != nil {
		return err
	}
	return ctx.Err()
}

// validateRevision rejects what would desync the line protocol: LF ends the
// command early, NUL truncates it inside git, and git strips a trailing CR,
// so its "missing" echo wouldn't match. Spaces are fine: the revision is
// the rest of the line.
func validateRevision(rev string) error {
	switch {
	case rev == "":
		return fmt.Errorf("catfile: %w: empty", ErrInvalidRevision)
	case len(rev) > maxRevLen:
		return fmt.Errorf("catfile: %w: longer than %d bytes", ErrInvalidRevision, maxRevLen)
	case strings.ContainsAny(rev, "\n\x00"):
		return fmt.Errorf("catfile: %w: %q contains a newline or NUL", ErrInvalidRevision, rev)
	case strings.HasSuffix(rev, "\r"):
		return fmt.Errorf("catfile: %w: %q ends with a carriage return", ErrInvalidRevision, rev)
	}
	return nil
}

// watch kills the process if ctx is cancelled before the returned func is
// called; that func reports whether the kill fired. Killing is the only way
// to unblock a goroutine stuck in a pipe read, and the process is dirty
// then anyway.
func (r *Reader) watch(ctx context.Context) (unwatch func() (fired bool)) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	stop := context.AfterFunc(ctx, r.proc.kill)
	return func() bool { return !stop() && ctx.Err() != nil }
}

// request sends one command and parses its header line.
func (r *Reader) request(ctx context.Context, cmd, rev string) (ObjectInfo, error) {
	p := r.proc
	line := append(p.line[:0], cmd...)
	line = append(line, ' ')
	line = append(line, rev...)
	line = append(line, '\n')
	p.line = line
	if _, err := p.stdin.Write(line); err != nil {
		return ObjectInfo{}, r.fail(ctx, err)
	}
	reply, err := p.stdout.ReadSlice('\n')
	if err != nil {
		return ObjectInfo{}, r.fail(ctx, err)
	}
	info, err := parseHeader(rev, reply[:len(reply)-1])
	if err != nil {
		var nf NotFoundError
		if !errors.As(err, &nf) {
			r.dirty = true
		}
		return ObjectInfo{}, err
	}
	return info, nil
}

// parseHeader parses "<oid> <type> <size>", "<rev> missing" or
// "<rev> ambiguous", strictly.
func parseHeader(rev string, line []byte) (ObjectInfo, error) {
	// Check the echoes first: a header can't end in a word, only in digits.
	if len(line) > len(rev) && string(line[:len(rev)]) == rev {
		switch string(line[len(rev):]) {
		case " missing":
			return ObjectInfo{}, NotFoundError{Revision: rev}
		case " ambiguous":
			return ObjectInfo{}, NotFoundError{Revision: rev, Ambiguous: true}
		}
	}
	bad := func() (ObjectInfo, error) {
		if len(line) > 200 {
			line = line[:200]
		}
		return ObjectInfo{}, fmt.Errorf("catfile: unexpected reply to %q: %q", rev, line)
	}
	if len(line) < git.HexLen+1 || line[git.HexLen] != ' ' {
		return bad()
	}
	oid := string(line[:git.HexLen])
	if !git.IsFullHex(oid) {
		return bad()
	}
	rest := line[git.HexLen+1:]
	sp := -1
	for i, b := range rest {
		if b == ' ' {
			sp = i
			break
		}
	}
	if sp < 0 {
		return bad()
	}
	var typ git.ObjectType
	switch string(rest[:sp]) {
	case "blob":
		typ = git.BlobObject
	case "tree":
		typ = git.TreeObject
	case "commit":
		typ = git.CommitObject
	case "tag":
		typ = git.TagObject
	default:
		return bad()
	}
	size, ok := parseSize(rest[sp+1:])
	if !ok {
		return bad()
	}
	return ObjectInfo{OID: git.ObjectID(oid), Type: typ, Size: size}, nil
}

// parseSize parses a non-empty run of decimal digits that fits an int64.
func parseSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 { // 18 digits always fit; no object is that big
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// fail marks the reader dirty and turns a pipe error into a useful one.
func (r *Reader) fail(ctx context.Context, err error) error {
	r.dirty = true
	if ctx.Err() != nil {
		// Our watch killed the process; the pipe error is only a symptom.
		return ctx.Err()
	}
	if r.proc.ctx.Err() != nil {
		return fmt.Errorf("catfile: git cat-file was stopped: %w", err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) {
		// cat-file died by itself (e.g. not a repository): its exit status
		// and stderr say why. It has exited, so reaping doesn't block.
		if werr := r.proc.reap(); werr != nil {
			return fmt.Errorf("catfile: %w", werr)
		}
		return errors.New("catfile: git cat-file exited unexpectedly")
	}
	return fmt.Errorf("catfile: %w", err)
}

// finishUse ends the Reader's use and reports whether its process can go
// back to the pool.
func (r *Reader) finishUse() bool {
	r.released = true
	if o := r.obj; o != nil {
		// Abandoned mid-object: the rest of it is still in the pipe.
		o.unwatchNow()
		r.obj = nil
		r.dirty = true
	}
	return !r.dirty && r.proc.ctx.Err() == nil
}

// Object streams one object's contents: exactly Size bytes, then io.EOF.
type Object struct {
	ObjectInfo

	r         *Reader
	ctx       context.Context
	unwatch   func() bool // nil once the watch is stopped
	remaining int64
	done      bool // contents and trailing LF consumed
	closed    bool
	err       error // sticky failure
}

// Read reads the contents. It returns ctx.Err() (the ctx given to Object)
// once that is cancelled.
func (o *Object) Read(p []byte) (int, error) {
	if err := o.check(); err != nil {
		return 0, err
	}
	if o.done {
		return 0, io.EOF
	}
	if err := o.interrupted(); err != nil {
		return 0, o.fail(err)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > o.remaining {
		p = p[:o.remaining]
	}
	n, err := o.r.proc.stdout.Read(p)
	o.remaining -= int64(n)
	if err != nil {
		return n, o.fail(noEOF(err))
	}
	if o.remaining == 0 {
		// Consume the LF now, so a caller that reads exactly Size bytes and
		// never sees io.EOF still leaves the reader clean.
		if err := o.finish(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// WriteTo copies the rest of the contents to w straight from the read
// buffer. A write error leaves the reader usable: Close drains the rest.
func (o *Object) WriteTo(w io.Writer) (int64, error) {
	if err := o.check(); err != nil {
		return 0, err
	}
	br := o.r.proc.stdout
	var written int64
	for o.remaining > 0 {
		if err := o.interrupted(); err != nil {
			return written, o.fail(err)
		}
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil { // fill the buffer
				return written, o.fail(noEOF(err))
			}
		}
		chunk, _ := br.Peek(int(min(int64(br.Buffered()), o.remaining)))
		n, err := w.Write(chunk)
		_, _ = br.Discard(n) // n bytes are buffered: can't fail
		o.remaining -= int64(n)
		written += int64(n)
		if err == nil && n < len(chunk) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return written, err
		}
	}
	if !o.done {
		if err := o.finish(); err != nil {
			return written, err
		}
	}
	return written, nil
}

// Close discards what is left of the contents so the reader can be reused,
// or, if more than 1 MiB is left, marks the reader dirty instead: killing
// the process is cheaper than reading it. Close after the end is free.
func (o *Object) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.done || o.err != nil || o.r.released {
		return nil
	}
	if o.remaining > maxDrain {
		o.unwatchNow()
		o.r.obj = nil
		o.r.dirty = true
		return nil
	}
	if err := o.interrupted(); err != nil {
		return o.fail(err)
	}
	n, err := o.r.proc.stdout.Discard(int(o.remaining))
	o.remaining -= int64(n)
	if err != nil {
		return o.fail(noEOF(err))
	}
	return o.finish()
}

// interrupted reports a cancelled request or a killed process before the
// next read, which could otherwise still be served from the buffer.
func (o *Object) interrupted() error {
	if err := o.ctx.Err(); err != nil {
		return err
	}
	if err := o.r.proc.ctx.Err(); err != nil {
		return err
	}
	return nil
}

func (o *Object) check() error {
	switch {
	case o.closed:
		return errClosed
	case o.err != nil:
		return o.err
	case o.r.released:
		return errReleased
	}
	return nil
}

// finish consumes the LF cat-file prints after the contents and ends the
// watch on ctx.
func (o *Object) finish() error {
	b, err := o.r.proc.stdout.ReadByte()
	if err != nil {
		return o.fail(noEOF(err))
	}
	if b != '\n' {
		return o.fail(fmt.Errorf("object %s not followed by a newline (got %q)", o.OID, b))
	}
	if o.unwatchNow() {
		return o.fail(context.Cause(o.ctx))
	}
	o.done = true
	o.r.obj = nil
	return nil
}

// unwatchNow stops the ctx watch and reports whether it had fired.
func (o *Object) unwatchNow() bool {
	if o.unwatch == nil {
		return false
	}
	fired := o.unwatch()
	o.unwatch = nil
	return fired
}

func (o *Object) fail(err error) error {
	o.unwatchNow()
	o.err = o.r.fail(o.ctx, err)
	return o.err
}

// noEOF: the stream ending before the object did is never a clean EOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
