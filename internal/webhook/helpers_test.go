package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// TestMain lets this test binary stand in for the strata binary as the
// push hook of the servers these tests start.
func TestMain(m *testing.M) { servertest.Main(m) }

// delivery is one request a receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
}

// payload decodes the body.
func (d delivery) payload(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Body, &m); err != nil {
		t.Fatalf("delivery body is not JSON: %v\n%s", err, d.Body)
	}
	return m
}

// receiver is a TLS webhook receiver on loopback. respond picks the
// status of each request (n counts from 1); a negative status aborts the
// connection instead of answering.
type receiver struct {
	*httptest.Server
	t       testing.TB
	mu      sync.Mutex
	got     []delivery
	respond func(n int, body []byte) int
	arrived chan struct{} // a token per request
}

func newReceiver(t testing.TB, respond func(n int, body []byte) int) *receiver {
	t.Helper()
	rc := &receiver{t: t, respond: respond, arrived: make(chan struct{}, 1000)}
	if rc.respond == nil {
		rc.respond = func(int, []byte) int { return http.StatusOK }
	}
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		rc.mu.Lock()
		n := len(rc.got) + 1
		rc.mu.Unlock()
		status := rc.respond(n, body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{Header: r.Header.Clone(), Body: body, Status: status})
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
		if status < 0 {
			panic(http.ErrAbortHandler) // the connection drops, no answer
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// deliveries returns what arrived so far.
func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// wait blocks until n requests have arrived (the test's deadline bounds
// it) and returns them.
func (rc *receiver) wait(n int) []delivery {
	rc.t.Helper()
	for len(rc.deliveries()) < n {
		select {
		case <-rc.arrived:
		case <-time.After(2 * time.Minute):
			rc.t.Fatalf("%d deliveries arrived, waited for %d", len(rc.deliveries()), n)
		}
	}
	return rc.deliveries()
}

// waitOK blocks until n requests were answered 2xx and returns those.
func (rc *receiver) waitOK(n int) []delivery {
	rc.t.Helper()
	for {
		var ok []delivery
		for _, d := range rc.deliveries() {
			if d.Status >= 200 && d.Status < 300 {
				ok = append(ok, d)
			}
		}
		if len(ok) >= n {
			return ok
		}
		select {
		case <-rc.arrived:
		case <-time.After(2 * time.Minute):
			rc.t.Fatalf("%d deliveries succeeded, waited for %d", len(ok), n)
		}
	}
}

// caFile writes the certificate every httptest TLS server uses, for
// --upstream-ca-file.
func caFile(t testing.TB, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "receiver-ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// server is a Strata with what these tests send it.
type server struct {
	*servertest.Server
	t testing.TB
}

// startServer starts Strata trusting the receivers' CA; allowPrivate lets
// it deliver to loopback. edit adjusts the rest.
func startServer(t testing.TB, ca string, allowPrivate bool, edit ...func(*config.Config)) *server {
	t.Helper()
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.Outbound.CAFile = ca
		c.Outbound.AllowPrivate = allowPrivate
		c.Webhooks.Backoff = 50 * time.Millisecond
		for _, e := range edit {
			e(c)
		}
	}))
	return &server{Server: srv, t: t}
}

type reply struct {
	Status int
	Body   []byte
}

func (s *server) call(method, path, token string, body any) reply {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	resp := s.Do(method, path, token, r)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return reply{resp.StatusCode, data}
}

func (rp reply) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rp.Body, &m); err != nil {
		t.Fatalf("status %d, body not a JSON object: %v\n%s", rp.Status, err, rp.Body)
	}
	return m
}

func (s *server) orgToken(scopes ...auth.Scope) string {
	if len(scopes) == 0 {
		scopes = []auth.Scope{auth.ScopeRepoWrite}
	}
	return s.Token("org", scopes...)
}

// createWebhook registers a webhook and returns its id and secret.
func (s *server) createWebhook(url string, events []string, repoID string) (string, string) {
	s.t.Helper()
	body := map[string]any{"url": url, "events": events}
	if repoID != "" {
		body["repo_id"] = repoID
	}
	rp := s.call("POST", "/api/v1/webhooks", s.orgToken(), body)
	if rp.Status != http.StatusCreated {
		s.t.Fatalf("create webhook %s: status %d: %s", url, rp.Status, rp.Body)
	}
	m := rp.object(s.t)
	id, _ := m["id"].(string)
	secret, _ := m["secret"].(string)
	if id == "" || secret == "" {
		s.t.Fatalf("create webhook: %s", rp.Body)
	}
	return id, secret
}

func (s *server) createRepo(id string) {
	s.t.Helper()
	rp := s.call("POST", "/api/v1/repos", s.Token(id, auth.ScopeRepoWrite), map[string]any{"default_branch": "main"})
	if rp.Status != http.StatusOK && rp.Status != http.StatusCreated {
		s.t.Fatalf("create repo %s: %d %s", id, rp.Status, rp.Body)
	}
}

