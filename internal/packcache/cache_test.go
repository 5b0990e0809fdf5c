package packcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newCache(t *testing.T, maxBytes int64, now func() time.Time) *Cache {
	t.Helper()
	c, err := New(Config{Dir: filepath.Join(t.TempDir(), "packs"), MaxBytes: maxBytes, MaxAge: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func constant(data string, calls *atomic.Int64) Generator {
	return func(ctx context.Context, w io.Writer) error {
		calls.Add(1)
		_, err := io.WriteString(w, data)
		return err
	}
}

func readAll(t *testing.T, c *Cache, key string, gen Generator) (string, error) {
	t.Helper()
	r, err := c.Open(context.Background(), key, gen)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// files lists the entry files on disk.
func files(t *testing.T, c *Cache) []string {
	t.Helper()
	des, err := os.ReadDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

func TestCache_hit(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<20, nil)
	var calls atomic.Int64
	for range 3 {
		if got, err := readAll(t, c, "k", constant("pack", &calls)); err != nil || got != "pack" {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("generated %d times, want 1", calls.Load())
	}
	if s := c.Stats(); s.Hits != 2 || s.Generations != 1 || s.Entries != 1 || s.Bytes != 4 {
		t.Errorf("stats %+v", s)
	}
}

func TestCache_emptiesDirAtStart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "packs")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "k-1.pack"), []byte("partial"), 0o600)
	c, err := New(Config{Dir: dir, MaxBytes: 1 << 20, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if got := files(t, c); len(got) != 0 {
		t.Errorf("left %v", got)
	}
}

// Readers that arrive while the pack is being written follow the growing
// file and all get every byte, from one generation.
func TestCache_singleFlight(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<30, nil)
	var calls atomic.Int64
	release := make(chan struct{})
	chunk := strings.Repeat("x", 100_000)
	gen := func(ctx context.Context, w io.Writer) error {
		calls.Add(1)
		for i := range 20 {
			if i == 1 {
				<-release // the others join mid-generation
			}
			if _, err := io.WriteString(w, chunk); err != nil {
				return err
			}
		}
		return nil
	}
	const n = 10
	var wg sync.WaitGroup
	var opened sync.WaitGroup
	results := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		opened.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Open(context.Background(), "k", gen)
			opened.Done()
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			b, err := io.ReadAll(r)
			results[i], errs[i] = string(b), err
		}()
	}
	opened.Wait()
	close(release)
	wg.Wait()
	want := strings.Repeat(chunk, 20)
	for i := range n {
		if errs[i] != nil || results[i] != want {
			t.Errorf("reader %d: %d bytes, %v", i, len(results[i]), errs[i])
		}
	}
	if calls.Load() != 1 {
		t.Errorf("generated %d times, want 1", calls.Load())
	}
	if s := c.Stats(); s.Shared != n-1 {
		t.Errorf("stats %+v, want %d shared", s, n-1)
	}
}

// A generation that fails (pack-objects killed) fails its readers and
// leaves nothing to serve: the next request generates again.
func TestCache_failedGeneration(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<20, nil)
	killed := errors.New("signal: killed")
	got, err := readAll(t, c, "k", func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "PACK partial")
		return killed
	})
	if !errors.Is(err, killed) {
		t.Fatalf("read %q, err %v; want the generation's error", got, err)
	}
	if f := files(t, c); len(f) != 0 {
		t.Errorf("failed generation left %v", f)
	}
	var calls atomic.Int64
	if got, err := readAll(t, c, "k", constant("PACK whole", &calls)); err != nil || got != "PACK whole" {
		t.Fatalf("after failure: %q, %v", got, err)
	}
	if s := c.Stats(); s.Failed != 1 || s.Generations != 2 || s.Hits != 0 {
		t.Errorf("stats %+v", s)
	}
}

