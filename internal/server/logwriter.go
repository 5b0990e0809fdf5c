package server

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// LogWriter buffers log lines in memory and writes them out in batches:
// every FlushEvery, when the buffer passes flushAt, at once after a
// warning or error (through Handler), and on Close. The access log writes
// one line per request; written one by one, each line is a system call
// made under the log handler's lock, which every request of a busy server
// queues on.
//
// Writes to the underlying writer happen outside the buffer's lock, in
// order, so a slow stderr holds up logging only once the buffer has grown
// past maxBuffered.
type LogWriter struct {
	w io.Writer

	mu    sync.Mutex
	buf   []byte
	spare []byte // the last batch written, reused for the next

	out sync.Mutex // held while writing to w, so batches keep their order

	kick chan struct{} // asks run to flush now (buffered, 1)
	stop chan struct{}
	done chan struct{}
}

const (
	// FlushEvery is how long an info line may wait in the buffer.
	FlushEvery = 100 * time.Millisecond
	flushAt    = 32 << 10
	// maxBuffered: past this a writer waits for the write itself.
	maxBuffered = 1 << 20
)

// NewLogWriter buffers writes to w until Close, which the owner must call.
func NewLogWriter(w io.Writer) *LogWriter {
	l := &LogWriter{w: w, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *LogWriter) run() {
	defer close(l.done)
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = l.Flush()
		case <-l.kick:
			_ = l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Write appends p (one log record) to the buffer.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.buf == nil {
		l.buf, l.spare = l.spare, nil
	}
	l.buf = append(l.buf, p...)
	n := len(l.buf)
	l.mu.Unlock()
	switch {
	case n >= maxBuffered:
		return len(p), l.Flush()
	case n >= flushAt:
		// run writes it out; the request need not wait.
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Flush writes out everything buffered so far.
func (l *LogWriter) Flush() error {
	l.out.Lock()
	defer l.out.Unlock()
	l.mu.Lock()
	b := l.buf
	l.buf = nil
	l.mu.Unlock()
	if len(b) == 0 {
		return nil
	}
	_, err := l.w.Write(b)
	if cap(b) <= maxBuffered {
		l.mu.Lock()
		l.spare = b[:0]
		l.mu.Unlock()
	}
	return err
}

// Close stops the periodic flush and writes out what is left.
func (l *LogWriter) Close() error {
	close(l.stop)
	<-l.done
	return l.Flush()
}

// Handler wraps h (which writes to l) so that a record at level ≥ Warn
// is written out before the call returns: warnings and errors are never
// held in memory, where a crash would lose them.
func (l *LogWriter) Handler(h slog.Handler) slog.Handler {
	return urgentHandler{Handler: h, w: l}
}

type urgentHandler struct {
	slog.Handler
	w *LogWriter
}

func (h urgentHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h urgentHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return urgentHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h urgentHandler) WithGroup(name string) slog.Handler {
	return urgentHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}
