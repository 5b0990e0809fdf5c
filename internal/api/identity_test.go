package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// TestConfiguredIdentity: --identity authors merges and signs annotated
// tags whose request names no one.
func TestConfiguredIdentity(t *testing.T) {
	t.Parallel()
	e := start(t, servertest.WithConfig(func(c *config.Config) { c.Identity = "Release Bot <bot@example.com>" }))
	r, _ := e.seededRepo(t, upsert("a.txt", "a\n"))
	r.commit(t, newMeta("feature", "base_branch", "main"), upsert("b.txt", "b\n"))
	r.commit(t, newMeta("main"), upsert("c.txt", "c\n"))

	resp := e.do(t, "POST", "/api/v1/repos/merge", r.Write, jsonBody(t, map[string]any{
		"source_branch": "feature", "target_branch": "main", "strategy": "merge",
	}))
	wantStatus(t, resp, http.StatusOK)
	if got := r.git(t, "log", "-1", "--format=%an <%ae> / %cn <%ce>", "main"); strings.TrimSpace(got) != "Release Bot <bot@example.com> / Release Bot <bot@example.com>" {
		t.Errorf("merge identity %q", got)
	}

	resp = e.do(t, "POST", "/api/v1/repos/tags", r.Write, jsonBody(t, map[string]any{"name": "v1", "target": "main", "message": "release"}))
	wantStatus(t, resp, http.StatusOK)
	if got := r.git(t, "for-each-ref", "--format=%(taggername) %(taggeremail)", "refs/tags/v1"); strings.TrimSpace(got) != "Release Bot <bot@example.com>" {
		t.Errorf("tagger %q", got)
	}
}
