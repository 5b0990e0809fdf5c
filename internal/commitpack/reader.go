package commitpack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Envelope types: the single key of every line's object.
const (
	envMetadata  = "metadata"
	envBlobChunk = "blob_chunk"
	envDiffChunk = "diff_chunk"
)

// readBufSize is the bufio buffer; lines longer than it are assembled in
// Reader.line, so it bounds nothing but syscall sizes.
const readBufSize = 64 << 10

// BlobSink receives the content of one upserted file. Write gets the decoded
// bytes chunk by chunk, each at most MaxChunk; the Reader reuses the slice,
// so Write must not retain it (as io.Writer says). After the eof chunk the
// Reader calls Close; if the stream fails first, it calls Abort instead. A
// sink gets exactly one of Close or Abort and nothing after it; a sink whose
// Close fails cleans up itself.
type BlobSink interface {
	Write(p []byte) (int, error)
	Close() error
	Abort()
}

type readerState int

const (
	stateStart    readerState = iota // metadata not read yet
	stateBlobs                       // commit-pack metadata read
	stateDiff                        // diff-commit metadata read
	stateConsumed                    // Blobs or Diff ran (or metadata failed)
)

// Reader decodes one commit-pack or diff-commit request body. Call
// Metadata then Blobs (commit-pack), or DiffMetadata then Diff
// (diff-commit). It is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	maxLine int
	lineNo  int
	line    []byte // reused; cap ≤ maxLine+2
	eof     bool

	state readerState
	kind  readerState // stateBlobs or stateDiff once metadata is read
	meta  *Metadata
	err   error // sticky: the first failure

	chunk chunkJSON
}

// NewReader reads a stream from r. maxLine limits one line's length in bytes,
// excluding its line terminator; ≤ 0 means DefaultMaxLine. Values below
// 6 MiB make the reader refuse full 4 MiB chunks the spec says servers must
// take.
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, readBufSize), maxLine: maxLine}
}

// Metadata reads and validates the commit-pack metadata line: the first
// non-empty line, which must be {"metadata":{...}}. An absent "files" is an
// empty change list. Calling it again returns the same result.
func (r *Reader) Metadata() (*Metadata, error) { return r.readMetadata(stateBlobs) }

// DiffMetadata is Metadata for diff-commit streams: the same fields, except
// that a "files" key is ignored and Metadata.Files is nil.
func (r *Reader) DiffMetadata() (*Metadata, error) { return r.readMetadata(stateDiff) }

func (r *Reader) readMetadata(want readerState) (*Metadata, error) {
	if r.meta != nil || r.err != nil {
		if r.err == nil && r.kind != want {
			return nil, errors.New("commitpack: Metadata and DiffMetadata are exclusive")
		}
		return r.meta, r.err
	}
	r.state = stateConsumed
	line, err := r.nextLine()
	if err == io.EOF {
		return nil, r.fail(errorf("empty request body: the first line must be a metadata object"))
	}
	if err != nil {
		return nil, r.fail(err)
	}
	typ, value, err := r.envelope(line)
	if err != nil {
		return nil, r.fail(err)
	}
	if typ != envMetadata {
		return nil, r.fail(errorf("line %d: the first line must be a metadata object, got %s", r.lineNo, quote(typ)))
	}
	var m *Metadata
	if want == stateDiff {
		var mj diffMetadataJSON
		if err := r.decodeValue(typ, value, &mj); err != nil {
			return nil, r.fail(err)
		}
		m, err = mj.validate()
	} else {
		var mj metadataJSON
		if err := r.decodeValue(typ, value, &mj); err != nil {
			return nil, r.fail(err)
		}
		if m, err = mj.validate(); err == nil {
			m.Files, err = validateFiles(mj.Files)
		}
	}
	if err != nil {
		if pe, ok := err.(*Error); ok {
			err = errorf("line %d: %s", r.lineNo, pe.Msg)
		}
		return nil, r.fail(err)
	}
	r.meta, r.kind, r.state = m, want, want
	return m, nil
}

// blobState tracks one upsert entry while its chunks arrive.
type blobState struct {
	op   FileOp
	sink BlobSink // nil until the first chunk
	done bool     // eof chunk seen and sink closed
}

