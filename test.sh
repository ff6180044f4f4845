#!/usr/bin/env bash
# Command 2: all the tests — unit, real Asterisk 22, SQLite and PostgreSQL,
# headless Chromium. Does its own setup (Debian packages, .venv, a throw-away
# PostgreSQL cluster); the Asterisk root is built once and cached.
#   ./test.sh               everything
#   ./test.sh <pytest args> just those (e.g. ./test.sh tests/unit -x)
# HOTLINE_TEST_WORKERS (default 4): parallel real-Asterisk sessions per
# database; each worker runs its own Asterisk instance on free ports. The
# calls play in real time and use little CPU, so the SQLite and the
# PostgreSQL runs of the real-Asterisk tier go side by side.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh test
eval "$(scripts/pg-test-cluster.sh start)"
trap 'scripts/pg-test-cluster.sh stop' EXIT
export HOTLINE_TEST_PG_URL
export CI="${CI:-}"
py=.venv/bin/python
if [ $# -gt 0 ]; then
  $py -m pytest -p no:cacheprovider "$@"
  exit $?
fi
workers="${HOTLINE_TEST_WORKERS:-4}"
start=$SECONDS
logs="$(mktemp -d)"
# 1) logic, flows on a fake channel, CRM on SQLite and on PostgreSQL
$py -m pytest -p no:cacheprovider -m "not asterisk and not faults"
# 2) the real-Asterisk tier on the embedded default (SQLite), and
# 3) the same calls with PostgreSQL as the database
$py -m pytest -p no:cacheprovider -m asterisk -n "$workers" --dist worksteal \
  >"$logs/sqlite.log" 2>&1 &
sqlite_pid=$!
HOTLINE_TEST_DATABASE_URL="$HOTLINE_TEST_PG_URL" \
  $py -m pytest -p no:cacheprovider -m asterisk -n "$workers" --dist worksteal tests/e2e \
  >"$logs/pg.log" 2>&1 &
pg_pid=$!
# 4) the fault tier (issue 13): its own Asterisk, its own PostgreSQL cluster
# (stopped, frozen), a node in its own process (killed); alongside the others
$py -m pytest -p no:cacheprovider -m faults tests/faults >"$logs/faults.log" 2>&1 &
faults_pid=$!
rc=0
wait "$sqlite_pid" || rc=$?
echo "===== real-Asterisk tier, SQLite ====="
cat "$logs/sqlite.log"
wait "$pg_pid" || rc=$?
echo "===== real-Asterisk tier, PostgreSQL ====="
cat "$logs/pg.log"
wait "$faults_pid" || rc=$?
echo "===== fault tier ====="
cat "$logs/faults.log"
rm -rf "$logs"
if [ "$rc" -ne 0 ]; then
  echo "test.sh: FAILED after $((SECONDS - start)) s" >&2
  exit "$rc"
fi
echo "test.sh: all tiers passed in $((SECONDS - start)) s"
