package commitpack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// fuzzSink fails the fuzz run on any misuse of the BlobSink contract.
type fuzzSink struct {
	t       *testing.T
	op      FileOp
	buf     bytes.Buffer
	closed  bool
	aborted bool
}

func (s *fuzzSink) Write(p []byte) (int, error) {
	if s.closed || s.aborted {
		s.t.Fatalf("write to %s after close/abort", s.op.Path)
	}
	if len(p) == 0 || len(p) > MaxChunk {
		s.t.Fatalf("write of %d bytes to %s", len(p), s.op.Path)
	}
	return s.buf.Write(p)
}

func (s *fuzzSink) Close() error {
	if s.closed || s.aborted {
		s.t.Fatalf("close of %s after close/abort", s.op.Path)
	}
	s.closed = true
	return nil
}

func (s *fuzzSink) Abort() {
	if s.closed || s.aborted {
		s.t.Fatalf("abort of %s after close/abort", s.op.Path)
	}
	s.aborted = true
}

func fuzzSeeds(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	m := `{"metadata":{"target_branch":"main","commit_message":"m","author":{"name":"A","email":"a@x"},"files":[{"path":"a","content_id":"1","operation":"upsert","mode":"100644"},{"path":"b/c","content_id":"2"},{"path":"d","content_id":"3","operation":"delete"}]}}`
	dm := `{"metadata":{"target_branch":"main","commit_message":"m","author":{"name":"A","email":"a@x"}}}`
	for _, s := range []string{
		`{"metadata":{"target_branch":"main","commit_message":"Update docs","author":{"name":"Docs Bot","email":"docs@example.com"},"files":[{"path":"docs/a.md","content_id":"2f1c","operation":"upsert","mode":"100644"},{"path":"old.txt","content_id":"9b7e","operation":"delete"}]}}
{"blob_chunk":{"content_id":"2f1c","data":"IyBoaQo=","eof":true}}
`,
		m + "\n" + `{"blob_chunk":{"content_id":"1","data":"` + b64("hello") + `","eof":false}}` + "\n" +
			`{"blob_chunk":{"content_id":"2","data":"","eof":true}}` + "\n" +
			`{"blob_chunk":{"content_id":"1","data":"` + b64(" world") + `","eof":true}}` + "\n",
		m + "\r\n\r\n" + `{"blob_chunk": {"eof": true, "data": "QQ==", "content_id": "1"}}` + "\r\n" + `{"blob_chunk":{"content_id":"2","data":null,"eof":true}}`,
		m + "\n" + `{"blob_chunk":{"content_id":"1","data":"Pz8\/","eof":true,"x":[{}]}}` + "\n" + `{"blob_chunk":{"Content_ID":"2","DATA":"","EOF":true}}`,
		m + "\n" + `{"blob_chunk":{"content_id":"3","data":"","eof":true}}`,
		m + "\n" + `{"blob_chunk":{"content_id":"1","data":"QQ==","eof":true}}` + "\n" + `{"blob_chunk":{"content_id":"1","data":"QQ==","eof":true}}`,
		m + "\n" + `{"blob_chunk":{"content_id":"1","data":"QQ","eof":true}}`,
		m + "\n" + `{"blob_chunk":{"content_id":"1","data":"QUFB\nQUFB","eof":true}}`,
		m + "\n" + `{"blob_chunk":{"content_id":"9","data":"","eof":true}}`,
		m + "\n" + `{"blob_chunk":{"content_id":"1","data":"","eof":true},"x":1}`,
		m + "\n" + m,
		m + "\n" + `{"diff_chunk":{"data":"","eof":true}}`,
		m + "\n" + `{"blob_chunk":null}`,
		m + "\n" + `{"blob_chunk":{"content_id":"1","data":"` + strings.Repeat("QUFB", 300) + `","eof":true}}`,
		dm + "\n" + `{"diff_chunk":{"data":"` + b64("diff --git a/x b/x\n") + `","eof":false}}` + "\n" + `{"diff_chunk":{"data":"","eof":true}}` + "\n",
		dm + "\n" + `{"diff_chunk":{"data":"","eof":true}}` + "\n" + `{"diff_chunk":{"data":"","eof":true}}`,
		`{"metadata":{"target_branch":"main","target_commit_sha":"abc","author":{"name":"B","email":"b@x"}}}`,
		`{"metadata":{"target_branch":"refs/tags/x","commit_message":"m","author":{"name":"A","email":"a@x"},"files":[{"path":"../x","content_id":"1"}]}}`,
		`{"metadata":{"target_branch":"main","commit_message":"m","author":{"name":"A","email":"a@x"},"files":[{"path":".GIT/x","content_id":"1"}]}}`,
		`{"metadata":{"target_branch":"main","commit_message":"m","author":{"name":"A","email":"a@x"},"files":[{"path":"a","content_id":"1"},{"path":"b","content_id":"1"}]}}`,
		`{"metadata":{"target_branch":"main","commit_message":"m","author":{"name":"A","email":"a@x"},"ephemeral_base":true,"expected_head_sha":"x"}}`,
		`{"metadata":{"target_branch":"main","commit_message":"m","author":{"name":"A","email":"a@x"},"committer":{"name":"","email":""}}}`,
		`{"metadata":"x"}`, `{}`, `[]`, `{"meta\u0064ata":{}}`, `{"metadata":{}`, "\n\n", "",
		strings.Repeat("x", 5000),
	} {
		f.Add([]byte(s))
	}
}

