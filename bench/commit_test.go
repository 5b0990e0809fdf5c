package bench

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommitPack compares one small commit through Strata's API with
// the same commit made by git plumbing, on a repository of ≥100k objects
// (4000 commits × 25 files ≈ 112k objects).
func BenchmarkCommitPack(b *testing.B) {
	f := newFixture(b, benchCommits(4000), 25)
	b.Logf("repository: %s", strings.ReplaceAll(f.objectCount(b), "\n", ", "))
	b.Run("strata", func(b *testing.B) { benchCommitPackStrata(b, f) })
	b.Run("git-plumbing", func(b *testing.B) { benchCommitPackPlumbing(b, f) })
}

// benchCommitPackStrata: POST /repos/commit-pack adding one 1 KiB file
// on top of main, end to end over loopback HTTP (objects and ref fsynced).
func benchCommitPackStrata(b *testing.B, f *fixture) {
	content := bytes.Repeat([]byte("x"), 1024)
	var lat latencies
	b.ResetTimer()
	for range b.N {
		i := seq.Add(1)
		body := commitPackBody(fmt.Sprintf("bench/strata/%d.txt", i), append(content[:1000:1000], []byte(fmt.Sprint(i))...))
		start := time.Now()
		resp := f.srv.Do("POST", "/api/v1/repos/commit-pack", f.token, strings.NewReader(body), "Content-Type", "application/x-ndjson")
		mustOK(b, resp, 201)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
}

// benchCommitPackPlumbing: the same commit made the classic way with
// one process per step: hash-object -w, mktree (root + nested trees would be
// more; we give plumbing the cheapest case: read the tip tree, add one entry
// at the root), commit-tree, update-ref with the old value (CAS).
// seq keeps file names unique across the repeated runs testing.B makes of a
// sub-benchmark (mktree would happily write duplicate entries).
var seq atomic.Int64

func benchCommitPackPlumbing(b *testing.B, f *fixture) {
	content := bytes.Repeat([]byte("y"), 1024)
	var lat latencies
	b.ResetTimer()
	for range b.N {
		i := seq.Add(1)
		start := time.Now()
		tip := gitCmd(b, f.dir, nil, "rev-parse", "refs/heads/main")
		blob := gitCmd(b, f.dir, bytes.NewReader(append(content[:1000:1000], []byte(fmt.Sprint(i))...)), "hash-object", "-w", "--stdin")
		entries := gitCmd(b, f.dir, nil, "ls-tree", tip)
		tree := gitCmd(b, f.dir, strings.NewReader(entries+fmt.Sprintf("\n100644 blob %s\tplumbing-%d.txt\n", blob, i)), "mktree")
		commit := gitCmd(b, f.dir, strings.NewReader("bench\n"), "commit-tree", tree, "-p", tip)
		gitCmd(b, f.dir, nil, "update-ref", "refs/heads/main", commit, tip)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
}
