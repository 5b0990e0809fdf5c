package cluster_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/gittest"
	"github.com/strata-storage/strata/internal/servertest"
)

// commitPack commits path=content on branch through REST on srv,
// expecting head when it is not empty, and returns the commit and the
// status.
func commitPack(srv *servertest.Server, token, branch, path, content, head string) (string, int, error) {
	md := map[string]any{
		"target_branch":  branch,
		"commit_message": "rest " + path,
		"author":         map[string]string{"name": "Rest", "email": "rest@example.com"},
		"files":          []map[string]string{{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}
	if head != "" {
		md["expected_head_sha"] = head
	}
	meta, _ := json.Marshal(map[string]any{"metadata": md})
	chunk, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1", "data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}})
	resp := srv.Do("POST", "/api/v1/repos/commit-pack", token, strings.NewReader(string(meta)+"\n"+string(chunk)+"\n"), "Content-Type", "application/x-ndjson")
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	var ack struct {
		Commit struct {
			CommitSHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	if err := json.Unmarshal(data, &ack); err != nil || len(ack.Commit.CommitSHA) != 40 {
		return "", resp.StatusCode, fmt.Errorf("no commit sha in %s", data)
	}
	return ack.Commit.CommitSHA, resp.StatusCode, nil
}

// readFile reads path at ref through REST on srv.
func readFile(t *testing.T, srv *servertest.Server, token, path, ref string) (string, int) {
	t.Helper()
	resp := srv.Do("GET", "/api/v1/repos/file?path="+path+"&ref="+ref, token, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// createRepo creates id through REST on srv and returns a token for REST
// and git reads and writes.
func createRepo(t *testing.T, srv *servertest.Server, id string) string {
	t.Helper()
	token := srv.Token(id, auth.ScopeRepoWrite, auth.ScopeGitRead, auth.ScopeGitWrite)
	resp := srv.Do("POST", "/api/v1/repos", token, strings.NewReader(`{"default_branch":"main"}`))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("create %s: status %d: %s", id, resp.StatusCode, body)
	}
	return token
}

// remote is the git URL of repository id on srv with token as password.
func remote(srv *servertest.Server, token, id string) string {
	return strings.Replace(srv.URL, "http://", "http://t:"+token+"@", 1) + "/" + id + ".git"
}

// git runs git in dir and returns its trimmed output.
func git(dir string, args ...string) (string, error) { return gittest.Run(dir, args...) }

// gitOK is git that fails the test on error.
func gitOK(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := git(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// metric reads one unlabelled metric from srv's /metrics.
func metric(t *testing.T, srv *servertest.Server, name string) float64 {
	t.Helper()
	resp := srv.Do("GET", "/metrics", "", nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}
