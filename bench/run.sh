#!/usr/bin/env bash
# Runs Strata's benchmarks next to plain git doing the same job and prints
# the ratios. Usage: bench/run.sh [go test -bench regexp]
# Results are machine-dependent: run on an otherwise idle machine.
# Knobs (environment): BENCHTIME (200x, for the per-request benchmarks),
# STRATA_BENCH_* (sizes and run counts, see docs/benchmarks.md), SKIP_WRK=1
# (skip bench/wrk-fileread.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-.}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Per-request benchmarks loop b.N times; the others (clones, pushes,
# queries) do their own runs and ignore b.N, so they run once (1x).
light='^Benchmark(CommitPack|FileRead|VFSWrite|VFSRead)$'
heavy='^Benchmark(GitTransport|CloneAfterPush|ConcurrentClones|PackCache|Queries|VFSCopyAndSync|VFSLog|Cluster)$'
go test -run '^$' -bench "$pattern" -skip "$heavy" -benchtime "${BENCHTIME:-200x}" -timeout 60m ./bench/ | tee "$out"
go test -run '^$' -bench "$pattern" -skip "$light" -benchtime 1x -timeout 60m ./bench/ | tee -a "$out"

# The file-read throughput without a Go load generator in the server's
# process: wrk against a `strata serve` subprocess.
if [ -z "${SKIP_WRK:-}" ] && echo BenchmarkFileRead | grep -qE -- "$pattern"; then
  if command -v "${WRK:-wrk}" >/dev/null; then
    bench/wrk-fileread.sh | tee -a "$out"
  else
    echo "wrk not installed: skipping bench/wrk-fileread.sh"
  fi
fi

metric() { # metric <benchmark name> <unit>
  awk -v name="$1" -v unit="$2" '$1 ~ name { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }' "$out" | tail -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b != 0) printf "%.2f", a / b; else print "n/a" }'; }
wrkmetric() { # wrkmetric <conns> <key>
  awk -v c="conns=$1" -v k="$2" '$1 == "wrk-fileread" && $2 == c { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$out" | tail -1
}
# latency <label> <strata benchmark> <git benchmark> <git label>: p50 ratio
latency() {
  local s g
  s=$(metric "$2" p50-ms); g=$(metric "$3" p50-ms)
  [ -n "$s" ] && echo "$1 p50: strata ${s} ms vs $4 ${g} ms -> $(ratio "$s" "$g")x the time" || true
}
# rate <label> <strata benchmark> <git benchmark> <git label> <unit>
rate() {
  local s g
  s=$(metric "$2" "$5"); g=$(metric "$3" "$5")
  [ -n "$s" ] && echo "$1: strata ${s} $5 vs $4 ${g} $5 -> $(ratio "$s" "$g")x the throughput" || true
}

echo
echo "== ratios (Strata / git) =="
latency "commit-pack" 'BenchmarkCommitPack/strata' 'BenchmarkCommitPack/git-plumbing' plumbing
latency "file read (1 client)" 'BenchmarkFileRead/strata-1client' 'BenchmarkFileRead/cat-file-batch' "cat-file --batch"
s=$(metric 'BenchmarkFileRead/strata-64conns' req/s); g=$(metric 'BenchmarkFileRead/cat-file-batch' reads/s)
[ -n "$s" ] && echo "file read throughput: strata ${s} req/s (64 conns, Go client in-process) vs cat-file --batch ${g} reads/s -> $(ratio "$s" "$g")x"
s=$(wrkmetric 64 req/s)
[ -n "$s" ] && echo "file read throughput: strata ${s} req/s (64 conns, wrk, strata serve subprocess) vs cat-file --batch ${g} reads/s -> $(ratio "$s" "$g")x"
s=$(wrkmetric 1 p50-ms)
[ -n "$s" ] && echo "file read p50 (1 conn, wrk): strata ${s} ms"

