package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

func commitJSON(c *repo.Commit) map[string]any {
	parents := make([]string, len(c.Parents))
	for i, p := range c.Parents {
		parents[i] = string(p)
	}
	return map[string]any{
		"sha":             string(c.OID),
		"parent_shas":     parents,
		"message":         strings.TrimRight(c.Message, "\n"),
		"author_name":     c.Author.Name,
		"author_email":    c.Author.Email,
		"committer_name":  c.Committer.Name,
		"committer_email": c.Committer.Email,
		// Q26: the author date.
		"date": c.Author.When.Format(time.RFC3339),
	}
}

// commitsCursor pins the walk to the tip the first page saw, so pages stay
// consistent while the branch moves.
type commitsCursor struct {
	Tip  string `json:"t"`
	Skip int    `json:"s"`
}

// GET /api/v1/repos/commits
func (h *Handler) listCommits(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r, alias{"ref", "branch"})
	ephemeral, err := q.boolean("ephemeral", false)
	if err != nil {
		return err
	}
	limit, err := q.limit(20, 100)
	if err != nil {
		return err
	}
	path, err := git.CleanDirPath(q.raw("path"))
	if err != nil {
		return badRequest("%v", err)
	}
	var cur commitsCursor
	if c := q.str("cursor"); c != "" {
		if err := decodeCursor(c, &cur); err != nil {
			return err
		}
		if !git.IsFullHex(cur.Tip) || cur.Skip < 0 {
			return badRequest("invalid cursor")
		}
	}
	tip := git.ObjectID(cur.Tip)
	if tip == "" {
		ref := q.str("ref")
		if ref == "" {
			ref = req.meta.DefaultBranch
		}
		tip, err = req.repo.ResolveCommit(ctx, git.NamespaceFor(ephemeral), ref)
		if errors.Is(err, repo.ErrNotFound) {
			// An empty repository has no history yet: an empty page, not 404.
			if has, herr := req.repo.HasRefs(ctx); herr == nil && !has {
				writeJSON(w, http.StatusOK, map[string]any{"commits": []any{}, "has_more": false, "next_cursor": nil})
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
	list, more, err := req.repo.Log(ctx, tip, repo.LogOptions{Path: path, Skip: cur.Skip, Limit: limit})
	if err != nil {
		return err
	}
	commits := make([]map[string]any, 0, len(list))
	for _, c := range list {
		commits = append(commits, commitJSON(c))
	}
	resp := map[string]any{"commits": commits, "has_more": more, "next_cursor": nil}
	if more {
		resp["next_cursor"] = encodeCursor(commitsCursor{Tip: string(tip), Skip: cur.Skip + len(list)})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// GET /api/v1/repos/commit
func (h *Handler) getCommit(w http.ResponseWriter, r *http.Request, req *request) error {
	ref := queryOf(r, alias{"ref", "sha"}).str("ref")
	if ref == "" {
		return badRequest("ref (or sha) is required")
	}
	c, err := req.repo.ReadCommit(r.Context(), git.NormalNamespace, ref)
	if err != nil {
		return err
	}
	out := commitJSON(c)
	if c.Signature != "" && c.Payload != "" {
		out["signature"] = c.Signature
		out["payload"] = c.Payload
	}
	writeJSON(w, http.StatusOK, map[string]any{"commit": out})
	return nil
}
