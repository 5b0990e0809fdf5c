package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/pgtest"
	"github.com/strata-storage/strata/internal/s3test"
	"github.com/strata-storage/strata/internal/servertest"
)

// procCluster is the clustered mode with every node a `strata serve`
// process of its own, so that a test can kill one with SIGKILL: one
// PostgreSQL database (pgtest), one versitygw (s3test), one organisation
// key and one secret key shared by all nodes.
type procCluster struct {
	t      *testing.T
	bin    string
	dsn    string
	s3     *s3test.Server
	pub    string             // the organisation's public key file
	secret string             // --secret-key-file
	tokens *servertest.Server // mints tokens with the organisation key
}

// startProcCluster starts PostgreSQL and versitygw (skipping the test
// when either is missing) and builds strata; nodes come from newNode.
func startProcCluster(t *testing.T) *procCluster {
	t.Helper()
	dsn := pgtest.New(t)
	s3 := s3test.Start(t)
	signer, pub := servertest.NewKey(t)
	secret := filepath.Join(t.TempDir(), "secret.key")
	b := make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(b)), 0o600); err != nil {
		t.Fatal(err)
	}
	return &procCluster{t: t, bin: servertest.Binary(t), dsn: dsn, s3: s3, pub: pub, secret: secret,
		tokens: servertest.Attach(t, "", "acme", signer)}
}

// token mints a token for repo with every repository scope; any node
// accepts it.
func (c *procCluster) token(repo string) string {
	return c.tokens.Token(repo, auth.ScopeRepoWrite, auth.ScopeGitRead, auth.ScopeGitWrite)
}

// ledger opens the cluster's metadata database, for the checks that read
// the record itself (the event feed, the refs of record).
func (c *procCluster) ledger() *metadata.PostgresStore {
	c.t.Helper()
	store, err := metadata.OpenPostgres(c.t.Context(), c.dsn)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { store.Close() })
	return store
}

// procNode is one node: a data dir and a cache dir of its own, which a
// restart keeps.
type procNode struct {
	*servertest.Process
	c    *procCluster
	name string
	dir  string // data/, cache/, node.log
	log  *os.File
}

// newNode prepares a node with empty directories; start runs it.
func (c *procCluster) newNode(name string) *procNode {
	c.t.Helper()
	dir := c.t.TempDir()
	log, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		c.t.Fatal(err)
	}
	n := &procNode{c: c, name: name, dir: dir, log: log}
	n.Process = &servertest.Process{Name: "node " + name, Bin: c.bin, Log: log, Marks: true,
		Args: []string{"--data-dir", filepath.Join(dir, "data"), "--cache-dir", n.cacheDir(),
			"--metadata", c.dsn, "--objects", c.s3.URL,
			"--org", "acme=" + c.pub, "--secret-key-file", c.secret,
			"--log-level", "warn", "--maintenance=false"}}
	c.t.Cleanup(func() {
		n.Stop()
		log.Close()
		if c.t.Failed() {
			n.logTail()
		}
	})
	return n
}

func (n *procNode) cacheDir() string { return filepath.Join(n.dir, "cache") }

// start runs `strata serve` in the clustered mode on a fresh loopback
// port and waits until /healthz answers.
func (n *procNode) start() {
	n.c.t.Helper()
	// The bucket's endpoint and credentials, as an operator gives them.
	n.Env = n.c.s3.Environ()
	n.Start(n.c.t)
}

// kill is a crash: SIGKILL to the node and to its git processes.
func (n *procNode) kill() { n.Kill() }

func (n *procNode) logTail() {
	data, _ := os.ReadFile(n.log.Name())
	if len(data) > 6000 {
		data = data[len(data)-6000:]
	}
	n.c.t.Logf("node %s log (tail):\n%s", n.name, data)
}

// cacheRepos lists the bare repositories in the node's cache.
func (n *procNode) cacheRepos() []string {
	var dirs []string
	filepath.WalkDir(n.cacheDir(), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasSuffix(path, ".git") {
			dirs = append(dirs, path)
			return filepath.SkipDir
		}
		return nil
	})
	return dirs
}

// leftovers lists what a killed node may leave in its caches besides the
// repository itself: ref lock files and Publish's and compaction's
// temporary directories.
func (n *procNode) leftovers() []string {
	var out []string
	for _, d := range n.cacheRepos() {
		for _, pattern := range []string{"publish-*", "compact-*", "HEAD.lock", "packed-refs.lock"} {
			m, _ := filepath.Glob(filepath.Join(d, pattern))
			out = append(out, m...)
		}
		filepath.WalkDir(filepath.Join(d, "refs"), func(path string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(path, ".lock") {
				out = append(out, path)
			}
			return nil
		})
	}
	return out
}

// remote is the git URL of repo on the node.
func (n *procNode) remote(token, repo string) string {
	return strings.Replace(n.URL, "http://", "http://t:"+token+"@", 1) + "/" + repo + ".git"
}

// procClient serves the workers: a transport error is an answer (the node
// died), never a test failure by itself.
var procClient = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// call sends a request to the node; err is a transport error.
func (n *procNode) call(ctx context.Context, method, path, token, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := procClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// commit commits path=content on branch (made from main when base is
// "main" and the branch is missing) through commit-pack; sha is set only
// on a 201, an acknowledged write.
func (n *procNode) commit(ctx context.Context, token, branch, base, path, content string) (status int, sha string, body []byte, err error) {
	md := map[string]any{
		"target_branch":  branch,
		"commit_message": "write " + path,
		"author":         map[string]string{"name": "Ada", "email": "ada@example.com"},
		"files":          []map[string]string{{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}
	if base != "" {
		md["base_branch"] = base
	}
	line1, _ := json.Marshal(map[string]any{"metadata": md})
	line2, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1",
		"data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}})
	payload := append(append(append(line1, '\n'), line2...), '\n')
	status, body, err = n.call(ctx, "POST", "/api/v1/repos/commit-pack", token, "application/x-ndjson", payload)
	if err != nil || status != http.StatusCreated {
		return status, "", body, err
	}
	var ack struct {
		Commit struct {
			CommitSHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	if err := json.Unmarshal(body, &ack); err != nil || len(ack.Commit.CommitSHA) != 40 {
		return status, "", body, fmt.Errorf("commit-pack 201 without a commit sha: %s", body)
	}
	return status, ack.Commit.CommitSHA, body, nil
}

// read reads path at ref (a branch or a commit) through REST.
func (n *procNode) read(ctx context.Context, token, path, ref string) (int, string, error) {
	status, body, err := n.call(ctx, "GET", "/api/v1/repos/file?path="+path+"&ref="+ref, token, "", nil)
	return status, string(body), err
}
