package server_test

import (
	"io"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

// GET /metrics exposes request counts by route pattern (never by raw path,
// which would leak repository ids) and the cat-file pool's state.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	tok := s.Token("team/secret-name", auth.ScopeRepoWrite, auth.ScopeGitRead)
	resp := s.Do("POST", "/api/v1/repos", tok, strings.NewReader(`{}`))
	resp.Body.Close()
	resp = s.Do("GET", "/api/v1/repos/branches", tok, nil)
	resp.Body.Close()

	resp = s.Do("GET", "/metrics", "", nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`strata_http_requests_total{code="201",method="POST",route="POST /api/v1/repos"} 1`,
		`strata_http_requests_total{code="200",method="GET",route="GET /api/v1/repos/branches"} 1`,
		"strata_http_request_duration_seconds_bucket",
		"strata_catfile_processes",
		"go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, "secret-name") {
		t.Error("metrics leak a repository id")
	}
}
