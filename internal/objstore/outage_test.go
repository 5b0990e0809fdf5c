package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/objstore"
)

// detect is how long any call may take to report a stopped store.
const detect = 5 * time.Second

func TestBucket_outage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, b := open(t)
	small := payload(100_000, 4)
	large := payload(16<<20, 5)
	put(t, b, "small", small)
	put(t, b, "large", large)

	// An object being read when the store goes away: the read fails.
	rc, _, err := b.Get(ctx, "large")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}

	srv.Stop()

	start := time.Now()
	_, err = io.Copy(io.Discard, rc)
	t.Logf("read cut off after %v: %v", time.Since(start), err)
	if !errors.Is(err, objstore.ErrUnavailable) {
		t.Errorf("reading while the store stops: %v, want ErrUnavailable", err)
	}

	dir := t.TempDir()
	for _, op := range []struct {
		desc string
		run  func() error
	}{
		{"stat", func() error { _, err := b.Stat(ctx, "small"); return err }},
		{"exists", func() error { _, err := b.Exists(ctx, "small"); return err }},
		{"get", func() error {
			rc, _, err := b.Get(ctx, "small")
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"download", func() error { return b.Download(ctx, "small", filepath.Join(dir, "small")) }},
		{"put seekable", func() error { return b.Put(ctx, "new", bytes.NewReader(small), int64(len(small))) }},
		{"put stream", func() error { return b.Put(ctx, "new", onlyReader{bytes.NewReader(small)}, int64(len(small))) }},
		{"delete", func() error { return b.Delete(ctx, "small") }},
		{"list", func() error {
			for _, err := range b.List(ctx, "") {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"open", func() error {
			b2, err := objstore.Open(ctx, srv.URL, srv.Getenv)
			if err == nil {
				b2.Close()
			}
			return err
		}},
	} {
		start := time.Now()
		err := op.run()
		took := time.Since(start)
		t.Logf("%s with the store down: %v after %v", op.desc, err, took)
		if !errors.Is(err, objstore.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", op.desc, err)
		}
		if took > detect {
			t.Errorf("%s took %v to fail, want under %v", op.desc, took, detect)
		}
	}

	srv.Start()

	// The same Bucket works again, with the data kept across the outage.
	if got := get(t, b, "small"); !bytes.Equal(got, small) {
		t.Error("small object changed across the outage")
	}
	if got := get(t, b, "large"); !bytes.Equal(got, large) {
		t.Error("large object changed across the outage")
	}
	put(t, b, "after", []byte("after the outage"))
	if got := get(t, b, "after"); string(got) != "after the outage" {
		t.Errorf("after the outage: %q", got)
	}
}

// hungStore accepts connections and never answers.
func hungStore(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func TestBucket_hungStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := map[string]string{
		"AWS_ENDPOINT_URL":      hungStore(t),
		"AWS_ACCESS_KEY_ID":     "id",
		"AWS_SECRET_ACCESS_KEY": "secret",
	}
	timeouts := objstore.WithTimeouts(objstore.Timeouts{Stall: 300 * time.Millisecond, Call: 2 * time.Second})
	start := time.Now()
	_, err := objstore.Open(ctx, "s3://bucket/prefix", func(k string) string { return env[k] }, timeouts)
	took := time.Since(start)
	t.Logf("open of a hung store: %v after %v", err, took)
	if !errors.Is(err, objstore.ErrUnavailable) {
		t.Errorf("open: %v, want ErrUnavailable", err)
	}
	if took > 3*time.Second {
		t.Errorf("open took %v, want about the call timeout (2 s)", took)
	}
}

// TestBucket_hangsAfterOpen: a store that answers Open's check and then
// stops answering fails a Get within Timeouts.Call, not Timeouts.Stall.
func TestBucket_hangsAfterOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var hang atomic.Bool
	done := make(chan struct{})
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>prefix/</Prefix>`+
			`<KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	}))
	t.Cleanup(store.Close)
	t.Cleanup(func() { close(done) })
	env := map[string]string{"AWS_ENDPOINT_URL": store.URL, "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}
	b := openAt(t, "s3://bucket/prefix", func(k string) string { return env[k] },
		objstore.WithTimeouts(objstore.Timeouts{Stall: time.Minute, Call: time.Second}))
	hang.Store(true)
	for _, op := range []struct {
		desc string
		run  func() error
	}{
		{"get", func() error {
			rc, _, err := b.Get(ctx, "k")
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"stat", func() error { _, err := b.Stat(ctx, "k"); return err }},
	} {
		start := time.Now()
		err := op.run()
		took := time.Since(start)
		t.Logf("%s of a hung store: %v after %v", op.desc, err, took)
		if !errors.Is(err, objstore.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", op.desc, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s took %v, want about the call timeout (1 s)", op.desc, took)
		}
	}
}

func TestBucket_callerCancels(t *testing.T) {
	t.Parallel()
	srv, b := open(t)
	srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The caller's own cancellation is its error, not an outage.
	if _, err := b.Stat(ctx, "x"); !errors.Is(err, context.Canceled) || errors.Is(err, objstore.ErrUnavailable) {
		t.Errorf("stat with a cancelled context: %v", err)
	}
}
