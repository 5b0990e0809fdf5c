package outbound_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/outbound"
)

func TestRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want string // "" = allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"fd00::1", "private"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"100.64.0.1", "shared (CGNAT)"},
		{"0.1.2.3", "this-network"},
		{"198.18.0.1", "benchmarking"},
		{"255.255.255.255", "reserved"},
		{"64:ff9b::7f00:1", "loopback"},      // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", "link-local"}, // NAT64 of 169.254.169.254
		{"2002:7f00:1::", "loopback"},        // 6to4 of 127.0.0.1
		{"8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
	} {
		if got := outbound.Refused(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Refused(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// Without AllowPrivate, every name or literal that is or resolves to a
// refused address is refused up front, and so is plain http.
func TestCheckURL(t *testing.T) {
	t.Parallel()
	c := outbound.New(outbound.Options{})
	defer c.Close()
	for _, raw := range []string{
		"https://127.0.0.1/hook",
		"https://127.0.0.1:8443/hook",
		"https://169.254.169.254/latest/meta-data/",
		"https://[::1]/hook",
		"https://[::ffff:127.0.0.1]/hook",
		"https://localhost/hook",
		"https://10.0.0.1/hook",
		"https://0.0.0.0/",
		"http://8.8.8.8/hook", // plain http
		"ftp://8.8.8.8/x",
		"https://user:pass@8.8.8.8/hook",
		"/relative",
		"https:///nohost",
		"https://no-such-host.invalid/",
	} {
		_, err := c.CheckURL(t.Context(), raw)
		if !errors.Is(err, outbound.ErrRefused) {
			t.Errorf("CheckURL(%s) = %v, want a refusal", raw, err)
		} else if strings.Contains(err.Error(), "pass") {
			t.Errorf("CheckURL(%s): the error quotes the password: %v", raw, err)
		}
	}
	for _, raw := range []string{"https://8.8.8.8/hook", "https://[2606:4700:4700::1111]:8443/x"} {
		if _, err := c.CheckURL(t.Context(), raw); err != nil {
			t.Errorf("CheckURL(%s) = %v, want ok", raw, err)
		}
	}

	open := outbound.New(outbound.Options{AllowPrivate: true})
	defer open.Close()
	for _, raw := range []string{"https://127.0.0.1/hook", "http://localhost:9000/x", "https://[::1]/", "https://169.254.169.254/"} {
		if _, err := open.CheckURL(t.Context(), raw); err != nil {
			t.Errorf("AllowPrivate: CheckURL(%s) = %v, want ok", raw, err)
		}
	}
}

// tlsServer is a TLS receiver on loopback whose CA the client trusts.
func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

func get(t *testing.T, c *outbound.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

// Do checks the address it dials, whatever the URL said: a request that
// skipped CheckURL is refused at connect time.
func TestDo_refusedAtConnect(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 10)
	srv, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { hit <- struct{}{} })
	c := outbound.New(outbound.Options{RootCAs: pool})
	defer c.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{srv.URL, "https://localhost:" + port + "/"} {
		resp, err := get(t, c, u)
		if err == nil {
			resp.Body.Close()
		}
		var refused *outbound.RefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("GET %s = %v, want a RefusedError", u, err)
		}
	}
	select {
	case <-hit:
		t.Fatal("the refused target received a request")
	default:
	}

	open := outbound.New(outbound.Options{RootCAs: pool, AllowPrivate: true})
	defer open.Close()
	resp, err := get(t, open, srv.URL)
	if err != nil {
		t.Fatalf("AllowPrivate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// A redirect is followed only as far as MaxRedirects, and every hop's
// address is checked when dialled: a permitted target that redirects to
// loopback or the metadata service is refused.
func TestDo_redirects(t *testing.T) {
	t.Parallel()
	inner := make(chan string, 10)
	target, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { inner <- r.URL.Path })
	_, targetPort, _ := net.SplitHostPort(target.Listener.Addr().String())
	// httptest's servers share one certificate, so pool trusts both.
	redirector, _ := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusTemporaryRedirect)
	})
	// Only the redirector's own address is permitted.
	self := netip.MustParsePrefix(netip.MustParseAddrPort(redirector.Listener.Addr().String()).Addr().String() + "/32")
	c := outbound.New(outbound.Options{RootCAs: pool, AllowNets: []netip.Prefix{self}, MaxRedirects: 5})
	defer c.Close()

	for _, to := range []string{
		"https://169.254.169.254/latest/meta-data/",
		"https://[::1]:" + targetPort + "/",
		"https://10.0.0.1/",
		"http://8.8.8.8/", // downgrade to plain http
	} {
		resp, err := get(t, c, redirector.URL+"/?to="+to)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("redirect to %s: status %d, want a refusal", to, resp.StatusCode)
		}
		if !errors.Is(err, outbound.ErrRefused) {
			t.Fatalf("redirect to %s: %v, want a refusal", to, err)
		}
	}

	// MaxRedirects 0: the 3xx itself comes back, nothing is followed.
	noFollow := outbound.New(outbound.Options{RootCAs: pool, AllowPrivate: true})
	defer noFollow.Close()
	resp, err := get(t, noFollow, redirector.URL+"/?to="+target.URL+"/followed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want 307", resp.StatusCode)
	}
	select {
	case p := <-inner:
		t.Fatalf("the redirect was followed to %s", p)
	default:
	}
}

func TestDo_limits(t *testing.T) {
	t.Parallel()
	srv, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/exact":
			w.Write([]byte(strings.Repeat("x", 1024)))
		case "/hang":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	})
	c := outbound.New(outbound.Options{RootCAs: pool, AllowPrivate: true, MaxResponseBytes: 1024, Timeout: 500 * time.Millisecond})
	defer c.Close()

	resp, err := get(t, c, srv.URL+"/big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, outbound.ErrTooLarge) {
		t.Fatalf("read a 2 KiB body with a 1 KiB limit: %v", err)
	}
	resp.Body.Close()

	resp, err = get(t, c, srv.URL+"/exact")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 1024 {
		t.Fatalf("read a body exactly at the limit: %d bytes, %v", len(b), err)
	}
	resp.Body.Close()

	// The timeout covers the body: a response that never ends fails.
	resp, err = get(t, c, srv.URL+"/hang")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read a body that never ends: %v, want the deadline", err)
	}
}
