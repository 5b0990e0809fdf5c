package vfscli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// webOptions are serve's response switches.
type webOptions struct {
	basePath string // "" or "/x" (leading slash, no trailing one)
	cors     bool   // Access-Control-* on every response, OPTIONS → 204
	noStore  bool   // Cache-Control: no-store on every response, instead of no-cache
}

// webHandler serves a repository's files over HTTP: raw files, HTML or
// JSON directory listings, one ETag per commit.
//
// Single-ref mode (store nil) calls resolve on every request, so a new
// commit on the branch shows at once. Multi-ref mode (store set) takes
// the first path segment as a branch, else a tag.
//
// Only GET and HEAD are served (and OPTIONS with CORS); anything else is
// 405. gitstore's wsgiref server answered every method as GET.
type webHandler struct {
	opt     webOptions
	resolve func() (*vfs.FS, error) // single-ref mode
	label   string                  // the "ref" of JSON answers in single-ref mode
	store   *vfs.Store              // multi-ref mode
}

func (h *webHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if h.opt.cors {
		hdr.Set("Access-Control-Allow-Origin", "*")
		hdr.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "Accept, If-None-Match")
		hdr.Set("Access-Control-Expose-Headers", "ETag, Content-Length")
		if r.Method == http.MethodOptions {
			h.noStore(hdr)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	h.noStore(hdr)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		allow := "GET, HEAD"
		if h.opt.cors {
			allow += ", OPTIONS"
		}
		hdr.Set("Allow", allow)
		h.text(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	// The base path is matched by whole segments: /xyz is not under /x
	// (gitstore compared plain string prefixes).
	rest := r.URL.Path
	if b := h.opt.basePath; b != "" {
		if rest != b && !strings.HasPrefix(rest, b+"/") {
			h.text(w, http.StatusNotFound, "Not found")
			return
		}
		rest = rest[len(b):]
	}
	rest = strings.Trim(rest, "/")
	if h.store == nil {
		snap, err := h.resolve()
		if err != nil {
			h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
			return
		}
		h.serveSnapshot(w, r, snap, h.label, "", rest)
		return
	}
	if rest == "" {
		h.serveRefs(w, r)
		return
	}
	ref, p, _ := strings.Cut(rest, "/")
	snap, err := h.lookupRef(ref)
	if errors.Is(err, fs.ErrNotExist) {
		h.text(w, http.StatusNotFound, "Unknown ref: "+ref)
		return
	}
	if err != nil {
		h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
		return
	}
	h.serveSnapshot(w, r, snap, ref, "/"+ref, p)
}

// noStore sets --no-cache's header; it goes on every response.
func (h *webHandler) noStore(hdr http.Header) {
	if h.opt.noStore {
		hdr.Set("Cache-Control", "no-store")
	}
}

// lookupRef finds a branch, else a tag (refs containing "/" can't be named
// this way, as in gitstore).
func (h *webHandler) lookupRef(name string) (*vfs.FS, error) {
	snap, err := h.store.Branches().Get(name)
	if errors.Is(err, fs.ErrNotExist) {
		snap, err = h.store.Tags().Get(name)
	}
	return snap, err
}

func (h *webHandler) text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// serveSnapshot answers for path p of snap. prefix is what links put
// before the path inside the base path ("/<ref>" in multi-ref mode).
func (h *webHandler) serveSnapshot(w http.ResponseWriter, r *http.Request, snap *vfs.FS, label, prefix, p string) {
	hdr := w.Header()
	etag := `"` + snap.Hash() + `"`
	// The ETag names the commit, so it settles every path of the snapshot
	// before any lookup, 404s included.
	if r.Header.Get("If-None-Match") == etag {
		hdr.Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	typ := vfs.Tree
	if p != "" {
		var err error
		if typ, err = snap.FileType(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) || errors.Is(err, fs.ErrInvalid) {
				h.text(w, http.StatusNotFound, "Not found: "+p)
			} else {
				h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
			}
			return
		}
	}
	hdr.Set("ETag", etag)
	if !h.opt.noStore {
		hdr.Set("Cache-Control", "no-cache")
	}
	if typ == vfs.Tree {
		h.serveDir(w, r, snap, label, prefix, p)
		return
	}
	h.serveFile(w, r, snap, label, p, typ)
}

func (h *webHandler) serveFile(w http.ResponseWriter, r *http.Request, snap *vfs.FS, label, p string, typ vfs.FileType) {
	var size int64
	var body io.Reader
	if typ == vfs.Link {
		// A symlink is served as a file holding its target.
		target, err := snap.Readlink(p)
		if err != nil {
			h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
			return
		}
		size, body = int64(len(target)), strings.NewReader(target)
	} else {
		f, err := snap.OpenFile(p)
		if err != nil {
			h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
			return
		}
		size, body = st.Size(), f
	}
	if wantsJSON(r) {
		h.json(w, r, struct {
			Path string `json:"path"`
			Ref  string `json:"ref"`
			Size int64  `json:"size"`
			Type string `json:"type"`
		}{p, label, size, "file"})
		return
	}
	w.Header().Set("Content-Type", contentType(p))
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, body) // a client gone mid-file needs no answer
}

func (h *webHandler) serveDir(w http.ResponseWriter, r *http.Request, snap *vfs.FS, label, prefix, p string) {
	names, err := snap.Ls(p)
	if err != nil {
		h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
		return
	}
	slices.Sort(names)
	if wantsJSON(r) {
		h.json(w, r, struct {
			Path    string   `json:"path"`
			Ref     string   `json:"ref"`
			Entries []string `json:"entries"`
			Type    string   `json:"type"`
		}{p, label, names, "directory"})
		return
	}
	title := p
	if title == "" {
		title = "/"
	}
	lines := []string{"<html><body>", "<h1>" + html.EscapeString(title) + "</h1>", "<ul>"}
	for _, name := range names {
		href := h.href(prefix, path.Join(p, name))
		lines = append(lines, `<li><a href="`+html.EscapeString(href)+`">`+html.EscapeString(name)+"</a></li>")
	}
	lines = append(lines, "</ul>", "</body></html>")
	h.html(w, r, strings.Join(lines, "\n"))
}

// serveRefs is the multi-ref root: every branch and tag. It has no ETag:
// no single commit describes it.
func (h *webHandler) serveRefs(w http.ResponseWriter, r *http.Request) {
	branches, err := h.store.Branches().Names()
	if err == nil {
		var tags []string
		if tags, err = h.store.Tags().Names(); err == nil {
			h.writeRefs(w, r, branches, tags)
			return
		}
	}
	h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
}

func (h *webHandler) writeRefs(w http.ResponseWriter, r *http.Request, branches, tags []string) {
	if branches == nil {
		branches = []string{}
	}
	if tags == nil {
		tags = []string{}
	}
	if wantsJSON(r) {
		h.json(w, r, struct {
			Branches []string `json:"branches"`
			Tags     []string `json:"tags"`
		}{branches, tags})
		return
	}
	lines := []string{"<html><body>"}
	for _, group := range []struct {
		title string
		names []string
	}{{"Branches", branches}, {"Tags", tags}} {
		lines = append(lines, "<h1>"+group.title+"</h1>", "<ul>")
		for _, name := range group.names {
			href := h.href("", name) + "/"
			lines = append(lines, `<li><a href="`+html.EscapeString(href)+`">`+html.EscapeString(name)+"</a></li>")
		}
		lines = append(lines, "</ul>")
	}
	lines = append(lines, "</body></html>")
	h.html(w, r, strings.Join(lines, "\n"))
}

// href is the link to p (a slash-separated path below prefix): every
// segment percent-encoded, under the base path. Directories get no
// trailing slash (gitstore v0.57.0).
func (h *webHandler) href(prefix, p string) string {
	full := strings.Trim(h.opt.basePath+prefix+"/"+p, "/")
	segs := strings.Split(full, "/")
	for i, s := range segs {
		segs[i] = quoteSegment(s)
	}
	return "/" + strings.Join(segs, "/")
}

// quoteSegment percent-encodes all but RFC 3986's unreserved characters,
// as Python's urllib.parse.quote does (url.PathEscape leaves "&", "=",
// "@" and others alone).
func quoteSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func (h *webHandler) html(w http.ResponseWriter, r *http.Request, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	h.body(w, r, body)
}

func (h *webHandler) json(w http.ResponseWriter, r *http.Request, v any) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the body is JSON, not HTML
	if err := enc.Encode(v); err != nil {
		h.text(w, http.StatusInternalServerError, "Error: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	h.body(w, r, strings.TrimSuffix(b.String(), "\n"))
}

func (h *webHandler) body(w http.ResponseWriter, r *http.Request, body string) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// webTypes are the extensions whose type must not depend on the host's
// mime.types (which minimal systems lack).
var webTypes = map[string]string{
	".txt":      "text/plain; charset=utf-8",
	".md":       "text/markdown; charset=utf-8",
	".markdown": "text/markdown; charset=utf-8",
	".csv":      "text/csv; charset=utf-8",
	".html":     "text/html; charset=utf-8",
	".htm":      "text/html; charset=utf-8",
	".css":      "text/css; charset=utf-8",
	".js":       "text/javascript; charset=utf-8",
	".json":     "application/json",
	".geojson":  "application/geo+json",
	".yaml":     "application/yaml",
	".yml":      "application/yaml",
	".xml":      "application/xml",
	".svg":      "image/svg+xml",
	".png":      "image/png",
	".jpg":      "image/jpeg",
	".jpeg":     "image/jpeg",
	".gif":      "image/gif",
	".pdf":      "application/pdf",
}

// contentType guesses a file's type from its extension. Data formats a
// browser would download are shown as text instead: JSON, GeoJSON and
// YAML as text/plain, XML as text/xml.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	t, ok := webTypes[ext]
	if !ok {
		t = mime.TypeByExtension(ext)
	}
	base, _, _ := strings.Cut(t, ";")
	switch strings.TrimSpace(base) {
	case "":
		return "application/octet-stream"
	case "application/json", "application/geo+json", "application/yaml", "application/x-yaml", "text/yaml":
		return "text/plain; charset=utf-8"
	case "application/xml", "text/xml":
		return "text/xml; charset=utf-8"
	}
	return t
}

// logRequests writes `<ip> - <METHOD> <path> <code>` for each request.
func logRequests(next http.Handler, w io.Writer) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: rw, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		fmt.Fprintf(w, "%s - %s %s %d\n", ip, r.Method, r.URL.RequestURI(), rec.code)
	})
}

