package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/upstream"
)

// baseRepoBody is base_repo as the SDK sends it (spec §5.1.1).
type baseRepoBody struct {
	Provider      string `json:"provider"`
	Owner         string `json:"owner"`
	Name          string `json:"name"`
	DefaultBranch string `json:"default_branch"`
	Operation     string `json:"operation"`
	Ref           string `json:"ref"`
	SHA           string `json:"sha"`
	UpstreamHost  string `json:"upstream_host"`
	Auth          struct {
		Token    string `json:"token"`
		AuthType string `json:"auth_type"`
	} `json:"auth"`
}

type createRepoBody struct {
	DefaultBranch string        `json:"default_branch"`
	BaseRepo      *baseRepoBody `json:"base_repo"`
	// InitialCommit is the commit of a snapshot (operation "snapshot").
	InitialCommit *struct {
		Message   string      `json:"message"`
		Author    *signerBody `json:"author"`
		Committer *signerBody `json:"committer"`
	} `json:"initial_commit"`
}

// snapshotCommit validates initial_commit: required with a snapshot
// base_repo, refused without one.
func (h *Handler) snapshotCommit(body *createRepoBody) (*repo.SnapshotOptions, error) {
	snapshot := body.BaseRepo != nil && body.BaseRepo.Operation == "snapshot"
	ic := body.InitialCommit
	switch {
	case !snapshot && ic != nil:
		return nil, badRequest(`initial_commit is only accepted with a base_repo whose operation is "snapshot"`)
	case !snapshot:
		return nil, nil
	case body.BaseRepo.Provider != "code" && body.BaseRepo.Provider != "code.storage":
		return nil, badRequest(`a snapshot's base_repo.provider must be "code.storage"`)
	case ic == nil:
		return nil, badRequest("initial_commit is required for a snapshot")
	case strings.TrimSpace(ic.Message) == "":
		return nil, badRequest("initial_commit.message is required")
	case strings.ContainsRune(ic.Message, 0):
		return nil, badRequest("initial_commit.message may not contain NUL")
	case ic.Author == nil:
		return nil, badRequest("initial_commit.author is required")
	}
	author, err := h.signerOf("initial_commit.author", ic.Author)
	if err != nil {
		return nil, err
	}
	opt := &repo.SnapshotOptions{Author: author, Message: ic.Message}
	if ic.Committer != nil {
		if opt.Committer, err = h.signerOf("initial_commit.committer", ic.Committer); err != nil {
			return nil, err
		}
	}
	return opt, nil
}

// validRepoID: ids are client-chosen strings (they may contain '/'); the
// disk never sees them, but keep them printable and bounded. Control
// characters (C0, DEL, C1), format characters (bidi embeddings, overrides
// and isolates U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F,
// zero-width characters, the BOM) and line separators make an id display
// as another one; an id of only whitespace displays as nothing.
func validRepoID(id string) error {
	if id == "" || len(id) > 512 || !utf8.ValidString(id) || strings.ContainsFunc(id, hiddenRune) || strings.TrimFunc(id, unicode.IsSpace) == "" {
		return badRequest("invalid repository id")
	}
	return nil
}