// referenceBlobs decodes a commit-pack stream that Blobs accepted with
// encoding/json alone, returning each upsert's expected content.
func referenceBlobs(t *testing.T, data []byte, m *Metadata) map[string][]byte {
	upserts := map[string]bool{}
	for _, op := range m.Files {
		if op.Operation == OpUpsert {
			upserts[op.ContentID] = true
		}
	}
	want := map[string][]byte{}
	seenMeta := false
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !seenMeta {
			seenMeta = true
			continue
		}
		var env map[string]struct {
			ContentID string  `json:"content_id"`
			Data      *string `json:"data"`
		}
		if err := json.Unmarshal(line, &env); err != nil {
			t.Fatalf("Blobs accepted line %q that encoding/json rejects: %v", line, err)
		}
		c := env["blob_chunk"]
		if !upserts[c.ContentID] {
			continue
		}
		var dec []byte
		if c.Data != nil {
			var err error
			if dec, err = base64.StdEncoding.DecodeString(*c.Data); err != nil {
				t.Fatalf("Blobs accepted invalid base64 %q: %v", *c.Data, err)
			}
		}
		want[c.ContentID] = append(want[c.ContentID], dec...)
	}
	return want
}

func FuzzReader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxLine = 1 << 16
		assertClientError := func(what string, err error) {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%s: error %v (%T) is not a *Error", what, err, err)
			}
		}

		r := NewReader(bytes.NewReader(data), maxLine)
		m, err := r.Metadata()
		if err != nil {
			assertClientError("Metadata", err)
		} else {
			checkMetadata(t, m)
			sinks := map[string]*fuzzSink{}
			err = r.Blobs(func(op FileOp) (BlobSink, error) {
				if op.Operation != OpUpsert || sinks[op.ContentID] != nil {
					t.Fatalf("open(%+v): not an upsert, or opened twice", op)
				}
				s := &fuzzSink{t: t, op: op}
				sinks[op.ContentID] = s
				return s, nil
			})
			total := 0
			for _, s := range sinks {
				if !s.closed && !s.aborted {
					t.Fatalf("sink %s left open (err %v)", s.op.Path, err)
				}
				total += s.buf.Len()
			}
			if total > len(data) {
				t.Fatalf("sinks got %d bytes from a %d-byte stream", total, len(data))
			}
			if err != nil {
				assertClientError("Blobs", err)
			} else {
				want := referenceBlobs(t, data, m)
				for _, op := range m.Files {
					if op.Operation != OpUpsert {
						continue
					}
					s := sinks[op.ContentID]
					if s == nil || !s.closed {
						t.Fatalf("Blobs succeeded but %s was not closed", op.Path)
					}
					if !bytes.Equal(s.buf.Bytes(), want[op.ContentID]) {
						t.Fatalf("%s: sink got %q, the stream says %q", op.Path, s.buf.Bytes(), want[op.ContentID])
					}
				}
			}
		}

		r = NewReader(bytes.NewReader(data), maxLine)
		if _, err := r.DiffMetadata(); err != nil {
			assertClientError("DiffMetadata", err)
		} else {
			var out bytes.Buffer
			if err := r.Diff(&out); err != nil {
				assertClientError("Diff", err)
			}
			if out.Len() > len(data) {
				t.Fatalf("Diff wrote %d bytes from a %d-byte stream", out.Len(), len(data))
			}
		}

		if _, err := ReadRestore(bytes.NewReader(data), maxLine); err != nil {
			assertClientError("ReadRestore", err)
		}
	})
}

