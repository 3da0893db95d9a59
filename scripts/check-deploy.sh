#!/usr/bin/env bash
# Checks every deployment recipe in deploy/ (CI runs it):
#   - Kubernetes manifests against the Kubernetes schemas (kubernetes-validate, from PyPI),
#     then the rules schemas cannot state (scripts/check-deploy.py kubernetes);
#   - Prometheus config and alert rules with promtool;
#   - the systemd unit with `systemd-analyze verify` and `security` (exposure under a
#     threshold), and every system call a real server makes under a workload (traced with
#     strace) against the unit's SystemCallFilter and MemoryDenyWriteExecute.
# Needs a debug build of flint (built if missing), clang for the workload's modules, strace.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLINT_BIN:-target/debug/flint}
[ -x "$BIN" ] || cargo build -p flint-server

echo "== kubernetes"
kubernetes-validate --strict deploy/kubernetes/*.yaml
python3 scripts/check-deploy.py kubernetes deploy/kubernetes/flint.yaml deploy/kubernetes/podmonitor.yaml

echo "== prometheus"
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/flint.rules.yml

echo "== systemd"
work=$(mktemp -d /tmp/flint-deploy-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The unit as installed, except that ExecStart names this build (verify checks it exists).
sed "s|^ExecStart=/usr/local/bin/flint|ExecStart=$(pwd)/$BIN|" deploy/systemd/flint.service >"$work/flint.service"
systemd-analyze verify "$work/flint.service"
# An overall exposure of 2.0 or less is what systemd calls "OK" (the best band).
systemd-analyze security --offline=yes --threshold=20 "$work/flint.service" | tail -n 1
systemd-analyze security --offline=yes --threshold=20 "$work/flint.service" >/dev/null

echo "== system calls of a running server against the unit's filter"
modules="$work/modules"
mkdir -p "$modules"
for m in hello kv trap loop bomb grow random clock sleep bigout divzero cgi echo; do
  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-all -o "$modules/$m-check.wasm" "tests/modules/$m.c"
done
source scripts/lib.sh
port=$(free_port)
FLINT_ADMIN_TOKEN=secret-token RUST_LOG=warn strace -f -qq -o "$work/trace" \
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$work/data" 2>"$work/server.log" &
tracer=$!
wait_ready "http://127.0.0.1:$port" 600 0.2 || { echo "the traced server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
URL="http://127.0.0.1:$port" MODULES="$modules" scripts/seccomp/workload.sh >"$work/workload.out"
pkill -TERM -f "serve --listen 127.0.0.1:$port" || true
wait "$tracer" || true
python3 scripts/check-deploy.py syscalls deploy/systemd/flint.service "$work/trace"
echo "deployment recipes: OK"
