package vfscli

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/internal/git"
)

// maxUploadRequestBytes bounds a fetch negotiation body (wants, haves,
// arguments). A huge history negotiates in several rounds, each far below
// this.
const maxUploadRequestBytes = 64 << 20

// gitHandler serves one bare repository read-only over Git's smart HTTP
// protocol (gitprotocol-http(5)): the ref advertisement and
// git-upload-pack, so clone and fetch work; every receive-pack request is
// refused with 403 before git runs. The repository is never written:
// upload-pack only reads, and nothing here touches HEAD.
//
// Paths are matched by suffix, so http://host/ and http://host/x.git both
// name the repository. The dumb protocol (/HEAD, /objects/...) is not
// served.
type gitHandler struct {
	git *git.Factory
	dir string // the bare repository
}

func (h *gitHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/info/refs"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		switch svc := r.URL.Query().Get("service"); svc {
		case "git-upload-pack":
			h.advertise(w, r)
		case "git-receive-pack":
			http.Error(w, "Pushing is not allowed: this server is read-only", http.StatusForbidden)
		default:
			http.Error(w, "Only the smart HTTP protocol is served", http.StatusForbidden)
		}
	case strings.HasSuffix(p, "/git-upload-pack"):
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		h.uploadPack(w, r)
	case strings.HasSuffix(p, "/git-receive-pack"):
		http.Error(w, "Pushing is not allowed: this server is read-only", http.StatusForbidden)
	default:
		http.Error(w, "Not found", http.StatusNotFound)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
}

// protocolEnv passes the client's protocol version to upload-pack. Only
// "version=N" survives: nothing else from a header reaches git's
// environment.
func protocolEnv(r *http.Request) (env []string, v2 bool) {
	v := ""
	for _, hv := range r.Header.Values("Git-Protocol") {
		for _, kv := range strings.Split(hv, ":") {
			switch kv {
			case "version=0", "version=1", "version=2":
				v = kv
			}
		}
	}
	if v == "" {
		return nil, false
	}
	return []string{"GIT_PROTOCOL=" + v}, v == "version=2"
}

// advertise answers GET info/refs?service=git-upload-pack. A v0/v1 answer
// starts with "# service=git-upload-pack" and a flush; a v2 answer is the
// capability list alone, as git-http-backend(1) does.
func (h *gitHandler) advertise(w http.ResponseWriter, r *http.Request) {
	env, v2 := protocolEnv(r)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/x-git-upload-pack-advertisement")
	hdr.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	var prefix string
	if !v2 {
		line := "# service=git-upload-pack\n"
		prefix = fmt.Sprintf("%04x%s0000", len(line)+4, line)
	}
	if r.Method == http.MethodHead {
		return
	}
	cmd := git.Command{Name: "upload-pack", Flags: []string{"--stateless-rpc", "--advertise-refs"}, Args: []string{h.dir}}
	h.run(r.Context(), w, cmd, nil, env, prefix)
}

// uploadPack answers POST git-upload-pack: the negotiation goes to git's
// stdin and the pack streams back from its stdout.
func (h *gitHandler) uploadPack(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-request" {
		http.Error(w, "Bad content type: "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxUploadRequestBytes)
	if r.Header.Get("Content-Encoding") == "gzip" {
		// git compresses large negotiations.
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, "Bad gzip body", http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = io.LimitReader(zr, maxUploadRequestBytes)
	}
	env, _ := protocolEnv(r)
	w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	w.Header().Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	cmd := git.Command{Name: "upload-pack", Flags: []string{"--stateless-rpc"}, Args: []string{h.dir}}
	h.run(r.Context(), w, cmd, body, env, "")
}

// run streams git's stdout into the response after prefix. The status is
// fixed once bytes go out, so a failure is a 500 only if nothing was sent;
// later ones surface to the client as a broken pack stream.
func (h *gitHandler) run(ctx context.Context, w http.ResponseWriter, cmd git.Command, stdin io.Reader, env []string, prefix string) {
	out := &sentWriter{w: w}
	if prefix != "" {
		_, _ = io.WriteString(out, prefix)
	}
	opts := []git.Option{git.WithStdout(out), git.WithEnv(env...)}
	if stdin != nil {
		opts = append(opts, git.WithStdin(stdin))
	}
	if err := h.git.Run(ctx, h.dir, cmd, opts...); err != nil && !out.sent {
		http.Error(w, "git upload-pack failed", http.StatusInternalServerError)
	}
}

// sentWriter records whether any byte reached the response, and flushes
// each write so a slow pack reaches the client as it is made.
type sentWriter struct {
	w    http.ResponseWriter
	sent bool
}

func (s *sentWriter) Write(p []byte) (int, error) {
	s.sent = true
	n, err := s.w.Write(p)
	if err == nil {
		err = http.NewResponseController(s.w).Flush()
	}
	return n, err
}

func (a *app) gitserveCommand() *cobra.Command {
	var host string
	var port int
	cmd := &cobra.Command{
		Use:   "gitserve",
		Short: "Serve the repository read-only over Git's smart HTTP protocol",
		Long: "Serve the repository for git clone and git fetch at http://HOST:PORT/.\n" +
			"Pushes are refused (403). The repository is never modified: if HEAD does\n" +
			"not name an existing branch, clones get no checkout (a warning says so;\n" +
			"clone with -b BRANCH, or set HEAD with `strata fs branch current -b`).",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openRead()
			if err != nil {
				return err
			}
			f, err := git.NewFactory(git.FactoryOptions{})
			if err != nil {
				return err
			}
			if head, err := s.Branches().CurrentName(); err != nil {
				return err
			} else if head == "" {
				fmt.Fprintln(a.stderr, "WARNING: HEAD does not point to an existing branch: clones will check nothing out (use git clone -b BRANCH)")
			}
			h := logRequests(&gitHandler{git: f, dir: s.Path()}, a.stderr)
			return a.listen(cmd.Context(), host, port, h, func(addr string) {
				fmt.Fprintf(a.stderr, "Serving %s at http://%s/\n", s.Path(), addr)
				fmt.Fprintln(a.stderr, "Press Ctrl+C to stop.")
			}, "\nStopped.")
		},
	}
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "address to listen on")
	cmd.Flags().IntVarP(&port, "port", "p", 8000, "port to listen on (0: any free port)")
	return cmd
}
