package catfile

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

func checkout(t testing.TB, c *Cache, gitDir string) (*Reader, func()) {
	t.Helper()
	r, release, err := c.Reader(context.Background(), gitDir)
	if err != nil {
		t.Fatal(err)
	}
	return r, release
}

func TestReader_InfoAndContents(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	commit := repo.commit("first", map[string]string{"README.md": "hello\n", "src/main.go": "package main\n"})
	tree := git.ObjectID(repo.git("rev-parse", "HEAD^{tree}"))
	blob := git.ObjectID(repo.git("rev-parse", "HEAD:README.md"))
	c := newTestCache(t, Options{})
	r, release := checkout(t, c, repo.gitDir)
	defer release()
	ctx := context.Background()

	for _, tc := range []struct {
		rev string
		oid git.ObjectID
		typ git.ObjectType
	}{
		{"HEAD", commit, git.CommitObject},
		{"refs/heads/main", commit, git.CommitObject},
		{commit.String(), commit, git.CommitObject},
		{"HEAD^{tree}", tree, git.TreeObject},
		{"HEAD:", tree, git.TreeObject},
		{"HEAD:README.md", blob, git.BlobObject},
		{blob.String(), blob, git.BlobObject},
	} {
		want := repo.gitRaw(nil, "cat-file", string(tc.typ), tc.oid.String())

		info, err := r.Info(ctx, tc.rev)
		if err != nil {
			t.Fatalf("Info(%q): %v", tc.rev, err)
		}
		if wantInfo := (ObjectInfo{tc.oid, tc.typ, int64(len(want))}); info != wantInfo {
			t.Errorf("Info(%q) = %+v, want %+v", tc.rev, info, wantInfo)
		}

		o, err := r.Object(ctx, tc.rev)
		if err != nil {
			t.Fatalf("Object(%q): %v", tc.rev, err)
		}
		if o.ObjectInfo != info {
			t.Errorf("Object(%q) info = %+v, want %+v", tc.rev, o.ObjectInfo, info)
		}
		got, err := io.ReadAll(o)
		if err != nil {
			t.Fatalf("read %q: %v", tc.rev, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Object(%q) = %q, want %q", tc.rev, got, want)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}

		info, data, err := r.ReadObject(ctx, tc.rev, 1<<20)
		if err != nil || info.OID != tc.oid || !bytes.Equal(data, want) {
			t.Errorf("ReadObject(%q) = %+v, %q, %v; want %q", tc.rev, info, data, err, want)
		}
	}
	if r.dirty {
		t.Error("reader dirty after clean reads")
	}
}

func TestReader_PathWithSpaces(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("spaces", map[string]string{
		"dir with space/file name.txt": "spaced out\n",
		" leading.txt":                 "leading\n",
		"trailing.txt ":                "trailing\n",
		"plain.txt":                    "plain\n",
	})
	c := newTestCache(t, Options{})
	r, release := checkout(t, c, repo.gitDir)
	defer release()

	for path, want := range map[string]string{
		"dir with space/file name.txt": "spaced out\n",
		" leading.txt":                 "leading\n",
		"trailing.txt ":                "trailing\n",
		"plain.txt":                    "plain\n",
	} {
		info, data, err := r.ReadObject(context.Background(), "HEAD:"+path, 1<<10)
		if err != nil {
			t.Fatalf("%q: %v", path, err)
		}
		if info.Type != git.BlobObject || string(data) != want {
			t.Errorf("%q = %v %q, want blob %q", path, info.Type, data, want)
		}
	}
	// A missing path with spaces is echoed back in the "missing" reply.
	_, err := r.Info(context.Background(), "HEAD:no such dir/x y")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing spaced path: %v, want ErrNotFound", err)
	}
	if _, err := r.Info(context.Background(), "HEAD:plain.txt"); err != nil {
		t.Fatalf("reader unusable after a missing spaced path: %v", err)
	}
}

func TestReader_NotFound(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("first", map[string]string{"a": "a\n"})
	c := newTestCache(t, Options{})
	r, release := checkout(t, c, repo.gitDir)
	ctx := context.Background()

	for _, rev := range []string{
		"refs/heads/nope",
		"0123456789012345678901234567890123456789",
		"HEAD:missing/file",
		"HEAD missing", // looks like a reply
		"deadbeef blob 12",
		"nope^{tree}",
	} {
		_, err := r.Info(ctx, rev)
		var nf NotFoundError
		if !errors.As(err, &nf) || nf.Revision != rev || nf.Ambiguous {
			t.Errorf("Info(%q) = %v, want NotFoundError", rev, err)
		}
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Info(%q): errors.Is(ErrNotFound) false", rev)
		}
		if err.Error() != "object not found: "+rev {
			t.Errorf("Error() = %q", err.Error())
		}
		if _, err := r.Object(ctx, rev); !errors.Is(err, ErrNotFound) {
			t.Errorf("Object(%q) = %v, want ErrNotFound", rev, err)
		}
	}
	// Not-found doesn't dirty the reader: it is reused.
	if _, err := r.Info(ctx, "HEAD"); err != nil {
		t.Fatal(err)
	}
	release()
	r2, release2 := checkout(t, c, repo.gitDir)
	defer release2()
	if _, err := r2.Info(ctx, "HEAD:a"); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 || s.DirtyReturns != 0 {
		t.Errorf("stats = %+v, want 1 hit, 1 miss, 0 dirty", s)
	}
}

