package commitpack

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// memSink records what the Reader does to one blob.
type memSink struct {
	op      FileOp
	buf     bytes.Buffer
	writes  int
	closed  bool
	aborted bool
	failAt  int // fail the Nth write (1-based) when > 0
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.closed || s.aborted {
		panic(fmt.Sprintf("write to %s after close/abort", s.op.Path))
	}
	s.writes++
	if s.failAt > 0 && s.writes == s.failAt {
		return 0, errors.New("disk full")
	}
	return s.buf.Write(p)
}

func (s *memSink) Close() error {
	if s.closed || s.aborted {
		panic(fmt.Sprintf("close of %s after close/abort", s.op.Path))
	}
	s.closed = true
	return nil
}

func (s *memSink) Abort() {
	if s.closed || s.aborted {
		panic(fmt.Sprintf("abort of %s after close/abort", s.op.Path))
	}
	s.aborted = true
}

// sinks hands out memSinks and remembers them by path.
type sinks struct {
	byPath map[string]*memSink
	opened []string
}

func newSinks() *sinks { return &sinks{byPath: map[string]*memSink{}} }

func (ss *sinks) open(op FileOp) (BlobSink, error) {
	if _, dup := ss.byPath[op.Path]; dup {
		return nil, fmt.Errorf("opened %s twice", op.Path)
	}
	s := &memSink{op: op}
	ss.byPath[op.Path] = s
	ss.opened = append(ss.opened, op.Path)
	return s, nil
}

// ndjson builds a stream, one JSON line per value, each ending in "\n".
func ndjson(tb testing.TB, lines ...any) string {
	tb.Helper()
	var b strings.Builder
	for _, l := range lines {
		if s, ok := l.(string); ok {
			b.WriteString(s)
			b.WriteByte('\n')
			continue
		}
		enc, err := json.Marshal(l)
		if err != nil {
			tb.Fatal(err)
		}
		b.Write(enc)
		b.WriteByte('\n')
	}
	return b.String()
}

type obj = map[string]any

func meta(files ...obj) obj {
	m := obj{
		"target_branch":  "main",
		"commit_message": "msg",
		"author":         obj{"name": "A", "email": "a@example.com"},
	}
	if files != nil {
		list := make([]any, len(files))
		for i, f := range files {
			list[i] = f
		}
		m["files"] = list
	}
	return obj{"metadata": m}
}

func metaWith(kv obj, files ...obj) obj {
	m := meta(files...)
	for k, v := range kv {
		if v == nil {
			delete(m["metadata"].(obj), k)
			continue
		}
		m["metadata"].(obj)[k] = v
	}
	return m
}

func upsert(path, id string) obj {
	return obj{"path": path, "content_id": id, "operation": "upsert", "mode": "100644"}
}

func del(path, id string) obj {
	return obj{"path": path, "content_id": id, "operation": "delete"}
}

func chunk(id string, data []byte, eof bool) obj {
	return obj{"blob_chunk": obj{"content_id": id, "data": base64.StdEncoding.EncodeToString(data), "eof": eof}}
}

func diffChunk(data []byte, eof bool) obj {
	return obj{"diff_chunk": obj{"data": base64.StdEncoding.EncodeToString(data), "eof": eof}}
}

// readAll runs Metadata and Blobs over body.
func readAll(tb testing.TB, body string, maxLine int) (*Metadata, *sinks, error) {
	tb.Helper()
	r := NewReader(strings.NewReader(body), maxLine)
	m, err := r.Metadata()
	ss := newSinks()
	if err != nil {
		return nil, ss, err
	}
	return m, ss, r.Blobs(ss.open)
}

