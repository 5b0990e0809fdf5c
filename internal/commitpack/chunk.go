package commitpack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// chunkJSON is the value of a blob_chunk or diff_chunk envelope.
type chunkJSON struct {
	ContentID string    `json:"content_id"`
	Data      chunkData `json:"data"`
	EOF       bool      `json:"eof"`
}

// chunkData decodes the base64 "data" string straight from the line buffer
// into a reused buffer: no copy of the 5 MiB string is made, and nothing is
// kept that points into the line.
type chunkData struct {
	buf []byte // reused decode buffer, grows up to MaxChunk+3
	n   int
}

func (d *chunkData) bytes() []byte { return d.buf[:d.n] }

var maxEncodedChunk = base64.StdEncoding.EncodedLen(MaxChunk)

// decodeChunk decodes a blob_chunk or diff_chunk value into r.chunk, whose
// data buffer is reused from line to line.
func (r *Reader) decodeChunk(typ string, value []byte) (*chunkJSON, error) {
	c := &r.chunk
	if parseChunkFast(value, c) {
		return c, nil
	}
	c.ContentID, c.EOF, c.Data.n = "", false, 0
	if err := r.decodeValue(typ, value, c); err != nil {
		return nil, err
	}
	return c, nil
}

// UnmarshalJSON is the general path for "data", used when parseChunkFast
// declines a line.
func (d *chunkData) UnmarshalJSON(raw []byte) error {
	d.n = 0
	if string(raw) == "null" {
		return nil
	}
	if len(raw) < 2 || raw[0] != '"' {
		return &Error{Msg: "data must be a base64 string"}
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		// JSON escapes are legal (e.g. "\/"), just never produced by the SDK.
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return &Error{Msg: "data: malformed JSON string"}
		}
		s = []byte(str)
	}
	return d.decode(s)
}

// decode base64-decodes s (standard alphabet, padded) into d.buf.
func (d *chunkData) decode(s []byte) error {
	d.n = 0
	if len(s) > maxEncodedChunk {
		return &Error{Msg: fmt.Sprintf("data decodes to more than %d bytes", MaxChunk)}
	}
	// encoding/base64 skips CR and LF; the wire format has none.
	if bytes.IndexByte(s, '\n') >= 0 || bytes.IndexByte(s, '\r') >= 0 {
		return &Error{Msg: "data: invalid base64: contains a line break"}
	}
	if need := base64.StdEncoding.DecodedLen(len(s)); need > cap(d.buf) {
		d.buf = make([]byte, need)
	}
	d.buf = d.buf[:cap(d.buf)]
	n, err := base64.StdEncoding.Decode(d.buf, s)
	if err != nil {
		return &Error{Msg: fmt.Sprintf("data: invalid base64: %v", err)}
	}
	if n > MaxChunk {
		return &Error{Msg: fmt.Sprintf("data decodes to more than %d bytes", MaxChunk)}
	}
	d.n = n
	return nil
}

// parseChunkFast decodes the chunk objects the SDKs actually send — a flat
// object of plain strings and booleans — in one pass, about four times
// faster than encoding/json, whose validity scan walks every base64 byte
// twice. It reports false for anything unusual (escapes, numbers, nesting,
// keys differing from ours only in case, invalid base64, malformed JSON) and
// the caller falls back to encoding/json, which then produces the result or
// the error; so both paths accept the same lines with the same meaning
// (FuzzChunkFastPath checks this).
func parseChunkFast(v []byte, c *chunkJSON) bool {
	c.ContentID, c.EOF, c.Data.n = "", false, 0
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '{' {
		return false
	}
	i = skipWS(v, i+1)
	if i < len(v) && v[i] == '}' {
		return skipWS(v, i+1) == len(v)
	}
	for {
		key, next, ok := plainString(v, i)
		if !ok || hasControl(key) {
			return false
		}
		i = skipWS(v, next)
		if i >= len(v) || v[i] != ':' {
			return false
		}
		i = skipWS(v, i+1)
		if i >= len(v) {
			return false
		}
		field := string(key)
		switch field {
		case "content_id", "data", "eof":
		default:
			// encoding/json matches keys case-insensitively; leave such
			// look-alikes (and non-ASCII keys) to it.
			if !isASCII(key) || bytes.EqualFold(key, []byte("content_id")) ||
				bytes.EqualFold(key, []byte("data")) || bytes.EqualFold(key, []byte("eof")) {
				return false
			}
			field = ""
		}
		switch v[i] {
		case '"':
			s, next, ok := plainString(v, i)
			if !ok {
				return false
			}
			i = next
			switch field {
			case "data":
				// base64 decoding rejects control characters itself.
				if c.Data.decode(s) != nil {
					return false
				}
			case "eof":
				return false
			default:
				if hasControl(s) {
					return false
				}
				if field == "content_id" {
					if !utf8.Valid(s) {
						return false // encoding/json would substitute U+FFFD
					}
					c.ContentID = string(s)
				}
			}
		case 't', 'f', 'n':
			lit := []byte("null")
			if v[i] == 't' {
				lit = []byte("true")
			} else if v[i] == 'f' {
				lit = []byte("false")
			}
			if !bytes.HasPrefix(v[i:], lit) {
				return false
			}
			i += len(lit)
			switch {
			case field == "" || lit[0] == 'n':
				// unknown key, or null: encoding/json leaves the field
				// alone, except "data", whose UnmarshalJSON sees null.
				if field == "data" {
					c.Data.n = 0
				}
			case field == "eof":
				c.EOF = lit[0] == 't'
			default:
				return false
			}
		default:
			return false
		}
		i = skipWS(v, i)
		if i >= len(v) {
			return false
		}
		switch v[i] {
		case ',':
			i = skipWS(v, i+1)
		case '}':
			return skipWS(v, i+1) == len(v)
		default:
			return false
		}
	}
}

// plainString reads a JSON string starting at v[i] that has no escapes,
// returning its contents and the index after it. Callers check for control
// characters, which JSON forbids unescaped.
func plainString(v []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(v) || v[i] != '"' {
		return nil, 0, false
	}
	end := bytes.IndexByte(v[i+1:], '"')
	if end < 0 {
		return nil, 0, false
	}
	s = v[i+1 : i+1+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, 0, false
	}
	return s, i + 2 + end, true
}

func hasControl(s []byte) bool {
	for _, b := range s {
		if b < 0x20 {
			return true
		}
	}
	return false
}

func isASCII(s []byte) bool {
	for _, b := range s {
		if b >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func skipWS(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n') {
		i++
	}
	return i
}
