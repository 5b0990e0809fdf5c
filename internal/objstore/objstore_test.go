package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/leakcheck"
	"github.com/strata-storage/strata/internal/objstore"
	"github.com/strata-storage/strata/internal/s3test"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

// open starts a versitygw and opens its bucket.
func open(t *testing.T, opts ...objstore.Option) (*s3test.Server, *objstore.Bucket) {
	t.Helper()
	srv := s3test.Start(t)
	return srv, openAt(t, srv.URL, srv.Getenv, opts...)
}

func openAt(t *testing.T, url string, env func(string) string, opts ...objstore.Option) *objstore.Bucket {
	t.Helper()
	b, err := objstore.Open(context.Background(), url, env, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// payload is n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// onlyReader hides every method but Read (no Seek, no ReadAt), as a pipe.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, b *objstore.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, b *objstore.Bucket, key string) []byte {
	t.Helper()
	rc, size, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if int64(len(data)) != size {
		t.Fatalf("get %s: read %d bytes, size %d", key, len(data), size)
	}
	return data
}

func list(t *testing.T, b *objstore.Bucket, prefix string) []objstore.Object {
	t.Helper()
	var out []objstore.Object
	for o, err := range b.List(context.Background(), prefix) {
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		out = append(out, o)
	}
	return out
}

func keys(objs []objstore.Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

func TestBucket_roundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, b := open(t)

	objects := map[string][]byte{
		"packs/pack-1.pack":    payload(70_000, 1),
		"packs/pack-1.idx":     payload(1_000, 2),
		"packs/sub/pack-2.rev": []byte("rev"),
		"empty":                {},
		"top":                  []byte("top level"),
	}
	for k, v := range objects {
		put(t, b, k, v)
	}
	// Keys are relative to the URL's prefix: the files are below it.
	if _, err := os.Stat(filepath.Join(srv.Dir, s3test.Bucket, s3test.Prefix, "packs", "pack-1.pack")); err != nil {
		t.Errorf("object not stored under the prefix: %v", err)
	}

	for k, v := range objects {
		if got := get(t, b, k); !bytes.Equal(got, v) {
			t.Errorf("get %s: %d bytes differ from the %d put", k, len(got), len(v))
		}
		st, err := b.Stat(ctx, k)
		if err != nil || st.Key != k || st.Size != int64(len(v)) || st.Modified.IsZero() {
			t.Errorf("stat %s = %+v, %v; want size %d", k, st, err, len(v))
		}
		if ok, err := b.Exists(ctx, k); !ok || err != nil {
			t.Errorf("exists %s = %v, %v", k, ok, err)
		}
	}

	// Listing: lexical order, relative keys, sizes.
	all := list(t, b, "")
	if want := []string{"empty", "packs/pack-1.idx", "packs/pack-1.pack", "packs/sub/pack-2.rev", "top"}; !slices.Equal(keys(all), want) {
		t.Errorf("list all = %q, want %q", keys(all), want)
	}
	for _, o := range all {
		if o.Size != int64(len(objects[o.Key])) {
			t.Errorf("list: %s size %d, want %d", o.Key, o.Size, len(objects[o.Key]))
		}
	}
	if got, want := keys(list(t, b, "packs/")), []string{"packs/pack-1.idx", "packs/pack-1.pack", "packs/sub/pack-2.rev"}; !slices.Equal(got, want) {
		t.Errorf("list packs/ = %q, want %q", got, want)
	}
	if got, want := keys(list(t, b, "packs/pack-1.p")), []string{"packs/pack-1.pack"}; !slices.Equal(got, want) {
		t.Errorf("list packs/pack-1.p = %q, want %q", got, want)
	}
	if got := list(t, b, "nothing/"); len(got) != 0 {
		t.Errorf("list nothing/ = %q", keys(got))
	}

	// Download into place, atomically: no temporary file left behind.
	dir := t.TempDir()
	dst := filepath.Join(dir, "pack-1.pack")
	if err := b.Download(ctx, "packs/pack-1.pack", dst); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, objects["packs/pack-1.pack"]) {
		t.Errorf("downloaded file differs (%v)", err)
	}
	if err := b.Download(ctx, "empty", filepath.Join(dir, "empty")); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("download left %d entries in its directory, want 2", len(entries))
	}

	// Overwrite, then delete; deleting again is fine.
	put(t, b, "top", []byte("replaced"))
	if got := get(t, b, "top"); string(got) != "replaced" {
		t.Errorf("after overwrite: %q", got)
	}
	for range 2 {
		if err := b.Delete(ctx, "top"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if err := b.Delete(ctx, "never/was"); err != nil {
		t.Errorf("delete of a missing key: %v", err)
	}
	if ok, err := b.Exists(ctx, "top"); ok || err != nil {
		t.Errorf("exists after delete = %v, %v", ok, err)
	}
}

func TestBucket_notFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := open(t)
	put(t, b, "present", []byte("x"))

	if _, _, err := b.Get(ctx, "missing"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("get: %v, want ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, "missing"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("stat: %v, want ErrNotFound", err)
	}
	dst := filepath.Join(t.TempDir(), "f")
	if err := b.Download(ctx, "missing", dst); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("download: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a failed download created %s: %v", dst, err)
	}
	// A prefix of a key is no key.
	if _, err := b.Stat(ctx, "pres"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("stat of a key's prefix: %v, want ErrNotFound", err)
	}
}

