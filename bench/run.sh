#!/usr/bin/env bash
# Runs Strata's benchmarks next to plain git doing the same job and prints
# the ratios. Usage: bench/run.sh [go test -bench regexp]
# Results are machine-dependent: run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-.}
out=$(mktemp)
go test -run '^$' -bench "$pattern" -benchtime "${BENCHTIME:-200x}" -timeout 60m ./bench/ | tee "$out"

metric() { # metric <benchmark name> <unit>
  awk -v name="$1" -v unit="$2" '$1 ~ name { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }' "$out" | tail -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b != 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "== ratios (Strata / git) =="
s=$(metric 'BenchmarkCommitPack/strata' p50-ms); g=$(metric 'BenchmarkCommitPack/git-plumbing' p50-ms)
[ -n "$s" ] && echo "commit-pack p50: strata ${s} ms vs plumbing ${g} ms -> $(ratio "$s" "$g")x the time"
s=$(metric 'BenchmarkFileRead/strata-1client' p50-ms); g=$(metric 'BenchmarkFileRead/cat-file-batch' p50-ms)
[ -n "$s" ] && echo "file read p50 (1 client): strata ${s} ms vs cat-file --batch ${g} ms -> $(ratio "$s" "$g")x the time"
s=$(metric 'BenchmarkFileRead/strata-64conns' req/s); g=$(metric 'BenchmarkFileRead/cat-file-batch' reads/s)
[ -n "$s" ] && echo "file read throughput: strata ${s} req/s (64 conns) vs cat-file --batch ${g} reads/s -> $(ratio "$s" "$g")x"
rm -f "$out"
