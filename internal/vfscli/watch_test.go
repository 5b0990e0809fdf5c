package vfscli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/vfs"
)

// syncBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until out holds n matches of re, failing after a bound.
func waitForOutput(t *testing.T, out *syncBuffer, re string, n int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if len(rx.FindAllString(out.String(), -1)) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %d× %q in output:\n%s", n, re, out.String())
}

// runCLIContext runs `strata fs args...` the way Main does, with ctx as the
// commands' context so a test can stop watch and serve.
func runCLIContext(ctx context.Context, stdout, stderr *syncBuffer, args ...string) int {
	a := &app{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, getenv: func(string) string { return "" }}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	a.closeStores()
	return a.report(err)
}

func writeLocal(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSyncWatch_realChanges(t *testing.T) {
	t.Parallel()
	repo := filepath.Join(t.TempDir(), "repo")
	local := t.TempDir()
	writeLocal(t, filepath.Join(local, "a.txt"), "a")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runCLIContext(ctx, &stdout, &stderr, "-r", repo, "sync", "--watch", "--debounce", "100", local, ":site")
	}()
	waitForOutput(t, &stdout, `Watching `+regexp.QuoteMeta(local)+` -> :site \(debounce 100ms\)`, 1)
	waitForOutput(t, &stdout, `\[\d\d:\d\d:\d\d\] Sync: \+1 \(commit [0-9a-f]{7}\)`, 1)

	// A directory made after the start is watched too: a change inside
	// it after its creation was synced still triggers a cycle.
	writeLocal(t, filepath.Join(local, "sub", "deep", "b.txt"), "b")
	waitForOutput(t, &stdout, `Sync: \+1 \(commit`, 2)
	time.Sleep(50 * time.Millisecond)
	writeLocal(t, filepath.Join(local, "sub", "deep", "b.txt"), "b2")
	waitForOutput(t, &stdout, `Sync: ~1 \(commit`, 1)
	if err := os.Remove(filepath.Join(local, "a.txt")); err != nil {
		t.Fatal(err)
	}
	waitForOutput(t, &stdout, `Sync: -1 \(commit`, 1)

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop")
	}
	if !strings.HasSuffix(stdout.String(), "\nStopped watching.\n") {
		t.Fatalf("no stop line:\n%s", stdout.String())
	}
	s, err := vfs.Open(repo, vfs.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tip, _ := s.Branches().Get("main")
	if got, err := tip.ReadText("site/sub/deep/b.txt"); err != nil || got != "b2" {
		t.Fatalf("synced file: %q %v", got, err)
	}
	if ok, _ := tip.Exists("site/a.txt"); ok {
		t.Fatal("deleted file still in the repo")
	}
}

// The loop survives a stale snapshot and any other failure, and reports
// each on stderr.
func TestWatcher_cycleFailures(t *testing.T) {
	t.Parallel()
	local := t.TempDir()
	var stdout, stderr syncBuffer
	calls := 0
	var mu sync.Mutex
	w := &watcher{
		local: local, debounce: 100 * time.Millisecond, stdout: &stdout, stderr: &stderr,
		now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		sync: func() (*vfs.FS, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			switch calls {
			case 1:
				return nil, &vfs.StaleSnapshotError{Branch: "main"}
			case 2:
				return nil, errors.New("disk on fire")
			case 3:
				return nil, &vfs.StaleSnapshotError{Branch: "main"}
			}
			return nil, errors.New("again")
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	waitForOutput(t, &stderr, `WARNING: Stale snapshot on initial sync, will retry`, 1)
	writeLocal(t, filepath.Join(local, "x"), "1")
	waitForOutput(t, &stderr, `ERROR: Sync failed: disk on fire`, 1)
	writeLocal(t, filepath.Join(local, "y"), "1")
	waitForOutput(t, &stderr, `WARNING: Stale snapshot, will retry on next change`, 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestChangeSummary(t *testing.T) {
	t.Parallel()
	e := vfs.FileEntry{}
	for _, tc := range []struct {
		ch   vfs.ChangeReport
		want string
	}{
		{vfs.ChangeReport{Add: []vfs.FileEntry{e, e}}, "+2"},
		{vfs.ChangeReport{Update: []vfs.FileEntry{e}}, "~1"},
		{vfs.ChangeReport{Delete: []vfs.FileEntry{e, e, e}}, "-3"},
		{vfs.ChangeReport{Add: []vfs.FileEntry{e}, Update: []vfs.FileEntry{e, e}, Delete: []vfs.FileEntry{e}}, "+1 ~2 -1"},
		{vfs.ChangeReport{}, "no changes"},
	} {
		if got := changeSummary(&tc.ch); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.ch, got, tc.want)
		}
	}
}

func TestSyncWatch_refused(t *testing.T) {
	t.Parallel()
	repo := filepath.Join(t.TempDir(), "repo")
	local := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--watch", "-n", local}, "--watch and --dry-run are incompatible"},
		{[]string{"sync", "--watch", ":", local}, "--watch only supports disk → repo"},
		{[]string{"sync", "--watch", "--debounce", "50", local}, "--debounce must be at least 100 ms"},
	} {
		var stdout, stderr syncBuffer
		code := runCLIContext(context.Background(), &stdout, &stderr, append([]string{"-r", repo}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr.String())
		}
	}
}