// ambiguousPrefix finds two blob contents whose ids share the first four
// hex digits (git's shortest abbreviation) and returns that prefix.
func ambiguousPrefix() (string, [2][]byte) {
	seen := map[string][]byte{}
	for i := 0; ; i++ {
		data := fmt.Appendf(nil, "blob %d\n", i)
		h := sha1.Sum(fmt.Appendf(nil, "blob %d\x00%s", len(data), data))
		p := hex.EncodeToString(h[:2])
		if prev, ok := seen[p]; ok {
			return p, [2][]byte{prev, data}
		}
		seen[p] = data
	}
}

func TestReader_Ambiguous(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	prefix, blobs := ambiguousPrefix()
	a, b := repo.writeBlob(blobs[0]), repo.writeBlob(blobs[1])
	if a[:4] != b[:4] {
		t.Fatalf("fixture: %s and %s don't share a prefix", a, b)
	}
	c := newTestCache(t, Options{})
	r, release := checkout(t, c, repo.gitDir)
	defer release()

	_, err := r.Info(context.Background(), prefix)
	var nf NotFoundError
	if !errors.As(err, &nf) || !nf.Ambiguous || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Info(%q) = %v, want ambiguous NotFoundError", prefix, err)
	}
	if _, err := r.Object(context.Background(), prefix); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Object(%q) = %v, want ErrNotFound", prefix, err)
	}
	// A longer prefix is unique again, and the reader is still in sync.
	info, data, err := r.ReadObject(context.Background(), string(a[:12]), 100)
	if err != nil || info.OID != a || !bytes.Equal(data, blobs[0]) {
		t.Fatalf("ReadObject(%s) = %+v %q %v", a[:12], info, data, err)
	}
}

func TestReader_InvalidRevision(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	repo.commit("first", map[string]string{"a": "a\n"})
	c := newTestCache(t, Options{})
	r, release := checkout(t, c, repo.gitDir)
	defer release()
	ctx := context.Background()

	for _, rev := range []string{"", "HEAD\ninfo HEAD", "HEAD\n", "HEAD\x00", "HEAD:a\r", strings.Repeat("a", maxRevLen+1)} {
		if _, err := r.Info(ctx, rev); !errors.Is(err, ErrInvalidRevision) {
			t.Errorf("Info(%q) = %v, want ErrInvalidRevision", rev, err)
		}
		if _, err := r.Object(ctx, rev); !errors.Is(err, ErrInvalidRevision) {
			t.Errorf("Object(%q) = %v, want ErrInvalidRevision", rev, err)
		}
	}
	// Nothing was written, so the stream is still in sync.
	if info, err := r.Info(ctx, "HEAD:a"); err != nil || info.Size != 2 {
		t.Fatalf("Info after rejected revisions = %+v, %v", info, err)
	}
	if r.dirty {
		t.Fatal("rejected revisions dirtied the reader")
	}
}

