package githttp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/packcache"
	"github.com/strata-storage/strata/internal/slots"
)

// Whole responses from the pack cache (docs/git-transport.md, "Pack
// cache"). A protocol v2 fetch that ends with "done" gets no negotiation:
// upload-pack's answer is a function of the request, the repository's
// refs and its objects (which never change). Such a request is keyed up
// front, before any process starts: the storage key, the namespace, the
// request's arguments and a digest of every ref. The first request for a
// key runs upload-pack (its pack-objects still goes through the hook and
// the pack-level cache), and upload-pack's whole output is kept; every
// identical request, and every one arriving while it runs, is answered
// from that file with no process, no hook and no slot.
//
// Measured on a 21.8 MB bitmapped clone (docs/benchmarks.md, "Pack
// cache"): a hit through upload-pack and the hook cost 71–92 ms and
// ~106 ms of CPU (44 of them in upload-pack, the hook and their pipes);
// the same bytes from a file over HTTPS cost 28–37 ms.

// fetchArgs are the fetch arguments (gitprotocol-v2(5)) whose effect on
// the answer is known: each is in the key. Anything else (want-ref and
// deepen-not, which name refs; packfile-uris; wait-for-done; whatever a
// later git adds) makes a request run upload-pack for itself.
var fetchArgs = map[string]bool{
	"want": true, "have": true, "done": true, "thin-pack": true, "no-progress": true,
	"include-tag": true, "ofs-delta": true, "shallow": true, "deepen": true,
	"deepen-relative": true, "deepen-since": true, "filter": true, "sideband-all": true,
}

// cacheableFetch returns what of a complete upload-pack request goes into
// the key of its whole response, or false when the response cannot be
// keyed up front: not protocol v2, not a fetch, not ending with "done", an
// argument the cache does not know, or a request too large to be held in
// memory. agent= and session-id= are left out of the key: they change
// nothing in the answer.
func cacheableFetch(protocol string, spool *spooled) ([]byte, bool) {
	if protocol != "version=2" || spool.file != nil {
		return nil, false
	}
	b := spool.mem
	var key []byte
	section, lines := 0, 0 // 0: command and capabilities, 1: arguments
	wants, done := 0, false
	for len(b) > 0 {
		if len(b) < pktHeaderLen {
			return nil, false
		}
		n, err := strconv.ParseUint(string(b[:pktHeaderLen]), 16, 16)
		if err != nil {
			return nil, false
		}
		switch {
		case n == 1 && section == 0 && lines > 0: // delim: the arguments follow
			section = 1
			key = append(key, "0001"...)
			b = b[pktHeaderLen:]
			continue
		case n == 0 && section == 1 && len(b) == pktHeaderLen: // the flush that ends the request
			if wants == 0 || !done {
				return nil, false
			}
			return append(key, "0000"...), true
		case n < pktHeaderLen+1 || int(n) > len(b):
			return nil, false
		}
		pkt := b[:n]
		line := strings.TrimSuffix(string(b[pktHeaderLen:n]), "\n")
		b = b[n:]
		word, _, _ := strings.Cut(line, " ")
		switch {
		case section == 0 && lines == 0:
			if line != "command=fetch" {
				return nil, false
			}
		case section == 0 && (strings.HasPrefix(line, "agent=") || strings.HasPrefix(line, "session-id=")):
			lines++
			continue
		case section == 0:
			if !strings.HasPrefix(line, "object-format=") && !strings.HasPrefix(line, "server-option=") {
				return nil, false
			}
		case !fetchArgs[word]:
			return nil, false
		case word == "want":
			wants++
		case line == "done":
			done = true
		}
		lines++
		key = append(key, pkt...)
	}
	return nil, false // no final flush
}

// serveFetch answers a request cacheableFetch keyed: from a complete
// entry, from the generation in progress, or by starting one. Neither
// waits for a slot; the generation takes an upload-pack slot, and its
// pack-objects a pack slot if the pack-level cache misses.
func (h *Handler) serveFetch(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request, body, args []byte, env []string) {
	state, err := refState(req.repo.Path(), "")
	if err != nil {
		h.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err})
		return
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "strata upload-pack response 1\x00%s\x00%s\x00%s\x00", req.meta.StorageKey, req.route.remote.namespace(), gitProtocol(r))
	sum.Write(state)
	sum.Write(args)
	key := "fetch-" + hex.EncodeToString(sum.Sum(nil))
	rd, err := h.packCache.Open(ctx, key, func(ctx context.Context, out io.Writer) error {
		return h.generateFetch(ctx, req, body, env, state, out)
	})
	if err != nil {
		h.fail(w, r, &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err})
		return
	}
	defer rd.Close()
	h.streamFetch(w, r, req, rd)
}

