package githttp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/packcache"
	"github.com/strata-storage/strata/internal/slots"
)

// The pack cache (docs/git-transport.md, "Pack cache"): upload-pack runs
// `strata hook pack-objects git pack-objects …` instead of pack-objects
// (uploadpack.packObjectsHook); the hook relays the command line and
// pack-objects' input here, and the pack comes from internal/packcache,
// generated at most once per key by the pack-objects this file runs.

// maxPackInput caps the pack-objects input (wants, "--not", common haves,
// shallow lines) kept for the key. It is derived from the request, which
// is small for a clone; a larger input (a fetch with a long have list) is
// served uncached, streamed.
const maxPackInput = 1 << 20

// cachedPackFlags are the pack-objects options upload-pack passes that the
// cache knows: each changes the pack and is part of the key.
var cachedPackFlags = []string{"--revs", "--thin", "--stdout", "--shallow", "--delta-base-offset", "--include-tag"}

// packObjectsFlags checks the command line upload-pack would have run,
// `git [--shallow-file ""] pack-objects <flags>`, and returns the flags to
// run pack-objects with. --progress is dropped: pack-objects' stderr is not
// relayed, and it does not change the pack. --shallow-file "" tells
// pack-objects to ignore the repository's own shallow file; Strata's
// repositories are never shallow, so it is dropped too (Command has no
// global options). cacheable is false for flags the cache does not know.
func packObjectsFlags(args []string) (flags []string, cacheable bool, err error) {
	if len(args) < 2 || args[0] != "git" {
		return nil, false, fmt.Errorf("unexpected pack-objects command %q", truncate(strings.Join(args, " "), 200))
	}
	args = args[1:]
	if len(args) >= 2 && args[0] == "--shallow-file" && args[1] == "" {
		args = args[2:]
	}
	if len(args) == 0 || args[0] != "pack-objects" {
		return nil, false, fmt.Errorf("unexpected pack-objects command %q", truncate(strings.Join(args, " "), 200))
	}
	cacheable = true
	for _, a := range args[1:] {
		switch {
		case a == "--progress":
			continue
		case !strings.HasPrefix(a, "--"):
			return nil, false, fmt.Errorf("unexpected pack-objects argument %q", truncate(a, 100))
		case strings.HasPrefix(a, "--filter="), slices.Contains(cachedPackFlags, a):
		default:
			cacheable = false
		}
		flags = append(flags, a)
	}
	return flags, cacheable, nil
}

// servePackHook answers one pack-objects hook connection of an
// upload-pack: the pack, from the cache or (for inputs it does not key)
// straight from pack-objects, then a flush; or an error band. gate hears
// when the pack is under way (served from the cache, or its generation
// got a slot), or that generation was refused a slot.
func (h *Handler) servePackHook(ctx context.Context, conn net.Conn, secret string, req *request, gate *packGate) {
	defer conn.Close()
	unwatch := context.AfterFunc(ctx, func() { conn.Close() })
	defer unwatch()
	br := bufio.NewReader(conn)
	if !hookAuthenticated(conn, br, secret) {
		h.log.Warn("pack-objects hook connection refused: bad secret", "repo", req.meta.ID)
		return
	}
	bw := bufio.NewWriterSize(conn, maxPktLen)
	out := &bandStream{w: bw}
	if err := h.packObjects(ctx, br, out, req, gate); err != nil {
		if errors.Is(err, slots.ErrBusy) {
			gate.refuse(err)
		} else if ctx.Err() == nil {
			h.log.Warn("pack-objects hook", "repo", req.meta.ID, "err", err)
		}
		_ = (&bandWriter{w: bw}).write(bandError, "strata: "+oneLine(err.Error())+"\n")
	} else {
		_, _ = bw.WriteString("0000") // the end: see relayHook
	}
	_ = bw.Flush()
}

