#!/usr/bin/env bash
# Measures GET /api/v1/repos/file of a 4 KiB file with wrk against a
# `strata serve` subprocess: the throughput figure of BenchmarkFileRead
# without a Go load generator inside the server's process. By default the
# server speaks HTTPS (a self-signed ECDSA P-256 certificate for 127.0.0.1,
# as the Go bench helpers use) and every request carries an ES256 JWT.
#
# Usage: bench/wrk-fileread.sh
# Knobs: WRK_THREADS (2), WRK_CONNS (64), WRK_DURATION (10s), WRK (wrk),
#        WRK_TLS (1; 0 serves plain HTTP),
#        STRATA_BENCH_BINARY (default: built from this checkout),
#        STRATA_BENCH_PORT (default: a free port),
#        STRATA_BENCH_PPROF (an address such as 127.0.0.1:6060: serve
#        --pprof-addr there, to profile the server during the run).
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
scheme=http
extra=()
if [ "${WRK_TLS:-1}" != 0 ]; then
  scheme=https
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  extra+=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
fi
if [ -n "${STRATA_BENCH_PPROF:-}" ]; then
  extra+=(--pprof-addr "$STRATA_BENCH_PPROF")
fi
base=$scheme://127.0.0.1:$port
[ "$scheme" = https ] && export CURL_CA_BUNDLE=$work/cert.pem
"$bin" serve --addr "127.0.0.1:$port" --data-dir "$work/data" --org "bench=$work/keys/bench.pem" \
  --log-level "${STRATA_BENCH_LOG_LEVEL:-info}" ${extra[@]+"${extra[@]}"} >"$work/serve.log" 2>&1 &
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

# The server's own CPU time (user + system, clock ticks) so far: on a
# shared machine req/s moves with the neighbours' load, CPU per request
# much less.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat" 2>/dev/null || echo 0; }
tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

run() { # run <threads> <conns> <duration>
  local out t0 t1
  t0=$(server_ticks)
  out=$("$WRK" -t"$1" -c"$2" -d"$3" --latency -H "$auth" "$url")
  t1=$(server_ticks)
  echo "$out"
  echo "$out" | awk -v c="$2" -v ticks=$((t1 - t0)) -v tck="$tck" '
    / requests in / { n = $1 }
    $1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; p99 = v }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; p50 = v }
    / Non-2xx or 3xx responses:/ { bad = $NF }
    / Socket errors:/ { serr = $0; sub(/^ *Socket errors: */, "", serr); gsub(/ /, "", serr) }
    END { printf "wrk-fileread conns=%d req/s=%s p50-ms=%.3f p99-ms=%.3f server-cpu-us/req=%.1f%s%s\n", c, rps, p50, p99, (n ? ticks * 1e6 / tck / n : 0), (bad ? " non-2xx=" bad : ""), (serr ? " socket-errors=" serr : "") }'
}
"$WRK" -t"$threads" -c"$conns" -d2s -H "$auth" "$url" >/dev/null # warm-up
echo "== $scheme, ES256 JWT, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== wrk -t$threads -c$conns -d$duration $url"
run "$threads" "$conns" "$duration"
echo "== wrk -t1 -c1 -d$duration $url"
run 1 1 "$duration"
