package server_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/servertest"
)

// --pprof-addr serves the profiles on its own loopback listener only; the
// public listener never does.
func TestPprof_ownListenerOnly(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) { c.PprofAddr = addr }))

	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pprof listener: status %d", resp.StatusCode)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
		resp := s.Do("GET", path, "", nil)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("public listener serves %s", path)
		}
	}
}