// When its last reader leaves, a generation is cancelled and dropped: a
// new request starts a fresh one instead of joining it.
func TestCache_abandonedGeneration(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<20, nil)
	cancelled := make(chan struct{})
	r, err := c.Open(context.Background(), "k", func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "PACK")
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	r.Close()
	<-cancelled
	var calls atomic.Int64
	if got, err := readAll(t, c, "k", constant("PACK new", &calls)); err != nil || got != "PACK new" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A reader whose request ends stops waiting.
func TestCache_readerContext(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<20, nil)
	ctx, cancel := context.WithCancel(context.Background())
	block := make(chan struct{})
	defer close(block)
	r, err := c.Open(ctx, "k", func(ctx context.Context, w io.Writer) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cancel()
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("read: %v", err)
	}
}

func TestCache_evictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newCache(t, 25, nil)
	var calls atomic.Int64
	ten := strings.Repeat("a", 10)
	readAll(t, c, "a", constant(ten, &calls))
	readAll(t, c, "b", constant(ten, &calls))
	readAll(t, c, "a", constant(ten, &calls)) // a is now the most recent
	readAll(t, c, "c", constant(ten, &calls)) // 30 > 25: b goes
	if s := c.Stats(); s.Entries != 2 || s.Bytes != 20 || s.Evictions != 1 {
		t.Errorf("stats %+v", s)
	}
	if n := len(files(t, c)); n != 2 {
		t.Errorf("%d files on disk, want 2", n)
	}
	calls.Store(0)
	readAll(t, c, "a", constant(ten, &calls))
	readAll(t, c, "c", constant(ten, &calls))
	if calls.Load() != 0 {
		t.Errorf("a or c was evicted")
	}
	readAll(t, c, "b", constant(ten, &calls))
	if calls.Load() != 1 {
		t.Errorf("b was not evicted")
	}
	// Larger than the whole cap: served, then not kept, and nothing else
	// is evicted for it.
	big := strings.Repeat("z", 30)
	if got, err := readAll(t, c, "big", constant(big, &calls)); err != nil || got != big {
		t.Fatalf("big: %d bytes, %v", len(got), err)
	}
	if s := c.Stats(); s.Entries != 2 || s.Bytes != 20 {
		t.Errorf("after an oversize entry: %+v", s)
	}
}

func TestCache_maxAge(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newCache(t, 1<<20, clock)
	var calls atomic.Int64
	readAll(t, c, "k", constant("one", &calls))
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if got, _ := readAll(t, c, "k", constant("two", &calls)); got != "two" {
		t.Errorf("expired entry served: %q", got)
	}
	if calls.Load() != 2 {
		t.Errorf("generated %d times, want 2", calls.Load())
	}
}

// Stop cancels a generation in progress and its reader gets an error.
func TestCache_stop(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Dir: filepath.Join(t.TempDir(), "packs"), MaxBytes: 1 << 20, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Open(context.Background(), "k", func(ctx context.Context, w io.Writer) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if _, err := io.Copy(io.Discard, r); err == nil {
		t.Error("read after Stop succeeded")
	}
	r.Close()
	if _, err := c.Open(context.Background(), "k", nil); err == nil {
		t.Error("Open after Stop succeeded")
	}
}

// A generation that returns ErrServeOnce serves its pack to the readers
// that followed it, then is gone: the next request generates afresh.
func TestCache_serveOnce(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<20, nil)
	release := make(chan struct{})
	gen := func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "PACK ")
		<-release
		io.WriteString(w, "moved")
		return fmt.Errorf("refs changed: %w", ErrServeOnce)
	}
	var readers []*Reader
	for range 3 {
		r, err := c.Open(context.Background(), "k", gen)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readers = append(readers, r)
	}
	close(release)
	for i, r := range readers {
		if b, err := io.ReadAll(r); err != nil || string(b) != "PACK moved" {
			t.Errorf("reader %d: %q, %v", i, b, err)
		}
		if n := r.Size(); n != int64(len("PACK moved")) {
			t.Errorf("reader %d: Size %d after the end", i, n)
		}
	}
	if f := files(t, c); len(f) != 0 {
		t.Errorf("a serve-once pack was kept: %v", f)
	}
	var calls atomic.Int64
	if got, err := readAll(t, c, "k", constant("PACK new", &calls)); err != nil || got != "PACK new" || calls.Load() != 1 {
		t.Fatalf("next request: %q, %v, %d generations", got, err, calls.Load())
	}
	if s := c.Stats(); s.ServedOnce != 1 || s.Failed != 0 || s.Generations != 2 || s.Entries != 1 {
		t.Errorf("stats %+v", s)
	}
}

