package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
)

// InProcess returns a RoundTripper that serves each request with h in
// this process: the /mcp endpoint's tools reach the REST handler without
// a socket, the request's token and all. Responses stream through a pipe,
// so a tool that reads the first lines of a large file stops the handler
// by closing the body instead of buffering the blob.
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	sreq := req.Clone(ctx)
	sreq.RequestURI = req.URL.RequestURI()
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// A panicking handler must not take the server down with it;
			// the server's own recovery middleware is not on this path.
			if p := recover(); p != nil {
				if !w.sent() {
					w.header = http.Header{"Content-Type": {"application/json"}}
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = io.WriteString(w, `{"error":"internal error"}`+"\n")
				}
				pw.CloseWithError(fmt.Errorf("handler panic: %v\n%s", p, debug.Stack()))
				return
			}
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing
			pw.Close()
		}()
		t.h.ServeHTTP(w, sreq)
	}()
	<-w.ready
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.snapshot,
		Body:          &pipeBody{pr: pr, cancel: cancel, done: done},
		ContentLength: -1,
		Request:       req,
	}, nil
}

// pipeWriter is the handler's ResponseWriter: the header is fixed at the
// first write, the body goes into the pipe.
type pipeWriter struct {
	header   http.Header
	snapshot http.Header
	status   int
	pw       *io.PipeWriter
	once     sync.Once
	ready    chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(status int) {
	w.once.Do(func() {
		w.status = status
		w.snapshot = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) sent() bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush is a no-op: every Write already reaches the reader.
func (w *pipeWriter) Flush() {}

// pipeBody ends the handler when the tool stops reading: closing the
// pipe fails its next write, the cancelled context stops its git
// processes, and Close waits for it so no handler outlives its caller.
type pipeBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *pipeBody) Read(p []byte) (int, error) {
	n, err := b.pr.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("in-process API: %w", err)
	}
	return n, err
}

func (b *pipeBody) Close() error {
	b.pr.Close()
	b.cancel()
	<-b.done
	return nil
}
