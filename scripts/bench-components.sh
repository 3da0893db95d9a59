#!/usr/bin/env bash
# The same wasi:http components served by `wasmtime serve` and by Flint, side by side in one
# run: requests per second and p50/p99 latency over 1 and 8 connections (wrk, POST 5 bytes,
# alternating rounds, medians), and the memory each server holds per deployed component after
# one request (PSS of the process, minus before the deploy; for wasmtime serve, its whole
# process, which serves one component). Prints Markdown tables with ratios.
#
#   scripts/bench-components.sh            # DURATION=10 ROUNDS=2
#   DURATION=3 ROUNDS=1 scripts/bench-components.sh
#
# Needs wrk and a release build; `wasmtime` 48 (cargo install --locked wasmtime-cli --version
# 48.0.8) for the peer column, which is skipped with a note when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
work=$(mktemp -d /tmp/flint-bench-components.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --quiet -p flint-server
cargo run --release --quiet -p flint-test-modules --example components -- "$work/components" >/dev/null
flint=target/release/flint

printf 'wrk.method = "POST"\nwrk.body = "hello"\n' >"$work/post.lua"
pss() { awk '/^Pss:/ {s += $2} END {print s * 1024}' "/proc/$1/smaps_rollup"; }

# wrk's summary for one load: "req_per_s p50_us p99_us".
load() {
  local url=$1 conns=$2
  wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$work/post.lua" "$url" |
    python3 -c '
import re, sys
t = sys.stdin.read()
def us(v, unit): return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p = dict((q, us(v, u)) for q, v, u in re.findall(r"\s(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)", t))
if "Non-2xx" in t or "Socket errors" in t:
    sys.exit("wrk saw failed requests:\n" + t)
print("%.0f %.0f %.0f" % (rps, p["50"], p["99"]))'
}

port=$(free_port)
FLINT_ADMIN_TOKEN=bench "$flint" serve --listen "127.0.0.1:$port" --data-dir "$work/flint" >"$work/flint.log" 2>&1 &
pids+=($!)
flint_pid=$!
wait_ready "http://127.0.0.1:$port" 100 0.1

declare -A result
for lang in c javascript python; do
  wasm="$work/components/$lang.wasm"
  before=$(pss "$flint_pid")
  curl -sf -o /dev/null -X PUT -H "Authorization: Bearer bench" -F "module=@$wasm" \
    -F 'config={"public": true, "max_concurrency": 16}' "http://127.0.0.1:$port/functions/$lang"
  flint_url="http://127.0.0.1:$port/functions/$lang/invoke"
  curl -sf -o /dev/null -X POST --data hello "$flint_url"
  sleep 1
  result[$lang,flint,mem]=$(( $(pss "$flint_pid") - before ))
  peer_url=""
  if command -v wasmtime >/dev/null && wasmtime --version | grep -q "^wasmtime 48\."; then
    peer_port=$(free_port)
    wasmtime serve -S cli --addr "127.0.0.1:$peer_port" "$wasm" >"$work/wasmtime-$lang.log" 2>&1 &
    pids+=($!)
    peer_pid=$!
    for _ in $(seq 600); do curl -sf -o /dev/null -X POST "http://127.0.0.1:$peer_port/" && break; sleep 0.2; done
    peer_url="http://127.0.0.1:$peer_port/functions/$lang/invoke"
    # The same answer from both servers.
    a=$(curl -s -X POST --data hello "$flint_url")
    b=$(curl -s -X POST --data hello "$peer_url")
    [ "$a" = "$b" ] || { echo "answers differ for $lang: flint '$a' vs wasmtime '$b'" >&2; exit 1; }
    result[$lang,wasmtime,mem]=$(pss "$peer_pid")
  else
    echo "note: wasmtime 48 is not installed; the wasmtime serve column is skipped" >&2
  fi
  for round in $(seq "$ROUNDS"); do
    for conns in 1 8; do
      [ -n "$peer_url" ] && result[$lang,wasmtime,$conns,$round]=$(load "$peer_url" "$conns")
      result[$lang,flint,$conns,$round]=$(load "$flint_url" "$conns")
    done
  done
  if [ -n "$peer_url" ]; then
    kill "$peer_pid"
  fi
done

python3 - "$ROUNDS" <<PY
import statistics, sys
rounds = int(sys.argv[1])
r = {}
$(for k in "${!result[@]}"; do printf 'r["%s"] = "%s"\n' "$k" "${result[$k]}"; done)
def med(lang, server, conns, i):
    vals = [float(r[f"{lang},{server},{conns},{n}"].split()[i]) for n in range(1, rounds + 1) if f"{lang},{server},{conns},{n}" in r]
    return statistics.median(vals) if vals else None
def ratio(a, b): return f"{a / b:.2f}x" if a and b else "-"
def fmt(v): return f"{v:,.0f}" if v is not None else "-"
print("| component | conns | Flint req/s | wasmtime serve req/s | ratio | Flint p50 us | wasmtime p50 us | ratio | Flint p99 us | wasmtime p99 us | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for lang in ["c", "javascript", "python"]:
    for conns in [1, 8]:
        f = [med(lang, "flint", conns, i) for i in range(3)]
        w = [med(lang, "wasmtime", conns, i) for i in range(3)]
        print(f"| {lang} | {conns} | {fmt(f[0])} | {fmt(w[0])} | {ratio(f[0], w[0])} | {fmt(f[1])} | {fmt(w[1])} | {ratio(f[1], w[1])} | {fmt(f[2])} | {fmt(w[2])} | {ratio(f[2], w[2])} |")
print()
print("| component | Flint MiB per deployed function | wasmtime serve process MiB |")
print("|---|---:|---:|")
for lang in ["c", "javascript", "python"]:
    fm = int(r[f"{lang},flint,mem"]) / 2**20
    wm = r.get(f"{lang},wasmtime,mem")
    print(f"| {lang} | {fm:.1f} | {int(wm) / 2**20:.1f} |" if wm else f"| {lang} | {fm:.1f} | - |")
PY
