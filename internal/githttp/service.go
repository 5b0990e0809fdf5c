package githttp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"golang.org/x/sys/unix"
)

// copyBufferSize is the size of the buffer between git's stdout and the
// response: each read is written and flushed at once.
const copyBufferSize = 64 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

// pushBodySlack is how far a push body may exceed MaxPushBytes (command
// list, framing) before it is cut off; receive.maxInputSize fails first,
// with a clearer message.
const pushBodySlack = 16 << 20

// maxPushCommandBytes caps the command list at the head of a push.
const maxPushCommandBytes = 8 << 20

// gitProtocol returns GIT_PROTOCOL for the request. Only "version=N"
// entries of the Git-Protocol header survive: nothing else a client sends
// reaches git's environment.
func gitProtocol(r *http.Request) string {
	v := ""
	for _, hv := range r.Header.Values("Git-Protocol") {
		for _, kv := range strings.Split(hv, ":") {
			switch kv {
			case "version=0", "version=1", "version=2":
				v = kv
			}
		}
	}
	return v
}

// serviceEnv is the environment of one upload-pack or receive-pack.
func (h *Handler) serviceEnv(r *http.Request, req *request) []string {
	var env []string
	if req.service == serviceUploadPack {
		kv := []string{
			"uploadpack.allowFilter", "true", // partial clone (--filter=blob:none)
			"uploadpack.allowAnySHA1InWant", "true", // its lazy fetches of single blobs
			"transfer.hideRefs", "refs/namespaces", // the normal remote never shows ephemeral refs
			"pack.windowMemory", h.limits.PackWindowMemory,
		}
		if h.packCache != nil {
			// git reads this one only from protected configuration,
			// which the command line's GIT_CONFIG_COUNT is.
			kv = append(kv, "uploadpack.packObjectsHook", shellQuote(h.hookExe)+" hook pack-objects")
		}
		env = configEnv(kv...)
	} else {
		env = configEnv(
			"receive.procReceiveRefs", "refs", // every ref goes through the hook
			"core.hooksPath", h.hooksDir,
			"receive.maxInputSize", strconv.FormatInt(h.limits.MaxPushBytes, 10),
			"receive.fsckObjects", "true",
			// Every push becomes one pack, never loose objects, so a
			// refused push's objects can be dropped without racing a
			// concurrent write of the same loose object (dropObjects).
			"receive.unpackLimit", "1",
			"receive.advertisePushOptions", "false",
			"transfer.hideRefs", "refs/namespaces",
		)
	}
	if ns := req.route.remote.namespace(); ns != git.NormalNamespace {
		env = append(env, "GIT_NAMESPACE="+string(ns))
	}
	if v := gitProtocol(r); v != "" {
		env = append(env, "GIT_PROTOCOL="+v)
	}
	return env
}

func serviceCommand(req *request, advertise bool) git.Command {
	flags := []string{"--stateless-rpc"}
	if advertise {
		flags = append(flags, "--advertise-refs")
	}
	return git.Command{Name: strings.TrimPrefix(req.service, "git-"), Flags: flags, Args: []string{req.repo.Path()}}
}

// GET .../info/refs?service=...: the ref advertisement. Protocol v0/v1
// answers start with "# service=<svc>" and a flush (gitprotocol-http(5));
// a v2 answer is the capability advertisement alone.
func (h *Handler) advertise(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request) {
	var prefix []byte
	if !(req.service == serviceUploadPack && gitProtocol(r) == "version=2") {
		prefix = appendPkt(nil, "# service="+req.service+"\n")
		prefix = append(prefix, "0000"...)
	}
	setNoCache(w.Header())
	w.Header().Set("Content-Type", "application/x-"+req.service+"-advertisement")
	h.run(ctx, w, r, req, serviceCommand(req, true), nil, h.serviceEnv(r, req), prefix, nil)
}

