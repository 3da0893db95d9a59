#!/usr/bin/env bash
# Measures which system calls Flint's vCPU threads make (docs/SECURITY.md, "vCPU seccomp
# filter"): runs `flint serve --seccomp off` under `strace -f -ff` with the workload in
# scripts/seccomp/workload.sh, fresh and then from the warm cache, and prints the union of the
# calls (and ioctl requests) made by the threads that logged themselves as vCPU threads.
#
#   scripts/measure-seccomp.sh [--database-url postgres://...]
#
# Needs strace, a debug build (cargo build -p flint-server) and the test modules (compiled into
# $TMPDIR/flint-test-modules by the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$(mktemp -d /tmp/flint-seccomp.XXXXXX)
data="$out/data"
for round in 1 2; do
  port=$((18080 + round))
  FLINT_ADMIN_TOKEN=secret-token RUST_LOG=flint_vmm=debug,warn \
    strace -f -ff -qq -o "$out/trace/r$round" \
    "$root/target/debug/flint" serve --listen "127.0.0.1:$port" --data-dir "$data" --seccomp off "$@" \
    2> "$out/log$round" &
  pid=$!
  mkdir -p "$out/trace"
  for _ in $(seq 1 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  URL="http://127.0.0.1:$port" scripts/seccomp/workload.sh > "$out/workload$round" 2>&1
  kill -TERM "$(pgrep -f "flint serve --listen 127.0.0.1:$port" | grep -v "^$pid$" | tail -1)" 2>/dev/null || true
  wait "$pid" || true
done
python3 scripts/seccomp/collect.py "$out"
echo "traces in $out"
