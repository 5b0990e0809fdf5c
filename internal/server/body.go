package server

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// BodyLimits bound how long a request body may take to arrive. Every body
// read gets a connection read deadline, so a client that announces a body
// and stalls is cut off instead of holding a goroutine and a descriptor
// forever (Go's server would even wait for that body before answering a
// 401 it never read).
type BodyLimits struct {
	// IdleTimeout is the longest one read waits for the next bytes.
	IdleTimeout time.Duration
	// MinRate (bytes per second) bounds the body as a whole: after a
	// grace of IdleTimeout, a body must have arrived at MinRate on
	// average. 0 disables the rate check.
	MinRate int64
}

// deadlineBody wraps a request body: before each read it sets the
// connection's read deadline to the earlier of now+IdleTimeout and the
// rate deadline. Long streams (pushes, commit-packs) therefore live as
// long as they keep moving, and short bodies cannot dribble. Time the
// handler spends not reading does not count against the idle timeout.
// At the end of the body the deadline is lifted: net/http then starts its
// background read to notice a client hang-up, and a deadline left in
// place would cancel a long response (a clone) when it expired.
type deadlineBody struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	limits BodyLimits

	mu    sync.Mutex
	start time.Time // first read
	read  int64
	done  bool // EOF or error seen: deadline lifted, or the connection is dead
	eof   bool
}

func newDeadlineBody(w http.ResponseWriter, r *http.Request, l BodyLimits) *deadlineBody {
	b := &deadlineBody{body: r.Body, rc: http.NewResponseController(w), limits: l}
	// Armed at once: a handler that never reads the body still leaves
	// net/http to read it after the response, under this deadline.
	_ = b.rc.SetReadDeadline(time.Now().Add(l.IdleTimeout))
	return b
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return b.body.Read(p)
	}
	now := time.Now()
	if b.start.IsZero() {
		b.start = now
	}
	deadline := now.Add(b.limits.IdleTimeout)
	if b.limits.MinRate > 0 {
		byRate := b.start.Add(b.limits.IdleTimeout + time.Duration(float64(b.read)/float64(b.limits.MinRate)*float64(time.Second)))
		if byRate.Before(deadline) {
			deadline = byRate
		}
	}
	b.mu.Unlock()
	_ = b.rc.SetReadDeadline(deadline)
	n, err := b.body.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read += int64(n)
	if err != nil && !b.done {
		b.done = true
		if err == io.EOF {
			b.eof = true
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.body.Close() }

// finished reports whether the body was read to its end.
func (b *deadlineBody) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof
}

// afterHandler re-arms the deadline for what net/http still reads from an
// unfinished body once the handler returns (it drains up to 256 KiB to
// keep the connection): that read must be bounded as well.
func (b *deadlineBody) afterHandler() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.limits.IdleTimeout))
	}
}