// POST .../git-upload-pack: fetch and clone. Pack generation is the
// expensive part of the transport, so it waits for a slot; but only once
// the whole request has arrived (it is small: wants, haves, arguments), so
// a client stalling mid-request never holds one.
//
// With the pack cache, what waits for a slot is narrower (docs/git-
// transport.md, "Pack cache"): a fetch keyed up front is answered from the
// cache without a process or a slot (serveFetch); any other request takes
// one of the larger pool of upload-pack slots for its upload-pack, and
// pack-objects takes a pack slot only when the pack-level cache has to
// generate. Without the cache pack-objects runs inside upload-pack, and
// the pack slot covers the whole run.
func (h *Handler) uploadPack(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request) {
	if herr := checkRequestType(r, req.service); herr != nil {
		h.fail(w, r, herr)
		return
	}
	body, herr := requestBody(w, r, h.limits.MaxRequestBytes)
	if herr != nil {
		h.fail(w, r, herr)
		return
	}
	defer body.Close()
	spool, err := spoolRequest(body)
	if err != nil {
		h.fail(w, r, bodyError(r, err))
		return
	}
	defer spool.Close()
	if err := checkPktLines(spool.mem, spool.file == nil); err != nil {
		h.fail(w, r, &httpError{status: http.StatusBadRequest, msg: "bad upload-pack request: " + err.Error()})
		return
	}
	env := h.serviceEnv(r, req)
	if h.packCache != nil {
		if args, ok := cacheableFetch(gitProtocol(r), spool); ok {
			h.serveFetch(ctx, w, r, req, spool.mem, args, env)
			return
		}
	}
	pool := h.packs
	if h.packCache != nil {
		pool = h.uploads
	}
	release, err := pool.Acquire(ctx, req.principal.Org, h.limits.PackQueueTimeout)
	if err != nil {
		if r.Context().Err() != nil {
			h.fail(w, r, errClientGone(err))
			return
		}
		w.Header().Set("Retry-After", "10")
		h.fail(w, r, &httpError{status: http.StatusServiceUnavailable, msg: "too many clones and fetches in progress; try again later", cause: err})
		return
	}
	defer release()
	var gate *packGate
	if h.packCache != nil {
		gate = newPackGate()
		// Cancelled before the socket stops, so a hook connection still
		// waiting on a generation lets go once upload-pack is gone.
		hctx, hcancel := context.WithCancel(ctx)
		sock, err := h.listenSocket("strata-fetch-", func(conn net.Conn, secret string) { h.servePackHook(hctx, conn, secret, req, gate) })
		if err != nil {
			hcancel()
			h.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err})
			return
		}
		defer func() { hcancel(); sock.stop() }()
		env = append(env, sock.env()...)
	}
	h.startResult(w, req.service)
	h.run(ctx, w, r, req, serviceCommand(req, false), spool.reader(), env, nil, gate)
}

// POST .../git-receive-pack: push. The command list at the head of the body
// is read here (it tells which refs the client asked for, for atomic
// pushes), then the whole body streams to receive-pack, whose proc-receive
// hook calls back into a pushSession.
func (h *Handler) receivePack(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request) {
	if herr := checkRequestType(r, req.service); herr != nil {
		h.fail(w, r, herr)
		return
	}
	body, herr := requestBody(w, r, h.limits.MaxPushBytes+pushBodySlack)
	if herr != nil {
		h.fail(w, r, herr)
		return
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, copyBufferSize)
	push, head, err := readPushCommands(br, maxPushCommandBytes)
	if err != nil {
		status := http.StatusBadRequest
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			status = http.StatusRequestEntityTooLarge
		}
		h.fail(w, r, &httpError{status: status, msg: "bad push request: " + err.Error(), cause: err})
		return
	}
	env := h.serviceEnv(r, req)
	if len(push.commands) > 0 {
		sess := &pushSession{h: h, req: req, sent: push}
		hookEnv, stop, err := h.listenHook(ctx, sess)
		if err != nil {
			h.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err})
			return
		}
		defer stop()
		env = append(env, hookEnv...)
	}
	h.startResult(w, req.service)
	stdin := io.MultiReader(bytes.NewReader(head), br)
	h.run(ctx, w, r, req, serviceCommand(req, false), stdin, env, nil, nil)
}