// statusRecorder remembers the status a handler sent. Unwrap lets
// http.ResponseController reach Flush on the real writer.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// serveUntil serves h on ln until ctx ends, then shuts down, giving open
// requests a few seconds.
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *app) serveCommand() *cobra.Command {
	var (
		branch             string
		snap               snapshotOpts
		host, basePath     string
		port               int
		all, cors, noCache bool
		openBrowser, quiet bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the repository's files over HTTP",
		Long: "Serve files read-only over HTTP: raw files, directory listings as HTML,\n" +
			"or JSON when the request accepts application/json. By default one branch\n" +
			"is served live (each request sees its newest commit); --all serves every\n" +
			"branch and tag as /<ref>/<path>. Only GET and HEAD are answered.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all && snap.set() {
				return failf("--all cannot be combined with --ref, --path, --match, --before, or --back")
			}
			s, err := a.openRead()
			if err != nil {
				return err
			}
			h := &webHandler{opt: webOptions{basePath: normBasePath(basePath), cors: cors, noStore: noCache}}
			mode := "multi-ref"
			if all {
				h.store = s
			} else {
				name, err := currentBranch(s, branch)
				if err != nil {
					return err
				}
				h.label = name
				if snap.ref != "" {
					h.label = snap.ref
				}
				// Re-resolved per request: the branch tip moves.
				h.resolve = func() (*vfs.FS, error) { return a.snapshot(s, refPath{Repo: true}, branch, &snap) }
				if _, err := h.resolve(); err != nil {
					return err
				}
				mode = "branch " + h.label + " (live)"
				if snap.back > 0 {
					mode += fmt.Sprintf(" ~%d", snap.back)
				}
			}
			var handler http.Handler = h
			if !quiet {
				handler = logRequests(h, a.stderr)
			}
			url := ""
			return a.listen(cmd.Context(), host, port, handler, func(addr string) {
				url = "http://" + addr + h.opt.basePath + "/"
				fmt.Fprintf(a.stderr, "Serving %s (%s) at %s\n", s.Path(), mode, url)
				fmt.Fprintln(a.stderr, "Press Ctrl+C to stop.")
				if openBrowser {
					a.openURL(cmd.Context(), url)
				}
			}, "\nStopped.")
		},
	}
	addBranchFlag(cmd, &branch)
	addSnapshotFlags(cmd, &snap)
	fl := cmd.Flags()
	fl.StringVar(&host, "host", "127.0.0.1", "address to listen on")
	fl.IntVarP(&port, "port", "p", 8000, "port to listen on (0: any free port)")
	fl.BoolVar(&all, "all", false, "serve every branch and tag as /<ref>/<path>")
	fl.BoolVar(&cors, "cors", false, "allow cross-origin requests (Access-Control-* headers)")
	fl.BoolVar(&noCache, "no-cache", false, "send Cache-Control: no-store")
	fl.StringVar(&basePath, "base-path", "", "serve under this URL prefix")
	fl.BoolVar(&openBrowser, "open", false, "open the URL in a browser")
	fl.BoolVarP(&quiet, "quiet", "q", false, "do not log requests")
	return cmd
}

// normBasePath gives a prefix one leading slash and no trailing one; "/"
// and "" mean none.
func normBasePath(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

// listen serves h on host:port until ctx ends or SIGINT/SIGTERM arrives.
// started gets the real address (port 0 picks one) once the socket is
// open; stopped is printed on the way out.
func (a *app) listen(ctx context.Context, host string, port int, h http.Handler, started func(addr string), stopped string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return failf("Cannot listen on %s:%d: %v", host, port, err)
	}
	started(ln.Addr().String())
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = serveUntil(ctx, ln, h)
	fmt.Fprintln(a.stderr, stopped)
	return err
}

// openURL asks the desktop to show url; failure only warns (a headless
// machine has no browser). The socket is already listening, so the
// browser's request waits in the backlog until serving starts.
func (a *app) openURL(ctx context.Context, url string) {
	opener := "xdg-open"
	switch runtime.GOOS {
	case "darwin":
		opener = "open"
	case "windows":
		opener = "explorer"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, opener, url).Run(); err != nil {
		fmt.Fprintf(a.stderr, "WARNING: cannot open a browser: %v\n", err)
	}
}
