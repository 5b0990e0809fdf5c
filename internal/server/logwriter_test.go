package server_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/server"
)

// syncBuffer is a bytes.Buffer safe for the LogWriter's flushes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Info lines wait in the buffer for the next flush; a warning or an error
// is written out, with every line before it, before the call returns.
func TestLogWriter_warningsAtOnce(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	lw := server.NewLogWriter(&out)
	log := slog.New(lw.Handler(slog.NewTextHandler(lw, nil))).With("component", "test")
	log.Info("request", "n", 1)
	log.Warn("slow", "n", 2)
	got := out.String()
	if !strings.Contains(got, "msg=request") || !strings.Contains(got, "msg=slow") || strings.Index(got, "msg=request") > strings.Index(got, "msg=slow") {
		t.Fatalf("after a warning, got %q; want the info line then the warning", got)
	}
	log.Info("request", "n", 3)
	log.Error("failed", "n", 4)
	if got := out.String(); !strings.Contains(got, "n=3") || !strings.Contains(got, "msg=failed") {
		t.Fatalf("after an error, got %q", got)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
}

// An info line is written within a flush period, and by Close at the
// latest.
func TestLogWriter_infoFlushed(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	lw := server.NewLogWriter(&out)
	log := slog.New(lw.Handler(slog.NewTextHandler(lw, nil)))
	log.Info("request", "n", 1)
	deadline := time.Now().Add(10 * server.FlushEvery)
	for !strings.Contains(out.String(), "n=1") {
		if time.Now().After(deadline) {
			t.Fatal("info line not flushed")
		}
		time.Sleep(server.FlushEvery / 4)
	}
	log.Info("request", "n", 2)
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "n=2") {
		t.Fatalf("after Close: %q", got)
	}
}

// Many writers, one order per writer, nothing lost.
func TestLogWriter_concurrent(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	lw := server.NewLogWriter(&out)
	log := slog.New(lw.Handler(slog.NewTextHandler(lw, nil)))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				log.Info("request", "g", g, "i", i)
			}
		}()
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "msg=request"); n != 8*2000 {
		t.Fatalf("%d lines, want %d", n, 8*2000)
	}
}