func TestReader_specExample(t *testing.T) {
	t.Parallel()
	body := `{"metadata":{"target_branch":"main","commit_message":"Update docs","author":{"name":"Docs Bot","email":"docs@example.com"},"files":[{"path":"docs/a.md","content_id":"2f1c…","operation":"upsert","mode":"100644"},{"path":"old.txt","content_id":"9b7e…","operation":"delete"}]}}
{"blob_chunk":{"content_id":"2f1c…","data":"IyBoaQo=","eof":true}}
`
	m, ss, err := readAll(t, body, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &Metadata{
		TargetBranch:  "main",
		CommitMessage: "Update docs",
		Author:        Signature{Name: "Docs Bot", Email: "docs@example.com"},
		Files: []FileOp{
			{Path: "docs/a.md", ContentID: "2f1c…", Operation: "upsert", Mode: "100644"},
			{Path: "old.txt", ContentID: "9b7e…", Operation: "delete"},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("metadata\n got %+v\nwant %+v", m, want)
	}
	s := ss.byPath["docs/a.md"]
	if s == nil || s.buf.String() != "# hi\n" || !s.closed {
		t.Fatalf("docs/a.md sink = %+v", s)
	}
	if len(ss.opened) != 1 {
		t.Fatalf("opened %v, want only docs/a.md", ss.opened)
	}
}

// hashSink hashes what it receives and notes how much of the body had been
// written when the first bytes arrived.
type hashSink struct {
	h          hash.Hash
	n          int64
	firstAt    int64
	sent       *atomic.Int64
	closed     bool
	maxPerCall int
}

func (s *hashSink) Write(p []byte) (int, error) {
	if s.n == 0 {
		s.firstAt = s.sent.Load()
	}
	s.n += int64(len(p))
	s.maxPerCall = max(s.maxPerCall, len(p))
	return s.h.Write(p)
}
func (s *hashSink) Close() error { s.closed = true; return nil }
func (s *hashSink) Abort()       {}

// TestReader_streamsLargeBlob pushes a 20 MB file in 4 MiB chunks through a
// pipe in randomly sized writes (many of them 1 byte). The sink must get the
// exact bytes, and its first bytes must arrive long before the client has
// sent the body: the reader streams instead of buffering the request.
func TestReader_streamsLargeBlob(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	content := make([]byte, 20_000_000)
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(content)

	var body bytes.Buffer
	body.WriteString(ndjson(t, meta(upsert("big.bin", "big"), upsert("small.txt", "small"))))
	for off := 0; off < len(content); off += MaxChunk {
		end := min(off+MaxChunk, len(content))
		body.WriteString(ndjson(t, chunk("big", content[off:end], end == len(content))))
	}
	body.WriteString(ndjson(t, chunk("small", []byte("hi"), true)))
	total := int64(body.Len())

	pr, pw := io.Pipe()
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		b := body.Bytes()
		for len(b) > 0 {
			n := 1 + rng.IntN(200_000)
			if rng.IntN(4) == 0 {
				n = 1 + rng.IntN(3)
			}
			n = min(n, len(b))
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			sent.Add(int64(n))
			b = b[n:]
		}
		pw.Close()
	})
	defer wg.Wait()
	defer pr.Close()

	r := NewReader(pr, 0)
	if _, err := r.Metadata(); err != nil {
		t.Fatal(err)
	}
	got := map[string]*hashSink{}
	err := r.Blobs(func(op FileOp) (BlobSink, error) {
		s := &hashSink{h: sha256.New(), sent: &sent}
		got[op.Path] = s
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	big := got["big.bin"]
	if big == nil || !big.closed || big.n != int64(len(content)) || !bytes.Equal(big.h.Sum(nil), want[:]) {
		t.Fatalf("big.bin: sink %+v; want %d bytes with sha256 %x", big, len(content), want)
	}
	if big.maxPerCall > MaxChunk {
		t.Fatalf("a single write carried %d bytes", big.maxPerCall)
	}
	if big.firstAt > total/3 {
		t.Fatalf("first blob bytes arrived after %d of %d body bytes were sent: not streaming", big.firstAt, total)
	}
	if s := got["small.txt"]; s == nil || !s.closed || s.n != 2 {
		t.Fatalf("small.txt sink %+v", s)
	}
}

func TestReader_shapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc  string
		body  string
		files int
		want  map[string]string // path → content of closed sinks
	}{
		{
			desc:  "empty file",
			body:  ndjson(t, meta(upsert("empty", "e")), `{"blob_chunk":{"content_id":"e","data":"","eof":true}}`),
			files: 1,
			want:  map[string]string{"empty": ""},
		},
		{
			desc:  "empty file with null data",
			body:  ndjson(t, meta(upsert("empty", "e")), `{"blob_chunk":{"content_id":"e","data":null,"eof":true}}`),
			files: 1,
			want:  map[string]string{"empty": ""},
		},
		{
			desc: "metadata only",
			body: ndjson(t, meta()),
			want: map[string]string{},
		},
		{
			desc: "files absent",
			body: ndjson(t, meta()),
			want: map[string]string{},
		},
		{
			desc:  "files empty",
			body:  ndjson(t, metaWith(obj{"files": []any{}})),
			files: 0,
			want:  map[string]string{},
		},
		{
			desc:  "deletes without chunks",
			body:  ndjson(t, meta(del("a", "x"), del("dir/b", "y"))),
			files: 2,
			want:  map[string]string{},
		},
		{
			desc:  "chunk addressed to a delete is ignored",
			body:  ndjson(t, meta(del("a", "x"), upsert("b", "y")), chunk("x", nil, true), chunk("y", []byte("B"), true), chunk("x", []byte("junk"), true)),
			files: 2,
			want:  map[string]string{"b": "B"},
		},
		{
			desc: "interleaved chunks",
			body: ndjson(t, meta(upsert("a", "1"), upsert("b", "2"), upsert("c", "3")),
				chunk("2", []byte("b1"), false),
				chunk("1", []byte("a1"), false),
				chunk("3", []byte("c1"), true),
				chunk("2", []byte("b2"), false),
				chunk("1", []byte("a2"), true),
				chunk("2", nil, false),
				chunk("2", []byte("b3"), true)),
			files: 3,
			want:  map[string]string{"a": "a1a2", "b": "b1b2b3", "c": "c1"},
		},
		{
			desc:  "operation and mode absent",
			body:  ndjson(t, meta(obj{"path": "x", "content_id": "1"}), chunk("1", []byte("X"), true)),
			files: 1,
			want:  map[string]string{"x": "X"},
		},
		{
			desc: "blank lines, CRLF, no final newline",
			body: "\n" + strings.ReplaceAll(ndjson(t, meta(upsert("a", "1")), chunk("1", []byte("A"), false)), "\n", "\r\n") +
				"\n  \n" + strings.TrimSuffix(ndjson(t, chunk("1", []byte("B"), true)), "\n"),
			files: 1,
			want:  map[string]string{"a": "AB"},
		},
		{
			desc:  "JSON escapes in data",
			body:  ndjson(t, meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"Pz8\/","eof":true}}`),
			files: 1,
			want:  map[string]string{"a": "???"},
		},
		{
			desc:  "unknown keys are ignored",
			body:  ndjson(t, metaWith(obj{"future": obj{"x": 1}}, upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"QQ==","eof":true,"extra":[1,2]}}`),
			files: 1,
			want:  map[string]string{"a": "A"},
		},
		{
			desc:  "paths are cleaned",
			body:  ndjson(t, meta(upsert("docs//a.md", "1"), del("old/", "2")), chunk("1", nil, true)),
			files: 2,
			want:  map[string]string{"docs/a.md": ""},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			m, ss, err := readAll(t, tc.body, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Files) != tc.files {
				t.Fatalf("%d files, want %d", len(m.Files), tc.files)
			}
			if m.Files == nil {
				t.Fatal("Files is nil, want empty")
			}
			if len(ss.byPath) != len(tc.want) {
				t.Fatalf("opened %v, want %v", ss.opened, tc.want)
			}
			for p, content := range tc.want {
				s := ss.byPath[p]
				if s == nil || !s.closed || s.buf.String() != content {
					t.Fatalf("sink %s = %+v, want closed with %q", p, s, content)
				}
			}
		})
	}
}