// generateFetch runs upload-pack for one key, detached from the requests
// that follow it (bounded as a request is), and writes its output to out
// once its pack is under way (see packGate). The answer is kept only if the refs
// are still those of the key when upload-pack is done: otherwise it may
// have read refs the key does not describe, and only the requests that
// followed it, which raced the change anyway, get it.
func (h *Handler) generateFetch(ctx context.Context, req *request, body []byte, env []string, state []byte, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, h.limits.RequestTimeout)
	defer cancel()
	release, err := h.uploads.Acquire(ctx, req.principal.Org, h.limits.PackQueueTimeout)
	if err != nil {
		return err
	}
	defer release()
	gate := newPackGate()
	hctx, hcancel := context.WithCancel(ctx)
	sock, err := h.listenSocket("strata-fetch-", func(conn net.Conn, secret string) { h.servePackHook(hctx, conn, secret, req, gate) })
	if err != nil {
		hcancel()
		return err
	}
	defer func() { hcancel(); sock.stop() }()
	hw := &heldWriter{w: out, gate: gate}
	start := time.Now()
	err = h.git.Run(ctx, req.repo.Path(), serviceCommand(req, false),
		git.WithStdin(bytes.NewReader(body)), git.WithStdout(hw), git.WithEnv(append(env, sock.env()...)...))
	if refused := gate.refusal(); err != nil && refused != nil && !hw.flushed {
		return refused // nothing went out: every follower answers 503
	}
	if ferr := hw.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		level := slog.LevelWarn
		if _, ok := clientProtocolError(err); ok || ctx.Err() != nil {
			level = slog.LevelDebug
		}
		h.log.Log(ctx, level, "git service failed", "service", req.service, "repo", req.meta.ID, "err", err)
		return err
	}
	h.log.Debug("upload-pack for the cache", "repo", req.meta.ID, "duration_ms", time.Since(start).Milliseconds())
	after, err := refState(req.repo.Path(), "")
	if err != nil {
		return err
	}
	if !bytes.Equal(after, state) {
		return fmt.Errorf("refs moved during upload-pack: %w", packcache.ErrServeOnce)
	}
	return nil
}

