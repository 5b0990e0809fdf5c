package webui

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
)

// Page sizes and the limits that keep one page cheap to build and to show.
const (
	reposPerPage   = 50
	commitsPerPage = 50
	refsPerPage    = 200
	maxTreeEntries = 5000
	// maxInline: bigger files are offered as a raw link only.
	maxInline = 512 << 10
	// binarySniff is how much of a file decides whether it is binary:
	// git's own rule, a NUL in the first 8000 bytes.
	binarySniff = 8000
	// maxDiffBytes of patch text are shown per commit; the files after
	// that are listed without their patch, up to maxDiffFiles.
	maxDiffBytes = 1 << 20
	maxDiffFiles = 1000
	// maxPage bounds how far a history is paged (a page walks everything
	// before it, though cached).
	maxPage = 10000
)

// canRead is the API's rule for reading a repository: git:read (or
// git:write) on a token whose repo claim names it.
func canRead(p *auth.Principal, id string) bool {
	return p.Has(auth.ScopeGitRead) && p.Repo == id
}

// GET /ui/: the repositories the token may see.
func (h *Handler) home(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	type data struct {
		Repos    []metadata.Repo
		OrgWide  bool // listed because of org:read
		NoAccess bool
		Query    string
		Next     string // the next page's "after", "" on the last
	}
	var d data
	q := r.URL.Query()
	switch {
	case p.Has(auth.ScopeOrgRead):
		// GET /repos lists the token's organisation with org:read; so
		// does this page.
		d.OrgWide, d.Query = true, q.Get("q")
		var after int64
		if s := q.Get("after"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return &pageError{status: http.StatusBadRequest, msg: "Invalid page."}
			}
			after = n
		}
		list, more, err := h.store.ListRepos(r.Context(), p.Org, metadata.ListReposOptions{AfterSeq: after, Limit: reposPerPage, Query: d.Query})
		if err != nil {
			return err
		}
		d.Repos = list
		if more && len(list) > 0 {
			d.Next = strconv.FormatInt(list[len(list)-1].Seq, 10)
		}
	case p.Has(auth.ScopeGitRead):
		m, err := h.store.Repo(r.Context(), p.Org, p.Repo)
		switch {
		case errors.Is(err, metadata.ErrNotFound), errors.Is(err, metadata.ErrDeleted):
		case err != nil:
			return err
		default:
			d.Repos = []metadata.Repo{m}
		}
	default:
		d.NoAccess = true
	}
	h.render(w, http.StatusOK, "repos", view{Title: "Repositories", Principal: p, Data: d})
	return nil
}

// repoRequest is a page on one repository the principal may read.
type repoRequest struct {
	p    *auth.Principal
	meta metadata.Repo
	repo *repo.Repo
	nav  *repoNav
	// revSet: the visitor named a revision (else the default branch).
	revSet bool
}

// repoPage resolves ?repo= exactly as the API's lookup does: the
// organisation comes from the token, the repository from the store by
// (org, id), the directory from its storage key.
func (h *Handler) repoPage(fn func(http.ResponseWriter, *http.Request, *repoRequest) error) func(http.ResponseWriter, *http.Request, *auth.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
		q := r.URL.Query()
		id := q.Get("repo")
		if id == "" {
			return &pageError{status: http.StatusBadRequest, msg: "No repository named."}
		}
		if !canRead(p, id) {
			return &pageError{status: http.StatusForbidden, msg: "This token does not grant read access to this repository."}
		}
		meta, err := h.store.Repo(r.Context(), p.Org, id)
		if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrDeleted) {
			return &pageError{status: http.StatusNotFound, msg: "Repository not found."}
		}
		if err != nil {
			return err
		}
		rp, err := h.repos.Open(r.Context(), meta.StorageKey)
		if err != nil {
			return err
		}
		rq := &repoRequest{p: p, meta: meta, repo: rp, nav: &repoNav{ID: id, DefaultBranch: meta.DefaultBranch, Rev: q.Get("rev")}}
		if rq.nav.Rev == "" {
			rq.nav.Rev = meta.DefaultBranch
		} else {
			rq.revSet = true
		}
		return fn(w, r, rq)
	}
}