// checkMetadata asserts what Metadata promises about a result it returns.
func checkMetadata(t *testing.T, m *Metadata) {
	if git.ValidateBranchName(m.TargetBranch) != nil || strings.HasPrefix(m.TargetBranch, "refs/") {
		t.Fatalf("target branch %q", m.TargetBranch)
	}
	if m.BaseBranch != "" && git.ValidateBranchName(m.BaseBranch) != nil {
		t.Fatalf("base branch %q", m.BaseBranch)
	}
	if strings.TrimSpace(m.CommitMessage) == "" || m.Author.Name == "" || m.Author.Email == "" {
		t.Fatalf("metadata %+v", m)
	}
	if m.Committer != nil && (m.Committer.Name == "" || m.Committer.Email == "") {
		t.Fatalf("committer %+v", m.Committer)
	}
	if m.ExpectedHeadSHA != "" && !git.IsFullHex(m.ExpectedHeadSHA) {
		t.Fatalf("expected head %q", m.ExpectedHeadSHA)
	}
	if m.EphemeralBase && m.BaseBranch == "" {
		t.Fatal("ephemeral base without base branch")
	}
	ids := map[string]bool{}
	for _, op := range m.Files {
		if p, err := git.CleanPath(op.Path); err != nil || p != op.Path {
			t.Fatalf("path %q not clean: %v", op.Path, err)
		}
		switch op.Operation {
		case OpUpsert:
			if !allowedModes[op.Mode] || op.ContentID == "" || ids[op.ContentID] {
				t.Fatalf("upsert %+v", op)
			}
			ids[op.ContentID] = true
		case OpDelete:
			if op.Mode != "" {
				t.Fatalf("delete %+v", op)
			}
		default:
			t.Fatalf("operation %+v", op)
		}
	}
}

// FuzzChunkFastPath checks that the hand-written chunk parser agrees with
// encoding/json on every object it accepts.
func FuzzChunkFastPath(f *testing.F) {
	for _, s := range []string{
		`{"content_id":"1","data":"QQ==","eof":true}`,
		` { "eof" : false , "data" : "" , "content_id" : "é" } `,
		`{"content_id":"1","data":null,"eof":null,"x":"y","z":true}`,
		`{"content_id":"1","data":"QQ==","data":"QkI=","content_id":"2"}`,
		`{"Content_ID":"1","DATA":"QQ==","EOF":true}`,
		`{"content_id":"a\u0000","data":"Pz8\/"}`,
		`{"content_id":"\xff","data":"QQ=="}`,
		`{"content_id":"1","data":"QQ==","eof":1}`,
		`{"data":"QQ","eof":true}`, `{}`, `{"a":{}}`, `{"a":[1]}`, `{,}`, `{"a":1,}`,
		`{"data":"QUFB` + "\t" + `"}`, `{"x":"` + "\x01" + `"}`, `{"eof":tru}`, `{"eof":true}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		var fast chunkJSON
		if !parseChunkFast(v, &fast) {
			return
		}
		var slow chunkJSON
		if err := json.Unmarshal(v, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", v, err)
		}
		if fast.ContentID != slow.ContentID || fast.EOF != slow.EOF || !bytes.Equal(fast.Data.bytes(), slow.Data.bytes()) {
			t.Fatalf("%q: fast %q %v %q, encoding/json %q %v %q", v,
				fast.ContentID, fast.EOF, fast.Data.bytes(), slow.ContentID, slow.EOF, slow.Data.bytes())
		}
	})
}
