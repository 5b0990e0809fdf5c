package api

import (
	"net/http"

	"github.com/strata-storage/strata/internal/auth"
)

// routes is the complete REST route table (spec Appendix A). Every handler
// lives in the file named after its resource.
func (h *Handler) routes() {
	const v1 = "/api/v1/"
	tok := h.tokenRoute
	rp := h.repoRoute

	// repos.go
	h.mux.Handle("POST "+v1+"repos", tok(auth.ScopeRepoWrite, h.createRepo))
	h.mux.Handle("GET "+v1+"repos", tok(auth.ScopeOrgRead, h.listRepos))
	h.mux.Handle("GET "+v1+"repo", rp(auth.ScopeGitRead, h.getRepo))
	h.mux.Handle("DELETE "+v1+"repos/delete", tok(auth.ScopeRepoWrite, h.deleteRepo))

	// branches.go
	h.mux.Handle("GET "+v1+"repos/branches", rp(auth.ScopeGitRead, h.listBranches))
	h.mux.Handle("POST "+v1+"repos/branches/create", rp(auth.ScopeGitWrite, h.createBranch))
	h.mux.Handle("DELETE "+v1+"repos/branches", rp(auth.ScopeGitWrite, h.deleteBranch))

	// commitpack.go, restore.go
	h.mux.Handle("POST "+v1+"repos/commit-pack", h.writeRoute(h.commitPack))
	h.mux.Handle("POST "+v1+"repos/restore-commit", h.writeRoute(h.restoreCommit))

	// commits.go
	h.mux.Handle("GET "+v1+"repos/commits", rp(auth.ScopeGitRead, h.listCommits))
	h.mux.Handle("GET "+v1+"repos/commit", rp(auth.ScopeGitRead, h.getCommit))

	// files.go, file.go
	h.mux.Handle("GET "+v1+"repos/files", rp(auth.ScopeGitRead, h.listFiles))
	h.mux.Handle("GET "+v1+"repos/files/metadata", rp(auth.ScopeGitRead, h.listFilesMetadata))
	h.mux.Handle("GET "+v1+"repos/file", rp(auth.ScopeGitRead, h.getFile))

	h.mux.HandleFunc(v1, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, h.log, errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}