func TestBucket_large(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := open(t)
	data := payload(20<<20, 3) // above minio-go's 16 MiB part size: multipart
	sum := sha256.Sum256(data)

	for _, tc := range []struct {
		desc string
		r    io.Reader
	}{
		{desc: "seekable", r: bytes.NewReader(data)}, // parallel parts from ReadAt
		{desc: "stream", r: onlyReader{bytes.NewReader(data)}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			key := "large/" + tc.desc
			start := time.Now()
			if err := b.Put(ctx, key, tc.r, int64(len(data))); err != nil {
				t.Fatal(err)
			}
			t.Logf("put 20 MiB (%s) in %v", tc.desc, time.Since(start))
			st, err := b.Stat(ctx, key)
			if err != nil || st.Size != int64(len(data)) {
				t.Fatalf("stat = %+v, %v", st, err)
			}
			dst := filepath.Join(t.TempDir(), "large")
			if err := b.Download(ctx, key, dst); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(got) != sum {
				t.Fatalf("downloaded %d bytes differ from the %d put", len(got), len(data))
			}
		})
	}
}

func TestBucket_listPages(t *testing.T) {
	t.Parallel()
	srv, _ := open(t)
	b := openAt(t, srv.URL, srv.Getenv, objstore.WithPageSize(3))
	var want []string
	for i := range 10 {
		k := fmt.Sprintf("p/%02d", i)
		want = append(want, k)
		put(t, b, k, []byte(k))
	}
	put(t, b, "q/after", []byte("not under p/"))
	if got := keys(list(t, b, "p/")); !slices.Equal(got, want) {
		t.Errorf("list over pages of 3 = %q, want %q", got, want)
	}
	// Stopping early makes no further request and leaks nothing.
	n := 0
	for _, err := range b.List(context.Background(), "p/") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 4 {
			break
		}
	}
	// A location with a prefix lists only below it.
	other := openAt(t, "s3://"+s3test.Bucket+"/"+s3test.Prefix+"/p", srv.Getenv)
	if got := keys(list(t, other, "")); len(got) != 10 || got[0] != "00" {
		t.Errorf("list below s3://…/p = %q", got)
	}
}

func TestBucket_putSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := open(t)
	data := []byte("exactly twenty bytes")

	for _, tc := range []struct {
		desc string
		r    io.Reader
		size int64
	}{
		{desc: "stream shorter than size", r: onlyReader{bytes.NewReader(data)}, size: 30},
		{desc: "stream longer than size", r: onlyReader{bytes.NewReader(data)}, size: 10},
		{desc: "seekable shorter than size", r: bytes.NewReader(data), size: 30},
		{desc: "seekable longer than size", r: bytes.NewReader(data), size: 10},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			key := strings.ReplaceAll(tc.desc, " ", "-")
			err := b.Put(ctx, key, tc.r, tc.size)
			if err == nil {
				t.Fatal("put succeeded")
			}
			if errors.Is(err, objstore.ErrUnavailable) {
				t.Errorf("a size mismatch is not an outage: %v", err)
			}
			t.Log(err)
			if ok, err := b.Exists(ctx, key); ok || err != nil {
				t.Errorf("after a refused put, exists = %v, %v", ok, err)
			}
		})
	}
}

func TestBucket_badKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := open(t)
	for _, key := range []string{"", "/abs", "a/../b", "..", "a//b", "a/", "./a", "a\\b", "a\x00b", strings.Repeat("k", 1100)} {
		if err := b.Put(ctx, key, strings.NewReader("x"), 1); err == nil {
			t.Errorf("put %q succeeded", key)
		}
		if _, _, err := b.Get(ctx, key); err == nil || errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("get %q: %v, want a refusal", key, err)
		}
	}
	for _, prefix := range []string{"../", "/", "a//"} {
		for _, err := range b.List(ctx, prefix) {
			if err == nil {
				t.Errorf("list %q succeeded", prefix)
			}
		}
	}
}

func TestOpen_refused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	env := func(over map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := over[k]; ok {
				return v
			}
			return srv.Env[k]
		}
	}
	secret := srv.Env["AWS_SECRET_ACCESS_KEY"]
	for _, tc := range []struct {
		desc string
		url  string
		env  map[string]string
		want error
	}{
		{desc: "wrong secret", url: srv.URL, env: map[string]string{"AWS_SECRET_ACCESS_KEY": "not-" + secret}, want: objstore.ErrAccessDenied},
		{desc: "unknown access key", url: srv.URL, env: map[string]string{"AWS_ACCESS_KEY_ID": "nobody"}, want: objstore.ErrAccessDenied},
		{desc: "missing bucket", url: "s3://no-such-bucket/x"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			start := time.Now()
			b, err := objstore.Open(ctx, tc.url, env(tc.env))
			if err == nil {
				b.Close()
				t.Fatal("open succeeded")
			}
			t.Logf("%v (after %v)", err, time.Since(start))
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error is not %v", tc.want)
			}
			if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrUnavailable) {
				t.Errorf("error is ErrNotFound or ErrUnavailable")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret key")
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("refusal took %v", time.Since(start))
			}
		})
	}
	// The message names the missing bucket.
	_, err := objstore.Open(ctx, "s3://no-such-bucket/x", srv.Getenv)
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("missing bucket: %v", err)
	}
}
