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

	// diff.go, diffcommit.go
	h.mux.Handle("GET "+v1+"repos/branches/diff", rp(auth.ScopeGitRead, h.branchDiff))
	h.mux.Handle("GET "+v1+"repos/diff", rp(auth.ScopeGitRead, h.commitDiff))
	h.mux.Handle("POST "+v1+"repos/diff-commit", h.writeRoute(h.diffCommit))

	// merge.go
	h.mux.Handle("GET "+v1+"repos/merge/preview", rp(auth.ScopeGitRead, h.previewMerge))
	h.mux.Handle("POST "+v1+"repos/merge", rp(auth.ScopeGitWrite, h.merge))

	// blame.go, grep.go, archive.go
	h.mux.Handle("GET "+v1+"repos/blame", rp(auth.ScopeGitRead, h.getBlame))
	h.mux.Handle("POST "+v1+"repos/grep", rp(auth.ScopeGitRead, h.grep))
	h.mux.Handle("POST "+v1+"repos/archive", rp(auth.ScopeGitRead, h.archive))

	// tags.go
	h.mux.Handle("GET "+v1+"repos/tags", rp(auth.ScopeGitRead, h.listTags))
	h.mux.Handle("POST "+v1+"repos/tags", rp(auth.ScopeGitWrite, h.createTag))
	h.mux.Handle("DELETE "+v1+"repos/tags", rp(auth.ScopeGitWrite, h.deleteTag))

	// notes.go
	h.mux.Handle("GET "+v1+"repos/notes", rp(auth.ScopeGitRead, h.getNote))
	h.mux.Handle("POST "+v1+"repos/notes", rp(auth.ScopeGitWrite, h.writeNote))
	h.mux.Handle("DELETE "+v1+"repos/notes", rp(auth.ScopeGitWrite, h.deleteNote))
	h.mux.Handle("GET "+v1+"repos/notes/refs", rp(auth.ScopeGitRead, h.listNotesRefs))

	h.mux.HandleFunc(v1, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, h.log, errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}
