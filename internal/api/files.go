package api

import (
	"net/http"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// resolveRef resolves the ref/ephemeral query of a read endpoint and
// returns the ref name to echo (the default branch when omitted).
func (h *Handler) resolveRef(r *http.Request, req *request) (git.ObjectID, string, error) {
	return h.resolveRefIn(r, queryOf(r), req)
}

// resolveRefIn is resolveRef for a handler that has decoded the query
// already.
func (h *Handler) resolveRefIn(r *http.Request, q query, req *request) (git.ObjectID, string, error) {
	ephemeral, err := q.boolean("ephemeral", false)
	if err != nil {
		return "", "", err
	}
	// Q1: ephemeral_base on a read selects the ephemeral namespace too.
	ephemeralBase, err := q.boolean("ephemeral_base", false)
	if err != nil {
		return "", "", err
	}
	ref := q.str("ref")
	if ref == "" {
		ref = req.meta.DefaultBranch
	}
	oid, err := req.repo.ResolveCommit(r.Context(), git.NamespaceFor(ephemeral || ephemeralBase), ref)
	return oid, ref, err
}

type pathCursor struct {
	K string `json:"k"`
}

// page is the opt-in pagination of the file listings: present cursor or
// limit → paginated; neither → everything (legacy mode).
type page struct {
	on    bool
	limit int
	after string
}

func pageOf(q query, def, max int) (page, error) {
	p := page{on: q.str("cursor") != "" || q.str("limit") != ""}
	if !p.on {
		return p, nil
	}
	var err error
	if p.limit, err = q.limit(def, max); err != nil {
		return p, err
	}
	if c := q.str("cursor"); c != "" {
		var cur pathCursor
		if err := decodeCursor(c, &cur); err != nil {
			return p, err
		}
		p.after = cur.K
	}
	return p, nil
}

// collect walks the tree keeping the entries of one page; it reports
// whether more follow.
func collect(r *http.Request, req *request, commit git.ObjectID, opt repo.ListTreeOptions, pg page, keep func(repo.TreeEntry) bool) ([]repo.TreeEntry, bool, error) {
	var list []repo.TreeEntry
	more := false
	err := req.repo.ListTree(r.Context(), commit, opt, func(e repo.TreeEntry) bool {
		if !keep(e) || pg.after != "" && e.SortKey() <= pg.after {
			return true
		}
		if pg.on && len(list) == pg.limit {
			more = true
			return false
		}
		list = append(list, e)
		return true
	})
	return list, more, err
}

func setPage(resp map[string]any, list []repo.TreeEntry, more bool) {
	resp["has_more"] = more
	if more && len(list) > 0 {
		resp["next_cursor"] = encodeCursor(pathCursor{K: list[len(list)-1].SortKey()})
	}
}

// GET /api/v1/repos/files
func (h *Handler) listFiles(w http.ResponseWriter, r *http.Request, req *request) error {
	q := queryOf(r)
	dir, err := git.CleanDirPath(q.raw("path"))
	if err != nil {
		return badRequest("%v", err)
	}
	recursive, err := q.boolean("recursive", true)
	if err != nil {
		return err
	}
	pg, err := pageOf(q, 1000, 5000)
	if err != nil {
		return err
	}
	commit, ref, err := h.resolveRef(r, req)
	if err != nil {
		return err
	}
	list, more, err := collect(r, req, commit, repo.ListTreeOptions{Dir: dir, Recursive: recursive, WithTrees: true}, pg,
		func(repo.TreeEntry) bool { return true })
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(list))
	entries := make([]map[string]any, 0, len(list))
	for _, e := range list {
		// Q3: paths holds files and symlinks, not trees or submodules.
		if e.Type == repo.EntryBlob || e.Type == repo.EntrySymlink {
			paths = append(paths, e.Path)
		}
		entries = append(entries, map[string]any{"path": e.Path, "type": string(e.Type), "mode": e.Mode})
	}
	resp := map[string]any{"paths": paths, "entries": entries, "ref": ref}
	setPage(resp, list, more)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// GET /api/v1/repos/files/metadata
func (h *Handler) listFilesMetadata(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r)
	dir, err := git.CleanDirPath(q.raw("path"))
	if err != nil {
		return badRequest("%v", err)
	}
	pg, err := pageOf(q, 200, 1000)
	if err != nil {
		return err
	}
	commit, ref, err := h.resolveRef(r, req)
	if err != nil {
		return err
	}
	list, more, err := collect(r, req, commit, repo.ListTreeOptions{Dir: dir, Recursive: true, WithSizes: true}, pg,
		func(e repo.TreeEntry) bool { return e.Type != repo.EntryTree })
	if err != nil {
		return err
	}
	paths := make([]string, len(list))
	for i, e := range list {
		paths[i] = e.Path
	}
	last, err := req.repo.LastChanges(ctx, commit, paths)
	if err != nil {
		return err
	}
	files := make([]map[string]any, 0, len(list))
	commits := map[string]any{}
	for _, e := range list {
		sha, ok := last[e.Path]
		if !ok {
			sha = commit
		}
		if _, seen := commits[string(sha)]; !seen {
			c, err := req.repo.ReadCommit(ctx, git.NormalNamespace, string(sha))
			if err != nil {
				return err
			}
			commits[string(sha)] = map[string]any{"author": c.Author.Name, "date": c.Author.When.Format(time.RFC3339), "message": c.Message}
		}
		size := e.Size
		if size < 0 {
			size = 0
		}
		files = append(files, map[string]any{"path": e.Path, "mode": e.Mode, "size": size, "type": string(e.Type), "last_commit_sha": string(sha)})
	}
	resp := map[string]any{"files": files, "commits": commits, "ref": ref}
	setPage(resp, list, more)
	writeJSON(w, http.StatusOK, resp)
	return nil
}