func TestReader_metadata(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("ab", 20)
	r := NewReader(strings.NewReader(ndjson(t, metaWith(obj{
		"target_branch":     "refs/heads/feature/x",
		"commit_message":    "  msg\n",
		"author":            obj{"name": " A ", "email": " a@x "},
		"committer":         obj{"name": "C", "email": "c@x"},
		"expected_head_sha": strings.ToUpper(sha),
		"base_branch":       "main",
		"ephemeral":         true,
		"ephemeral_base":    true,
	}, obj{"path": "x", "content_id": "1", "mode": "100755"}, obj{"path": "l", "content_id": "2", "mode": "120000"}, obj{"path": "s", "content_id": "3", "mode": "160000"}, obj{"path": "d", "content_id": "4", "operation": "delete", "mode": "100644"}))), 0)
	m, err := r.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	want := Metadata{
		TargetBranch: "feature/x", CommitMessage: "  msg\n",
		Author: Signature{"A", "a@x"}, Committer: &Signature{"C", "c@x"},
		Files: []FileOp{
			{"x", "1", "upsert", "100755"}, {"l", "2", "upsert", "120000"},
			{"s", "3", "upsert", "160000"}, {"d", "4", "delete", ""},
		},
		ExpectedHeadSHA: sha, BaseBranch: "main", Ephemeral: true, EphemeralBase: true,
	}
	if !reflect.DeepEqual(*m, want) {
		t.Fatalf("got  %+v\nwant %+v", *m, want)
	}
	again, err := r.Metadata()
	if err != nil || again != m {
		t.Fatalf("second Metadata call = %v, %v", again, err)
	}

	// Newer spellings (spec §10.2).
	r = NewReader(strings.NewReader(ndjson(t, metaWith(obj{
		"expected_target_sha": sha, "target_is_ephemeral": true, "base_is_ephemeral": true, "base_branch": "b",
	}))), 0)
	if m, err = r.Metadata(); err != nil {
		t.Fatal(err)
	}
	if m.ExpectedHeadSHA != sha || !m.Ephemeral || !m.EphemeralBase || m.Committer != nil {
		t.Fatalf("newer spellings: %+v", m)
	}

	// Both spellings: the standard one wins, an explicit false included.
	other := strings.Repeat("cd", 20)
	r = NewReader(strings.NewReader(ndjson(t, metaWith(obj{
		"expected_head_sha": other, "expected_target_sha": sha,
		"ephemeral": true, "target_is_ephemeral": false,
		"ephemeral_base": true, "base_is_ephemeral": false, "base_branch": "b",
	}))), 0)
	if m, err = r.Metadata(); err != nil {
		t.Fatal(err)
	}
	if m.ExpectedHeadSHA != sha || m.Ephemeral || m.EphemeralBase {
		t.Fatalf("both spellings: %+v", m)
	}
}

