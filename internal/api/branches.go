package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/signing"
)

// nsLabel is how the metadata store names a namespace.
func nsLabel(ns git.Namespace) string { return string(ns) }

// checkPolicy applies the token's ref policy to a branch. Ephemeral
// branches are matched by their user-visible name refs/heads/<name> (Q6).
func checkPolicy(p *auth.Principal, ref string, kind auth.UpdateKind) error {
	return p.Policy.Check(ref, kind)
}

// checkSignatures enforces verify-sig on an update of commits Strata did
// not write (a branch created or forced onto a revision, a tag): the rule
// pushes follow (signing.Keys.Check). Where Strata writes the commit
// itself it is unsigned, and checkCommitPolicy refuses instead.
func (h *Handler) checkSignatures(ctx context.Context, req *request, u signing.Update) error {
	if h.signing == nil {
		if !u.New.IsZero() && req.principal.Policy.Has(u.Ref, auth.OpVerifySig) {
			return &auth.DeniedError{Op: auth.OpVerifySig, Ref: u.Ref, Reason: "no signing keys are configured"}
		}
		return nil
	}
	return h.signing.Check(ctx, req.repo, req.principal.Org, req.principal.Policy, u)
}

type branchItem struct {
	name    string
	sha     git.ObjectID
	created time.Time
}

type branchCursor struct {
	T int64  `json:"t"`
	N string `json:"n"`
}

func (b branchItem) cursor() string {
	return encodeCursor(branchCursor{T: b.created.UnixNano(), N: b.name})
}

func (b branchItem) after(c branchCursor) bool {
	t := b.created.UnixNano()
	return t > c.T || t == c.T && b.name > c.N
}

// GET /api/v1/repos/branches — creation order (spec §4.2).
func (h *Handler) listBranches(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r)
	ephemeral, err := q.boolean("ephemeral", false)
	if err != nil {
		return err
	}
	limit, err := q.limit(20, 1000)
	if err != nil {
		return err
	}
	var cur *branchCursor
	if c := q.str("cursor"); c != "" {
		cur = new(branchCursor)
		if err := decodeCursor(c, cur); err != nil {
			return err
		}
	}
	ns := git.NamespaceFor(ephemeral)
	list, err := req.repo.ListRefs(ctx, ns.BranchPrefix())
	if err != nil {
		return err
	}
	created, err := h.branchTimes(ctx, req, ns)
	if err != nil {
		return err
	}
	items := make([]branchItem, 0, len(list))
	for _, ref := range list {
		name, _ := ref.Name.Branch()
		t, err := created.of(ctx, req, name, ref.OID)
		if err != nil {
			return err
		}
		items = append(items, branchItem{name: name, sha: ref.OID, created: t})
	}
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].created.Equal(items[j].created) {
			return items[i].created.Before(items[j].created)
		}
		return items[i].name < items[j].name
	})
	out := make([]map[string]any, 0, limit)
	more := false
	for _, b := range items {
		if cur != nil && !b.after(*cur) {
			continue
		}
		if len(out) == limit {
			more = true
			break
		}
		out = append(out, map[string]any{"cursor": b.cursor(), "name": b.name, "head_sha": string(b.sha), "created_at": b.created.Format(time.RFC3339)})
	}
	resp := map[string]any{"branches": out, "has_more": more, "next_cursor": nil}
	if more {
		resp["next_cursor"] = out[len(out)-1]["cursor"]
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// creationTimes are the recorded creation times of a namespace's branches.
type creationTimes map[string]time.Time

func (h *Handler) branchTimes(ctx context.Context, req *request, ns git.Namespace) (creationTimes, error) {
	records, err := h.store.Branches(ctx, req.meta.StorageKey, nsLabel(ns))
	if err != nil {
		return nil, err
	}
	created := make(creationTimes, len(records))
	for _, rec := range records {
		created[rec.Name] = rec.CreatedAt
	}
	return created, nil
}

// of is when branch name, now at tip, was created: Strata's record or,
// for a branch created outside it (Q18), the tip's committer date.
func (c creationTimes) of(ctx context.Context, req *request, name string, tip git.ObjectID) (time.Time, error) {
	if t, ok := c[name]; ok {
		return t.UTC(), nil
	}
	commit, err := req.repo.ReadCommit(ctx, git.NormalNamespace, string(tip))
	if err != nil {
		return time.Time{}, err
	}
	return commit.Committer.When.UTC(), nil
}

// GET /api/v1/repos/branch?name=&ephemeral= (API-next.md §1, getBranch).
func (h *Handler) getBranch(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	q := queryOf(r)
	name := strings.TrimPrefix(q.str("name"), "refs/heads/")
	if name == "" {
		return badRequest("name is required")
	}
	if err := git.ValidateBranchName(name); err != nil {
		return badRequest("invalid branch name: %v", err)
	}
	ephemeral, err := q.boolean("ephemeral", false)
	if err != nil {
		return err
	}
	ns := git.NamespaceFor(ephemeral)
	tip, err := req.repo.ResolveBranch(ns, name)
	if err != nil {
		return err
	}
	created, err := h.branchTimes(ctx, req, ns)
	if err != nil {
		return err
	}
	t, err := created.of(ctx, req, name, tip)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"branch": map[string]any{"name": name, "head_sha": string(tip), "created_at": t.Format(time.RFC3339)}})
	return nil
}

