#!/usr/bin/env bash
# Soak: one `flint serve` node (SQLite) under steady mixed load for ROUNDS rounds of INTERVAL
# seconds: ordinary calls, traps, timeouts, memory bombs, output floods and key-value calls
# through wrk over eight connections. After each round it samples the server as an operator
# would (PSS and RSS from /proc, open fds, threads, sandboxes from /metrics) and the latency
# the client saw (p50/p99 from wrk), writes a CSV and an SVG plot, and checks that memory,
# fds and latency stay flat after the warm-up round and that every function ended only the
# way it must (hello/kv/bomb ok, trap trap, loop timeout, bigout output_too_large).
#
#   scripts/soak.sh                           # 30 rounds of 60 s (docs/RELIABILITY.md)
#   ROUNDS=4 INTERVAL=15 scripts/soak.sh      # the short version CI runs
#
# OUT (default target/soak) receives soak.csv, soak.svg and the server log.
# FLINT_BIN picks the binary (default target/debug/flint, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-30}
INTERVAL=${INTERVAL:-60}
OUT=${OUT:-target/soak}
BIN=${FLINT_BIN:-target/debug/flint}
[ "$ROUNDS" -ge 3 ] || { echo "ROUNDS must be at least 3 (one warm-up, two to compare)" >&2; exit 2; }
[ -x "$BIN" ] || cargo build -p flint-server
command -v wrk >/dev/null || { echo "wrk is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$OUT"
source scripts/lib.sh
work=$(mktemp -d /tmp/flint-soak.XXXXXX)
token=soak-token
port=$(free_port)
base="http://127.0.0.1:$port"
cleanup() {
  [ -n "${server:-}" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; } || true
  rm -rf "$work"
}
trap cleanup EXIT

FLINT_ADMIN_TOKEN=$token RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$port" \
  --data-dir "$work/data" >"$OUT/server.log" 2>&1 &
server=$!
wait_ready "$base" 200 0.05 || { echo "the server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }

deploy() { # name, module file, config JSON
  curl -sf -X PUT -H "Authorization: Bearer $token" -F "module=@$2" -F "config=$3" \
    "$base/functions/$1" >/dev/null || { echo "deploy of $1 failed" >&2; exit 1; }
}
for m in trap loop bomb bigout kv; do
  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-all -o "$work/$m.wasm" "tests/modules/$m.c"
done
deploy hello examples/hello.wasm '{"public": true}'
deploy trap "$work/trap.wasm" '{"public": true}'
deploy loop "$work/loop.wasm" '{"public": true, "timeout_ms": 50, "max_concurrency": 2}'
deploy bomb "$work/bomb.wasm" '{"public": true, "memory_limit_mb": 16, "max_concurrency": 2}'
deploy bigout "$work/bigout.wasm" '{"public": true, "max_concurrency": 2}'
deploy kv "$work/kv.wasm" '{"public": true}'

# Twenty requests in turn: 12 hello, 3 kv, and one or two of each hostile kind.
cat >"$work/mix.lua" <<'LUA'
local mix = {"hello","kv","hello","trap","hello","loop","hello","bomb","hello","kv",
             "hello","bigout","hello","trap","hello","kv","hello","hello","hello","hello"}
local i = 0
request = function()
  i = i % #mix + 1
  return wrk.format("POST", "/functions/" .. mix[i] .. "/invoke", nil, "soak")
end
LUA

# Latency from wrk's distribution line ("50%  1.23ms") in milliseconds.
latency_ms() {
  awk -v q="$1" '$1 == q {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
    printf "%.2f", v }' "$2"
}
sample() { # prints pss_kib,rss_kib,fds,threads,sandboxes
  local pss rss fds threads sandboxes
  local rollup
  rollup=$(cat "/proc/$server/smaps_rollup")
  pss=$(awk '/^Pss:/ {print $2}' <<<"$rollup")
  rss=$(awk '/^Rss:/ {print $2}' <<<"$rollup")
  fds=$(ls "/proc/$server/fd" | wc -l)
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$server/status")
  sandboxes=$(curl -sf -H "Authorization: Bearer $token" "$base/metrics" |
    awk '/^flint_sandboxes\{/ {s += $NF} END {print s + 0}')
  echo "$pss,$rss,$fds,$threads,$sandboxes"
}

csv="$OUT/soak.csv"
echo "round,seconds,requests,non2xx,socket_errors,p50_ms,p99_ms,pss_kib,rss_kib,fds,threads,sandboxes" >"$csv"
for r in $(seq "$ROUNDS"); do
  wrk -t2 -c8 -d"${INTERVAL}s" --timeout 10s --latency -s "$work/mix.lua" "$base" >"$work/wrk.out"
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out"); non2xx=${non2xx:-0}
  sockets=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' "$work/wrk.out"); sockets=${sockets:-0}
  sleep 2 # the last calls finish and their sandboxes are restored before the sample
  line="$r,$((r * INTERVAL)),$requests,$non2xx,$sockets,$(latency_ms 50% "$work/wrk.out"),$(latency_ms 99% "$work/wrk.out"),$(sample)"
  echo "$line" >>"$csv"
  echo "$line"
done
curl -sf -H "Authorization: Bearer $token" "$base/metrics" >"$OUT/metrics.txt"
python3 scripts/soak-report.py "$csv" "$OUT/metrics.txt" "$OUT/soak.svg"
