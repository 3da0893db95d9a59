#!/usr/bin/env bash
# Runs Flint's whole test suite: unit tests, real micro-VMs on /dev/kvm, and end-to-end tests of
# the flint binary against SQLite and PostgreSQL. Installs missing Debian packages first (needs
# root for that) and, unless FLINT_TEST_DATABASE_URL names a PostgreSQL server, starts a
# throwaway one for the duration of the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

if [ -z "${FLINT_TEST_DATABASE_URL:-}" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$pgbin/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
  pgdir=$(mktemp -d /tmp/flint-pg.XXXXXX)
  source scripts/lib.sh
  port=$(free_port)
  [ "$(id -u)" -eq 0 ] && chown postgres "$pgdir"
  as_pg "$pgbin/initdb -D $pgdir/data -A trust -U postgres >/dev/null"
  # TLS on, with a throwaway self-signed certificate, so that sslmode=require is tested.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$pgdir/data/server.key" -out "$pgdir/data/server.crt" 2>/dev/null
  chmod 600 "$pgdir/data/server.key"
  [ "$(id -u)" -eq 0 ] && chown postgres "$pgdir/data/server.key" "$pgdir/data/server.crt"
  as_pg "$pgbin/pg_ctl -D $pgdir/data -l $pgdir/log -w start -o \"-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=600 -c fsync=off -c ssl=on\" >/dev/null"
  trap 'as_pg "$pgbin/pg_ctl -D $pgdir/data -m fast stop >/dev/null"; rm -rf "$pgdir"' EXIT
  export FLINT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL for the tests: $FLINT_TEST_DATABASE_URL"
fi

# The memory measurements run on their own afterwards: other test servers starting, stopping
# and competing for the two cores move a process's memory by megabytes.
cargo test --workspace --locked -- --skip memory_per_function_and_after_faults
cargo test --locked -p flint-server --test e2e -- memory_per_function_and_after_faults --test-threads=1
