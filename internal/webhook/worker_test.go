package webhook_test

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
	"github.com/strata-storage/strata/internal/secretbox"
	"github.com/strata-storage/strata/internal/servertest"
	"github.com/strata-storage/strata/internal/webhook"
)

// Sync lifecycle events go to the webhooks that want them, with the §7.3
// fields, through the same outbox.
func TestWorker_enqueueSync(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	pushOnly := newReceiver(t, nil)
	store, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := make([]byte, secretbox.KeySize)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(rc.Certificate())
	client := outbound.New(outbound.Options{AllowPrivate: true, RootCAs: pool})
	t.Cleanup(client.Close)
	reg := webhook.NewRegistry(store, box, client)
	ctx := t.Context()
	info, secret, err := reg.Create(ctx, "acme", webhook.Subscription{URL: rc.URL, Events: []string{webhook.EventSyncStarted, webhook.EventSyncFailed}, RepoID: "mirror"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Create(ctx, "acme", webhook.Subscription{URL: pushOnly.URL, Events: []string{"push"}}); err != nil {
		t.Fatal(err)
	}
	w := webhook.NewWorker(reg, client, webhook.Options{Backoff: 50 * time.Millisecond})
	started := time.Date(2026, 3, 17, 10, 0, 0, 0, time.UTC)
	for _, e := range []webhook.SyncEvent{
		{Type: webhook.EventSyncStarted, Org: "acme", RepoID: "mirror", RunCount: 0, IsFirstSync: true, StartedAt: started},
		{Type: webhook.EventSyncSucceeded, Org: "acme", RepoID: "mirror", RunCount: 1, IsFirstSync: true, StartedAt: started, CompletedAt: started.Add(time.Minute)},
		{Type: webhook.EventSyncFailed, Org: "acme", RepoID: "mirror", RunCount: 2, StartedAt: started, CompletedAt: started.Add(time.Minute), Error: "upstream unreachable"},
		{Type: webhook.EventSyncFailed, Org: "acme", RepoID: "other", RunCount: 1, StartedAt: started, CompletedAt: started},
		{Type: webhook.EventSyncStarted, Org: "beta", RepoID: "mirror", StartedAt: started},
	} {
		if err := w.EnqueueSync(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EnqueueSync(ctx, webhook.SyncEvent{Type: "repo.sync.exploded", Org: "acme", RepoID: "mirror"}); err == nil {
		t.Fatal("an unknown sync event type was accepted")
	}
	// Enqueued before the worker runs: the outbox is durable.
	if n, err := w.Pending(ctx); err != nil || n != 2 {
		t.Fatalf("pending = %d, %v; want 2", n, err)
	}
	w.Start()
	t.Cleanup(w.Stop)

	got := rc.wait(2)
	checkSigned(t, got[0], secret, webhook.EventSyncStarted)
	checkSigned(t, got[1], secret, webhook.EventSyncFailed)
	want := []string{
		`{"type":"repo.sync.started","repository":{"id":"mirror","url":"mirror","repo_name":"mirror"},"org":"acme","run_count":0,"is_first_sync":true,"started_at":"2026-03-17T10:00:00Z"}`,
		`{"type":"repo.sync.failed","repository":{"id":"mirror","url":"mirror","repo_name":"mirror"},"org":"acme","run_count":2,"is_first_sync":false,"started_at":"2026-03-17T10:00:00Z","completed_at":"2026-03-17T10:01:00Z","error":"upstream unreachable"}`,
	}
	for i, d := range got {
		if string(d.Body) != want[i] {
			t.Fatalf("delivery %d:\n got %s\nwant %s", i, d.Body, want[i])
		}
	}
	for {
		ds, err := reg.Deliveries(ctx, "acme", info.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 2 && ds[0].Status == metadata.DeliveryDelivered && ds[1].Status == metadata.DeliveryDelivered {
			break
		}
		waitABit()
	}
	if n := len(pushOnly.deliveries()); n != 0 {
		t.Fatalf("a push-only webhook got %d sync events", n)
	}
}

// Killed with deliveries pending (SIGKILL: no shutdown at all), the
// server delivers them after a restart on the same data dir: they may
// repeat, never vanish, and stay in order.
func TestWebhooks_killAndRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the strata binary")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	build := exec.Command("go", "build", "-o", bin, "./cmd/strata")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	healthy := make(chan struct{})
	rc := newReceiver(t, func(n int, _ []byte) int {
		select {
		case <-healthy:
			return http.StatusOK
		default:
			return http.StatusServiceUnavailable
		}
	})
	dir := t.TempDir()
	signer, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := auth.WriteKeyPair(filepath.Join(dir, "keys"), "test", signer)
	if err != nil {
		t.Fatal(err)
	}
	ca := caFile(t, rc.Server)
	start := func() (*server, *exec.Cmd) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"),
			"--org", "acme="+pub, "--upstream-allow-private", "--upstream-ca-file", ca,
			"--webhook-backoff", "100ms", "--log-level", "warn", "--maintenance=false")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
		s := &server{Server: servertest.Attach(t, "http://"+addr, "acme", signer), t: t}
		for {
			resp, err := http.Get(s.URL + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return s, cmd
				}
			}
			waitABit()
		}
	}

	s, cmd := start()
	_, secret := s.createWebhook(rc.URL, []string{"push"}, "")
	s.createRepo("durable")
	var shas []string
	for i := range 3 {
		shas = append(shas, s.commit("durable", "main", "f", fmt.Sprint(i), false))
	}
	rc.wait(2) // attempts are failing: deliveries are pending in the outbox
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	close(healthy)
	s, _ = start()
	var afters []string
	for _, d := range rc.waitOK(3) {
		checkSigned(t, d, secret, "push")
		afters = append(afters, d.payload(t)["after"].(string))
	}
	if !slices.Equal(afters, shas) {
		t.Fatalf("delivered %v, want %v", afters, shas)
	}
	// Writes after the restart are delivered too.
	sha := s.commit("durable", "main", "f", "after", false)
	if d := rc.waitOK(4)[3]; d.payload(t)["after"] != sha {
		t.Fatalf("after the restart: %s", d.Body)
	}
}
