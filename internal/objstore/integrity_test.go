package objstore_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/strata-storage/strata/internal/objstore"
	"github.com/strata-storage/strata/internal/s3test"
)

// flipReader passes r on with the byte at offset at inverted.
type flipReader struct {
	r   io.ReadCloser
	at  int64
	off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0xff
	}
	f.off += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

// corruptingProxy is a reverse proxy to srv that damages one byte of
// request bodies (uploads) while corruptUp is set and of response bodies
// (downloads) while corruptDown is set, as a faulty network or disk would.
// With useTLS it serves https and env trusts its certificate through
// AWS_CA_BUNDLE.
type corruptingProxy struct {
	corruptUp, corruptDown atomic.Bool
	env                    map[string]string
}

func startCorruptingProxy(t *testing.T, srv *s3test.Server, useTLS bool) *corruptingProxy {
	t.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &corruptingProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // signed by the client
			if p.corruptUp.Load() && r.In.ContentLength > 2000 {
				r.Out.Body = &flipReader{r: r.Out.Body, at: 1000}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if p.corruptDown.Load() && resp.Request.Method == http.MethodGet && resp.ContentLength > 2000 {
				resp.Body = &flipReader{r: resp.Body, at: 1000}
			}
			return nil
		},
	}
	proxy := httptest.NewUnstartedServer(rp)
	p.env = map[string]string{}
	for k, v := range srv.Env {
		p.env[k] = v
	}
	if useTLS {
		proxy.StartTLS()
		ca := filepath.Join(t.TempDir(), "ca.pem")
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
		if err := os.WriteFile(ca, cert, 0o644); err != nil {
			t.Fatal(err)
		}
		p.env["AWS_CA_BUNDLE"] = ca
	} else {
		proxy.Start()
	}
	t.Cleanup(proxy.Close)
	p.env["AWS_ENDPOINT_URL"] = proxy.URL
	return p
}

func TestBucket_integrity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc   string
		useTLS bool
	}{
		{desc: "http"},
		{desc: "https", useTLS: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv, direct := open(t)
			proxy := startCorruptingProxy(t, srv, tc.useTLS)
			b := openAt(t, srv.URL, func(k string) string { return proxy.env[k] })
			data := payload(64<<10, 6)

			// Through an honest proxy, everything works.
			put(t, b, "honest", data)
			if got := get(t, b, "honest"); !bytes.Equal(got, data) {
				t.Fatal("honest round trip differs")
			}

			// A damaged upload is refused and nothing is stored.
			proxy.corruptUp.Store(true)
			err := b.Put(ctx, "damaged", bytes.NewReader(data), int64(len(data)))
			proxy.corruptUp.Store(false)
			t.Logf("damaged upload: %v", err)
			if err == nil {
				t.Fatal("a damaged upload was accepted")
			}
			if !errors.Is(err, objstore.ErrCorrupt) {
				t.Errorf("a damaged upload: %v, want ErrCorrupt", err)
			}
			if ok, err := direct.Exists(ctx, "damaged"); ok || err != nil {
				t.Errorf("after a damaged upload, exists = %v, %v", ok, err)
			}

			// A damaged download fails at the end and is not put in place.
			put(t, b, "stored", data)
			proxy.corruptDown.Store(true)
			defer proxy.corruptDown.Store(false)
			rc, _, err := b.Get(ctx, "stored")
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			t.Logf("damaged download: %v", err)
			if !errors.Is(err, objstore.ErrCorrupt) {
				t.Errorf("a damaged download read: %v, want ErrCorrupt", err)
			}
			dst := filepath.Join(t.TempDir(), "stored")
			if err := b.Download(ctx, "stored", dst); !errors.Is(err, objstore.ErrCorrupt) {
				t.Errorf("a damaged download: %v, want ErrCorrupt", err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
				t.Errorf("a failed download left %d files", len(entries))
			}
		})
	}
}