type createBranchBody struct {
	TargetBranch      string `json:"target_branch"`
	BaseRef           string `json:"base_ref"`
	BaseBranch        string `json:"base_branch"`
	PreferredBase     string `json:"preferred_base"`
	BaseIsEphemeral   bool   `json:"base_is_ephemeral"`
	TargetIsEphemeral bool   `json:"target_is_ephemeral"`
	Force             bool   `json:"force"`
}

// POST /api/v1/repos/branches/create
func (h *Handler) createBranch(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	var body createBranchBody
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	target := strings.TrimPrefix(strings.TrimSpace(body.TargetBranch), "refs/heads/")
	if target == "" {
		return badRequest("target_branch is required")
	}
	if err := git.ValidateBranchName(target); err != nil {
		return badRequest("invalid target_branch: %v", err)
	}
	base := strings.TrimSpace(body.BaseRef)
	if base == "" {
		base = strings.TrimSpace(body.BaseBranch)
	}
	if base == "" {
		return badRequest("base_ref is required")
	}
	baseNS := git.NamespaceFor(body.BaseIsEphemeral)
	sha, err := req.repo.ResolveCommit(ctx, baseNS, base)
	if errors.Is(err, repo.ErrNotFound) && body.PreferredBase != "" {
		sha, err = req.repo.ResolveCommit(ctx, baseNS, strings.TrimSpace(body.PreferredBase))
	}
	if err != nil {
		return err
	}
	ns := git.NamespaceFor(body.TargetIsEphemeral)
	ref := git.NewBranchReferenceName(ns, target)
	old, err := req.repo.ReadRef(ref)
	kind := auth.UpdateCreate
	switch {
	case err == nil:
		if !body.Force {
			return errorf(http.StatusConflict, "conflict", "branch %s already exists", target)
		}
		kind = auth.UpdateNonFastForward
		if ff, ferr := req.repo.IsAncestor(ctx, old, sha); ferr != nil {
			return ferr
		} else if ff {
			kind = auth.UpdateFastForward
		}
	case errors.Is(err, repo.ErrNotFound):
		old = git.ZeroOID
	default:
		return err
	}
	if err := checkPolicy(req.principal, "refs/heads/"+target, kind); err != nil {
		return err
	}
	// old is also the compare-and-swap's expectation, so the commits
	// checked are exactly those the branch gains.
	if err := h.checkSignatures(ctx, req, signing.Update{Ref: "refs/heads/" + target, Old: old, New: sha}); err != nil {
		return err
	}
	if err := req.repo.UpdateRefs(ctx, refs.Update{Ref: ref, Old: old, New: sha}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"message":             "branch created",
		"target_branch":       target,
		"target_is_ephemeral": body.TargetIsEphemeral,
		"commit_sha":          string(sha),
	})
	return nil
}

type deleteBranchBody struct {
	TargetBranch string `json:"target_branch"`
	Ephemeral    bool   `json:"ephemeral"`
}

// DELETE /api/v1/repos/branches
func (h *Handler) deleteBranch(w http.ResponseWriter, r *http.Request, req *request) error {
	var body deleteBranchBody
	if err := h.readJSON(r, &body, alias{"target_branch", "name"}); err != nil {
		return err
	}
	name := strings.TrimSpace(body.TargetBranch)
	if name == "" {
		return badRequest("target_branch (or name) is required")
	}
	if err := git.ValidateBranchName(name); err != nil {
		return badRequest("invalid branch name: %v", err)
	}
	ns := git.NamespaceFor(body.Ephemeral)
	if ns == git.NormalNamespace && name == req.meta.DefaultBranch {
		return badRequest("cannot delete the default branch %s", name)
	}
	ref := git.NewBranchReferenceName(ns, name)
	old, err := req.repo.ReadRef(ref)
	if errors.Is(err, repo.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "branch %s not found", name)
	}
	if err != nil {
		return err
	}
	if err := checkPolicy(req.principal, "refs/heads/"+name, auth.UpdateDelete); err != nil {
		return err
	}
	if err := req.repo.UpdateRefs(r.Context(), refs.Update{Ref: ref, Old: old, New: git.ZeroOID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"target_branch": name, "name": name, "message": "branch deleted", "ephemeral": body.Ephemeral})
	return nil
}
