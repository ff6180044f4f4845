#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster (Debian's PostgreSQL binaries) for
# the tests and prints its SQLAlchemy URL. Usage: eval "$(scripts/pg-test-cluster.sh start)"
set -euo pipefail
action="${1:-start}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "pg-test-cluster: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 2; }
dir="${HOTLINE_PG_DIR:-/tmp/hotline-test-pg}"
port="${HOTLINE_PG_PORT:-55432}"
run() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$action" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
      run "$bin/initdb" -D "$dir/data" --auth=trust -U postgres -E UTF8 >/dev/null
    fi
    if ! run "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      run "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
    fi
    port=$(sed -n 4p "$dir/data/postmaster.pid")  # the port it really listens on
    run "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='hotline_test'" | grep -q 1 \
      || run "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres hotline_test
    echo "export HOTLINE_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$port/hotline_test"
    ;;
  stop)
    run "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