// streamFetch copies a cached answer to the response. Until its first
// byte the status is open, so a generation that failed before writing
// anything is answered as run answers a failed upload-pack (503 for a
// refused slot, 400 for git's complaints about the request).
func (h *Handler) streamFetch(w http.ResponseWriter, r *http.Request, req *request, rd *packcache.Reader) {
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	defer copyBuffers.Put(buf)
	n, err := rd.Read(buf[:])
	if n == 0 && err != nil && err != io.EOF {
		var herr *httpError
		switch msg, isClient := clientProtocolError(err); {
		case errors.Is(err, slots.ErrBusy):
			w.Header().Set("Retry-After", "10")
			herr = &httpError{status: http.StatusServiceUnavailable, msg: "too many clones and fetches in progress; try again later", cause: err}
		case r.Context().Err() != nil:
			herr = errClientGone(err)
		case isClient:
			herr = &httpError{status: http.StatusBadRequest, msg: msg, cause: err}
		default:
			herr = &httpError{status: http.StatusInternalServerError, msg: "internal error", cause: err}
		}
		h.fail(w, r, herr)
		return
	}
	h.startResult(w, req.service)
	following := true
	if size := rd.Size(); size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		following = false
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	sent := int64(0)
	var werr error
	for n > 0 || err == nil {
		if n > 0 {
			sent += int64(n)
			if _, werr = w.Write(buf[:n]); werr == nil && following {
				werr = rc.Flush()
			}
			if werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
		if !following && r.TLS == nil {
			// Complete, on plain TCP: the rest goes as the file, with
			// sendfile(2). (Over TLS, net/http would copy it in 32 KiB
			// writes; this loop's are 64 KiB.)
			var m int64
			m, werr = io.Copy(w, rd)
			sent += m
			break
		}
		n, err = rd.Read(buf[:])
	}
	if err != nil && err != io.EOF && werr == nil {
		// The generation failed after its first bytes: the client sees a
		// cut stream (or upload-pack's own in-band error), as it would
		// from upload-pack itself.
		h.log.Debug("cached upload-pack answer cut short", "repo", req.meta.ID, "err", err)
	}
	h.log.Debug("git service", "service", req.service, "repo", req.meta.ID, "bytes", sent, "cached", true, "client_err", werr)
}

// maxHeldOutput bounds what of upload-pack's output is held back before
// the gate opens (acknowledgments, shallow-info, the packfile header,
// keep-alives); past it the output flows and a refused slot is reported
// in-band.
const maxHeldOutput = 1 << 20

// packGate connects an upload-pack's pack-objects hook to the code that
// relays upload-pack's output. upload-pack writes its section headers
// before it starts pack-objects, and pack generation may then wait for a
// slot; so the relay holds the output back until the hook opens the gate
// (the pack comes from the cache, or its generation got a slot), which
// keeps the status open: a refused slot is still answered 503 with
// Retry-After.
type packGate struct {
	opened  chan struct{}
	once    sync.Once
	mu      sync.Mutex
	refused error
}

func newPackGate() *packGate { return &packGate{opened: make(chan struct{})} }

// open records that no slot can be refused any more.
func (g *packGate) open() { g.once.Do(func() { close(g.opened) }) }

func (g *packGate) isOpen() bool {
	select {
	case <-g.opened:
		return true
	default:
		return false
	}
}

// refuse records that the hook was refused a slot.
func (g *packGate) refuse(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refused = err
}

func (g *packGate) refusal() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// heldWriter holds its output back until the gate opens (or
// maxHeldOutput is held); flush writes what is held.
type heldWriter struct {
	w       io.Writer
	gate    *packGate
	held    []byte
	flushed bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if !h.flushed && !h.gate.isOpen() && len(h.held)+len(p) <= maxHeldOutput {
		h.held = append(h.held, p...)
		return len(p), nil
	}
	if err := h.flush(); err != nil {
		return 0, err
	}
	return h.w.Write(p)
}

func (h *heldWriter) flush() error {
	h.flushed = true
	if len(h.held) == 0 {
		return nil
	}
	_, err := h.w.Write(h.held)
	h.held = nil
	return err
}

// refState hashes the refs of the repository at gitDir whose names start
// with one of prefixes as git's files backend stores them: the loose ref
// files and the matching lines of packed-refs, names and contents; the
// prefix "" means every ref and HEAD. No process runs, and no file is
// parsed beyond packed-refs' lines: equal digests mean equal files, so the
// same refs, while a digest that differs without a ref having changed
// (git pack-refs moving refs into packed-refs, a read torn by a
// concurrent update) only costs a cache miss. Lock files are not refs.
func refState(gitDir string, prefixes ...string) ([]byte, error) {
	sum := sha256.New()
	all := false
	for _, p := range prefixes {
		all = all || p == ""
	}
	if all {
		prefixes = []string{"refs/"}
		head, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
		if err != nil {
			return nil, fmt.Errorf("read refs: %w", err)
		}
		fmt.Fprintf(sum, "HEAD\x00%d\x00%s", len(head), head)
	}
	for _, prefix := range prefixes {
		root := filepath.Join(gitDir, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return nil // removed while we walked (or never there)
			case err != nil:
				return err
			case d.IsDir() || strings.HasSuffix(p, ".lock"):
				return nil
			}
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(gitDir, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(sum, "L\x00%s\x00%d\x00%s", filepath.ToSlash(rel), len(b), b)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read refs: %w", err)
		}
	}
	packed, err := os.ReadFile(filepath.Join(gitDir, "packed-refs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read refs: %w", err)
	}
	sum.Write([]byte("P\x00"))
	if all {
		sum.Write(packed)
	} else {
		// "<oid> <name>" lines, each followed by its "^<peeled>" line
		// for an annotated tag; the header says how the file is sorted.
		keep := false
		for line := range bytes.Lines(packed) {
			switch {
			case bytes.HasPrefix(line, []byte("#")):
				keep = true
			case bytes.HasPrefix(line, []byte("^")):
				// keep as the line before
			default:
				_, name, _ := bytes.Cut(line, []byte(" "))
				keep = false
				for _, p := range prefixes {
					keep = keep || bytes.HasPrefix(name, []byte(p))
				}
			}
			if keep {
				sum.Write(line)
			}
		}
	}
	return sum.Sum(nil), nil
}