// commit writes path on branch of repo through commit-pack and returns
// the commit id.
func (s *server) commit(repo, branch, path, content string, ephemeral bool) string {
	s.t.Helper()
	meta := map[string]any{"metadata": map[string]any{
		"target_branch": branch, "commit_message": "write " + path, "ephemeral": ephemeral,
		"author": map[string]any{"name": "Ada", "email": "ada@example.com"},
		"files":  []any{map[string]any{"path": path, "content_id": "c1", "operation": "upsert", "mode": "100644"}},
	}}
	if ephemeral {
		meta["metadata"].(map[string]any)["base_branch"] = "main"
	}
	line1, _ := json.Marshal(meta)
	line2, _ := json.Marshal(map[string]any{"blob_chunk": map[string]any{"content_id": "c1",
		"data": base64.StdEncoding.EncodeToString([]byte(content)), "eof": true}})
	body := append(append(append(line1, '\n'), line2...), '\n')
	resp := s.Do("POST", "/api/v1/repos/commit-pack", s.Token(repo, auth.ScopeGitWrite), bytes.NewReader(body),
		"Content-Type", "application/x-ndjson")
	defer resp.Body.Close()
	var ack struct {
		Commit struct {
			CommitSHA string `json:"commit_sha"`
		} `json:"commit"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &ack); err != nil || resp.StatusCode >= 300 || ack.Commit.CommitSHA == "" {
		s.t.Fatalf("commit to %s/%s: %d %s", repo, branch, resp.StatusCode, data)
	}
	return ack.Commit.CommitSHA
}

// deliveryLog lists a webhook's deliveries through the API.
func (s *server) deliveryLog(id string) []map[string]any {
	s.t.Helper()
	rp := s.call("GET", "/api/v1/webhooks/deliveries?webhook_id="+id, s.orgToken(auth.ScopeOrgRead), nil)
	if rp.Status != http.StatusOK {
		s.t.Fatalf("list deliveries: %d %s", rp.Status, rp.Body)
	}
	var out struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	if err := json.Unmarshal(rp.Body, &out); err != nil {
		s.t.Fatal(err)
	}
	return out.Deliveries
}

// settledLog waits until webhook id has n deliveries, none pending (the
// outcome is recorded just after the receiver answers), and returns them.
func (s *server) settledLog(id string, n int) []map[string]any {
	s.t.Helper()
	for {
		log := s.deliveryLog(id)
		settled := len(log) == n
		for _, d := range log {
			settled = settled && d["status"] != "pending"
		}
		if settled {
			return log
		}
		waitABit()
	}
}

var sigRE = regexp.MustCompile(`^t=(\d+),sha256=([0-9a-f]{64})$`)

// checkSigned checks the §7.1 headers and the §7.2 signature of d with
// secret, and returns the signed t.
func checkSigned(t testing.TB, d delivery, secret, event string) int64 {
	t.Helper()
	h := d.Header
	if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "Pierre-Webhook/1.0" || h.Get("X-Pierre-Event") != event {
		t.Fatalf("headers: %v", h)
	}
	m := sigRE.FindStringSubmatch(h.Get("X-Pierre-Signature"))
	if m == nil {
		t.Fatalf("X-Pierre-Signature %q does not match %s", h.Get("X-Pierre-Signature"), sigRE)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%s.%s", m[1], d.Body)
	if want := hex.EncodeToString(mac.Sum(nil)); m[2] != want {
		t.Fatalf("signature %s, want %s over %q", m[2], want, d.Body)
	}
	ts, _ := strconv.ParseInt(m[1], 10, 64)
	if age := time.Since(time.Unix(ts, 0)); age > 5*time.Minute || age < -time.Minute {
		t.Fatalf("t=%d is %s from now", ts, age)
	}
	return ts
}

// waitABit paces a loop polling for a state the test waits for; the
// test's deadline bounds it.
func waitABit() { time.Sleep(20 * time.Millisecond) }

var zeroSHA = strings.Repeat("0", 40)

// checkPush checks a push payload's fields.
func checkPush(t testing.TB, d delivery, repo, ref, before, after string) {
	t.Helper()
	p := d.payload(t)
	r, _ := p["repository"].(map[string]any)
	if r == nil || r["id"] != repo || r["url"] != repo || r["repo_name"] != repo {
		t.Fatalf("repository = %v, want %s", p["repository"], repo)
	}
	if p["ref"] != ref || p["before"] != before || p["after"] != after || p["customer_id"] != "acme" || p["org"] != "acme" {
		t.Fatalf("push payload %s\nwant ref %s before %s after %s", d.Body, ref, before, after)
	}
	at, _ := p["pushed_at"].(string)
	if ts, err := time.Parse(time.RFC3339, at); err != nil || time.Since(ts) > 10*time.Minute {
		t.Fatalf("pushed_at %q: %v", at, err)
	}
}
