package cluster_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/servertest"
)

// The object store is briefly unavailable (versitygw killed, then
// started again on the same data): writes that add objects fail cleanly
// with 503 and a JSON error, a git push is rejected, and nothing half-done
// becomes visible on any node, then or after the store is back (no ref,
// no event); reads from warm caches go on, REST and git; a node with a
// cold cache answers 503. Once the store is back, writes work again and
// every node serves them.
func TestCluster_objectStoreOutage(t *testing.T) {
	c := servertest.StartCluster(t, 3)
	writer, warm, cold := c.Node(0), c.Node(1), c.Node(2)
	token := createRepo(t, writer, "out")
	first, _, err := commitPack(writer, token, "main", "f.txt", "1\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, status := readFile(t, warm, token, "f.txt", "main"); status != http.StatusOK || got != "1\n" {
		t.Fatalf("warm-up read: %d %q", status, got)
	}
	// A clone (from the warm node) with a commit ready to push.
	work := filepath.Join(t.TempDir(), "w")
	gitOK(t, "", "clone", "-q", remote(warm, token, "out"), work)
	if err := os.WriteFile(filepath.Join(work, "pushed.txt"), []byte("pushed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitOK(t, work, "add", "pushed.txt")
	gitOK(t, work, "commit", "-q", "-m", "push")
	pushed := gitOK(t, work, "rev-parse", "HEAD")
	store, err := metadata.OpenPostgres(t.Context(), c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eventsBefore := countEvents(t, store)

	c.S3.Stop()
	for _, n := range []*servertest.Server{writer, warm} {
		status, body := commitPackRaw(t, n, token, "main", "f.txt", "2\n", first)
		var answer struct {
			Error string `json:"error"`
		}
		if status != http.StatusServiceUnavailable || json.Unmarshal(body, &answer) != nil || answer.Error == "" {
			t.Fatalf("commit-pack during the outage: %d %s, want 503 with a JSON error", status, body)
		}
	}
	if out, err := git(work, "push", "-q", remote(warm, token, "out"), "HEAD:main", "HEAD:refs/heads/pushed"); err == nil {
		t.Fatalf("push during the outage succeeded:\n%s", out)
	}
	// Warm caches serve reads, REST and git, and show nothing of the
	// failed writes.
	for _, n := range []*servertest.Server{writer, warm} {
		if got, status := readFile(t, n, token, "f.txt", "main"); status != http.StatusOK || got != "1\n" {
			t.Fatalf("warm read during the outage: %d %q", status, got)
		}
		if got := gitOK(t, "", "ls-remote", remote(n, token, "out")); !onlyMain(got, first) {
			t.Fatalf("refs during the outage:\n%s", got)
		}
	}
	fsckClone(t, warm, token, "out", true)
	// A cold cache needs the store: 503, with a JSON error.
	resp := cold.Do("GET", "/api/v1/repos/file?path=f.txt&ref=main", token, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !json.Valid(body) || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("cold read during the outage: %d %s, want 503 with a JSON error", resp.StatusCode, body)
	}
	if n := countEvents(t, store); n != eventsBefore {
		t.Fatalf("%d ref events during the outage", n-eventsBefore)
	}

	c.S3.Start()
	// Nothing of the failed writes surfaces on any node, the cold one
	// included.
	for i, n := range c.Nodes {
		if got := gitOK(t, "", "ls-remote", remote(n, token, "out")); !onlyMain(got, first) {
			t.Fatalf("node %d after the outage:\n%s", i, got)
		}
	}
	gitOK(t, work, "push", "-q", remote(warm, token, "out"), "HEAD:main", "HEAD:refs/heads/pushed")
	second, _, err := commitPack(writer, token, "main", "f.txt", "2\n", pushed)
	if err != nil {
		t.Fatalf("commit-pack after the outage: %v", err)
	}
	for i, n := range c.Nodes {
		if got, status := readFile(t, n, token, "f.txt", "main"); status != http.StatusOK || got != "2\n" {
			t.Fatalf("node %d after the outage reads %d %q", i, status, got)
		}
		if got, status := readFile(t, n, token, "pushed.txt", "pushed"); status != http.StatusOK || got != "pushed\n" {
			t.Fatalf("node %d reads the push: %d %q", i, status, got)
		}
	}
	clone := fsckClone(t, cold, token, "out", true)
	if got := gitOK(t, clone, "rev-parse", "main"); got != second {
		t.Fatalf("clone from the cold node: main at %s, want %s", got, second)
	}
	if n := countEvents(t, store); n != eventsBefore+3 {
		t.Fatalf("%d ref events after the outage, want 3 (push of main and pushed, commit)", n-eventsBefore)
	}
}

// commitPackRaw is commitPack returning the status and body as they are.
func commitPackRaw(t *testing.T, srv *servertest.Server, token, branch, path, content, head string) (int, []byte) {
	t.Helper()
	md := map[string]any{
		"target_branch": branch, "commit_message": "rest " + path, "expected_head_sha": head,
		"author": map[string]string{"name": "Rest", "email": "rest@example.com"},
		"files":  []map[string]string{{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}
	meta, _ := json.Marshal(map[string]any{"metadata": md})
	chunk, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1", "data": []byte(content), "eof": true}})
	resp := srv.Do("POST", "/api/v1/repos/commit-pack", token, strings.NewReader(string(meta)+"\n"+string(chunk)+"\n"), "Content-Type", "application/x-ndjson")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// onlyMain reports whether ls-remote output lists HEAD and main at sha
// and nothing else.
func onlyMain(lsRemote, sha string) bool {
	return lsRemote == sha+"\tHEAD\n"+sha+"\trefs/heads/main"
}

// countEvents counts the ref events in the feed.
func countEvents(t *testing.T, store *metadata.PostgresStore) int {
	t.Helper()
	n := 0
	for after := int64(0); ; {
		evs, err := store.RefEvents(t.Context(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return n
		}
		n += len(evs)
		after = evs[len(evs)-1].Seq
	}
}
