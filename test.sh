#!/usr/bin/env bash
# Command 2: all the tests — unit, real Asterisk 22, SQLite and PostgreSQL,
# headless Chromium. Does its own setup (Debian packages, .venv, a throw-away
# PostgreSQL cluster); the Asterisk root is built once and cached.
#   ./test.sh               everything
#   ./test.sh <pytest args> just those (e.g. ./test.sh tests/unit -x)
# HOTLINE_TEST_WORKERS (default 4): parallel real-Asterisk sessions per
# database; each worker runs its own Asterisk instance on free ports. The
# calls play in real time and use little CPU, so the logic tier and the
# SQLite and PostgreSQL runs of the real-Asterisk tier go side by side.
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
# The tiers run side by side: the real-Asterisk calls play in real time and
# leave the CPU to the logic tier. Each tier's log is printed when it ends.
names=() pids=()
tier() { # tier <name> <env...> -- <pytest args...>
  local name="$1" envs=()
  shift
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local nice=0
  [ "$name" = "logic" ] && nice=19
  env "${envs[@]}" nice -n "$nice" $py -m pytest -p no:cacheprovider "$@" >"$logs/$name.log" 2>&1 &
  names+=("$name") pids+=("$!")
}
# 1) logic, flows on a fake channel, CRM on SQLite and on PostgreSQL — at
# the lowest CPU priority: the real-Asterisk tiers' calls decode speech in
# real time and must not be starved by it
tier "logic" -- -m "not asterisk and not faults"
# 2) the real-Asterisk tier on the embedded default (SQLite), and
# 3) the same calls with PostgreSQL as the database
tier "real-Asterisk, SQLite" -- -m asterisk -n "$workers" --dist worksteal
tier "real-Asterisk, PostgreSQL" HOTLINE_TEST_DATABASE_URL="$HOTLINE_TEST_PG_URL" -- \
  -m asterisk -n "$workers" --dist worksteal tests/e2e
rc=0
report() { # wait for the tiers started so far and print their logs
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || rc=$?
    echo "===== ${names[$i]} ====="
    cat "$logs/${names[$i]}.log"
  done
  names=() pids=()
}
report
# 4) the fault tier (issue 13): its own Asterisk, its own PostgreSQL cluster
# (stopped, frozen), a node in its own process (killed under 50 callers), a
# full tmpfs — after the others: its bursts of callers would starve the
# speech calls of the real-Asterisk tiers
tier "faults" -- -m faults tests/faults
report
rm -rf "$logs"
if [ "$rc" -ne 0 ]; then
  echo "test.sh: FAILED after $((SECONDS - start)) s" >&2
  exit "$rc"
fi
echo "test.sh: all tiers passed in $((SECONDS - start)) s"
