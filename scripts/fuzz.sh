#!/usr/bin/env bash
# Coverage-guided fuzzing with afl.rs on stable Rust (see docs/SECURITY.md).
#
#   scripts/fuzz.sh smoke [SECONDS]   every target for SECONDS each (default 20); fails on a crash
#   scripts/fuzz.sh TARGET SECONDS    one target; prints executions, paths, crashes, hangs
#   FUZZ_EXECS=N scripts/fuzz.sh TARGET SECONDS
#                                     stop at N executions or after SECONDS, whichever is first
#
# Needs cargo-afl (`cargo install cargo-afl --locked --version 0.18.2`). Findings stay in
# target/fuzz/<target>/; a crash found becomes a regression test in the crate it concerns.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
targets=(messages buffers vcpu_state snapshot_file module http_inputs)

command -v cargo-afl >/dev/null || { echo "cargo-afl is missing: cargo install cargo-afl --locked --version 0.18.2" >&2; exit 1; }
(cd fuzz && FLINT_GUEST_TARGET_DIR="$root/target/flint-guest" cargo afl build --release --locked --quiet)

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_QUIET=1
export AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=0

run() {
  local target=$1 seconds=$2 out="$root/target/fuzz/$1"
  rm -rf "$out"; mkdir -p "$out"
  local limit=(-V "$seconds")
  [ -n "${FUZZ_EXECS:-}" ] && limit+=(-E "$FUZZ_EXECS")
  cargo afl fuzz -i "fuzz/seeds/$target" -o "$out" "${limit[@]}" -t 2000 -m none \
    -- "fuzz/target/release/$target" > "$out/afl.log" 2>&1 || { tail -20 "$out/afl.log"; return 1; }
  local stats="$out/default/fuzzer_stats"
  local execs crashes hangs paths
  execs=$(awk -F: '/^execs_done/ {gsub(/ /,"",$2); print $2}' "$stats")
  crashes=$(awk -F: '/^saved_crashes/ {gsub(/ /,"",$2); print $2}' "$stats")
  hangs=$(awk -F: '/^saved_hangs/ {gsub(/ /,"",$2); print $2}' "$stats")
  paths=$(awk -F: '/^corpus_count/ {gsub(/ /,"",$2); print $2}' "$stats")
  local ran
  ran=$(awk -F: '/^run_time/ {gsub(/ /,"",$2); print $2}' "$stats")
  printf '%-14s %12s execs %6s paths %3s crashes %3s hangs (%ss)\n' "$target" "$execs" "$paths" "$crashes" "$hangs" "$ran"
  if [ "$crashes" != "0" ]; then
    echo "crash inputs in $out/default/crashes:" >&2; ls "$out/default/crashes" >&2
    return 1
  fi
}

case "${1:-smoke}" in
  smoke)
    failed=0
    for t in "${targets[@]}"; do run "$t" "${2:-20}" || failed=1; done
    exit $failed ;;
  *)
    run "$1" "${2:?seconds}" ;;
esac
