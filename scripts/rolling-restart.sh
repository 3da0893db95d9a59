#!/usr/bin/env bash
# Rolling restart under load: two `flint serve` nodes on one PostgreSQL behind HAProxy (from
# Debian, health-checking /readyz), wrk driving steady invocations through HAProxy, and each
# node restarted in turn with SIGTERM (readiness drops, the node keeps serving for
# --shutdown-delay-s while HAProxy moves away, in-flight calls drain, it comes back warm from
# its cache). Prints the requests and the failed ones; exits 1 if any failed.
#
#   scripts/rolling-restart.sh                 # 60 s of load, each node restarted twice
#   DURATION=20 ROUNDS=1 scripts/rolling-restart.sh
#   RETRY=0 DELAY=0 scripts/rolling-restart.sh  # a balancer that does not retry, no delay
#
# FLINT_BIN picks the binary (default target/debug/flint, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
ROUNDS=${ROUNDS:-2}
DELAY=${DELAY:-2}
RETRY=${RETRY:-1}
if [ "$RETRY" = 1 ]; then
  retry=$'  retries 3\n  option redispatch\n  retry-on conn-failure empty-response'
else
  retry="  retries 0"
fi
BIN=${FLINT_BIN:-target/debug/flint}
[ -x "$BIN" ] || cargo build -p flint-server
command -v haproxy >/dev/null || { echo "haproxy is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }

source scripts/lib.sh
work=$(mktemp -d /tmp/flint-rolling.XXXXXX)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgport=$(free_port)
[ "$(id -u)" -eq 0 ] && chown postgres "$work"
as_pg "$pgbin/initdb -D $work/pg -A trust -U postgres >/dev/null"
as_pg "$pgbin/pg_ctl -D $work/pg -l $work/pg.log -w start -o \"-p $pgport -k $work -c listen_addresses=127.0.0.1 -c fsync=off\" >/dev/null"
url="postgres://postgres@127.0.0.1:$pgport/postgres"
token=rolling-restart-token
declare -A port pid
port[a]=$(free_port); port[b]=$(free_port); lb=$(free_port)

cleanup() {
  for n in a b; do
    [ -n "${pid[$n]:-}" ] && { kill -9 "${pid[$n]}" 2>/dev/null; wait "${pid[$n]}" 2>/dev/null; } || true
  done
  [ -f "$work/haproxy.pid" ] && kill "$(cat "$work/haproxy.pid")" 2>/dev/null || true
  as_pg "$pgbin/pg_ctl -D $work/pg -m immediate stop >/dev/null" || true
  rm -rf "$work"
}
trap cleanup EXIT

start_node() {
  local n=$1
  FLINT_ADMIN_TOKEN=$token RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:${port[$n]}" \
    --data-dir "$work/node-$n" --database-url "$url" --shutdown-delay-s "$DELAY" \
    >>"$work/node-$n.log" 2>&1 &
  pid[$n]=$!
  wait_ready "http://127.0.0.1:${port[$n]}" 200 0.05 && return 0
  echo "node $n did not become ready" >&2; cat "$work/node-$n.log" >&2; exit 1
}

start_node a
start_node b
cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
$retry
frontend flint
  bind 127.0.0.1:$lb
  default_backend nodes
backend nodes
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 100ms fall 2 rise 2
  server a 127.0.0.1:${port[a]} check
  server b 127.0.0.1:${port[b]} check
CFG
haproxy -f "$work/haproxy.cfg" -D -p "$work/haproxy.pid"
curl -sf -X PUT -H "Authorization: Bearer $token" -F "module=@examples/hello.wasm" \
  -F 'config={"public": true}' "http://127.0.0.1:${port[a]}/functions/hello" >/dev/null
sleep 1
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "rolling"
LUA
wrk -t2 -c8 -d"${DURATION}s" --timeout 5s -s "$work/post.lua" "http://127.0.0.1:$lb/functions/hello/invoke" >"$work/wrk.out" &
load=$!
gap=$(( DURATION / (2 * ROUNDS + 1) ))
for _ in $(seq "$ROUNDS"); do
  for n in a b; do
    sleep "$gap"
    kill -TERM "${pid[$n]}"
    wait "${pid[$n]}" || { echo "node $n exited badly" >&2; exit 1; }
    start_node "$n"
    echo "restarted node $n"
  done
done
wait "$load"
cat "$work/wrk.out"
total=$(awk '/requests in/ {print $1}' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out"); non2xx=${non2xx:-0}
sockets=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' "$work/wrk.out"); sockets=${sockets:-0}
failed=$(( non2xx + sockets ))
echo "rolling restart: $total requests, $failed failed ($non2xx non-2xx, $sockets socket errors), $ROUNDS restart(s) of each of 2 nodes in ${DURATION}s, delay ${DELAY}s, balancer retries $([ "$RETRY" = 1 ] && echo on || echo off)"
[ "$failed" -eq 0 ]
