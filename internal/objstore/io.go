package objstore

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// stallConn is a connection that fails a read or write after timeout
// without progress. Each call moves the deadline of both directions, so a
// long upload keeps the pending read of the response alive, and a caller
// that pauses between reads of a body is not charged for the pause.
type stallConn struct {
	net.Conn
	timeout time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *stallConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func isReaderAt(r io.Reader) bool {
	_, ok := r.(io.ReaderAt)
	return ok
}

// remaining is the number of bytes from s's offset to its end; s is left
// where it was.
func remaining(s io.Seeker) (int64, error) {
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := s.Seek(cur, io.SeekStart); err != nil {
		return 0, err
	}
	return end - cur, nil
}

var errShort = errors.New("reader ended early")

// exactReader passes on the first left bytes of r and remembers whether r
// held fewer (the upload fails: the store sees a short body) or more (the
// caller's size was wrong; checked by finish).
type exactReader struct {
	r    io.Reader
	left int64
	read int64
	err  error // sticky: r's error or errShort
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	e.read += int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = errShort
		return n, io.ErrUnexpectedEOF
	case err != nil && err != io.EOF:
		e.err = err
		return n, err
	}
	return n, nil
}

// finish reports a reader that ended early or failed, or (when probe is
// set, after a successful upload) that holds more than the size it was
// given.
func (e *exactReader) finish(probe bool) error {
	switch {
	case e.err == errShort:
		return fmt.Errorf("reader ended after %d bytes, before the size given, %d", e.read, e.read+e.left)
	case e.err != nil:
		return fmt.Errorf("read: %w", e.err)
	case e.left > 0 || !probe:
		// The upload stopped before r did; its own error says why.
		return nil
	}
	var one [1]byte
	for {
		n, err := e.r.Read(one[:])
		if n > 0 {
			return fmt.Errorf("reader holds more than the size given, %d bytes", e.read)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
}
