package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// GET /api/v1/repos/branches/diff (spec §5.4.4): what branch changed since
// it left base — the diff from merge-base(base, branch) to branch, like a
// pull request's. Branches with no common history diff from the empty tree.
func (h *Handler) branchDiff(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r)
	branch := q.str("branch")
	if branch == "" {
		return badRequest("branch is required")
	}
	base := q.str("base")
	if base == "" {
		base = req.meta.DefaultBranch
	}
	ephemeral, err := q.boolean("ephemeral", false)
	if err != nil {
		return err
	}
	ephemeralBase, err := q.boolean("ephemeral_base", false)
	if err != nil {
		return err
	}
	paths, err := diffPaths(q)
	if err != nil {
		return err
	}
	head, err := resolveRevision(ctx, req, git.NamespaceFor(ephemeral), branch)
	if err != nil {
		return err
	}
	baseTip, err := resolveRevision(ctx, req, git.NamespaceFor(ephemeralBase), base)
	if err != nil {
		return err
	}
	mergeBase, err := req.repo.MergeBase(ctx, baseTip, head)
	if err != nil {
		return err
	}
	fields := []jsonField{{"branch", branch}, {"base", base}}
	if mergeBase != "" {
		fields = append(fields, jsonField{"merge_base_sha", string(mergeBase)})
	}
	return streamDiff(w, r, req, mergeBase, head, paths, fields)
}

// GET /api/v1/repos/diff (spec §5.9.4): the diff from base_ref, or from
// the first parent of ref (a root commit: the empty tree), to ref. Patches
// are always exact, whatever git_apply_compatible says (see
// docs/api-decisions.md).
func (h *Handler) commitDiff(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r, alias{"ref", "sha"}, alias{"base_ref", "baseSha"}, alias{"git_apply_compatible", "gitApplyCompatible"})
	ref := q.str("ref")
	if ref == "" {
		return badRequest("ref (or sha) is required")
	}
	if _, err := q.boolean("git_apply_compatible", false); err != nil {
		return err
	}
	refEphemeral, err := q.boolean("ref_is_ephemeral", false)
	if err != nil {
		return err
	}
	baseEphemeral, err := q.boolean("base_is_ephemeral", false)
	if err != nil {
		return err
	}
	paths, err := diffPaths(q)
	if err != nil {
		return err
	}
	headOID, err := resolveRevision(ctx, req, git.NamespaceFor(refEphemeral), ref)
	if err != nil {
		return err
	}
	head, err := req.repo.ReadCommit(ctx, git.NormalNamespace, string(headOID))
	if err != nil {
		return err
	}
	var base, mergeBase git.ObjectID
	if baseRef := q.str("base_ref"); baseRef != "" {
		if base, err = resolveRevision(ctx, req, git.NamespaceFor(baseEphemeral), baseRef); err != nil {
			return err
		}
		if mergeBase, err = req.repo.MergeBase(ctx, base, head.OID); err != nil {
			return err
		}
	} else if len(head.Parents) > 0 {
		base = head.Parents[0]
		mergeBase = base
	}
	fields := []jsonField{{"sha", string(head.OID)}, {"base_sha", string(base)}}
	if mergeBase != "" {
		fields = append(fields, jsonField{"merge_base_sha", string(mergeBase)})
	}
	return streamDiff(w, r, req, base, head.OID, paths, fields)
}

// resolveRevision resolves a client's branch or revision in ns. Ephemeral
// names must be valid branch names: they become file paths under refs/.
func resolveRevision(ctx context.Context, req *request, ns git.Namespace, rev string) (git.ObjectID, error) {
	if ns != git.NormalNamespace {
		if err := git.ValidateBranchName(strings.TrimPrefix(rev, "refs/heads/")); err != nil {
			return "", &repo.NotFoundError{Kind: "branch", Name: rev}
		}
	}
	return req.repo.ResolveCommit(ctx, ns, rev)
}

// diffPaths validates the repeated path filters: clean repository paths;
// "" and "/" (the root) filter nothing.
func diffPaths(q query) ([]string, error) {
	var paths []string
	for _, p := range q.all("path") {
		clean, err := git.CleanDirPath(strings.TrimSpace(p))
		if err != nil {
			return nil, badRequest("invalid path filter: %v", err)
		}
		if clean == "" {
			return nil, nil // the whole tree
		}
		paths = append(paths, clean)
	}
	return paths, nil
}

// jsonField is one leading member of a streamed response object.
type jsonField struct {
	key   string
	value string
}

// streamDiff writes the diff response: the given leading fields, then
// "files" entry by entry as git produces them, then "filtered_files" and
// "stats" (whose totals are known only at the end). Nothing is written
// until the first file is ready, so a failure before that is an ordinary
// error response; one after it aborts the connection, leaving the client a
// truncated body rather than a well-formed wrong answer.
func streamDiff(w http.ResponseWriter, r *http.Request, req *request, base, head git.ObjectID, paths []string, fields []jsonField) error {
	filtered := []map[string]any{}
	started := false
	n := 0
	var enc []byte
	start := func() {
		started = true
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		buf := []byte{'{'}
		for _, f := range fields {
			buf = appendJSON(buf, f.key)
			buf = append(buf, ':')
			buf = appendJSON(buf, f.value)
			buf = append(buf, ',')
		}
		buf = append(buf, `"files":[`...)
		_, _ = w.Write(buf)
	}
	stats, err := req.repo.Diff(r.Context(), base, head, repo.DiffOptions{Paths: paths}, func(fd *repo.FileDiff) error {
		if fd.Filtered != "" {
			filtered = append(filtered, map[string]any{
				"path":     fd.Path,
				"state":    fd.Status,
				"old_path": nullable(fd.OldPath),
				"bytes":    fd.Size,
				"is_eof":   true,
			})
			return nil
		}
		if !started {
			start()
		}
		enc = enc[:0]
		if n > 0 {
			enc = append(enc, ',')
		}
		n++
		enc = appendJSON(enc, map[string]any{
			"path":      fd.Path,
			"state":     fd.Status,
			"old_path":  nullable(fd.OldPath),
			"raw":       string(fd.Patch),
			"bytes":     len(fd.Patch),
			"is_eof":    true,
			"additions": fd.Additions,
			"deletions": fd.Deletions,
		})
		_, err := w.Write(enc)
		return err
	})
	if err != nil {
		if started {
			// The status is out; only a broken body can say it failed.
			panic(http.ErrAbortHandler)
		}
		return err
	}
	if !started {
		start()
	}
	tail := []byte(`],"filtered_files":`)
	tail = appendJSON(tail, filtered)
	tail = append(tail, `,"stats":`...)
	tail = appendJSON(tail, map[string]int{
		"files":     stats.Files,
		"additions": stats.Additions,
		"deletions": stats.Deletions,
		"changes":   stats.Additions + stats.Deletions,
	})
	tail = append(tail, "}\n"...)
	_, _ = w.Write(tail)
	return nil
}

// appendJSON appends v's JSON encoding (HTML characters unescaped, as
// writeJSON sends them).
func appendJSON(dst []byte, v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only maps of strings and numbers come here.
		panic(errors.New("encode diff entry: " + err.Error()))
	}
	return append(dst, strings.TrimSuffix(b.String(), "\n")...)
}
