package webhook_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
)

// REST writes deliver one signed push per updated ref, with the §7.3
// payload plus org and repository.repo_name; ephemeral refs and other
// repositories' webhooks get nothing.
func TestWebhooks_pushFromREST(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	other := newReceiver(t, nil)
	s := startServer(t, caFile(t, rc.Server), true)
	id, secret := s.createWebhook(rc.URL+"/hook?token=abc", []string{"push"}, "")
	otherID, _ := s.createWebhook(other.URL, []string{"*"}, "not-this-repo")
	s.createRepo("team/app")

	c1 := s.commit("team/app", "main", "a.txt", "one\n", false)
	s.commit("team/app", "scratch", "e.txt", "ephemeral\n", true)
	c2 := s.commit("team/app", "main", "a.txt", "two\n", false)

	got := rc.wait(2)
	for _, d := range got {
		checkSigned(t, d, secret, "push")
	}
	checkPush(t, got[0], "team/app", "refs/heads/main", zeroSHA, c1)
	checkPush(t, got[1], "team/app", "refs/heads/main", c1, c2)
	if got[0].Header.Get("X-Strata-Delivery") == got[1].Header.Get("X-Strata-Delivery") {
		t.Fatal("two deliveries share an X-Strata-Delivery id")
	}

	// The log shows both, newest first, delivered at the first attempt.
	for _, d := range s.settledLog(id, 2) {
		if d["status"] != "delivered" || d["attempts"] != float64(1) || d["last_status_code"] != float64(200) ||
			d["event"] != "push" || d["webhook_id"] != id || d["completed_at"] == nil || d["next_attempt_at"] != nil {
			t.Fatalf("delivery %v", d)
		}
	}
	if log := s.deliveryLog(otherID); len(log) != 0 {
		t.Fatalf("a webhook for another repository got deliveries: %v", log)
	}
	// A later write reaching rc means the ephemeral one was skipped, not
	// late: a webhook's deliveries are in order.
	c3 := s.commit("team/app", "main", "a.txt", "three\n", false)
	checkPush(t, rc.wait(3)[2], "team/app", "refs/heads/main", c2, c3)
	if n := len(other.deliveries()); n != 0 {
		t.Fatalf("the other receiver got %d deliveries", n)
	}
}

// gitCmd runs git isolated from the user's configuration.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// A real git push of several refs delivers one push per ref, with the
// tag and the deleted branch as well.
func TestWebhooks_gitPush(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	s := startServer(t, caFile(t, rc.Server), true)
	_, secret := s.createWebhook(rc.URL, []string{"*"}, "pushed")
	s.createRepo("pushed")

	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q", "-b", "main")
	gitCmd(t, dir, "commit", "-q", "--allow-empty", "-m", "first")
	c1 := gitCmd(t, dir, "rev-parse", "HEAD")
	gitCmd(t, dir, "branch", "feature")
	gitCmd(t, dir, "tag", "v1")
	remote := strings.Replace(s.URL, "http://", "http://t:"+s.Token("pushed", auth.ScopeGitWrite)+"@", 1) + "/pushed.git"
	gitCmd(t, dir, "push", "-q", remote, "main", "feature", "v1")

	got := rc.wait(3)
	refs := map[string]delivery{}
	for _, d := range got {
		checkSigned(t, d, secret, "push")
		p := d.payload(t)
		refs[p["ref"].(string)] = d
	}
	for _, ref := range []string{"refs/heads/main", "refs/heads/feature", "refs/tags/v1"} {
		d, ok := refs[ref]
		if !ok {
			t.Fatalf("no delivery for %s; got %d deliveries", ref, len(got))
		}
		checkPush(t, d, "pushed", ref, zeroSHA, c1)
	}

	gitCmd(t, dir, "push", "-q", remote, ":feature")
	checkPush(t, rc.wait(4)[3], "pushed", "refs/heads/feature", c1, zeroSHA)
}

// A failed attempt is retried, on a non-2xx answer and on a dropped
// connection, each time signed afresh with a later t; the log counts the
// attempts.
func TestWebhooks_retryResigns(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, _ []byte) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return -1 // connection dropped
		}
		return http.StatusNoContent
	})
	// A first retry at least a second later, so its t differs.
	s := startServer(t, caFile(t, rc.Server), true, func(c *config.Config) { c.Webhooks.Backoff = 2e9 })
	id, secret := s.createWebhook(rc.URL, []string{"push"}, "")
	s.createRepo("retry")
	c1 := s.commit("retry", "main", "f", "x", false)

	got := rc.waitOK(1)
	all := rc.deliveries()
	if len(all) != 3 || len(got) != 1 {
		t.Fatalf("%d attempts, %d successful; want 3, 1", len(all), len(got))
	}
	var ts []int64
	for _, d := range all {
		ts = append(ts, checkSigned(t, d, secret, "push"))
		if string(d.Body) != string(all[0].Body) {
			t.Fatalf("a retry changed the body:\n%s\n%s", all[0].Body, d.Body)
		}
	}
	checkPush(t, all[2], "retry", "refs/heads/main", zeroSHA, c1)
	if !(ts[0] < ts[1] && ts[1] < ts[2]) {
		t.Fatalf("signature times %v, want each retry signed later", ts)
	}
	if log := s.settledLog(id, 1); log[0]["status"] != "delivered" || log[0]["attempts"] != float64(3) || log[0]["last_status_code"] != float64(204) {
		t.Fatalf("delivery %v", log[0])
	}
}