func TestReader_metadataRejections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		line any
		want string
	}{
		{"empty body", "", "empty request body"},
		{"not JSON", "hello", "line 1: not a JSON object"},
		{"array", "[1]", "not a JSON object"},
		{"first line is a chunk", chunk("x", nil, true), `line 1: the first line must be a metadata object, got "blob_chunk"`},
		{"unknown envelope", `{"commit":{}}`, `line 1: unknown line type "commit"`},
		{"empty object", `{}`, "empty object"},
		{"metadata not an object", `{"metadata":"x"}`, "metadata must be a JSON object"},
		{"two keys", `{"metadata":{},"blob_chunk":{}}`, "exactly one key"},
		{"truncated", `{"metadata":{"target_branch":"main"`, "not a JSON object"},
		{"bad JSON inside", `{"metadata":{"target_branch":main}}`, "line 1: metadata: malformed JSON"},
		{"wrong type", metaWith(obj{"target_branch": 5}), `line 1: metadata: field "target_branch": expected a string, got number`},
		{"files not array", metaWith(obj{"files": obj{}}), `field "files": expected an array, got object`},
		{"target missing", metaWith(obj{"target_branch": nil}), "target_branch is required"},
		{"target invalid", metaWith(obj{"target_branch": "a..b"}), `target_branch: invalid branch name "a..b": contains ".."`},
		{"target empty", metaWith(obj{"target_branch": ""}), "target_branch: invalid branch name"},
		{"target refs/heads/ only", metaWith(obj{"target_branch": "refs/heads/"}), "target_branch: invalid branch name"},
		{"target tag ref", metaWith(obj{"target_branch": "refs/tags/v1"}), `target_branch "refs/tags/v1" must be a branch name`},
		{"target HEAD", metaWith(obj{"target_branch": "HEAD"}), `"HEAD" is reserved`},
		{"target dash", metaWith(obj{"target_branch": "-f"}), "starts with '-'"},
		{"message missing", metaWith(obj{"commit_message": nil}), "commit_message is required"},
		{"message blank", metaWith(obj{"commit_message": " \n\t"}), "commit_message is required and must not be blank"},
		{"message NUL", metaWith(obj{"commit_message": "a\x00b"}), "commit_message contains a NUL byte"},
		{"author missing", metaWith(obj{"author": nil}), "author is required"},
		{"author name blank", metaWith(obj{"author": obj{"name": " ", "email": "a@x"}}), "author.name is required"},
		{"author email missing", metaWith(obj{"author": obj{"name": "A"}}), "author.email is required"},
		{"author name angle", metaWith(obj{"author": obj{"name": "A <x>", "email": "a@x"}}), "author.name \"A <x>\" contains '<'"},
		{"author email newline", metaWith(obj{"author": obj{"name": "A", "email": "a@x\nb"}}), "author.email"},
		{"committer blank", metaWith(obj{"committer": obj{"name": "", "email": ""}}), "committer.name is required"},
		{"committer email blank", metaWith(obj{"committer": obj{"name": "C", "email": "  "}}), "committer.email is required"},
		{"sha short", metaWith(obj{"expected_head_sha": "abc"}), `expected_head_sha "abc" is not a 40-character hex SHA`},
		{"sha not hex", metaWith(obj{"expected_head_sha": strings.Repeat("g", 40)}), "not a 40-character hex SHA"},
		{"base invalid", metaWith(obj{"base_branch": "a b"}), `base_branch: invalid branch name "a b": forbidden character ' '`},
		{"base other ref", metaWith(obj{"base_branch": "refs/remotes/x"}), "base_branch \"refs/remotes/x\" must be a branch name"},
		{"ephemeral_base without base", metaWith(obj{"ephemeral_base": true}), "ephemeral_base requires base_branch"},
		{"path missing", meta(obj{"content_id": "1"}), "files[0]: path is required"},
		{"path empty", meta(upsert("", "1")), `files[0]: invalid path "": empty path`},
		{"path dotdot", meta(upsert("ok", "1"), upsert("a/../b", "2")), `files[1]: invalid path "a/../b": ".." segment`},
		{"path .git", meta(del(".git/config", "1")), "reserved name"},
		{"path NUL", meta(upsert("a\x00", "1")), "NUL byte"},
		{"path absolute", meta(upsert("/etc/passwd", "1")), "absolute path"},
		{"bad mode", meta(obj{"path": "a", "content_id": "1", "mode": "040000"}), `mode "040000" is not one of`},
		{"bad operation", meta(obj{"path": "a", "content_id": "1", "operation": "rename"}), `operation "rename" is not`},
		{"upsert without content_id", meta(obj{"path": "a"}), "content_id is required for an upsert"},
		{"duplicate content_id", meta(upsert("a", "1"), upsert("b", "1")), `content_id "1" is already used by "a"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			body := ""
			if s, ok := tc.line.(string); !ok || s != "" {
				body = ndjson(t, tc.line)
			}
			_, _, err := readAll(t, body, 0)
			assertInvalid(t, err, tc.want)
		})
	}
}

// assertInvalid checks err is a client error whose message contains want.
func assertInvalid(tb testing.TB, err error, want string) {
	tb.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		tb.Fatalf("error %v (%T) is not a *commitpack.Error", err, err)
	}
	if !strings.Contains(err.Error(), want) {
		tb.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestReader_blobRejections(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte{'x'}, MaxChunk+1)
	for _, tc := range []struct {
		desc    string
		lines   []any
		want    string
		aborted []string // sinks that must have been aborted
		closed  []string // sinks that must have been closed
	}{
		{
			desc:  "unknown envelope",
			lines: []any{meta(upsert("a", "1")), chunk("1", []byte("x"), false), `{"blob":{}}`},
			want:  `line 3: unknown line type "blob"`, aborted: []string{"a"},
		},
		{
			desc:  "diff chunk in commit-pack",
			lines: []any{meta(upsert("a", "1")), diffChunk(nil, true)},
			want:  `line 2: unexpected "diff_chunk" line in a commit-pack stream`,
		},
		{
			desc:  "unknown content_id",
			lines: []any{meta(upsert("a", "1"), upsert("b", "2")), chunk("2", []byte("x"), true), chunk("1", []byte("x"), false), chunk("zz", nil, true)},
			want:  `line 4: blob_chunk for unknown content_id "zz"`, aborted: []string{"a"}, closed: []string{"b"},
		},
		{
			desc:  "missing content_id",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"data":"","eof":true}}`},
			want:  `blob_chunk for unknown content_id ""`,
		},
		{
			desc:  "chunk after eof",
			lines: []any{meta(upsert("a", "1")), chunk("1", []byte("x"), true), chunk("1", []byte("y"), true)},
			want:  `line 3: blob_chunk for "a" after its eof chunk`, closed: []string{"a"},
		},
		{
			desc:  "invalid base64",
			lines: []any{meta(upsert("a", "1")), chunk("1", []byte("x"), false), `{"blob_chunk":{"content_id":"1","data":"!!!!","eof":true}}`},
			want:  "line 3: blob_chunk: data: invalid base64", aborted: []string{"a"},
		},
		{
			desc:  "base64 without padding",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"QQ","eof":true}}`},
			want:  "data: invalid base64",
		},
		{
			desc:  "URL-safe base64",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"-_-_","eof":true}}`},
			want:  "data: invalid base64",
		},
		{
			desc:  "escaped newline in base64",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"QUFB\nQUFB","eof":true}}`},
			want:  "data: invalid base64: contains a line break",
		},
		{
			desc:  "data not a string",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":12,"eof":true}}`},
			want:  "data must be a base64 string",
		},
		{
			desc:  "eof not a boolean",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"","eof":"yes"}}`},
			want:  `line 2: blob_chunk: field "eof": expected a boolean, got string`,
		},
		{
			desc:  "chunk not an object",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":null}`},
			want:  "blob_chunk must be a JSON object",
		},
		{
			desc:  "malformed chunk",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"", eof:true}}`},
			want:  "line 2: blob_chunk: malformed JSON",
		},
		{
			desc:  "two envelopes on one line",
			lines: []any{meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"","eof":true},"blob_chunk":{}}`},
			want:  "exactly one key",
		},
		{
			desc:  "oversized chunk",
			lines: []any{meta(upsert("a", "1")), chunk("1", []byte("x"), false), chunk("1", big, true)},
			want:  "line 3: blob_chunk: data decodes to more than 4194304 bytes", aborted: []string{"a"},
		},
		{
			desc:  "missing eof",
			lines: []any{meta(upsert("a", "1"), upsert("b", "2")), chunk("1", []byte("x"), true), chunk("2", []byte("x"), false)},
			want:  `stream ended without an eof chunk for "b" (content_id "2")`, closed: []string{"a"}, aborted: []string{"b"},
		},
		{
			desc:  "upsert never sent",
			lines: []any{meta(upsert("a", "1"), upsert("b", "2")), chunk("1", []byte("x"), true)},
			want:  `stream ended without an eof chunk for "b"`, closed: []string{"a"},
		},
		{
			desc:  "second metadata line",
			lines: []any{meta(upsert("a", "1")), chunk("1", []byte("x"), false), meta()},
			want:  "line 3: second metadata line", aborted: []string{"a"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			_, ss, err := readAll(t, ndjson(t, tc.lines...), 0)
			assertInvalid(t, err, tc.want)
			for _, p := range tc.aborted {
				if s := ss.byPath[p]; s == nil || !s.aborted {
					t.Errorf("sink %s = %+v, want aborted", p, s)
				}
			}
			for _, p := range tc.closed {
				if s := ss.byPath[p]; s == nil || !s.closed {
					t.Errorf("sink %s = %+v, want closed", p, s)
				}
			}
			for p, s := range ss.byPath {
				if !s.closed && !s.aborted {
					t.Errorf("sink %s left open", p)
				}
			}
		})
	}
}