// hiddenRune reports runes that do not display as themselves.
func hiddenRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// POST /api/v1/repos
func (h *Handler) createRepo(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	p := req.principal
	if err := validRepoID(p.Repo); err != nil {
		return err
	}
	var body createRepoBody
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	defaultBranch := strings.TrimSpace(body.DefaultBranch)
	meta := metadata.Repo{Org: p.Org, ID: p.Repo}
	snapshot, err := h.snapshotCommit(&body)
	if err != nil {
		return err
	}

	var fork *repo.Repo
	var forkAt git.ObjectID
	if b := body.BaseRepo; b != nil {
		if b.BaseRepoDefault() != "" && defaultBranch == "" {
			defaultBranch = b.BaseRepoDefault()
		}
		meta.BaseRepo = &metadata.BaseRepo{Provider: b.Provider, Owner: b.Owner, Name: b.Name, DefaultBranch: b.DefaultBranch,
			Operation: b.Operation, Ref: b.Ref, SHA: b.SHA, UpstreamHost: b.UpstreamHost}
		switch b.Provider {
		case "code", "code.storage":
			switch b.Operation {
			case "", "fork":
			case "snapshot":
				if b.SHA == "" && b.Ref == "" {
					return badRequest("base_repo.ref is required for a snapshot")
				}
			default:
				return badRequest(`base_repo.operation must be "fork" or "snapshot", got %q`, b.Operation)
			}
			src, srcMeta, err := h.forkSource(r, p, b)
			if err != nil {
				return err
			}
			fork = src
			// A snapshot starts its own history: main unless told otherwise.
			if defaultBranch == "" && snapshot == nil {
				defaultBranch = srcMeta.DefaultBranch
			}
			if b.SHA != "" || b.Ref != "" {
				rev := b.SHA
				if rev == "" {
					rev = b.Ref
				}
				forkAt, err = src.ResolveCommit(ctx, git.NormalNamespace, rev)
				if err != nil {
					return err
				}
			}
		case "github", "gitlab", "bitbucket", "gitea", "forgejo", "codeberg", "sr.ht":
			if b.Owner == "" || b.Name == "" {
				return badRequest("base_repo needs owner and name")
			}
			if err := upstream.Validate(meta.BaseRepo); err != nil {
				return badRequest("base_repo: %v", err)
			}
			if b.Provider == "github" {
				if err := h.githubAuth(meta.BaseRepo, b.Auth.AuthType); err != nil {
					return err
				}
			}
		default:
			return badRequest("unsupported base_repo provider %q", b.Provider)
		}
	}
	if defaultBranch == "" {
		defaultBranch = "main"
	}
	if err := git.ValidateBranchName(defaultBranch); err != nil {
		return badRequest("invalid default_branch: %v", err)
	}
	meta.DefaultBranch = defaultBranch

	created, err := h.store.CreateRepo(ctx, meta)
	if errors.Is(err, metadata.ErrExists) {
		return errorf(http.StatusConflict, "conflict", "repository already exists")
	}
	if err != nil {
		return err
	}
	switch {
	case snapshot != nil:
		snapshot.DefaultBranch, snapshot.At = defaultBranch, forkAt
		_, _, err = h.repos.Snapshot(ctx, fork, created.StorageKey, *snapshot)
	case fork != nil:
		_, err = h.repos.Fork(ctx, fork, created.StorageKey, repo.ForkOptions{DefaultBranch: defaultBranch, At: forkAt})
	default:
		_, err = h.repos.Create(ctx, created.StorageKey, defaultBranch)
		if err == nil && upstream.Linked(created) {
			// The first sync, queued durably before the 201.
			err = h.syncs.Enqueue(ctx, created, "")
		}
	}
	if err != nil {
		// Don't leave a registry entry without a repository behind it.
		if _, derr := h.store.DeleteRepo(ctx, p.Org, p.Repo); derr != nil {
			h.log.Error("roll back repository registration", "org", p.Org, "repo", p.Repo, "err", derr)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"repo_id": created.ID, "repo_name": created.ID, "message": "repository created"})
	return nil
}

// githubAuth records how a GitHub base repository is authenticated:
// "public" needs nothing; anything else (no auth_type included) is synced
// with the server's GitHub App, so 412 when there is none (spec §5.1.1
// (b)). The App's token goes to the configured GitHub only, never to an
// upstream_host.
func (h *Handler) githubAuth(b *metadata.BaseRepo, authType string) error {
	if strings.TrimSpace(authType) == metadata.AuthPublic {
		b.AuthType = metadata.AuthPublic
		return nil
	}
	if !h.syncs.GitHubApp() {
		return errorf(http.StatusPreconditionFailed, "precondition_failed",
			`GitHub App authentication is not configured on this server; sync a public repository with base_repo.auth.auth_type "public"`)
	}
	if b.UpstreamHost != "" {
		return badRequest(`base_repo.upstream_host is not accepted for a GitHub repository synced with the GitHub App`)
	}
	b.AuthType = metadata.AuthGitHubApp
	return nil
}

// BaseRepoDefault is the upstream's default branch, which wins over the
// top-level default_branch (spec §5.1.1 priority).
func (b *baseRepoBody) BaseRepoDefault() string { return strings.TrimSpace(b.DefaultBranch) }

