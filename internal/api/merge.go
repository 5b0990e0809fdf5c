package api

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// Bounds on a merge preview's conflict details (spec §5.5.1: content is
// "bounded in size"). Conflicts beyond maxPreviewConflicts are listed in
// filtered_conflicts; each blob's content is cut at previewContentLimit
// bytes (truncated: true). Worst case ≈ 50 × 4 × 64 KiB = 12.5 MiB.
const (
	maxPreviewConflicts = 50
	previewContentLimit = 64 << 10
)

// Reasons a conflict is listed in filtered_conflicts without details.
const (
	filterTooManyConflicts = "max_conflict_files_exceeded"
	filterSubmodule        = "submodule_conflict"
)

// GET /api/v1/repos/merge/preview (spec §5.5.1): what merging
// source_branch into target_branch would do. Read-only: git merge-tree
// writes the merged tree as unreferenced objects and no ref moves.
func (h *Handler) previewMerge(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r)
	sourceName, targetName := q.str("source_branch"), q.str("target_branch")
	if sourceName == "" || targetName == "" {
		return badRequest("source_branch and target_branch are required")
	}
	includeContent, err := q.boolean("include_content", false)
	if err != nil {
		return err
	}
	// Not sent by the SDK; accepted with the names the merge body uses.
	sourceEphemeral, err := q.boolean("source_is_ephemeral", false)
	if err != nil {
		return err
	}
	targetEphemeral, err := q.boolean("target_is_ephemeral", false)
	if err != nil {
		return err
	}
	source, err := resolveRevision(ctx, req, git.NamespaceFor(sourceEphemeral), sourceName)
	if err != nil {
		return err
	}
	target, err := resolveRevision(ctx, req, git.NamespaceFor(targetEphemeral), targetName)
	if err != nil {
		return err
	}
	pv, err := req.repo.PreviewMerge(ctx, target, source)
	if err != nil {
		return err
	}
	status := "clean"
	if !pv.Clean {
		status = "conflicted"
	}
	resp := map[string]any{
		"status":         status,
		"result":         string(pv.Outcome),
		"source_branch":  sourceName,
		"target_branch":  targetName,
		"source_tip_sha": string(source),
		"target_tip_sha": string(target),
	}
	if pv.MergeBase != "" {
		resp["merge_base_sha"] = string(pv.MergeBase)
	}
	paths := make([]string, 0, len(pv.Conflicts))
	conflicts := make([]map[string]any, 0, min(len(pv.Conflicts), maxPreviewConflicts))
	filtered := []map[string]string{}
	limit := 0
	if includeContent {
		limit = previewContentLimit
	}
	for _, c := range pv.Conflicts {
		paths = append(paths, c.Path)
		if isSubmoduleConflict(c) {
			filtered = append(filtered, map[string]string{"path": c.Path, "reason": filterSubmodule})
			continue
		}
		if len(conflicts) == maxPreviewConflicts {
			filtered = append(filtered, map[string]string{"path": c.Path, "reason": filterTooManyConflicts})
			continue
		}
		entry := map[string]any{"path": c.Path}
		for _, side := range []struct {
			key string
			oid git.ObjectID
		}{{"result", c.Result}, {"base", stageOID(c.Base)}, {"ours", stageOID(c.Ours)}, {"theirs", stageOID(c.Theirs)}} {
			blob, err := conflictBlob(ctx, req.repo, side.oid, limit)
			if err != nil {
				return err
			}
			entry[side.key] = blob
		}
		conflicts = append(conflicts, entry)
	}
	resp["conflict_paths"] = paths
	resp["conflicts"] = conflicts
	resp["filtered_conflicts"] = filtered
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func stageOID(s *repo.ConflictStage) git.ObjectID {
	if s == nil {
		return ""
	}
	return s.OID
}

func isSubmoduleConflict(c repo.MergeConflict) bool {
	for _, s := range []*repo.ConflictStage{c.Base, c.Ours, c.Theirs} {
		if s != nil && s.Mode == "160000" {
			return true
		}
	}
	return false
}

// conflictBlob is a preview blob object: truncated and binary always, oid
// and content only when there is a blob (and content only when asked for
// and the blob is text).
func conflictBlob(ctx context.Context, rp *repo.Repo, oid git.ObjectID, limit int) (map[string]any, error) {
	out := map[string]any{"truncated": false, "binary": false}
	if oid == "" {
		return out, nil
	}
	out["oid"] = string(oid)
	s, err := rp.SampleBlob(ctx, oid, limit)
	if err != nil {
		return nil, err
	}
	out["binary"] = s.Binary
	if limit > 0 && !s.Binary {
		data := s.Data
		if s.Truncated {
			data = trimPartialRune(data) // cut at a character boundary
		}
		out["content"] = string(data)
		out["truncated"] = s.Truncated
	}
	return out, nil
}

