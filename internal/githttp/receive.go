package githttp

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// pushCommand is one ref update of a push: "<old> <new> <ref>".
type pushCommand struct {
	Old git.ObjectID
	New git.ObjectID
	Ref string // as the client named it, inside the remote's namespace
}

func parseCommand(line string) (pushCommand, error) {
	f := strings.SplitN(line, " ", 3)
	if len(f) != 3 || !git.IsFullHex(f[0]) || !git.IsFullHex(f[1]) || f[2] == "" {
		return pushCommand{}, fmt.Errorf("malformed command %q", truncate(line, 120))
	}
	return pushCommand{Old: git.ObjectID(f[0]), New: git.ObjectID(f[1]), Ref: f[2]}, nil
}

// pushRequest is the head of a receive-pack request.
type pushRequest struct {
	commands []pushCommand
	atomic   bool // the client asked for an atomic push
}

var errSignedPush = errors.New("signed pushes (push certificates) are not supported")

// readPushCommands reads the command list that opens a receive-pack
// request, up to and including its flush packet, and returns it together
// with the bytes it consumed, which must still be fed to receive-pack. An
// empty body, or a lone flush (the probe git sends before a large
// chunked push), yields no commands.
func readPushCommands(br *bufio.Reader, limit int) (pushRequest, []byte, error) {
	var req pushRequest
	var raw []byte
	buf := make([]byte, maxPktPayload)
	for {
		if len(raw) > limit {
			return req, nil, fmt.Errorf("command list exceeds %d bytes", limit)
		}
		line, err := readPkt(br, buf, &raw)
		switch {
		case errors.Is(err, errFlush):
			return req, raw, nil
		case err == io.EOF && len(raw) == 0:
			return req, raw, nil
		case err != nil:
			return req, nil, err
		}
		s := strings.TrimSuffix(string(line), "\n")
		if strings.HasPrefix(s, "shallow ") {
			continue
		}
		s, caps, hasCaps := strings.Cut(s, "\x00")
		if hasCaps {
			for _, c := range strings.Fields(caps) {
				if c == "atomic" {
					req.atomic = true
				}
			}
		}
		if s == "push-cert" {
			return req, nil, errSignedPush
		}
		c, err := parseCommand(s)
		if err != nil {
			return req, nil, err
		}
		req.commands = append(req.commands, c)
	}
}

// The hook finds its way back to the server through these variables,
// which receive-pack passes on to it.
const (
	envHookSocket = "STRATA_HOOK_SOCKET"
	envHookSecret = "STRATA_HOOK_SECRET"
	// envPushManifest names the file where the pre-receive hook lists
	// the object files the push adds (see preReceive).
	envPushManifest = "STRATA_PUSH_MANIFEST"
)

// Bands of the server-to-hook stream: every packet's first byte says where
// the hook copies the rest.
const (
	bandStdout = 1 // the proc-receive protocol, for receive-pack
	bandStderr = 2 // messages for the pushing user ("remote: ...")
	bandError  = 3 // the server gave up: the hook prints this and exits 1
)

// hookSocket is the unix socket one request's hook calls back on, in a
// fresh directory only the server's user can enter, with the random secret
// the hook must present. Its accepting goroutine is owned by the request:
// stop closes the socket, waits for the goroutine and removes the
// directory. Call stop only after the git process has exited.
type hookSocket struct {
	dir, path, secret string
	ln                net.Listener
	done              chan struct{}
}