// forkSource verifies the nested token of a fork request and opens the
// source. Forks never cross organisations.
func (h *Handler) forkSource(r *http.Request, p *auth.Principal, b *baseRepoBody) (*repo.Repo, metadata.Repo, error) {
	if b.Owner != "" && b.Owner != p.Org {
		return nil, metadata.Repo{}, errorf(http.StatusForbidden, "forbidden", "forks across organisations are not allowed")
	}
	if b.Name == "" {
		return nil, metadata.Repo{}, badRequest("base_repo.name is required for a fork")
	}
	if b.Auth.Token == "" {
		return nil, metadata.Repo{}, errorf(http.StatusUnauthorized, "unauthorized", "base_repo.auth.token is required for a fork")
	}
	sp, err := h.verifier.Verify(b.Auth.Token)
	if err != nil {
		return nil, metadata.Repo{}, &httpError{status: http.StatusUnauthorized, label: "unauthorized", msg: "invalid base_repo token", cause: err}
	}
	if sp.Org != p.Org || sp.Repo != b.Name || !sp.Has(auth.ScopeGitRead) {
		return nil, metadata.Repo{}, errorf(http.StatusForbidden, "forbidden", "base_repo token does not grant git:read on %s", b.Name)
	}
	srcMeta, err := h.store.Repo(r.Context(), p.Org, b.Name)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrDeleted) {
			return nil, metadata.Repo{}, errorf(http.StatusNotFound, "not_found", "fork source %s not found", b.Name)
		}
		return nil, metadata.Repo{}, err
	}
	src, err := h.repos.Open(r.Context(), srcMeta.StorageKey)
	if err != nil {
		return nil, metadata.Repo{}, err
	}
	return src, srcMeta, nil
}

// repoJSON is a repository as GET /repos and GET /repo show it.
func repoJSON(m metadata.Repo) map[string]any {
	out := map[string]any{
		"repo_id":        m.ID,
		"repo_name":      m.ID,
		"url":            m.ID, // 1.17.1 requires it; newer SDKs prefer repo_name
		"default_branch": m.DefaultBranch,
		"created_at":     m.CreatedAt.UTC().Format(time.RFC3339),
	}
	if b := m.BaseRepo; b != nil && b.Provider != "" {
		base := map[string]any{"provider": b.Provider, "owner": b.Owner, "name": b.Name}
		if b.DefaultBranch != "" {
			base["default_branch"] = b.DefaultBranch
		}
		out["base_repo"] = base
	}
	return out
}

type repoCursor struct {
	Seq int64 `json:"s"`
}

// GET /api/v1/repos
func (h *Handler) listRepos(w http.ResponseWriter, r *http.Request, req *request) error {
	q := queryOf(r)
	limit, err := q.limit(20, 100)
	if err != nil {
		return err
	}
	var cur repoCursor
	if c := q.str("cursor"); c != "" {
		if err := decodeCursor(c, &cur); err != nil {
			return err
		}
	}
	list, more, err := h.store.ListRepos(r.Context(), req.principal.Org, metadata.ListReposOptions{AfterSeq: cur.Seq, Limit: limit, Query: q.str("q")})
	if err != nil {
		return err
	}
	repos := make([]map[string]any, 0, len(list))
	for _, m := range list {
		repos = append(repos, repoJSON(m))
	}
	resp := map[string]any{"repos": repos, "has_more": more, "next_cursor": nil}
	if more && len(list) > 0 {
		resp["next_cursor"] = encodeCursor(repoCursor{Seq: list[len(list)-1].Seq})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// GET /api/v1/repo
func (h *Handler) getRepo(w http.ResponseWriter, r *http.Request, req *request) error {
	writeJSON(w, http.StatusOK, repoJSON(req.meta))
	return nil
}

// DELETE /api/v1/repos/delete
func (h *Handler) deleteRepo(w http.ResponseWriter, r *http.Request, req *request) error {
	p := req.principal
	m, err := h.store.DeleteRepo(r.Context(), p.Org, p.Repo)
	switch {
	case errors.Is(err, metadata.ErrDeleted):
		return errorf(http.StatusConflict, "conflict", "repository already deleted")
	case errors.Is(err, metadata.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "repository not found")
	case err != nil:
		return err
	}
	// The tombstone already hides the repository; the directory goes now.
	if err := h.repos.Remove(context.WithoutCancel(r.Context()), m.StorageKey); err != nil {
		h.log.Error("remove repository directory", "org", p.Org, "repo", p.Repo, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"repo_id": m.ID, "repo_name": m.ID, "message": "Repository " + m.ID + " deletion initiated."})
	return nil
}