func TestReader_chunkSizeLimit(t *testing.T) {
	t.Parallel()
	exact := bytes.Repeat([]byte{0xa5}, MaxChunk)
	_, ss, err := readAll(t, ndjson(t, meta(upsert("a", "1")), chunk("1", exact, false), chunk("1", exact, true)), 0)
	if err != nil {
		t.Fatalf("two exactly-4-MiB chunks: %v", err)
	}
	if s := ss.byPath["a"]; s.buf.Len() != 2*MaxChunk || !s.closed || s.writes != 2 {
		t.Fatalf("sink got %d bytes in %d writes", s.buf.Len(), s.writes)
	}

	over := append(exact, 0)
	_, _, err = readAll(t, ndjson(t, meta(upsert("a", "1")), chunk("1", over, true)), 0)
	assertInvalid(t, err, "data decodes to more than 4194304 bytes")

	// Base64 without padding characters that still decodes past the limit.
	unpadded := strings.Repeat("AAAA", MaxChunk/3+1)
	_, _, err = readAll(t, ndjson(t, meta(upsert("a", "1")), `{"blob_chunk":{"content_id":"1","data":"`+unpadded+`","eof":true}}`), 0)
	assertInvalid(t, err, "more than 4194304")
}

func TestReader_lineLimit(t *testing.T) {
	t.Parallel()
	// A 7 MiB line: a 4 MiB chunk padded with an unknown key.
	pad := func(lineLen int) string {
		l := ndjson(t, chunk("1", bytes.Repeat([]byte{1}, MaxChunk), true))
		l = strings.TrimSuffix(l, "}}\n")
		return l + `,"pad":"` + strings.Repeat("p", lineLen-len(l)-len(`,"pad":""}}`)) + `"}}`
	}
	line := pad(7 << 20)
	if len(line) != 7<<20 {
		t.Fatalf("test line is %d bytes", len(line))
	}
	_, ss, err := readAll(t, ndjson(t, meta(upsert("a", "1")), line), 0)
	if err != nil {
		t.Fatalf("7 MiB line: %v", err)
	}
	if ss.byPath["a"].buf.Len() != MaxChunk {
		t.Fatal("wrong content")
	}

	// Exactly at the limit is fine, one byte more is not.
	_, _, err = readAll(t, ndjson(t, meta(upsert("a", "1")), pad(DefaultMaxLine)), 0)
	if err != nil {
		t.Fatalf("line of exactly DefaultMaxLine: %v", err)
	}
	_, _, err = readAll(t, ndjson(t, meta(upsert("a", "1")), pad(DefaultMaxLine+1)), 0)
	assertInvalid(t, err, "line 2: longer than 8388608 bytes")

	// The limit holds for the metadata line, without a newline and with a
	// caller-chosen limit.
	_, _, err = readAll(t, strings.Repeat(" ", 1001), 1000)
	assertInvalid(t, err, "line 1: longer than 1000 bytes")
	_, _, err = readAll(t, ndjson(t, meta(), strings.Repeat(" ", 1000), `"`+strings.Repeat("x", 1000)+`"`), 1000)
	assertInvalid(t, err, "line 3: longer than 1000 bytes")
}

