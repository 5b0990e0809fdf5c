package s3test_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/leakcheck"
	"github.com/strata-storage/strata/internal/objstore"
	"github.com/strata-storage/strata/internal/s3test"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

func TestServer_restart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	if srv.URL != "s3://"+s3test.Bucket+"/"+s3test.Prefix || !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("URL %q, endpoint %q", srv.URL, srv.Endpoint)
	}
	b, err := objstore.Open(ctx, srv.URL, srv.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Put(ctx, "k", strings.NewReader("kept"), 4); err != nil {
		t.Fatal(err)
	}
	// Objects are plain files under Dir.
	if data, err := os.ReadFile(filepath.Join(srv.Dir, s3test.Bucket, s3test.Prefix, "k")); err != nil || string(data) != "kept" {
		t.Errorf("file under Dir: %q, %v", data, err)
	}

	endpoint := srv.Endpoint
	srv.Stop()
	srv.Stop() // twice is fine
	if c, err := net.Dial("tcp", strings.TrimPrefix(endpoint, "http://")); err == nil {
		c.Close()
		t.Error("the port still answers after Stop")
	}
	srv.Start()
	if srv.Endpoint != endpoint {
		t.Errorf("endpoint moved from %s to %s", endpoint, srv.Endpoint)
	}
	srv.Restart()
	rc, _, err := b.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if data, err := io.ReadAll(rc); err != nil || string(data) != "kept" {
		t.Errorf("after restarts: %q, %v", data, err)
	}
}

func TestServer_environ(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	env := strings.Join(srv.Environ(), "\n")
	for _, name := range []string{"AWS_ENDPOINT_URL=", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="} {
		if !strings.Contains(env, name) {
			t.Errorf("Environ lacks %s", name)
		}
	}
}

func TestBinary(t *testing.T) {
	t.Parallel()
	p, err := s3test.Binary()
	if err != nil {
		t.Skipf("%v (install with %s)", err, s3test.Install)
	}
	if !filepath.IsAbs(p) {
		t.Errorf("Binary() = %q, want an absolute path", p)
	}
}
