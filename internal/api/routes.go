package api

import (
	"net/http"

	"github.com/strata-storage/strata/internal/auth"
)

// routes is the complete REST route table (API.md Appendix A, API-next.md
// §1). Every handler lives in the file named after its resource.
//
// Each repository route is served by two spellings of one handler: the
// 1.17.1 path below /api/v1/, where the token's repo claim names the
// repository, and the path-scoped one below /api/repos/{name}/, where the
// escaped {name} segment does and must equal the claim (checked in
// authenticate). Field names of both vocabularies are normalised where
// each handler decodes its request (vocabulary.go).
func (h *Handler) routes() {
	tok := h.tokenRoute
	rp := h.repoRoute
	read, write := auth.ScopeGitRead, auth.ScopeGitWrite

	// repos.go
	h.both("POST", "repos", "repos", tok(auth.ScopeRepoWrite, h.createRepo))
	h.both("GET", "repos", "repos", tok(auth.ScopeOrgRead, h.listRepos))
	h.both("GET", "repo", "repos/{name}", rp(read, h.getRepo))
	h.both("DELETE", "repos/delete", "repos/{name}", tok(auth.ScopeRepoWrite, h.deleteRepo))

	// branches.go
	h.repo("GET", "branches", rp(read, h.listBranches))
	h.repo("GET", "branch", rp(read, h.getBranch))
	h.repo("POST", "branches/create", rp(write, h.createBranch))
	h.repo("DELETE", "branches", rp(write, h.deleteBranch))

	// commitpack.go, restore.go
	h.repo("POST", "commit-pack", h.writeRoute(h.commitPack))
	h.repo("POST", "restore-commit", h.writeRoute(h.restoreCommit))

	// commits.go
	h.repo("GET", "commits", rp(read, h.listCommits))
	h.repo("GET", "commit", rp(read, h.getCommit))

	// files.go, file.go
	h.repo("GET", "files", rp(read, h.listFiles))
	h.repo("GET", "files/metadata", rp(read, h.listFilesMetadata))
	h.repo("GET", "file", rp(read, h.getFile))

	// diff.go, diffcommit.go
	h.repo("GET", "branches/diff", rp(read, h.heavy("diff", h.branchDiff)))
	h.repo("GET", "diff", rp(read, h.heavy("diff", h.commitDiff)))
	h.repo("POST", "diff-commit", h.writeRoute(h.heavy("diff-commit", h.diffCommit)))

	// merge.go
	h.repo("GET", "merge/preview", rp(read, h.previewMerge))
	h.repo("POST", "merge", rp(write, h.merge))

	// blame.go, grep.go, archive.go
	h.repo("GET", "blame", rp(read, h.heavy("blame", h.getBlame)))
	h.repo("POST", "grep", rp(read, h.heavy("grep", h.grep)))
	h.repo("POST", "archive", rp(read, h.heavy("archive", h.archive)))

	// tags.go: the path-scoped delete names the tag in the path, not the body.
	h.repo("GET", "tags", rp(read, h.listTags))
	h.repo("GET", "tag", rp(read, h.getTag))
	h.repo("POST", "tags", rp(write, h.createTag))
	h.both("DELETE", "repos/tags", "repos/{name}/tags/{tag}", rp(write, h.deleteTag))

	// notes.go
	h.repo("GET", "notes", rp(read, h.getNote))
	h.repo("POST", "notes", rp(write, h.writeNote))
	h.repo("DELETE", "notes", rp(write, h.deleteNote))
	h.repo("GET", "notes/refs", rp(read, h.listNotesRefs))

	// upstream.go
	h.repo("POST", "pull-upstream", rp(write, h.pullUpstream))
	h.repo("DELETE", "base", rp(write, h.detachUpstream))

	// credentials.go: /api/v1 names the credential in the body, the
	// path-scoped family in the path.
	h.both("POST", "repos/git-credentials", "repos/{name}/git-credentials", tok(auth.ScopeRepoWrite, h.createGitCredential))
	h.both("PUT", "repos/git-credentials", "repos/{name}/git-credentials/{id}", tok(auth.ScopeRepoWrite, h.updateGitCredential))
	h.both("DELETE", "repos/git-credentials", "repos/{name}/git-credentials/{id}", tok(auth.ScopeRepoWrite, h.deleteGitCredential))

	// webhooks.go: organisation-level, repo claim "org".
	h.both("POST", "webhooks", "webhooks", h.orgRoute(h.createWebhook, auth.ScopeRepoWrite))
	h.both("GET", "webhooks", "webhooks", h.orgRoute(h.listWebhooks, auth.ScopeRepoWrite, auth.ScopeOrgRead))
	h.both("DELETE", "webhooks", "webhooks", h.orgRoute(h.deleteWebhook, auth.ScopeRepoWrite))
	h.both("GET", "webhooks/deliveries", "webhooks/deliveries", h.orgRoute(h.listWebhookDeliveries, auth.ScopeRepoWrite, auth.ScopeOrgRead))

	// openapi.go: the description of everything above, public.
	h.mux.HandleFunc("GET /api/v1/openapi.json", h.openAPI)
	h.mux.HandleFunc("GET /api/openapi.json", h.openAPI)

	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, h.log, errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// both registers handler under /api/v1/<v1> and /api/<next>.
func (h *Handler) both(method, v1, next string, handler http.Handler) {
	h.mux.Handle(method+" /api/v1/"+v1, handler)
	h.mux.Handle(method+" /api/"+next, handler)
}

// repo registers a repository route whose two spellings differ only in
// how they name the repository: /api/v1/repos/<suffix> and
// /api/repos/{name}/<suffix>.
func (h *Handler) repo(method, suffix string, handler http.Handler) {
	h.both(method, "repos/"+suffix, "repos/{name}/"+suffix, handler)
}
