package githttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/packcache"
	"github.com/strata-storage/strata/internal/slots"
)

// withPackCache gives the Handler a pack cache of its own.
func withPackCache(t *testing.T) func(*Config) {
	return func(c *Config) {
		pc, err := packcache.New(packcache.Config{Dir: filepath.Join(t.TempDir(), "packs"), MaxBytes: 1 << 30, MaxAge: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pc.Stop)
		c.PackCache = pc
	}
}

// v2Fetch is a protocol v2 fetch request of want with args (and done).
func v2Fetch(want string, args ...string) string {
	lines := []string{"command=fetch\n", "agent=git/2.39.5\n", "object-format=sha1\n"}
	var b []byte
	for _, l := range lines {
		b = appendPkt(b, l)
	}
	b = append(b, "0001"...)
	for _, a := range append(args, "want "+want, "done") {
		b = appendPkt(b, a+"\n")
	}
	return string(append(b, "0000"...))
}

func (e *handlerEnv) postUploadPack(t *testing.T, body, protocol string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/app.git/git-upload-pack", strings.NewReader(body))
	req.SetBasicAuth("t", "write")
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	if protocol != "" {
		req.Header.Set("Git-Protocol", protocol)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// holdSlots takes n slots of org in p and returns what gives them back.
func holdSlots(t *testing.T, p *slots.Pool, org string, n int) func() {
	t.Helper()
	var releases []func()
	for range n {
		release, err := p.Acquire(context.Background(), org, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	return func() {
		for _, r := range releases {
			r()
		}
		releases = nil
	}
}

// The slots bound pack generation, not the serving of cached packs: with
// every slot taken, a fetch answered from the cache succeeds; a fetch that
// needs a new pack waits for a slot and, when none comes in time, is
// answered 503 with Retry-After (its status still open, whichever path it
// took); once a slot frees, it goes ahead.
func TestPackCache_slots(t *testing.T) {
	t.Parallel()
	e := newHandlerEnv(t, Limits{MaxConcurrentPacks: 1, PackQueueTimeout: 50 * time.Millisecond}, withPackCache(t))
	dir := t.TempDir()
	mustRunGit(t, dir, "init", "-q", "-b", "main")
	for i, content := range []string{"one\n", "two\n" + randomish(50000)} {
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		mustRunGit(t, dir, "add", ".")
		mustRunGit(t, dir, "commit", "-q", "-m", "c"+string(rune('0'+i)))
	}
	mustRunGit(t, dir, "push", "-q", e.url(), "main")
	tip, parent := mustRunGit(t, dir, "rev-parse", "HEAD"), mustRunGit(t, dir, "rev-parse", "HEAD^")
	fetch := v2Fetch(tip, "thin-pack", "ofs-delta", "no-progress")
	shallow := v2Fetch(tip, "thin-pack", "ofs-delta", "no-progress", "deepen 1")
	v0 := string(appendPkt(nil, "want "+parent+" multi_ack_detailed side-band-64k thin-pack no-progress ofs-delta\n")) + "0000" + string(appendPkt(nil, "done\n"))

	resp, first := e.postUploadPack(t, fetch, "version=2")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(first, []byte("PACK")) {
		t.Fatalf("first fetch: %d %q", resp.StatusCode, first)
	}
	releasePacks := holdSlots(t, e.h.packs, "acme", 1)
	releaseUploads := holdSlots(t, e.h.uploads, "acme", uploadPackFactor)

	t.Run("a hit needs no slot", func(t *testing.T) {
		resp, again := e.postUploadPack(t, fetch, "version=2")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(again, first) {
			t.Fatalf("cached fetch: %d, %d bytes (first: %d)", resp.StatusCode, len(again), len(first))
		}
		if resp.ContentLength != int64(len(first)) {
			t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(first))
		}
	})
	t.Run("a miss without an upload-pack slot", func(t *testing.T) {
		resp, b := e.postUploadPack(t, shallow, "version=2")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q: %q", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	})
	releaseUploads()
	t.Run("a miss without a pack slot", func(t *testing.T) {
		// upload-pack runs; its pack-objects waits for a slot in vain.
		resp, b := e.postUploadPack(t, shallow, "version=2")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q: %q", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	})
	t.Run("a v0 miss without a pack slot", func(t *testing.T) {
		// Not keyed up front: upload-pack's NAK is held back until the
		// pack would start, so the refusal is still a clean 503.
		resp, b := e.postUploadPack(t, v0, "")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q: %q", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	})
	t.Run("refs moved: upload-pack runs, the pack is a hit", func(t *testing.T) {
		mustRunGit(t, "", "--git-dir", e.repo.Path(), "update-ref", "refs/heads/other", parent)
		resp, b := e.postUploadPack(t, fetch, "version=2")
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("PACK")) {
			t.Fatalf("status %d: %q", resp.StatusCode, b)
		}
	})
	t.Run("a miss gets the slot once it frees", func(t *testing.T) {
		e.h.limits.PackQueueTimeout = time.Minute
		go func() {
			time.Sleep(10 * time.Millisecond)
			releasePacks()
		}()
		for _, tc := range []struct{ desc, body, protocol string }{
			{"v2 shallow", shallow, "version=2"},
			{"v0", v0, ""},
		} {
			resp, b := e.postUploadPack(t, tc.body, tc.protocol)
			if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("PACK")) {
				t.Fatalf("%s: status %d: %q", tc.desc, resp.StatusCode, b)
			}
		}
	})
	if n, m := e.h.packs.InUse(), e.h.uploads.InUse(); n != 0 || m != 0 {
		t.Errorf("%d pack and %d upload-pack slots still held", n, m)
	}
}

// Which requests are keyed before upload-pack runs, and what of them is
// in the key.
func TestCacheableFetch(t *testing.T) {
	t.Parallel()
	want := "want " + oidA
	req := func(lines ...string) string {
		var b []byte
		for _, l := range lines {
			switch l {
			case "0000", "0001":
				b = append(b, l...)
			default:
				b = appendPkt(b, l+"\n")
			}
		}
		return string(b)
	}
	clone := req("command=fetch", "agent=git/2.39.5", "0001", "thin-pack", "ofs-delta", want, "done", "0000")
	for _, tc := range []struct {
		desc, protocol, body string
		ok                   bool
	}{
		{"clone", "version=2", clone, true},
		{"v0", "", clone, false},
		{"v1", "version=1", clone, false},
		{"shallow, filtered, haves", "version=2", req("command=fetch", "object-format=sha1", "0001", want, "have "+oidB, "deepen 1", "deepen-relative", "filter blob:none", "shallow "+oidB, "include-tag", "no-progress", "done", "0000"), true},
		{"negotiation round", "version=2", req("command=fetch", "0001", want, "have "+oidB, "0000"), false},
		{"ls-refs", "version=2", req("command=ls-refs", "0001", "peel", "0000"), false},
		{"want-ref", "version=2", req("command=fetch", "0001", "want-ref refs/heads/main", "done", "0000"), false},
		{"deepen-not", "version=2", req("command=fetch", "0001", want, "deepen-not main", "done", "0000"), false},
		{"packfile-uris", "version=2", req("command=fetch", "0001", want, "packfile-uris https", "done", "0000"), false},
		{"unknown capability", "version=2", req("command=fetch", "frobnicate", "0001", want, "done", "0000"), false},
		{"no wants", "version=2", req("command=fetch", "0001", "done", "0000"), false},
		{"no command", "version=2", req("0001", want, "done", "0000"), false},
		{"no final flush", "version=2", req("command=fetch", "0001", want, "done"), false},
		{"after the flush", "version=2", req("command=fetch", "0001", want, "done", "0000", "0000"), false},
		{"empty packet", "version=2", req("command=fetch", "0001", want, "done") + "0004" + "0000", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, ok := cacheableFetch(tc.protocol, &spooled{mem: []byte(tc.body)})
			if ok != tc.ok {
				t.Errorf("cacheable = %v, want %v", ok, tc.ok)
			}
		})
	}
	t.Run("agent and session-id are not in the key", func(t *testing.T) {
		a, _ := cacheableFetch("version=2", &spooled{mem: []byte(clone)})
		b, _ := cacheableFetch("version=2", &spooled{mem: []byte(req("command=fetch", "agent=git/2.50.0", "session-id=abc", "0001", "thin-pack", "ofs-delta", want, "done", "0000"))})
		c, _ := cacheableFetch("version=2", &spooled{mem: []byte(req("command=fetch", "0001", "thin-pack", want, "done", "0000"))})
		if !bytes.Equal(a, b) {
			t.Errorf("agent changed the key: %q vs %q", a, b)
		}
		if bytes.Equal(a, c) {
			t.Errorf("ofs-delta did not change the key")
		}
	})
	t.Run("spooled to a file", func(t *testing.T) {
		f, err := os.CreateTemp(t.TempDir(), "spool")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, ok := cacheableFetch("version=2", &spooled{mem: []byte(clone), file: f}); ok {
			t.Error("a request too large for memory was keyed")
		}
	})
}

// refState changes with every ref change, loose or packed, and is the same
// when read again; restricted to prefixes, it ignores other refs.
func TestRefState(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "r.git")
	mustRunGit(t, "", "init", "-q", "--bare", "-b", "main", dir)
	git := func(args ...string) string { return mustRunGit(t, "", append([]string{"--git-dir", dir}, args...)...) }
	const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	a, b := git("commit-tree", emptyTree, "-m", "a"), git("commit-tree", emptyTree, "-m", "b")
	state := func(prefixes ...string) string {
		s, err := refState(dir, prefixes...)
		if err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	seen := map[string]string{}
	step := func(desc string, change func()) {
		before := state("")
		change()
		after := state("")
		if after == before {
			t.Errorf("%s: state unchanged", desc)
		}
		if again := state(""); again != after {
			t.Errorf("%s: two reads differ", desc)
		}
		if prev, ok := seen[after]; ok {
			t.Errorf("%s: same state as after %s", desc, prev)
		}
		seen[after] = desc
	}
	seen[state("")] = "init"
	step("create a branch", func() { git("update-ref", "refs/heads/main", a) })
	step("move it", func() { git("update-ref", "refs/heads/main", b) })
	step("pack refs", func() { git("pack-refs", "--all") })
	step("move a packed ref", func() { git("update-ref", "refs/heads/main", a) })
	step("HEAD", func() { git("symbolic-ref", "HEAD", "refs/heads/other") })
	step("namespaced ref", func() { git("update-ref", "refs/namespaces/ephemeral/refs/heads/x", a) })

	tags := state("refs/tags/")
	git("update-ref", "refs/heads/side", b)
	if got := state("refs/tags/"); got != tags {
		t.Error("a branch changed the tags' state")
	}
	git("update-ref", "refs/tags/v1", a)
	if got := state("refs/tags/"); got == tags {
		t.Error("a new tag did not change the tags' state")
	}
	tags = state("refs/tags/")
	git("pack-refs", "--all")
	packed := state("refs/tags/")
	git("update-ref", "refs/heads/side", a) // loose again; packed-refs unchanged
	git("update-ref", "-d", "refs/heads/side")
	if got := state("refs/tags/"); got != packed {
		t.Error("deleting a packed branch changed the tags' state")
	}
	git("update-ref", "refs/tags/v1", b)
	if got := state("refs/tags/"); got == packed || got == tags {
		t.Error("moving a packed tag did not change the tags' state")
	}
	ns := state("refs/tags/", "refs/namespaces/ephemeral/refs/tags/")
	git("update-ref", "refs/namespaces/ephemeral/refs/tags/e", a)
	if got := state("refs/tags/", "refs/namespaces/ephemeral/refs/tags/"); got == ns {
		t.Error("a namespaced tag did not change the namespace's tags' state")
	}
}