// availableReader returns a function that reads into p what r (git's
// stdout) holds already, without waiting for more; nil when r is not a
// non-blocking pipe. upload-pack writes its pack in side-band packets of
// 8 KiB and the relay flushes after every read, so a fast git and a
// slower client (TLS) would otherwise get every 8 KiB as its own chunk,
// TLS record and write(2); with it a write carries what accumulated in the
// pipe (up to its 64 KiB), and the flush still follows as soon as git has
// nothing more to say. Errors and the end are left for the next blocking
// Read to report.
func availableReader(r io.Reader) func(p []byte) int {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	nonblocking := false
	_ = rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblocking = err == nil && flags&unix.O_NONBLOCK != 0
	})
	if !nonblocking {
		return nil
	}
	return func(p []byte) int {
		total := 0
		for total < len(p) {
			var n int
			var rerr error
			if err := rc.Read(func(fd uintptr) bool {
				n, rerr = unix.Read(int(fd), p[total:])
				return true // never wait
			}); err != nil || rerr != nil || n <= 0 {
				break
			}
			total += n
		}
		return total
	}
}

// startResult sets the headers of an RPC answer and lets the response be
// written while the request body is still being read: receive-pack sends
// progress while it unpacks.
func (h *Handler) startResult(w http.ResponseWriter, svc string) {
	_ = http.NewResponseController(w).EnableFullDuplex() // HTTP/2 is full duplex anyway
	setNoCache(w.Header())
	w.Header().Set("Content-Type", "application/x-"+svc+"-result")
}

// run starts git and streams its stdout to the response, flushing after
// every read, with prefix written before the first byte. Until git writes
// something the status is still open, so an early failure becomes a 500;
// after that, git reports failures in-band. With a gate (an upload-pack
// whose pack-objects goes through the hook) the output is held back until
// the hook opens it, so that a generation refused a slot is still
// answered 503 (see packGate).
func (h *Handler) run(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request, cmd git.Command, stdin io.Reader, env []string, prefix []byte, gate *packGate) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := []git.Option{git.WithStdoutPipe(), git.WithEnv(env...)}
	var body *bodyReader
	var feed *stdinFeed
	if stdin != nil {
		body = &bodyReader{r: stdin}
		var err error
		if feed, err = newStdinFeed(body); err != nil {
			h.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err})
			return
		}
		opts = append(opts, git.WithStdin(feed.r))
	}
	start := time.Now()
	p, err := h.git.Start(ctx, req.repo.Path(), cmd, opts...)
	if feed != nil {
		feed.start() // closes our copy of the read end
	}
	rc := http.NewResponseController(w)
	if feed != nil {
		defer feed.stop(rc)
	}
	if err != nil {
		h.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err})
		return
	}
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	defer copyBuffers.Put(buf)
	started := false
	var held []byte // output held back until the gate opens
	begin := func() error {
		started = true
		w.WriteHeader(http.StatusOK)
		for _, b := range [][]byte{prefix, held} {
			if len(b) > 0 {
				if _, err := w.Write(b); err != nil {
					return err
				}
			}
		}
		held = nil
		return nil
	}
	var sent int64
	var werr error
	more := availableReader(p.Stdout)
	for {
		n, rerr := p.Stdout.Read(buf[:])
		if rerr == nil && more != nil {
			n += more(buf[n:])
		}
		if n > 0 && werr == nil && !started && gate != nil && !gate.isOpen() && len(held)+n <= maxHeldOutput {
			held = append(held, buf[:n]...)
			sent += int64(n)
			n = 0
		}
		if n > 0 && werr == nil {
			if !started {
				werr = begin()
			}
			if werr == nil {
				_, werr = w.Write(buf[:n])
			}
			if werr == nil {
				werr = rc.Flush()
			}
			if werr != nil {
				cancel() // the client is gone: stop git, then drain what it wrote
			}
			sent += int64(n)
		}
		if rerr != nil {
			break
		}
	}
	err = p.Wait()
	var tooLarge *http.MaxBytesError
	quiet := !started && len(held) == 0 // nothing of git's output yet
	switch {
	case err != nil && !started && gate != nil && gate.refusal() != nil:
		w.Header().Set("Retry-After", "10")
		h.fail(w, r, &httpError{status: http.StatusServiceUnavailable, msg: "too many clones and fetches in progress; try again later", cause: gate.refusal()})
		return
	case err != nil && quiet && body != nil && errors.As(body.Err(), &tooLarge):
		h.fail(w, r, &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit), cause: err})
		return
	case err != nil && quiet && r.Context().Err() != nil:
		h.fail(w, r, errClientGone(err))
		return
	case err != nil && quiet:
		if msg, ok := clientProtocolError(err); ok {
			h.fail(w, r, &httpError{status: http.StatusBadRequest, msg: msg, cause: err})
			return
		}
		h.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err})
		return
	case !started:
		werr = begin()
	}
	if err != nil && werr == nil {
		// git reported the failure in-band; only a server fault is a warning.
		level := slog.LevelWarn
		if _, ok := clientProtocolError(err); ok || r.Context().Err() != nil {
			level = slog.LevelDebug
		}
		h.log.Log(r.Context(), level, "git service failed", "service", req.service, "repo", req.meta.ID, "err", err)
	}
	h.log.Debug("git service", "service", req.service, "repo", req.meta.ID, "bytes", sent,
		"duration_ms", time.Since(start).Milliseconds(), "client_err", werr)
}