// Blobs consumes the blob chunks after Metadata. At the first chunk of each
// upsert it calls open to get that file's sink, writes every decoded chunk to
// it, and closes it at the chunk marked eof. Chunks of different blobs may
// interleave. Chunks addressed to a delete entry are ignored (spec §5.6.3).
// It fails with an *Error on an unknown envelope, unknown content_id, chunk
// after eof, invalid base64, oversized chunk or line, a second metadata line,
// or a stream that ends before every upsert got its eof chunk; on any failure
// it aborts every sink still open. Errors from open and from sinks are
// returned wrapped, not as *Error.
func (r *Reader) Blobs(open func(op FileOp) (BlobSink, error)) (err error) {
	if r.state != stateBlobs {
		if r.err != nil {
			return r.err
		}
		return errors.New("commitpack: Blobs needs a successful Metadata call first")
	}
	r.state = stateConsumed

	blobs := make(map[string]*blobState, len(r.meta.Files))
	var order []*blobState
	ignored := make(map[string]bool) // content ids of deletes
	for _, op := range r.meta.Files {
		if op.Operation == OpUpsert {
			b := &blobState{op: op}
			blobs[op.ContentID] = b
			order = append(order, b)
		} else if op.ContentID != "" {
			ignored[op.ContentID] = true
		}
	}
	defer func() {
		if err == nil {
			return
		}
		for _, b := range order {
			if b.sink != nil && !b.done {
				b.sink.Abort()
				b.done = true
			}
		}
		r.fail(err)
	}()

	for {
		c, err := r.nextChunk(envBlobChunk, "commit-pack")
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		b := blobs[c.ContentID]
		if b == nil {
			if ignored[c.ContentID] {
				continue
			}
			return errorf("line %d: blob_chunk for unknown content_id %s", r.lineNo, quote(c.ContentID))
		}
		if b.done {
			return errorf("line %d: blob_chunk for %s after its eof chunk", r.lineNo, quote(b.op.Path))
		}
		if b.sink == nil {
			s, err := open(b.op)
			if err != nil {
				return fmt.Errorf("open blob for %s: %w", b.op.Path, err)
			}
			if s == nil {
				return fmt.Errorf("open blob for %s: nil sink", b.op.Path)
			}
			b.sink = s
		}
		if data := c.Data.bytes(); len(data) > 0 {
			n, err := b.sink.Write(data)
			if err == nil && n != len(data) {
				err = io.ErrShortWrite
			}
			if err != nil {
				return fmt.Errorf("write blob for %s: %w", b.op.Path, err)
			}
		}
		if c.EOF {
			b.done = true // Close consumes the sink whatever it returns
			if err := b.sink.Close(); err != nil {
				return fmt.Errorf("close blob for %s: %w", b.op.Path, err)
			}
		}
	}
	for _, b := range order {
		if !b.done {
			return errorf("stream ended without an eof chunk for %s (content_id %s)", quote(b.op.Path), quote(b.op.ContentID))
		}
	}
	return nil
}

// Diff consumes the diff chunks after DiffMetadata (or Metadata), writing the
// decoded patch to w. The stream needs at least one chunk and must end with
// one marked eof; nothing may follow it.
func (r *Reader) Diff(w io.Writer) (err error) {
	if r.state != stateDiff && r.state != stateBlobs {
		if r.err != nil {
			return r.err
		}
		return errors.New("commitpack: Diff needs a successful DiffMetadata call first")
	}
	r.state = stateConsumed
	defer func() {
		if err != nil {
			r.fail(err)
		}
	}()
	done := false
	for {
		c, err := r.nextChunk(envDiffChunk, "diff-commit")
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if done {
			return errorf("line %d: diff_chunk after the eof chunk", r.lineNo)
		}
		if data := c.Data.bytes(); len(data) > 0 {
			n, err := w.Write(data)
			if err == nil && n != len(data) {
				err = io.ErrShortWrite
			}
			if err != nil {
				return fmt.Errorf("write diff: %w", err)
			}
		}
		done = c.EOF
	}
	if !done {
		return errorf("stream ended without a diff_chunk marked eof")
	}
	return nil
}

// fail records the first error so later calls report it too.
func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return err
}

// nextLine returns the next non-blank line without its terminator, or io.EOF.
// The slice is valid until the next call.
func (r *Reader) nextLine() ([]byte, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		// Blank lines are ignored (spec §5.6.1 SHOULD).
		if len(trimSpace(line)) > 0 {
			return line, nil
		}
	}
}