// listenSocket opens a hookSocket; serve handles its connections one after
// the other (a git process runs its hook once).
func (h *Handler) listenSocket(prefix string, serve func(conn net.Conn, secret string)) (*hookSocket, error) {
	dir, err := os.MkdirTemp(h.socketDir, prefix) // mode 0700
	if err != nil {
		return nil, fmt.Errorf("hook socket: %w", err)
	}
	s := &hookSocket{dir: dir, path: filepath.Join(dir, "hook.sock"), done: make(chan struct{})}
	if s.ln, err = net.Listen("unix", s.path); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("hook socket: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		s.ln.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s.secret = hex.EncodeToString(b[:])
	go func() {
		defer close(s.done)
		for {
			conn, err := s.ln.Accept()
			if err != nil {
				return // closed by stop
			}
			serve(conn, s.secret)
		}
	}()
	return s, nil
}

// env tells the hook where the socket is.
func (s *hookSocket) env() []string {
	return []string{envHookSocket + "=" + s.path, envHookSecret + "=" + s.secret}
}

func (s *hookSocket) stop() {
	s.ln.Close()
	<-s.done
	os.RemoveAll(s.dir)
}

// listenHook opens the socket the proc-receive hook of this one push
// calls back on and returns the environment that tells the hook where it
// is; see hookSocket.
func (h *Handler) listenHook(ctx context.Context, s *pushSession) (env []string, stop func(), err error) {
	served := false
	sock, err := h.listenSocket("strata-push-", func(conn net.Conn, secret string) {
		if h.serveHook(ctx, conn, secret, s, served) {
			served = true
		}
	})
	if err != nil {
		return nil, nil, err
	}
	s.manifest = filepath.Join(sock.dir, "objects.list")
	return append(sock.env(), envPushManifest+"="+s.manifest), sock.stop, nil
}

// hookAuthenticated reads the secret line a hook opens its connection with.
func hookAuthenticated(conn net.Conn, br *bufio.Reader, secret string) bool {
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadSlice('\n')
	if err != nil || subtle.ConstantTimeCompare([]byte(strings.TrimSuffix(string(line), "\n")), []byte(secret)) != 1 {
		return false
	}
	_ = conn.SetReadDeadline(time.Time{}) // from here on the request context bounds it
	return true
}

// serveHook runs one hook connection: the secret line, then the
// proc-receive protocol. Only the first authenticated connection of a push
// is served. It reports whether the connection was authenticated.
func (h *Handler) serveHook(ctx context.Context, conn net.Conn, secret string, s *pushSession, served bool) bool {
	defer conn.Close()
	unwatch := context.AfterFunc(ctx, func() { conn.Close() })
	defer unwatch()
	br := bufio.NewReader(conn)
	if !hookAuthenticated(conn, br, secret) {
		h.log.Warn("push hook connection refused: bad secret", "repo", s.req.meta.ID)
		return false
	}
	if served {
		h.log.Warn("push hook connected twice", "repo", s.req.meta.ID)
		return true
	}
	out := &bandWriter{w: conn}
	if err := s.procReceive(ctx, br, out); err != nil {
		h.log.Error("proc-receive", "repo", s.req.meta.ID, "err", err)
		_ = out.write(bandError, err.Error()+"\n")
	}
	return true
}

// bandWriter frames what the server sends to the hook.
type bandWriter struct{ w io.Writer }

func (b *bandWriter) write(band byte, s string) error {
	for len(s) > 0 {
		n := min(len(s), maxPktPayload-1)
		if _, err := b.w.Write(appendPkt(nil, string(band)+s[:n])); err != nil {
			return err
		}
		s = s[n:]
	}
	return nil
}

// pkt writes one proc-receive packet for receive-pack.
func (b *bandWriter) pkt(payload string) error {
	return b.write(bandStdout, string(appendPkt(nil, payload)))
}

// flush writes a proc-receive flush packet.
func (b *bandWriter) flush() error { return b.write(bandStdout, "0000") }

// message writes a line the pushing user sees as "remote: <line>".
func (b *bandWriter) message(format string, a ...any) {
	_ = b.write(bandStderr, fmt.Sprintf(format, a...)+"\n")
}

// procReceive is the server side of the proc-receive protocol
// (githooks(5)): version negotiation, the commands, then one "ok <ref>" or
// "ng <ref> <reason>" per command. The push options section never comes:
// receive.advertisePushOptions is off and this side does not ask for it.
func (s *pushSession) procReceive(ctx context.Context, r *bufio.Reader, out *bandWriter) error {
	buf := make([]byte, maxPktPayload)
	atomic := false
	sawVersion := false
	for {
		line, err := readPkt(r, buf, nil)
		if errors.Is(err, errFlush) {
			break
		}
		if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		v, caps, _ := strings.Cut(strings.TrimSuffix(string(line), "\n"), "\x00")
		if v != "version=1" {
			return fmt.Errorf("unsupported proc-receive version %q", truncate(v, 40))
		}
		sawVersion = true
		for _, c := range strings.Fields(caps) {
			if c == "atomic" {
				atomic = true
			}
		}
	}
	if !sawVersion {
		return errors.New("proc-receive: no version")
	}
	if err := out.pkt("version=1\n"); err != nil {
		return err
	}
	if err := out.flush(); err != nil {
		return err
	}
	var cmds []pushCommand
	for {
		line, err := readPkt(r, buf, nil)
		if errors.Is(err, errFlush) {
			break
		}
		if err != nil {
			return fmt.Errorf("read commands: %w", err)
		}
		c, err := parseCommand(strings.TrimSuffix(string(line), "\n"))
		if err != nil {
			return err
		}
		cmds = append(cmds, c)
	}
	results := s.process(ctx, cmds, atomic || s.sent.atomic, out)
	for i, c := range cmds {
		line := "ok " + c.Ref
		if reason := results[i]; reason != "" {
			line = "ng " + c.Ref + " " + reason
		}
		if err := out.pkt(line); err != nil {
			return err
		}
	}
	return out.flush()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