func (h *Handler) packObjects(ctx context.Context, br *bufio.Reader, out io.Writer, req *request, gate *packGate) error {
	var args []string
	buf := make([]byte, maxPktPayload)
	for {
		p, err := readPkt(br, buf, nil)
		if errors.Is(err, errFlush) {
			break
		}
		if err != nil {
			return fmt.Errorf("read pack-objects arguments: %w", err)
		}
		if len(args) == 64 {
			return errors.New("too many pack-objects arguments")
		}
		args = append(args, string(p))
	}
	flags, cacheable, err := packObjectsFlags(args)
	if err != nil {
		return err
	}
	input, err := io.ReadAll(io.LimitReader(br, maxPackInput+1))
	if err != nil {
		return fmt.Errorf("read pack-objects input: %w", err)
	}
	// Pack generation is what the pack slots bound: a pack-objects run
	// takes one, a reader of a cached pack (complete, or being generated
	// for another request) does not.
	if !cacheable || len(input) > maxPackInput {
		release, err := h.packs.Acquire(ctx, req.principal.Org, h.limits.PackQueueTimeout)
		if err != nil {
			return err
		}
		defer release()
		gate.open()
		return h.runPackObjects(ctx, req, flags, io.MultiReader(bytes.NewReader(input), br), out)
	}
	key, err := h.packKey(req, flags, input)
	if err != nil {
		return err
	}
	r, err := h.packCache.Open(ctx, key, func(ctx context.Context, w io.Writer) error {
		// Detached from the request that started it (others may follow
		// it) but bounded as a request is.
		ctx, cancel := context.WithTimeout(ctx, h.limits.RequestTimeout)
		defer cancel()
		release, err := h.packs.Acquire(ctx, req.principal.Org, h.limits.PackQueueTimeout)
		if err != nil {
			return err
		}
		defer release()
		packcache.Begin(w)
		return h.runPackObjects(ctx, req, flags, bytes.NewReader(input), w)
	})
	if err != nil {
		return err
	}
	defer r.Close()
	// The gate opens once no slot can be refused any more, not at the
	// pack's first byte: pack-objects may count and compress for minutes
	// before it writes, and upload-pack's keep-alives meanwhile should
	// reach the client.
	select {
	case <-r.Begun():
		gate.open()
	default:
		copied := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			select {
			case <-r.Begun():
				gate.open()
			case <-copied:
			}
		}()
		defer func() { close(copied); <-watched }()
	}
	cbuf := copyBuffers.Get().(*[copyBufferSize]byte)
	defer copyBuffers.Put(cbuf)
	_, err = io.CopyBuffer(out, r, cbuf[:])
	return err
}

// runPackObjects runs the pack-objects upload-pack asked for.
func (h *Handler) runPackObjects(ctx context.Context, req *request, flags []string, stdin io.Reader, stdout io.Writer) error {
	env := configEnv("pack.windowMemory", h.limits.PackWindowMemory)
	if ns := req.route.remote.namespace(); ns != git.NormalNamespace {
		env = append(env, "GIT_NAMESPACE="+string(ns))
	}
	return h.git.Run(ctx, req.repo.Path(), git.Command{Name: "pack-objects", Flags: flags},
		git.WithStdin(stdin), git.WithStdout(stdout), git.WithEnv(env...))
}

// packKey names the pack of one pack-objects run. pack-objects reads its
// flags, its input (object ids only: wants, haves, shallow boundaries,
// all resolved by upload-pack) and the object store, whose objects never
// change; with --include-tag it also adds the annotated tags that point
// into the pack, so then the tags are part of the key. Nothing else of the
// refs is, so a push to a branch does not invalidate everyone's packs: a
// fetch after it wants the new tip, which is a different input. The
// storage key keeps every repository's packs apart (and a recreated
// repository gets a new one). The tags are read from the ref files
// (refState), not by a for-each-ref process.
func (h *Handler) packKey(req *request, flags []string, input []byte) (string, error) {
	sum := sha256.New()
	ns := req.route.remote.namespace()
	fmt.Fprintf(sum, "strata pack cache 2\x00%s\x00%s\x00", req.meta.StorageKey, ns)
	for _, f := range flags {
		fmt.Fprintf(sum, "%s\x00", f)
	}
	if slices.Contains(flags, "--include-tag") {
		prefixes := []string{"refs/tags/"}
		if ns != git.NormalNamespace {
			prefixes = append(prefixes, ns.Prefix()+"refs/tags/")
		}
		tags, err := refState(req.repo.Path(), prefixes...)
		if err != nil {
			return "", err
		}
		sum.Write(tags)
	}
	sum.Write([]byte{0})
	sum.Write(input)
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// bandStream frames a byte stream as stdout bands for the hook.
type bandStream struct{ w *bufio.Writer }

func (b *bandStream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), maxPktPayload-1)
		fmt.Fprintf(b.w, "%04x%c", c+pktHeaderLen+1, bandStdout)
		if _, err := b.w.Write(p[:c]); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}