// bodyReader remembers why reading the request body failed: the copy to
// git's stdin runs in exec's goroutine, which drops the error.
type bodyReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// Err is the first read error other than io.EOF.
func (b *bodyReader) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// checkRequestType insists on the request content type of the service,
// as git-http-backend(1) does.
func checkRequestType(r *http.Request, svc string) *httpError {
	want := "application/x-" + svc + "-request"
	if ct := r.Header.Get("Content-Type"); ct != want {
		return &httpError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("content type must be %s", want)}
	}
	return nil
}

// requestBody returns the request body, gzip-decoded when the client sent
// Content-Encoding: gzip, cut off after limit bytes (before and after
// decoding, so a small gzip bomb can't expand without bound).
func requestBody(w http.ResponseWriter, r *http.Request, limit int64) (io.ReadCloser, *httpError) {
	body := http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, &httpError{status: http.StatusBadRequest, msg: "bad gzip request body", cause: err}
		}
		return &limitedBody{r: zr, n: limit, limit: limit, closer: body}, nil
	default:
		return nil, &httpError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("unsupported content encoding %q", enc)}
	}
}

// limitedBody fails a decoded body that grows past limit.
type limitedBody struct {
	r      io.Reader
	n      int64
	limit  int64
	closer io.Closer
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		// At the limit: only more data is an error, not the end.
		var probe [1]byte
		n, err := b.r.Read(probe[:])
		if n > 0 {
			return 0, &http.MaxBytesError{Limit: b.limit}
		}
		return 0, err
	}
	if int64(len(p)) > b.n {
		p = p[:b.n+1] // read one byte more than allowed to detect overflow
	}
	n, err := b.r.Read(p)
	if int64(n) > b.n {
		n = int(b.n)
		err = &http.MaxBytesError{Limit: b.limit}
	}
	b.n -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.closer.Close() }

// stdinFeed copies a request body into git's stdin through a blocking pipe
// with a 256 KiB buffer. exec's own copier writes into a non-blocking pipe
// that index-pack drains 4 KiB at a time: measured on a 220 MB push, 54k
// writes plus 28k EAGAIN wake-ups, 60% of Strata's push CPU.
type stdinFeed struct {
	r, w *os.File
	src  io.Reader
	done chan struct{}
}

func newStdinFeed(src io.Reader) (*stdinFeed, error) {
	var fds [2]int
	// No O_NONBLOCK: plain blocking writes, one per 256 KiB, on the feeding
	// goroutine's thread.
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	return &stdinFeed{r: os.NewFile(uintptr(fds[0]), "git-stdin-r"), w: os.NewFile(uintptr(fds[1]), "git-stdin-w"), src: src, done: make(chan struct{})}, nil
}

// start begins copying once git holds the read end.
func (f *stdinFeed) start() {
	f.r.Close()
	go func() {
		defer close(f.done)
		buf := make([]byte, 256<<10)
		_, _ = io.CopyBuffer(f.w, f.src, buf) // EPIPE when git stops reading early: fine
		f.w.Close()
	}()
}

// stop waits for the copier. If git is gone while the client still holds
// back the body, the copier is blocked reading it: a read deadline in the
// past unblocks it.
func (f *stdinFeed) stop(rc *http.ResponseController) {
	select {
	case <-f.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = rc.SetReadDeadline(time.Now())
	f.w.Close()
	<-f.done
}
