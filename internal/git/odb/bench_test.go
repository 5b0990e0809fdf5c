package odb

import (
	"bytes"
	stdzlib "compress/zlib"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zlib"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
)

// reportLatency adds p50 and p99 of per-operation times to b's output.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

func smallBlob(i int) []byte {
	return fmt.Appendf(nil, "%d %s", i, bytes.Repeat([]byte("0123456789abcdef"), 64))[:1024]
}

// BenchmarkTransaction_smallCommit is one API commit's object work: a 1 KB
// blob, a tree and a commit, made durable by Commit.
func BenchmarkTransaction_smallCommit(b *testing.B) {
	w := NewWriter(newRepo(b))
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		tx, err := w.Begin()
		if err != nil {
			b.Fatal(err)
		}
		blob, err := tx.WriteObject(git.BlobObject, smallBlob(i))
		if err != nil {
			b.Fatal(err)
		}
		tree, err := EncodeTree([]TreeEntry{{ModeFile, "README.md", blob}})
		if err != nil {
			b.Fatal(err)
		}
		treeID, err := tx.WriteObject(git.TreeObject, tree)
		if err != nil {
			b.Fatal(err)
		}
		commit, err := EncodeCommit(Commit{Tree: treeID, Author: testSig, Committer: testSig, Message: "update README"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.WriteObject(git.CommitObject, commit); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	reportLatency(b, lat)
}

// BenchmarkPlumbing_smallCommit does the same with git processes, as Strata
// would without this package: hash-object -w, mktree, commit-tree.
// "factory" runs them the way Strata does (git.Factory: pinned environment,
// objects fsynced); "exec-nofsync" is bare os/exec with git's defaults,
// which do not fsync loose objects, as a lower bound.
func BenchmarkPlumbing_smallCommit(b *testing.B) {
	b.Run("factory", func(b *testing.B) {
		gitDir := newRepo(b)
		plumbingLoop(b, func(stdin []byte, args ...string) string {
			return runGit(b, gitDir, nil, stdin, args...)
		})
	})
	b.Run("exec-nofsync", func(b *testing.B) {
		gitDir := newRepo(b)
		env := append([]string{"GIT_DIR=" + gitDir, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}, fixtureEnv...)
		plumbingLoop(b, func(stdin []byte, args ...string) string {
			cmd := exec.Command("git", args...)
			cmd.Env = env
			cmd.Stdin = bytes.NewReader(stdin)
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("git %v: %v", args, err)
			}
			return string(out)
		})
	})
}

func plumbingLoop(b *testing.B, run func(stdin []byte, args ...string) string) {
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		blob := strings.TrimSpace(run(smallBlob(i), "hash-object", "-w", "--stdin"))
		tree := strings.TrimSpace(run([]byte("100644 blob "+blob+"\tREADME.md\n"), "mktree"))
		run(nil, "commit-tree", tree, "-m", "update README")
		lat = append(lat, time.Since(start))
		i++
	}
	reportLatency(b, lat)
}

// BenchmarkFsync is the raw cost of durability on this disk: fsync of a
// just-written 1 KB file, and of a directory with and without a new entry.
// "create" is the file creation every loose object also pays.
func BenchmarkFsync(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, 1024)
	b.Run("file-1KB", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			f, err := os.Create(filepath.Join(dir, fmt.Sprint("f", i)))
			if err != nil {
				b.Fatal(err)
			}
			f.Write(data)
			b.StartTimer()
			if err := syncClose(f); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("dir-new-entry", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("d", i)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := durable.SyncDir(dir); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("dir-clean", func(b *testing.B) {
		durable.SyncDir(dir)
		for b.Loop() {
			if err := durable.SyncDir(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		dir := b.TempDir()
		i := 0
		for b.Loop() {
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint("c", i)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o444)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			i++
		}
	})
}

// BenchmarkCompression compares zlib implementations and levels on
// source-like text and on a tree of 500 entries, the choices behind
// compressionLevel and the klauspost/compress import. ratio =
// compressed/original.
func BenchmarkCompression(b *testing.B) {
	corpus := goSource(b, 10<<20)
	var entries []TreeEntry
	for i := range 500 {
		entries = append(entries, TreeEntry{ModeTree, fmt.Sprintf("d%03d", i), HashObject(git.BlobObject, []byte(fmt.Sprint(i)))})
	}
	tree, err := EncodeTree(entries)
	if err != nil {
		b.Fatal(err)
	}
	type writer interface {
		io.WriteCloser
		Reset(io.Writer)
	}
	impls := []struct {
		name string
		new  func(level int) writer
	}{
		{"std", func(level int) writer { zw, _ := stdzlib.NewWriterLevel(nil, level); return zw }},
		{"klauspost", func(level int) writer { zw, _ := zlib.NewWriterLevel(nil, level); return zw }},
	}
	for _, in := range []struct {
		name string
		data []byte
	}{{"source/1KiB", corpus[:1<<10]}, {"source/10MiB", corpus}, {"tree/500", tree}} {
		for _, impl := range impls {
			for _, level := range []struct {
				name  string
				level int
			}{{"BestSpeed", zlib.BestSpeed}, {"Default", zlib.DefaultCompression}} {
				b.Run(fmt.Sprintf("%s/%s/%s", in.name, impl.name, level.name), func(b *testing.B) {
					var out bytes.Buffer
					zw := impl.new(level.level)
					b.SetBytes(int64(len(in.data)))
					for b.Loop() {
						out.Reset()
						zw.Reset(&out)
						zw.Write(in.data)
						zw.Close()
					}
					b.ReportMetric(float64(out.Len())/float64(len(in.data)), "ratio")
				})
			}
		}
	}
}

// goSource returns n bytes of Go source from GOROOT, repeated if needed.
func goSource(b *testing.B, n int) []byte {
	var buf bytes.Buffer
	root := filepath.Join(goRoot(b), "src")
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || buf.Len() >= n {
			return io.EOF
		}
		if strings.HasSuffix(path, ".go") {
			data, _ := os.ReadFile(path)
			buf.Write(data)
		}
		return nil
	})
	if buf.Len() == 0 {
		b.Skip("no Go source found under GOROOT")
	}
	for buf.Len() < n {
		buf.Write(buf.Bytes())
	}
	return buf.Bytes()[:n]
}

// goRoot asks the go command where the standard library's sources are.
func goRoot(b *testing.B) string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skipf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}
