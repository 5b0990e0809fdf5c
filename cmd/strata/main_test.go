package main

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildStrata compiles the binary once per test.
func buildStrata(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strata")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServe_firstRun: with no --org the server creates the dev organisation,
// prints the key and a token command that works, serves, and exits cleanly
// on SIGTERM. Flags come from the environment too.
func TestServe_firstRun(t *testing.T) {
	bin := buildStrata(t)
	// A relative data dir (the default is ./strata-data) must work.
	work := t.TempDir()
	data := filepath.Join(work, "data")
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--data-dir", "data")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "STRATA_ADDR="+addr, "STRATA_LOG_LEVEL=warn")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var printed strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "strata token") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	m := regexp.MustCompile(`strata token --key (\S+) --org dev`).FindStringSubmatch(printed.String())
	if m == nil {
		t.Fatalf("no token command printed:\n%s", printed.String())
	}
	if _, err := os.Stat(m[1]); err != nil || !strings.HasPrefix(m[1], data) {
		t.Fatalf("printed key path %s (want it under %s): %v", m[1], data, err)
	}

	tok, err := exec.Command(bin, "token", "--key", m[1], "--org", "dev", "--repo", "first", "--scopes", "repo:write,git:read").Output()
	if err != nil {
		t.Fatalf("strata token: %v", err)
	}
	base := "http://" + addr
	waitHealthy(t, base)
	req, _ := http.NewRequest("POST", base+"/api/v1/repos", strings.NewReader(`{"default_branch":"main"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create repo with the printed key: status %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}

	// A second start reuses the same dev key instead of minting a new one.
	before, _ := os.ReadFile(m[1])
	cmd2 := exec.Command(bin, "serve", "--data-dir", "data", "--addr", freeAddr(t))
	cmd2.Dir = work
	out2, _ := cmd2.StdoutPipe()
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	sc2 := bufio.NewScanner(out2)
	sc2.Scan()
	cmd2.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc2.Scan() {
		}
	}()
	cmd2.Wait()
	after, _ := os.ReadFile(m[1])
	if string(before) != string(after) {
		t.Fatal("dev key changed on restart")
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server never became healthy")
}

// TestKeygenAndToken: keygen writes a pair whose public half verifies tokens
// minted from the private half (checked by a server started with --org).
func TestKeygenAndToken(t *testing.T) {
	bin := buildStrata(t)
	dir := t.TempDir()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		out, err := exec.Command(bin, "keygen", "--out", dir, "--alg", alg).CombinedOutput()
		if err != nil {
			t.Fatalf("keygen %s: %v\n%s", alg, err, out)
		}
	}
	addr := freeAddr(t)
	args := []string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn"}
	for _, n := range []string{"es256", "rs256", "eddsa"} {
		args = append(args, "--org", "acme="+filepath.Join(dir, n+".pem"))
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	waitHealthy(t, "http://"+addr)
	for _, n := range []string{"es256", "rs256", "eddsa"} {
		for _, kid := range []string{"", n} {
			tok, err := exec.Command(bin, "token", "--key", filepath.Join(dir, n+".key"), "--org", "acme", "--repo", "org", "--scopes", "org:read", "--kid", kid).Output()
			if err != nil {
				t.Fatalf("token %s: %v", n, err)
			}
			req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/repos", nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s kid=%q: status %d", n, kid, resp.StatusCode)
			}
		}
	}
}

// TestFS_version: `strata fs` reaches the embedded filesystem's CLI, which
// picks its own exit codes (2 for a usage error).
func TestFS_version(t *testing.T) {
	bin := buildStrata(t)
	out, err := exec.Command(bin, "fs", "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "strata fs, version ") {
		t.Fatalf("strata fs --version = %q, %v", out, err)
	}
	err = exec.Command(bin, "fs", "--no-such-flag").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("strata fs --no-such-flag: %v, want exit 2", err)
	}
}