func TestReader_LargeBlobStreams(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	data := make([]byte, 5<<20+123)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(data)
	oid := repo.writeBlob(data)
	want := repo.gitRaw(nil, "cat-file", "blob", oid.String())
	if !bytes.Equal(want, data) {
		t.Fatal("fixture: git cat-file blob disagrees with what was written")
	}
	c := newTestCache(t, Options{})

	for _, tc := range []struct {
		name string
		copy func(io.Writer, *Object) (int64, error)
	}{
		// Hide WriteTo/ReadFrom so io.Copy goes through Read with small buffers.
		{"Read", func(w io.Writer, o *Object) (int64, error) {
			return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{o}, make([]byte, 7000))
		}},
		{"WriteTo", func(w io.Writer, o *Object) (int64, error) { return o.WriteTo(w) }},
	} {
		r, release := checkout(t, c, repo.gitDir)
		o, err := r.Object(context.Background(), oid.String())
		if err != nil {
			t.Fatal(err)
		}
		if o.Size != int64(len(want)) || o.Type != git.BlobObject {
			t.Fatalf("%s: info = %+v", tc.name, o.ObjectInfo)
		}
		var got bytes.Buffer
		n, err := tc.copy(&got, o)
		if err != nil || n != int64(len(want)) {
			t.Fatalf("%s: copied %d, %v", tc.name, n, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s: streamed contents differ from git cat-file blob", tc.name)
		}
		if n, err := o.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("%s: Read after end = %d, %v; want 0, EOF", tc.name, n, err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		// Still in sync after 5 MB.
		if info, err := r.Info(context.Background(), oid.String()); err != nil || info.OID != oid {
			t.Fatalf("%s: Info after stream = %+v, %v", tc.name, info, err)
		}
		release()
	}
	if s := c.Stats(); s.Misses != 1 || s.Hits != 1 || s.DirtyReturns != 0 {
		t.Errorf("stats = %+v, want the process reused", s)
	}
}

func TestReader_ReadObjectTooLarge(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	small := repo.writeBlob(bytes.Repeat([]byte("x"), 1000))
	big := repo.writeBlob(bytes.Repeat([]byte("y"), maxDrain+1))
	c := newTestCache(t, Options{})
	ctx := context.Background()

	r, release := checkout(t, c, repo.gitDir)
	info, data, err := r.ReadObject(ctx, small.String(), 999)
	if !errors.Is(err, ErrObjectTooLarge) || data != nil || info.Size != 1000 {
		t.Fatalf("ReadObject over limit = %+v, %d bytes, %v", info, len(data), err)
	}
	// Small enough to drain: the reader stays usable and is reused.
	if _, data, err := r.ReadObject(ctx, small.String(), 1000); err != nil || len(data) != 1000 {
		t.Fatalf("ReadObject after drain = %d bytes, %v", len(data), err)
	}
	release()

	r, release = checkout(t, c, repo.gitDir)
	if _, _, err := r.ReadObject(ctx, big.String(), 10); !errors.Is(err, ErrObjectTooLarge) {
		t.Fatalf("ReadObject(big) = %v", err)
	}
	// Too big to drain: dirty, refused, killed on release.
	if _, err := r.Info(ctx, small.String()); err == nil {
		t.Fatal("dirty reader accepted another request")
	}
	release()
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 || s.DirtyReturns != 1 || s.Processes != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestReader_ContextCancelledMidRead(t *testing.T) {
	t.Parallel()
	repo := newRepo(t)
	oid := repo.writeBlob(bytes.Repeat([]byte("z"), 4<<20))
	c := newTestCache(t, Options{})

	r, release := checkout(t, c, repo.gitDir)
	ctx, cancel := context.WithCancel(context.Background())
	o, err := r.Object(ctx, oid.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(o, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	start := time.Now()
	_, err = io.Copy(io.Discard, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled read took %v", d)
	}
	release()

	// A cancelled ctx fails fast without dirtying a fresh reader.
	r, release = checkout(t, c, repo.gitDir)
	defer release()
	if _, err := r.Info(ctx, oid.String()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Info with cancelled ctx = %v", err)
	}
	if info, err := r.Info(context.Background(), oid.String()); err != nil || info.OID != oid {
		t.Fatalf("Info after cancelled request = %+v, %v", info, err)
	}
	if s := c.Stats(); s.DirtyReturns != 1 || s.Misses != 2 {
		t.Errorf("stats = %+v, want the cancelled process killed", s)
	}
	if _, _, err := c.Reader(ctx, repo.gitDir); !errors.Is(err, context.Canceled) {
		t.Errorf("checkout with cancelled ctx = %v", err)
	}
}

func TestReader_NotARepository(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, Options{})
	r, release, err := c.Reader(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Info(context.Background(), "HEAD")
	if err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Fatalf("Info in a non-repository = %v, want git's stderr", err)
	}
	release()
	if s := c.Stats(); s.DirtyReturns != 1 || s.Processes != 0 {
		t.Errorf("stats = %+v", s)
	}
	if _, _, err := c.Reader(context.Background(), "relative/path"); err == nil {
		t.Error("relative repository path accepted")
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	const oid = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
	good := map[string]ObjectInfo{
		oid + " blob 0":         {oid, git.BlobObject, 0},
		oid + " tree 123":       {oid, git.TreeObject, 123},
		oid + " commit 4567890": {oid, git.CommitObject, 4567890},
		oid + " tag 9":          {oid, git.TagObject, 9},
	}
	for line, want := range good {
		if got, err := parseHeader("x", []byte(line)); err != nil || got != want {
			t.Errorf("parseHeader(%q) = %+v, %v", line, got, err)
		}
	}
	for _, line := range []string{
		"", "x", "x missing ", "y missing", "x  missing",
		oid, oid + " blob", oid + " blob ", oid + " blob -1", oid + " blob +1", oid + " blob 1 ",
		oid + " blob 1x", oid + " blob 1234567890123456789", oid + " blub 1", oid + "  blob 1",
		strings.ToUpper(oid) + " blob 1", oid[:39] + " blob 1", oid + "0 blob 1",
	} {
		_, err := parseHeader("x", []byte(line))
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("parseHeader(%q) = %v, want a protocol error", line, err)
		}
	}
}
