#!/usr/bin/env bash
# Runs Flint's whole test suite: unit tests, real micro-VMs on /dev/kvm, end-to-end tests.
# Installs missing Debian packages first (needs root for that).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace --locked