// resolve returns the commit the page's revision names. empty is true
// when the default branch does not exist yet (a repository without
// commits), which pages show as such rather than as an error.
func (rq *repoRequest) resolve(r *http.Request) (commit git.ObjectID, empty bool, err error) {
	commit, err = rq.repo.ResolveCommit(r.Context(), git.NormalNamespace, rq.nav.Rev)
	if errors.Is(err, repo.ErrNotFound) && !rq.revSet {
		return "", true, nil
	}
	return commit, false, err
}

func (h *Handler) renderRepo(w http.ResponseWriter, r *http.Request, rq *repoRequest, page, tab, title string, d any) {
	rq.nav.Tab = tab
	h.render(w, http.StatusOK, page, view{Title: title + " · " + rq.nav.ID, Principal: rq.p, Repo: rq.nav, Data: d})
}

// crumb is one step of a path's breadcrumb.
type crumb struct{ Name, Path string }

func crumbs(p string) []crumb {
	if p == "" {
		return nil
	}
	var out []crumb
	for i, seg := range strings.Split(p, "/") {
		full := seg
		if i > 0 {
			full = out[i-1].Path + "/" + seg
		}
		out = append(out, crumb{Name: seg, Path: full})
	}
	return out
}

// GET /ui/tree?repo=&rev=&path=
func (h *Handler) tree(w http.ResponseWriter, r *http.Request, rq *repoRequest) error {
	type entry struct {
		Name string
		repo.TreeEntry
	}
	type data struct {
		Path      string
		Crumbs    []crumb
		Commit    git.ObjectID
		Empty     bool
		Entries   []entry
		Truncated bool
	}
	dir, err := git.CleanDirPath(r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	d := data{Path: dir, Crumbs: crumbs(dir)}
	commit, empty, err := rq.resolve(r)
	if err != nil {
		return err
	}
	d.Commit, d.Empty = commit, empty
	if !empty {
		prefix := ""
		if dir != "" {
			prefix = dir + "/"
		}
		err = rq.repo.ListTree(r.Context(), commit, repo.ListTreeOptions{Dir: dir, WithSizes: true}, func(e repo.TreeEntry) bool {
			if len(d.Entries) == maxTreeEntries {
				d.Truncated = true
				return false
			}
			d.Entries = append(d.Entries, entry{Name: strings.TrimPrefix(e.Path, prefix), TreeEntry: e})
			return true
		})
		var nf *repo.NotFoundError
		if errors.As(err, &nf) && nf.Kind == "directory" {
			// The path is there but is a file: show it as one.
			http.Redirect(w, r, link("blob", "repo", rq.nav.ID, "rev", r.URL.Query().Get("rev"), "path", dir), http.StatusSeeOther)
			return nil
		}
		if err != nil {
			return err
		}
		// Directories first, each group in git's order.
		slices.SortStableFunc(d.Entries, func(a, b entry) int {
			return boolRank(a.Type != repo.EntryTree) - boolRank(b.Type != repo.EntryTree)
		})
	}
	title := "Files"
	if dir != "" {
		title = dir
	}
	h.renderRepo(w, r, rq, "tree", "files", title, d)
	return nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// GET /ui/blob?repo=&rev=&path=
func (h *Handler) blob(w http.ResponseWriter, r *http.Request, rq *repoRequest) error {
	type data struct {
		Path     string
		Crumbs   []crumb
		OID      git.ObjectID
		Size     int64
		Lines    []string
		Binary   bool
		TooLarge bool
	}
	p, f, err := rq.openFile(r)
	if err != nil {
		return err
	}
	defer f.Close()
	d := data{Path: p, Crumbs: crumbs(p), OID: f.OID, Size: f.Size}
	if f.Size > maxInline {
		d.TooLarge = true
	} else {
		buf := make([]byte, f.Size)
		if _, err := io.ReadFull(f, buf); err != nil {
			return err
		}
		if bytes.IndexByte(buf[:min(len(buf), binarySniff)], 0) >= 0 {
			d.Binary = true
		} else {
			// Invalid UTF-8 (a Latin-1 file) shows as U+FFFD, not as raw bytes.
			text := strings.ToValidUTF8(string(buf), "\uFFFD")
			d.Lines = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		}
	}
	h.renderRepo(w, r, rq, "blob", "files", p, d)
	return nil
}

// GET /ui/raw?repo=&rev=&path=: the file's bytes, served so that no
// browser renders them as a page: text/plain or application/octet-stream
// (never sniffed), a download name, and a sandboxing CSP.
func (h *Handler) raw(w http.ResponseWriter, r *http.Request, rq *repoRequest) error {
	p, f, err := rq.openFile(r)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, binarySniff)
	head, err := br.Peek(binarySniff)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	ctype, disp := "text/plain; charset=utf-8", "inline"
	if bytes.IndexByte(head, 0) >= 0 {
		ctype, disp = "application/octet-stream", "attachment"
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	if cd := mime.FormatMediaType(disp, map[string]string{"filename": path.Base(p)}); cd != "" {
		hd.Set("Content-Disposition", cd)
	} else {
		hd.Set("Content-Disposition", disp)
	}
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	if _, err := io.Copy(w, br); err != nil && r.Context().Err() == nil {
		// The status is sent; the short body is all the visitor can see.
		h.log.Warn("web view: raw file cut short", "path", p, "err", err)
	}
	return nil
}

// GET /ui/commits?repo=&rev=&path=&page=
func (h *Handler) commits(w http.ResponseWriter, r *http.Request, rq *repoRequest) error {
	type data struct {
		Path    string
		Empty   bool
		Commits []*repo.Commit
		Page    int
		More    bool
	}
	q := r.URL.Query()
	var d data
	if s := q.Get("path"); s != "" {
		p, err := git.CleanPath(s)
		if err != nil {
			return err
		}
		d.Path = p
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxPage {
			return &pageError{status: http.StatusBadRequest, msg: "Invalid page."}
		}
		d.Page = n
	}
	commit, empty, err := rq.resolve(r)
	if err != nil {
		return err
	}
	d.Empty = empty
	if !empty {
		d.Commits, d.More, err = rq.repo.Log(r.Context(), commit, repo.LogOptions{Path: d.Path, Skip: d.Page * commitsPerPage, Limit: commitsPerPage})
		if err != nil {
			return err
		}
	}
	h.renderRepo(w, r, rq, "commits", "commits", "Commits", d)
	return nil
}

// diffFile is one changed file as the commit page shows it.
type diffFile struct {
	*repo.FileDiff
	Lines []diffLine
	// Cut: the patch was cut at the page's budget; Omitted: none of it
	// is shown (the budget was spent before this file).
	Cut, Omitted bool
}

// diffLine is one line of a patch with its kind for styling.
type diffLine struct {
	Class string // "add", "del", "hunk", "meta" or ""
	Text  string
}

// errDiffFull stops a diff once the page lists maxDiffFiles files.
var errDiffFull = errors.New("diff page full")

// GET /ui/commit?repo=&id=
func (h *Handler) commit(w http.ResponseWriter, r *http.Request, rq *repoRequest) error {
	type data struct {
		Commit               *repo.Commit
		Files                []diffFile
		Additions, Deletions int
		// MoreFiles: the diff changes more than maxDiffFiles files.
		MoreFiles bool
	}
	id := r.URL.Query().Get("id")
	if id == "" {
		return &pageError{status: http.StatusBadRequest, msg: "No commit named."}
	}
	c, err := rq.repo.ReadCommit(r.Context(), git.NormalNamespace, id)
	if err != nil {
		return err
	}
	d := data{Commit: c}
	// A merge is shown against its first parent, a root commit against
	// the empty tree.
	var base git.ObjectID
	if len(c.Parents) > 0 {
		base = c.Parents[0]
	}
	budget := maxDiffBytes
	_, err = rq.repo.Diff(r.Context(), base, c.OID, repo.DiffOptions{}, func(fd *repo.FileDiff) error {
		if len(d.Files) == maxDiffFiles {
			d.MoreFiles = true
			return errDiffFull
		}
		f := diffFile{FileDiff: fd}
		d.Additions += fd.Additions
		d.Deletions += fd.Deletions
		switch {
		case fd.Filtered != "":
		case budget <= 0:
			f.Omitted = true
		default:
			patch := fd.Patch
			if len(patch) > budget {
				patch, f.Cut = patch[:budget], true
			}
			budget -= len(patch)
			f.Lines = patchLines(patch)
		}
		f.Patch = nil // keep only what is shown
		d.Files = append(d.Files, f)
		return nil
	})
	if err != nil && !errors.Is(err, errDiffFull) {
		return err
	}
	h.renderRepo(w, r, rq, "commit", "commits", firstLine(c.Message), d)
	return nil
}

// patchLines splits a file's patch into lines classed for colour: the
// header up to the first hunk is "meta".
func patchLines(patch []byte) []diffLine {
	text := strings.ToValidUTF8(string(patch), "\uFFFD")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	out := make([]diffLine, 0, len(lines))
	inHunk := false
	for _, l := range lines {
		cls := ""
		switch {
		case strings.HasPrefix(l, "@@"):
			cls, inHunk = "hunk", true
		case strings.HasPrefix(l, "diff --git "):
			cls, inHunk = "meta", false
		case !inHunk || strings.HasPrefix(l, `\`):
			cls = "meta"
		case strings.HasPrefix(l, "+"):
			cls = "add"
		case strings.HasPrefix(l, "-"):
			cls = "del"
		}
		out = append(out, diffLine{Class: cls, Text: l})
	}
	return out
}

// GET /ui/branches?repo=&after=
func (h *Handler) branches(w http.ResponseWriter, r *http.Request, rq *repoRequest) error {
	type branch struct {
		Name string
		OID  git.ObjectID
	}
	type data struct {
		Branches []branch
		Next     string
	}
	after := r.URL.Query().Get("after")
	refs, err := rq.repo.ListRefs(r.Context(), "refs/heads/")
	if err != nil {
		return err
	}
	var d data
	for _, ref := range refs {
		name := strings.TrimPrefix(string(ref.Name), "refs/heads/")
		if after != "" && name <= after {
			continue
		}
		if len(d.Branches) == refsPerPage {
			d.Next = d.Branches[len(d.Branches)-1].Name
			break
		}
		d.Branches = append(d.Branches, branch{Name: name, OID: ref.OID})
	}
	h.renderRepo(w, r, rq, "branches", "branches", "Branches", d)
	return nil
}

// GET /ui/tags?repo=&after=
func (h *Handler) tags(w http.ResponseWriter, r *http.Request, rq *repoRequest) error {
	type data struct {
		Tags []repo.Tag
		Next string
	}
	list, more, err := rq.repo.ListTags(r.Context(), r.URL.Query().Get("after"), refsPerPage)
	if err != nil {
		return err
	}
	d := data{Tags: list}
	if more && len(list) > 0 {
		d.Next = list[len(list)-1].Name
	}
	h.renderRepo(w, r, rq, "tags", "tags", "Tags", d)
	return nil
}

// openFile opens the file the request's path names at its revision, for
// the file view and the raw download alike.
func (rq *repoRequest) openFile(r *http.Request) (string, *repo.File, error) {
	p, err := git.CleanPath(r.URL.Query().Get("path"))
	if err != nil {
		return "", nil, err
	}
	commit, empty, err := rq.resolve(r)
	if err != nil {
		return "", nil, err
	}
	if empty {
		return "", nil, &pageError{status: http.StatusNotFound, msg: "This repository has no commits yet."}
	}
	f, err := rq.repo.OpenFile(r.Context(), commit, p)
	if err != nil {
		return "", nil, err
	}
	return p, f, nil
}