// Size is known for a complete entry and unknown while it is generated.
func TestCache_size(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<20, nil)
	release := make(chan struct{})
	r, err := c.Open(context.Background(), "k", func(ctx context.Context, w io.Writer) error {
		<-release
		_, err := io.WriteString(w, "PACK")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Size(); n != -1 {
		t.Errorf("Size %d during the generation, want -1", n)
	}
	close(release)
	io.Copy(io.Discard, r)
	r.Close()
	r, err = c.Open(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := r.Size(); n != 4 {
		t.Errorf("Size %d of a complete entry, want 4", n)
	}
}

// Begun tells a reader that the generation is under way before its first
// byte; a write or the end implies it, and a complete entry has begun.
func TestCache_begin(t *testing.T) {
	t.Parallel()
	c := newCache(t, 1<<20, nil)
	begin, write := make(chan struct{}), make(chan struct{})
	r, err := c.Open(context.Background(), "k", func(ctx context.Context, w io.Writer) error {
		<-begin
		Begin(w)
		Begin(io.Discard) // not a generation's writer: ignored
		<-write
		_, err := io.WriteString(w, "PACK")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Begun():
		t.Fatal("begun before Begin")
	default:
	}
	close(begin)
	<-r.Begun()
	close(write)
	if b, err := io.ReadAll(r); err != nil || string(b) != "PACK" {
		t.Fatalf("read %q, %v", b, err)
	}
	r.Close()

	// Without Begin, the first write opens it.
	var calls atomic.Int64
	r, err = c.Open(context.Background(), "other", constant("PACK", &calls))
	if err != nil {
		t.Fatal(err)
	}
	<-r.Begun()
	io.Copy(io.Discard, r)
	r.Close()
	r, err = c.Open(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	select {
	case <-r.Begun():
	default:
		t.Error("a complete entry has not begun")
	}
}

// WriteTo sends the rest of a pack: a complete one as its file (here to a
// TCP connection, which takes it with sendfile), one being generated as it
// grows; either way the bytes after what Read already returned.
func TestReader_writeTo(t *testing.T) {
	t.Parallel()
	c := newCache(t, 8<<20, nil)
	data := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	release := make(chan struct{})
	growing, err := c.Open(context.Background(), "k", func(ctx context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, data[:1000]); err != nil {
			return err
		}
		<-release
		_, err := io.WriteString(w, data[1000:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(growing, head); err != nil {
		t.Fatal(err)
	}
	close(release)
	var rest bytes.Buffer
	if n, err := growing.WriteTo(&rest); err != nil || n != int64(len(data)-10) || string(head)+rest.String() != data {
		t.Fatalf("WriteTo during the generation: %d bytes, %v; contents match: %v", n, err, string(head)+rest.String() == data)
	}
	growing.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			received <- err.Error()
			return
		}
		defer conn.Close()
		b, _ := io.ReadAll(conn)
		received <- string(b)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	complete, err := c.Open(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer complete.Close()
	if _, err := io.ReadFull(complete, head); err != nil {
		t.Fatal(err)
	}
	n, err := complete.WriteTo(conn)
	conn.Close()
	if err != nil || n != int64(len(data)-10) {
		t.Fatalf("WriteTo of a complete pack: %d bytes, %v", n, err)
	}
	if got := <-received; got != data[10:] {
		t.Errorf("the connection received %d bytes, not the pack's last %d", len(got), len(data)-10)
	}
	if n, err := complete.WriteTo(io.Discard); n != 0 || err != nil {
		t.Errorf("WriteTo at the end = %d, %v; want 0, nil", n, err)
	}
}