// Each webhook gets its deliveries in write order, one at a time; a
// receiver that hangs or a dead one delays neither the writes nor any
// other webhook.
func TestWebhooks_orderAndIsolation(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := newReceiver(t, func(n int, _ []byte) int {
		if n == 1 {
			<-release
		}
		return http.StatusOK
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	flaky := newReceiver(t, func(n int, _ []byte) int {
		if n%2 == 1 {
			return http.StatusServiceUnavailable // every delivery fails once
		}
		return http.StatusOK
	})
	fast := newReceiver(t, nil)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "https://" + dead.Addr().String() + "/"
	dead.Close() // connection refused from now on

	s := startServer(t, caFile(t, fast.Server), true)
	s.createWebhook(slow.URL, []string{"push"}, "")
	s.createWebhook(flaky.URL, []string{"push"}, "")
	s.createWebhook(fast.URL, []string{"push"}, "")
	deadID, _ := s.createWebhook(deadURL, []string{"push"}, "")
	s.createRepo("ordered")

	var shas []string
	for i := range 5 {
		shas = append(shas, s.commit("ordered", "main", "f", strings.Repeat("x", i+1), false))
	}
	afters := func(ds []delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.payload(t)["after"].(string))
		}
		return out
	}
	// All five reach the fast receiver while the slow one holds its first.
	if got := afters(fast.wait(5)); !slices.Equal(got, shas) {
		t.Fatalf("fast receiver got %v, want %v", got, shas)
	}
	if got := afters(flaky.waitOK(5)); !slices.Equal(got, shas) {
		t.Fatalf("flaky receiver got %v, want %v", got, shas)
	}
	if n := len(slow.deliveries()); n != 0 {
		t.Fatalf("slow receiver finished %d requests before its release", n)
	}
	close(release)
	if got := afters(slow.wait(5)); !slices.Equal(got[len(got)-5:], shas) {
		t.Fatalf("slow receiver got %v, want %v", got, shas)
	}
	// The dead receiver's first delivery is being retried; the rest wait.
	log := s.deliveryLog(deadID)
	if len(log) != 5 {
		t.Fatalf("dead webhook log: %v", log)
	}
	for _, d := range log {
		if d["status"] != "pending" {
			t.Fatalf("dead webhook delivery %v", d)
		}
	}
}

