package githttp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// spoolMemory is how much of an upload-pack request is kept in memory;
// the rest goes to a temporary file. Most requests (wants, haves,
// arguments) are a few KiB; a fetch with many refs can reach megabytes.
const spoolMemory = 1 << 20

// spoolRequest reads the whole upload-pack request before anything
// expensive is committed to it: a slot is taken only once the request is
// complete, so a client that sends half a request and stalls holds no
// slot (its read is bounded by the server's body deadline instead). body
// is already cut off at MaxRequestBytes.
func spoolRequest(body io.Reader) (_ *spooled, err error) {
	s := &spooled{}
	buf := make([]byte, 0, 4<<10)
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= spoolMemory {
				break
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			s.mem = buf
			return s, nil
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	s.mem = buf
	if s.file, err = os.CreateTemp("", "strata-upload-pack-*"); err != nil {
		return nil, fmt.Errorf("spool upload-pack request: %w", err)
	}
	os.Remove(s.file.Name()) // unlinked: gone when closed, even after a crash
	if _, err := io.Copy(s.file, body); err != nil {
		s.Close()
		return nil, err
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool upload-pack request: %w", err)
	}
	return s, nil
}

// spooled is a complete request: the head in memory, the rest (if any) in
// an unlinked temporary file.
type spooled struct {
	mem  []byte
	file *os.File
}

func (s *spooled) reader() io.Reader {
	if s.file == nil {
		return bytes.NewReader(s.mem)
	}
	return io.MultiReader(bytes.NewReader(s.mem), s.file)
}

func (s *spooled) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// checkPktLines checks that the in-memory head of a request is a sequence
// of pkt-lines (gitprotocol-common(5)): garbage is answered 400 here
// rather than by upload-pack dying. A line may continue into the spooled
// rest, so only the framing of what is in memory is checked.
func checkPktLines(b []byte, complete bool) error {
	if len(b) == 0 {
		return errors.New("empty request")
	}
	for len(b) > 0 {
		if len(b) < 4 {
			if complete {
				return errors.New("truncated pkt-line")
			}
			return nil
		}
		var n int
		for _, c := range b[:4] {
			var d int
			switch {
			case c >= '0' && c <= '9':
				d = int(c - '0')
			case c >= 'a' && c <= 'f':
				d = int(c-'a') + 10
			case c >= 'A' && c <= 'F':
				d = int(c-'A') + 10
			default:
				return fmt.Errorf("bad pkt-line length %q", b[:4])
			}
			n = n<<4 | d
		}
		switch {
		case n <= 2: // flush, delim, response-end
			n = 4
		case n < 4:
			return fmt.Errorf("bad pkt-line length %q", b[:4])
		}
		if n > len(b) {
			if complete {
				return errors.New("truncated pkt-line")
			}
			return nil
		}
		b = b[n:]
	}
	return nil
}

// clientProtocolError tells git's complaints about what the client sent
// (upload-pack dies on them: an unknown or unadvertised want, a want-ref,
// a malformed line) from server faults. LANG is pinned, so the wording is
// stable; anything not recognised stays a server error.
func clientProtocolError(err error) (string, bool) {
	var ce *git.CommandError
	if !errors.As(err, &ce) {
		return "", false
	}
	msg := strings.TrimSpace(ce.Stderr)
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "fatal: "))
		for _, s := range []string{
			"protocol error", "not our ref", "unexpected line", "invalid command",
			"unknown ref", "expected flush", "expected to get", "unexpected flush",
			"invalid shallow", "invalid deepen", "cannot be used together",
			"invalid filter", "filtering not recognized", "unknown capability",
			"the remote end hung up",
		} {
			if strings.Contains(line, s) {
				if len(line) > 200 {
					line = line[:200]
				}
				return line, true
			}
		}
	}
	return "", false
}