// readLine reads one line, refusing it as soon as it outgrows maxLine rather
// than buffering the rest: a client can't make the server hold more than
// maxLine bytes whatever it sends. A last line without "\n" is accepted;
// "\r\n" is tolerated.
func (r *Reader) readLine() ([]byte, error) {
	if r.eof {
		return nil, io.EOF
	}
	r.lineNo++
	r.line = r.line[:0]
	limit := r.maxLine + 2 // room for "\r\n"
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(r.line)+len(frag) > limit {
			return nil, errorf("line %d: longer than %d bytes", r.lineNo, r.maxLine)
		}
		r.line = appendBounded(r.line, frag, limit)
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			r.eof = true
			if len(r.line) == 0 {
				r.lineNo--
				return nil, io.EOF
			}
		default:
			return nil, fmt.Errorf("read request body at line %d: %w", r.lineNo, err)
		}
		line := bytes.TrimSuffix(r.line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > r.maxLine {
			return nil, errorf("line %d: longer than %d bytes", r.lineNo, r.maxLine)
		}
		return line, nil
	}
}

// appendBounded appends frag to buf, growing the buffer geometrically but
// never past limit, so a long line costs at most limit bytes of capacity.
func appendBounded(buf, frag []byte, limit int) []byte {
	need := len(buf) + len(frag)
	if need > cap(buf) {
		c := max(2*cap(buf), need, readBufSize)
		c = min(c, limit)
		nb := make([]byte, len(buf), c)
		copy(nb, buf)
		buf = nb
	}
	return append(buf, frag...)
}

// envelope splits a line of the form {"<type>": <value>} without decoding
// value, so a 5 MiB base64 string is scanned by the chunk decoder once
// instead of being copied out of a generic map first. The value is returned
// as a sub-slice of line.
// nextChunk reads the next line, which must be a chunk envelope of type
// want; io.EOF at the end of the stream.
func (r *Reader) nextChunk(want, stream string) (*chunkJSON, error) {
	line, err := r.nextLine()
	if err != nil {
		return nil, err
	}
	typ, value, err := r.envelope(line)
	if err != nil {
		return nil, err
	}
	switch typ {
	case want:
	case envMetadata:
		return nil, errorf("line %d: second metadata line", r.lineNo)
	default:
		return nil, errorf("line %d: unexpected %s line in a %s stream (want %s)", r.lineNo, quote(typ), stream, want)
	}
	return r.decodeChunk(typ, value)
}

func (r *Reader) envelope(line []byte) (typ string, value []byte, err error) {
	bad := func(why string) (string, []byte, error) {
		return "", nil, errorf("line %d: %s", r.lineNo, why)
	}
	s := trimSpace(line)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return bad("not a JSON object")
	}
	inner := trimSpace(s[1 : len(s)-1])
	if len(inner) == 0 {
		return bad("empty object: want {\"metadata\":...} or {\"blob_chunk\":...}")
	}
	if inner[0] != '"' {
		return bad("malformed JSON object")
	}
	end := -1
	escaped := false
	for i := 1; i < len(inner); i++ {
		if c := inner[i]; c == '\\' {
			escaped = true
			i++
		} else if c == '"' {
			end = i
			break
		}
	}
	if end < 0 {
		return bad("malformed JSON object")
	}
	if escaped {
		if json.Unmarshal(inner[:end+1], &typ) != nil {
			return bad("malformed JSON object key")
		}
	} else {
		typ = string(inner[1:end])
	}
	rest := trimSpace(inner[end+1:])
	if len(rest) == 0 || rest[0] != ':' {
		return bad("malformed JSON object")
	}
	value = trimSpace(rest[1:])
	switch typ {
	case envMetadata, envBlobChunk, envDiffChunk:
	default:
		return bad("unknown line type " + quote(typ))
	}
	if len(value) == 0 || value[0] != '{' {
		return bad(typ + " must be a JSON object")
	}
	return typ, value, nil
}

// decodeValue unmarshals an envelope's value into v.
func (r *Reader) decodeValue(typ string, value []byte, v any) error {
	err := json.Unmarshal(value, v)
	if err == nil {
		return nil
	}
	var pe *Error
	// value was cut from the line after its first key: if the value alone
	// is not JSON but the line is, the line had more than one key.
	if !errors.As(err, &pe) && !json.Valid(value) && json.Valid(trimSpace(r.line)) {
		return errorf("line %d: a line must be an object with exactly one key", r.lineNo)
	}
	return jsonError(fmt.Sprintf("line %d: %s", r.lineNo, typ), err)
}

// trimSpace trims JSON whitespace.
func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}
