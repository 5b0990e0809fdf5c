#!/usr/bin/env bash
# Measures GET /api/v1/repos/file of a 4 KiB file with wrk against a
# `strata serve` subprocess: the throughput figure of BenchmarkFileRead
# without a Go load generator inside the server's process.
#
# Usage: bench/wrk-fileread.sh
# Knobs: WRK_THREADS (2), WRK_CONNS (64), WRK_DURATION (10s), WRK (wrk),
#        STRATA_BENCH_BINARY (default: built from this checkout),
#        STRATA_BENCH_PORT (default: a free port).
# Prints wrk's output for WRK_CONNS connections, then for 1 connection
# (with latency percentiles), and one summary line per run:
#   wrk-fileread conns=<n> req/s=<x> p50-ms=<y>
set -euo pipefail
cd "$(dirname "$0")/.."
WRK=${WRK:-wrk}
threads=${WRK_THREADS:-2}
conns=${WRK_CONNS:-64}
duration=${WRK_DURATION:-10s}
command -v "$WRK" >/dev/null || { echo "wrk not found (set WRK=/path/to/wrk)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

bin=${STRATA_BENCH_BINARY:-}
if [ -z "$bin" ]; then
  bin=$work/strata
  go build -o "$bin" ./cmd/strata
fi
"$bin" keygen --out "$work/keys" --name bench >/dev/null
port=${STRATA_BENCH_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18181)}
base=http://127.0.0.1:$port
"$bin" serve --addr "127.0.0.1:$port" --data-dir "$work/data" --org "bench=$work/keys/bench.pem" \
  --log-level warn >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null || { cat "$work/serve.log" >&2; exit 1; }

TOKEN=$("$bin" token --key "$work/keys/bench.key" --org bench --repo bench/read --scopes repo:write,git:read,git:write --ttl 2h)
auth="Authorization: Bearer $TOKEN"
curl -fsS -X POST "$base/api/v1/repos" -H "$auth" -d '{"default_branch":"main"}' >/dev/null

# The file BenchmarkFileRead reads: 4 KiB at docs/read-4k.txt, committed
# through commit-pack.
path=docs/read-4k.txt
data=$(head -c 4096 /dev/zero | tr '\0' 'x' | base64 -w0)
printf '%s\n%s\n' \
  "{\"metadata\":{\"target_branch\":\"main\",\"commit_message\":\"bench\",\"author\":{\"name\":\"Bench\",\"email\":\"bench@example.com\"},\"files\":[{\"path\":\"$path\",\"content_id\":\"c1\",\"operation\":\"upsert\",\"mode\":\"100644\"}]}}" \
  "{\"blob_chunk\":{\"content_id\":\"c1\",\"data\":\"$data\",\"eof\":true}}" |
  curl -fsS -X POST "$base/api/v1/repos/commit-pack" -H "$auth" -H 'Content-Type: application/x-ndjson' --data-binary @- >/dev/null
url="$base/api/v1/repos/file?path=$path"
size=$(curl -fsS "$url" -H "$auth" | wc -c)
[ "$size" -eq 4096 ] || { echo "GET file returned $size bytes, want 4096" >&2; exit 1; }

run() { # run <threads> <conns> <duration>
  local out
  out=$("$WRK" -t"$1" -c"$2" -d"$3" --latency -H "$auth" "$url")
  echo "$out"
  echo "$out" | awk -v c="$2" '
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; p50 = v }
    / Non-2xx or 3xx responses:/ { bad = $NF }
    END { printf "wrk-fileread conns=%d req/s=%s p50-ms=%.3f%s\n", c, rps, p50, (bad ? " non-2xx=" bad : "") }'
}
"$WRK" -t"$threads" -c"$conns" -d2s -H "$auth" "$url" >/dev/null # warm-up
echo "== wrk -t$threads -c$conns -d$duration $url"
run "$threads" "$conns" "$duration"
echo "== wrk -t1 -c1 -d$duration $url"
run 1 1 "$duration"