// trimPartialRune drops an incomplete UTF-8 sequence cut off at the end
// of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

type mergeBody struct {
	SourceRef               string      `json:"source_ref"`
	TargetBranch            string      `json:"target_branch"`
	Strategy                string      `json:"strategy"`
	SourceIsEphemeral       bool        `json:"source_is_ephemeral"`
	TargetIsEphemeral       bool        `json:"target_is_ephemeral"`
	ExpectedTargetSHA       string      `json:"expected_target_sha"`
	CommitMessage           string      `json:"commit_message"`
	Author                  *signerBody `json:"author"`
	Committer               *signerBody `json:"committer"`
	AllowUnrelatedHistories bool        `json:"allow_unrelated_histories"`
	Squash                  bool        `json:"squash"`
}

// POST /api/v1/repos/merge (spec §5.5.2).
func (h *Handler) merge(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	var body mergeBody
	if err := h.readJSON(r, &body, alias{"source_ref", "source_branch"}); err != nil {
		return err
	}
	sourceName := strings.TrimSpace(body.SourceRef)
	targetName := strings.TrimPrefix(strings.TrimSpace(body.TargetBranch), "refs/heads/")
	if sourceName == "" || targetName == "" {
		return badRequest("source_ref (or source_branch) and target_branch are required")
	}
	if err := git.ValidateBranchName(targetName); err != nil {
		return badRequest("invalid target_branch: %v", err)
	}
	strategy := repo.MergeStrategy(strings.TrimSpace(body.Strategy))
	switch strategy {
	case "":
		strategy = repo.MergeAlways
	case repo.MergeAlways, repo.MergeFastForwardPrefer:
	case repo.MergeFastForwardOnly:
		if body.Squash {
			return badRequest("squash cannot be combined with the ff_only strategy")
		}
	default:
		return badRequest("strategy must be merge, ff_only or ff_prefer, got %q", body.Strategy)
	}
	expected := strings.ToLower(strings.TrimSpace(body.ExpectedTargetSHA))
	if expected != "" && !git.IsFullHex(expected) {
		return badRequest("expected_target_sha must be a full 40-character commit sha")
	}
	// No author: the service identity; no committer: the author.
	author, err := h.signerOf("author", body.Author)
	if err != nil {
		return err
	}
	var committer repo.Signature
	if body.Committer != nil {
		if committer, err = h.signerOf("committer", body.Committer); err != nil {
			return err
		}
	}
	if strings.ContainsRune(body.CommitMessage, 0) {
		return badRequest("commit_message may not contain NUL")
	}

	sourceNS, targetNS := git.NamespaceFor(body.SourceIsEphemeral), git.NamespaceFor(body.TargetIsEphemeral)
	source, err := resolveRevision(ctx, req, sourceNS, sourceName)
	if err != nil {
		return err
	}
	tip, err := req.repo.ResolveBranch(targetNS, targetName)
	if err != nil {
		return err
	}
	// Every outcome moves the target forward (a merge or squash commit has
	// the old tip as first parent), so the policy sees a fast-forward.
	if err := checkCommitPolicy(req.principal, targetName, repo.Target{Old: tip}); err != nil {
		return err
	}
	res, err := req.repo.Merge(ctx, repo.MergeRequest{
		Source:                  source,
		SourceName:              sourceName,
		TargetNamespace:         targetNS,
		TargetBranch:            targetName,
		Strategy:                strategy,
		Squash:                  body.Squash,
		AllowUnrelatedHistories: body.AllowUnrelatedHistories,
		ExpectedTarget:          git.ObjectID(expected),
		Message:                 strings.TrimSpace(body.CommitMessage),
		Author:                  author,
		Committer:               committer,
	})
	if err != nil {
		return err
	}
	resp := map[string]any{
		"result":     string(res.Outcome),
		"commit_sha": string(res.Commit),
		"tree_sha":   string(res.Tree),
		"source":     map[string]any{"ref": sourceName, "branch": sourceName, "ephemeral": body.SourceIsEphemeral, "sha": string(source)},
		"target": map[string]any{"branch": targetName, "ephemeral": body.TargetIsEphemeral,
			"old_sha": string(res.Old), "new_sha": string(res.New)},
		"promoted_commits": res.Promoted,
	}
	if res.MergeBase != "" {
		resp["merge_base_sha"] = string(res.MergeBase)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
