package upstream_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

// TestSync_killDuringRun: a server killed with -9 while a sync is running
// (git stuck on a hanging upstream) runs the sync again after a restart,
// and it completes.
func TestSync_killDuringRun(t *testing.T) {
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
	o := newOrigin(t)
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"a.txt": "a\n"})
	o.git("proj", "tag", "v1")
	o.push("proj")
	hang := make(chan struct{})
	o.hang.Store(&hang)

	dir := t.TempDir()
	signer, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := auth.WriteKeyPair(filepath.Join(dir, "keys"), "test", signer)
	if err != nil {
		t.Fatal(err)
	}
	start := func() (*strata, *exec.Cmd) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--org", "acme="+pub,
			"--upstream-allow-private", "--upstream-ca-file", o.caFile, "--log-level", "warn", "--maintenance=false")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
		s := &strata{Server: servertest.Attach(t, "http://"+addr, "acme", signer), t: t}
		s.DataDir = filepath.Join(dir, "data")
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(s.URL + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return s, cmd
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("server not healthy after 30 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	s, cmd := start()
	s.link("killed", o, "team", "proj")
	for o.hits.Load() == 0 { // the first sync's git is talking to the origin
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	o.hang.Store(nil)
	close(hang)
	s, _ = start()
	s.waitRefs("killed", o.peeled("team", "proj"))
	if st := s.syncState("killed", 1); st.LastError != "" {
		t.Errorf("sync after the restart: %q", st.LastError)
	}
}