// Registering a webhook validates it up front; nothing is stored on a
// refusal. Without --upstream-allow-private, loopback, link-local and
// names resolving to them are refused, and so is plain http.
func TestWebhooks_api(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	s := startServer(t, caFile(t, rc.Server), false)
	_, port, _ := net.SplitHostPort(rc.Listener.Addr().String())
	tok := s.orgToken()
	for _, tc := range []struct {
		desc string
		body any
	}{
		{"loopback", map[string]any{"url": "https://127.0.0.1:" + port + "/", "events": []string{"push"}}},
		{"metadata service", map[string]any{"url": "https://169.254.169.254/latest/meta-data/", "events": []string{"push"}}},
		{"IPv6 loopback", map[string]any{"url": "https://[::1]:" + port + "/", "events": []string{"push"}}},
		{"name resolving to loopback", map[string]any{"url": "https://localhost:" + port + "/", "events": []string{"push"}}},
		{"private", map[string]any{"url": "https://10.1.2.3/", "events": []string{"push"}}},
		{"plain http", map[string]any{"url": "http://example.com/", "events": []string{"push"}}},
		{"no url", map[string]any{"events": []string{"push"}}},
		{"no events", map[string]any{"url": "https://example.com/"}},
		{"unknown event", map[string]any{"url": "https://example.com/", "events": []string{"pull"}}},
		{"star and more", map[string]any{"url": "https://example.com/", "events": []string{"*", "push"}}},
		{"not JSON", []byte("{")},
	} {
		rp := s.call("POST", "/api/v1/webhooks", tok, tc.body)
		if rp.Status != http.StatusBadRequest || rp.object(t)["error"] == nil {
			t.Errorf("%s: status %d %s, want 400 with an error", tc.desc, rp.Status, rp.Body)
		}
	}
	rp := s.call("GET", "/api/v1/webhooks", tok, nil)
	if rp.Status != http.StatusOK || strings.TrimSpace(string(rp.Body)) != `{"webhooks":[]}` {
		t.Fatalf("list after refusals: %d %s", rp.Status, rp.Body)
	}

	// The rest runs where loopback receivers are allowed, so it needs no
	// public DNS.
	s = startServer(t, caFile(t, rc.Server), true, func(c *config.Config) {
		c.Orgs = append(c.Orgs, config.OrgKey{Org: "beta", Path: c.Orgs[0].Path})
	})
	tok = s.orgToken()
	beta := s.TokenWith(auth.Claims{Issuer: "beta", Repo: "org", Scopes: []auth.Scope{auth.ScopeRepoWrite}})
	hookURL := rc.URL + "/hook"

	// Auth: an organisation token with repo:write creates; org:read lists
	// only; a repository token does neither.
	body := map[string]any{"url": hookURL, "events": []string{"push", "repo.sync.failed"}, "repo_id": "r1"}
	for _, tc := range []struct {
		desc, method, path, token string
		want                      int
	}{
		{"no token", "POST", "/api/v1/webhooks", "", 401},
		{"repository token", "POST", "/api/v1/webhooks", s.Token("r1", auth.ScopeRepoWrite), 403},
		{"org:read creates", "POST", "/api/v1/webhooks", s.orgToken(auth.ScopeOrgRead), 403},
		{"git:write lists", "GET", "/api/v1/webhooks", s.orgToken(auth.ScopeGitWrite), 403},
	} {
		if rp := s.call(tc.method, tc.path, tc.token, body); rp.Status != tc.want {
			t.Errorf("%s: status %d %s, want %d", tc.desc, rp.Status, rp.Body, tc.want)
		}
	}
	rp = s.call("POST", "/api/webhooks", tok, body)
	if rp.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", rp.Status, rp.Body)
	}
	created := rp.object(t)
	id := created["id"].(string)
	if created["url"] != hookURL || created["repo_id"] != "r1" || created["secret"] == "" ||
		!slices.Equal(anyStrings(created["events"]), []string{"push", "repo.sync.failed"}) || created["created_at"] == nil {
		t.Fatalf("created %s", rp.Body)
	}
	rp = s.call("GET", "/api/webhooks", s.orgToken(auth.ScopeOrgRead), nil)
	if rp.Status != http.StatusOK || strings.Contains(string(rp.Body), created["secret"].(string)) || !strings.Contains(string(rp.Body), id) {
		t.Fatalf("list: %d %s", rp.Status, rp.Body)
	}

	// Another organisation's id, or none, is 404; a bad body is 400.
	if rp := s.call("GET", "/api/v1/webhooks", beta, nil); rp.Status != 200 || strings.Contains(string(rp.Body), id) {
		t.Fatalf("another organisation's list: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("GET", "/api/v1/webhooks/deliveries?webhook_id="+id, beta, nil); rp.Status != 404 {
		t.Fatalf("another organisation's deliveries: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("DELETE", "/api/v1/webhooks", beta, map[string]any{"id": id}); rp.Status != 404 {
		t.Fatalf("delete by another organisation: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("DELETE", "/api/v1/webhooks", tok, map[string]any{"id": "wh_nope"}); rp.Status != 404 {
		t.Fatalf("delete unknown: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("DELETE", "/api/v1/webhooks", tok, map[string]any{}); rp.Status != 400 {
		t.Fatalf("delete without id: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("GET", "/api/v1/webhooks/deliveries?webhook_id=wh_nope", tok, nil); rp.Status != 404 {
		t.Fatalf("deliveries of unknown: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("GET", "/api/v1/webhooks/deliveries", tok, nil); rp.Status != 400 {
		t.Fatalf("deliveries without webhook_id: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("DELETE", "/api/v1/webhooks", tok, map[string]any{"id": id}); rp.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rp.Status, rp.Body)
	}
	if rp := s.call("DELETE", "/api/v1/webhooks", tok, map[string]any{"id": id}); rp.Status != 404 {
		t.Fatalf("delete again: %d %s", rp.Status, rp.Body)
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// Deliveries never follow redirects: the 3xx is a failed attempt, and
// whatever it points at (loopback here) hears nothing.
func TestWebhooks_redirectNotFollowed(t *testing.T) {
	t.Parallel()
	target := newReceiver(t, nil)
	redirector := httptest.NewTLSServer(http.RedirectHandler(target.URL+"/inner", http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)
	s := startServer(t, caFile(t, target.Server), true)
	id, _ := s.createWebhook(redirector.URL, []string{"push"}, "")
	s.createRepo("redir")
	s.commit("redir", "main", "f", "x", false)
	for {
		log := s.deliveryLog(id)
		if len(log) == 1 && log[0]["attempts"].(float64) >= 2 {
			if log[0]["status"] != "pending" || log[0]["last_status_code"] != float64(307) || log[0]["last_error"] != "HTTP 307" {
				t.Fatalf("delivery %v", log[0])
			}
			break
		}
		waitABit()
	}
	if n := len(target.deliveries()); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}
