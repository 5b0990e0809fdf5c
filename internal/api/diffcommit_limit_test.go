package api

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
)

// A diff-commit patch past the cap is refused with 413 before git apply
// (which holds patches in memory) ever sees it; below the cap it passes.
func TestCappedWriter(t *testing.T) {
	t.Parallel()
	var dst bytes.Buffer
	w := &cappedWriter{w: &dst, left: 10}
	if _, err := w.Write([]byte("0123456789")); err != nil {
		t.Fatalf("write up to the cap: %v", err)
	}
	_, err := w.Write([]byte("x"))
	var he *httpError
	if !errors.As(err, &he) || he.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("write past the cap: %v", err)
	}
	if dst.String() != "0123456789" {
		t.Fatalf("spooled %q", dst.String())
	}
}