// endless is a body that never ends and never sends a newline.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.read += int64(len(p))
	return len(p), nil
}

func TestReader_lineLimitStopsReading(t *testing.T) {
	t.Parallel()
	body := &endless{}
	_, err := NewReader(body, 1<<20).Metadata()
	assertInvalid(t, err, "longer than")
	if body.read > 2<<20 {
		t.Fatalf("read %d bytes of an endless line with a 1 MiB limit", body.read)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReader_transportAndSinkErrors(t *testing.T) {
	t.Parallel()
	t.Run("body read error", func(t *testing.T) {
		t.Parallel()
		broken := errors.New("connection reset")
		body := ndjson(t, meta(upsert("a", "1")), chunk("1", []byte("x"), false))
		r := NewReader(&failingReader{strings.NewReader(body), broken}, 0)
		if _, err := r.Metadata(); err != nil {
			t.Fatal(err)
		}
		ss := newSinks()
		err := r.Blobs(ss.open)
		var pe *Error
		if !errors.Is(err, broken) || errors.As(err, &pe) {
			t.Fatalf("error %v: want the transport error, not a client error", err)
		}
		if !ss.byPath["a"].aborted {
			t.Fatal("sink not aborted")
		}
		if err2 := r.Blobs(ss.open); !errors.Is(err2, broken) {
			t.Fatalf("second Blobs call: %v", err2)
		}
	})
	t.Run("sink write error", func(t *testing.T) {
		t.Parallel()
		body := ndjson(t, meta(upsert("a", "1"), upsert("b", "2")), chunk("1", []byte("x"), false), chunk("2", []byte("x"), false), chunk("2", []byte("y"), true))
		r := NewReader(strings.NewReader(body), 0)
		if _, err := r.Metadata(); err != nil {
			t.Fatal(err)
		}
		var a, b *memSink
		err := r.Blobs(func(op FileOp) (BlobSink, error) {
			s := &memSink{op: op}
			if op.Path == "a" {
				a = s
			} else {
				b, s.failAt = s, 2
			}
			return s, nil
		})
		var pe *Error
		if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "write blob for b: disk full") {
			t.Fatalf("error %v", err)
		}
		if !a.aborted || !b.aborted {
			t.Fatalf("a aborted %v, b aborted %v", a.aborted, b.aborted)
		}
	})
	t.Run("open error", func(t *testing.T) {
		t.Parallel()
		body := ndjson(t, meta(upsert("a", "1")), chunk("1", []byte("x"), true))
		r := NewReader(strings.NewReader(body), 0)
		if _, err := r.Metadata(); err != nil {
			t.Fatal(err)
		}
		err := r.Blobs(func(FileOp) (BlobSink, error) { return nil, errors.New("no space") })
		if err == nil || !strings.Contains(err.Error(), "open blob for a: no space") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestReader_callOrder(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader(ndjson(t, meta())), 0)
	if err := r.Blobs(newSinks().open); err == nil {
		t.Fatal("Blobs before Metadata succeeded")
	}
	if _, err := r.Metadata(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DiffMetadata(); err == nil {
		t.Fatal("DiffMetadata after Metadata succeeded")
	}
	if err := r.Blobs(newSinks().open); err != nil {
		t.Fatal(err)
	}
	if err := r.Blobs(newSinks().open); err == nil {
		t.Fatal("second Blobs call succeeded")
	}
}

func diffRead(t *testing.T, body string) (*Metadata, string, error) {
	t.Helper()
	r := NewReader(strings.NewReader(body), 0)
	m, err := r.DiffMetadata()
	if err != nil {
		return nil, "", err
	}
	var out bytes.Buffer
	err = r.Diff(&out)
	return m, out.String(), err
}

func TestReader_diff(t *testing.T) {
	t.Parallel()
	patch := []byte("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
	m, got, err := diffRead(t, ndjson(t, meta(), diffChunk(patch[:10], false), diffChunk(patch[10:], false), diffChunk(nil, true)))
	if err != nil || got != string(patch) {
		t.Fatalf("got %q, %v", got, err)
	}
	if m.Files != nil || m.TargetBranch != "main" {
		t.Fatalf("metadata %+v", m)
	}

	// An empty diff is one chunk with empty data: the reader accepts it and
	// leaves "empty patch" to the caller.
	if _, got, err = diffRead(t, ndjson(t, meta(), diffChunk(nil, true))); err != nil || got != "" {
		t.Fatalf("empty diff: %q, %v", got, err)
	}

	// "files" is not a diff-commit key: ignored, even when it is invalid.
	if m, _, err = diffRead(t, ndjson(t, metaWith(obj{"files": "junk"}), diffChunk(patch, true))); err != nil || m.Files != nil {
		t.Fatalf("files in diff metadata: %+v, %v", m, err)
	}

	// Diff metadata is validated like commit-pack metadata.
	_, _, err = diffRead(t, ndjson(t, metaWith(obj{"committer": obj{"name": "", "email": "c@x"}}), diffChunk(patch, true)))
	assertInvalid(t, err, "committer.name is required")

	for _, tc := range []struct {
		desc  string
		lines []any
		want  string
	}{
		{"no chunks", []any{meta()}, "stream ended without a diff_chunk marked eof"},
		{"no eof", []any{meta(), diffChunk(patch, false)}, "stream ended without a diff_chunk marked eof"},
		{"chunk after eof", []any{meta(), diffChunk(patch, true), diffChunk(nil, true)}, "line 3: diff_chunk after the eof chunk"},
		{"blob chunk", []any{meta(), chunk("1", nil, true)}, `line 2: unexpected "blob_chunk" line in a diff-commit stream`},
		{"second metadata", []any{meta(), diffChunk(patch, false), meta()}, "line 3: second metadata line"},
		{"unknown envelope", []any{meta(), `{"patch":{}}`}, `unknown line type "patch"`},
		{"invalid base64", []any{meta(), `{"diff_chunk":{"data":"a===","eof":true}}`}, "line 2: diff_chunk: data: invalid base64"},
		{"oversized", []any{meta(), diffChunk(make([]byte, MaxChunk+1), true)}, "data decodes to more than 4194304 bytes"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			_, _, err := diffRead(t, ndjson(t, tc.lines...))
			assertInvalid(t, err, tc.want)
		})
	}
}

func TestReadRestore(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("c", 40)
	valid := `{"metadata":{"target_branch":"main","target_commit_sha":"v1.0","author":{"name":"Bot","email":"bot@example.com"},"commit_message":"Rollback","expected_head_sha":"` + sha + `","committer":{"name":"C","email":"c@x"}}}`
	for _, body := range []string{valid, valid + "\n", valid + "\r\n", "\n " + valid + " \n"} {
		m, err := ReadRestore(strings.NewReader(body), 0)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		want := RestoreMetadata{TargetBranch: "main", TargetCommitSHA: "v1.0", CommitMessage: "Rollback", ExpectedHeadSHA: sha, Author: Signature{"Bot", "bot@example.com"}}
		if m.Committer == nil || *m.Committer != (Signature{"C", "c@x"}) {
			t.Fatalf("committer %+v", m.Committer)
		}
		m.Committer = nil
		if *m != want {
			t.Fatalf("got %+v", *m)
		}
	}
	m, err := ReadRestore(strings.NewReader(`{"metadata":{"target_branch":"refs/heads/x","target_commit_sha":"`+sha+`","author":{"name":"B","email":"b@x"},"expected_target_sha":"`+sha+`"}}`), 0)
	if err != nil || m.TargetBranch != "x" || m.CommitMessage != "" || m.Committer != nil || m.ExpectedHeadSHA != sha {
		t.Fatalf("minimal restore: %+v, %v", m, err)
	}
	// The standard vocabulary: base_ref and expected_target_sha win.
	m, err = ReadRestore(strings.NewReader(`{"metadata":{"target_branch":"x","base_ref":"v2","target_commit_sha":"v1","author":{"name":"B","email":"b@x"},"expected_head_sha":"`+strings.Repeat("d", 40)+`","expected_target_sha":"`+sha+`"}}`), 0)
	if err != nil || m.TargetCommitSHA != "v2" || m.ExpectedHeadSHA != sha {
		t.Fatalf("standard vocabulary: %+v, %v", m, err)
	}

	for _, tc := range []struct{ desc, body, want string }{
		{"empty", "", "empty request body"},
		{"not JSON", "nope", "restore-commit body: malformed JSON"},
		{"two objects", valid + "\n" + valid, "unexpected data after the metadata object"},
		{"no envelope", `{"target_branch":"main"}`, `want {"metadata":{...}}`},
		{"branch missing", `{"metadata":{"target_commit_sha":"x","author":{"name":"B","email":"b@x"}}}`, "target_branch is required"},
		{"tag ref", `{"metadata":{"target_branch":"refs/tags/x","target_commit_sha":"x","author":{"name":"B","email":"b@x"}}}`, "must be a branch name"},
		{"sha missing", `{"metadata":{"target_branch":"main","author":{"name":"B","email":"b@x"}}}`, "base_ref (or target_commit_sha) is required"},
		{"sha option", `{"metadata":{"target_branch":"main","target_commit_sha":"--all","author":{"name":"B","email":"b@x"}}}`, "is not a revision"},
		{"author missing", `{"metadata":{"target_branch":"main","target_commit_sha":"x"}}`, "author is required"},
		{"bad expected", `{"metadata":{"target_branch":"main","target_commit_sha":"x","author":{"name":"B","email":"b@x"},"expected_head_sha":"main"}}`, "not a 40-character hex SHA"},
		{"committer blank", `{"metadata":{"target_branch":"main","target_commit_sha":"x","author":{"name":"B","email":"b@x"},"committer":{"name":"","email":"x"}}}`, "committer.name is required"},
		{"wrong type", `{"metadata":{"target_branch":1}}`, `field "metadata.target_branch": expected a string`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			_, err := ReadRestore(strings.NewReader(tc.body), 0)
			assertInvalid(t, err, tc.want)
		})
	}
	_, err = ReadRestore(strings.NewReader(valid), 100)
	assertInvalid(t, err, "request body larger than 100 bytes")
}

func BenchmarkReader_blobs(b *testing.B) {
	data := make([]byte, MaxChunk)
	var body bytes.Buffer
	body.WriteString(ndjson(b, meta(upsert("a", "1"))))
	for i := range 8 {
		body.WriteString(ndjson(b, chunk("1", data, i == 7)))
	}
	b.SetBytes(8 * MaxChunk)
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(body.Bytes()), 0)
		if _, err := r.Metadata(); err != nil {
			b.Fatal(err)
		}
		if err := r.Blobs(func(FileOp) (BlobSink, error) { return discardSink{}, nil }); err != nil {
			b.Fatal(err)
		}
	}
}

type discardSink struct{}

func (discardSink) Write(p []byte) (int, error) { return len(p), nil }
func (discardSink) Close() error                { return nil }
func (discardSink) Abort()                      {}