rate "clone (HTTPS) vs upload-pack over a pipe" 'BenchmarkGitTransport/clone/strata-https' 'BenchmarkGitTransport/clone/git-pipe' "git clone --no-local" MB/s
rate "clone (HTTPS) vs git daemon" 'BenchmarkGitTransport/clone/strata-https' 'BenchmarkGitTransport/clone/git-daemon' "git://" MB/s
rate "clone (HTTPS) vs git-http-backend (HTTPS)" 'BenchmarkGitTransport/clone/strata-https' 'BenchmarkGitTransport/clone/git-http-backend-https' "git-http-backend" MB/s
rate "clone (plain HTTP) vs upload-pack over a pipe" 'BenchmarkGitTransport/clone/strata-http' 'BenchmarkGitTransport/clone/git-pipe' "git clone --no-local" MB/s
rate "clone (plain HTTP) vs git daemon" 'BenchmarkGitTransport/clone/strata-http' 'BenchmarkGitTransport/clone/git-daemon' "git://" MB/s
rate "clone right after a large push (triggered repack done) vs git daemon with a bitmap" 'BenchmarkCloneAfterPush/fresh/after-repack' 'BenchmarkCloneAfterPush/git-daemon-bitmap' "git://" MB/s
rate "clone right after a large push (racing the repack) vs git daemon with a bitmap" 'BenchmarkCloneAfterPush/fresh/immediate' 'BenchmarkCloneAfterPush/git-daemon-bitmap' "git://" MB/s
rate "clone after a large push onto a bitmapped repository (repack done) vs git daemon with a bitmap" 'BenchmarkCloneAfterPush/onto-bitmap/after-repack' 'BenchmarkCloneAfterPush/git-daemon-bitmap' "git://" MB/s
rate "push (HTTPS) vs receive-pack over a pipe" 'BenchmarkGitTransport/push/strata-https' 'BenchmarkGitTransport/push/git-pipe' "git push file://" MB/s
rate "push (plain HTTP) vs receive-pack over a pipe" 'BenchmarkGitTransport/push/strata-http' 'BenchmarkGitTransport/push/git-pipe' "git push file://" MB/s

s=$(metric 'BenchmarkConcurrentClones/strata-https' aggregate-MB/s)
if [ -n "$s" ]; then
  rate "concurrent clones, aggregate" 'BenchmarkConcurrentClones/strata-https' 'BenchmarkConcurrentClones/git-pipe' "git over pipes" aggregate-MB/s
  echo "concurrent clones: strata failed $(metric 'BenchmarkConcurrentClones/strata-https' failed), retried $(metric 'BenchmarkConcurrentClones/strata-https' retried);" \
    "strata peak RSS $(metric 'BenchmarkConcurrentClones/strata-https' strata-peak-rss-MB) MiB;" \
    "server-side git peak RSS $(metric 'BenchmarkConcurrentClones/strata-https' git-peak-rss-MB) MiB (anon $(metric 'BenchmarkConcurrentClones/strata-https' git-peak-anon-MB) MiB, $(metric 'BenchmarkConcurrentClones/strata-https' git-peak-procs) procs)" \
    "vs git over pipes $(metric 'BenchmarkConcurrentClones/git-pipe' git-peak-rss-MB) MiB (anon $(metric 'BenchmarkConcurrentClones/git-pipe' git-peak-anon-MB) MiB, $(metric 'BenchmarkConcurrentClones/git-pipe' git-peak-procs) procs)"
fi

latency "blame" 'BenchmarkQueries/blame/strata' 'BenchmarkQueries/blame/git' "git blame --line-porcelain"
latency "grep (literal)" 'BenchmarkQueries/grep/strata' 'BenchmarkQueries/grep/git' "git grep -n"
latency "grep (regex)" 'BenchmarkQueries/grep-regex/strata' 'BenchmarkQueries/grep-regex/git' "git grep -n -E"
latency "log -- path (first page of 100)" 'BenchmarkQueries/log/strata' 'BenchmarkQueries/log/git' "git log -n 100"
latency "log -- path (all pages)" 'BenchmarkQueries/log-all/strata' 'BenchmarkQueries/log-all/git' "git log"

latency "vfs write (in-process)" 'BenchmarkVFSWrite/vfs' 'BenchmarkVFSWrite/git-plumbing' plumbing
latency "vfs read 4 KiB (in-process, cached)" 'BenchmarkVFSRead/vfs-[0-9]' 'BenchmarkVFSRead/cat-file-batch' "cat-file --batch"
latency "vfs read 1 KiB (in-process, uncached)" 'BenchmarkVFSRead/vfs-uncached' 'BenchmarkVFSRead/cat-file-batch' "cat-file --batch"
latency "vfs log -- path" 'BenchmarkVFSLog/vfs' 'BenchmarkVFSLog/git-log' "git log"
s=$(metric 'BenchmarkVFSCopyAndSync/vfs-copy' copy-ms); g=$(metric 'BenchmarkVFSCopyAndSync/git-worktree' copy-ms)
[ -n "$s" ] && echo "vfs cp of 10,000 files: ${s} ms vs git add -A && git commit ${g} ms -> $(ratio "$s" "$g")x the time" || true
s=$(metric 'BenchmarkVFSCopyAndSync/vfs-copy' sync-mtime-ms); c=$(metric 'BenchmarkVFSCopyAndSync/vfs-copy' sync-checksum-ms); g=$(metric 'BenchmarkVFSCopyAndSync/git-worktree' sync-ms)
[ -n "$s" ] && echo "vfs sync of an unchanged 10,000-file tree: ${s} ms (mtime), ${c} ms (checksum) vs git add -A + status ${g} ms" || true
