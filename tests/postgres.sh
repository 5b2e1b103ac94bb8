#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the store and reliability tests.
#   tests/postgres.sh start   # prints the connection string (last line of stdout)
#   tests/postgres.sh stop
#   tests/postgres.sh env     # prints `export DEPLOYGATE_TEST_POSTGRES=…` for eval
# Idempotent: `start` on a running cluster only prints the string again. Uses the Debian `postgresql`
# package's server binaries (installed with apt-get only when missing and running as root). PostgreSQL
# refuses to run as root, so as root the cluster runs as the `postgres` user.
# Settings: DG_PG_PORT (default 25432: below Linux's ephemeral range 32768-60999, so a test's own connection
# or a server on a free port cannot be holding it), DG_PG_DIR (default /tmp/deploygate-pg).
set -euo pipefail

port="${DG_PG_PORT:-25432}"
base="${DG_PG_DIR:-/tmp/deploygate-pg}"
data="$base/data"
sock="$base/sock"
log="$base/server.log"

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

bin="$(find_bin || true)"
if [ -z "$bin" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: installing the postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bin="$(find_bin)"
  else
    echo "postgres.sh: PostgreSQL server binaries not found (install the postgresql package)" >&2
    exit 1
  fi
fi

# As root, run every server command as `postgres`; otherwise as the current user.
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner="$(id -un)"
  as_owner() { "$@"; }
fi

conn="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"

running() { [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "${1:-}" in
  start)
    mkdir -p "$base" "$sock"
    chown "$owner" "$base" "$sock"
    if ! [ -f "$data/PG_VERSION" ]; then
      rm -rf "$data"
      as_owner "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
        || { cat "$base/initdb.log" >&2; exit 1; }
    fi
    if ! running; then
      # fsync stays on (the default): the tests check durability, not a ramdisk.
      as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
        -o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c max_connections=300" start >&2 \
        || { cat "$log" >&2; exit 1; }
    fi
    echo "$conn"
    ;;
  stop)
    if running; then as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2; fi
    ;;
  env)
    echo "export DEPLOYGATE_TEST_POSTGRES=\"$conn\""
    ;;
  *)
    echo "usage: tests/postgres.sh start|stop|env" >&2
    exit 2
    ;;
esac
