#!/usr/bin/env bash
# Proof of determinism: run the real-Asterisk tier N times in a row, on both
# databases, optionally with one core kept busy, and print passes/failures
# per test.
#   scripts/soak-tests.sh [N] [--stress] [pytest args...]
#     N          runs (default 5)
#     --stress   stress-ng loads one CPU for the whole soak (a busy machine)
#   e.g. scripts/soak-tests.sh 5 --stress
#        scripts/soak-tests.sh 3 tests/e2e/test_foundation.py
# Each run is the same pair of sessions as ./test.sh runs (SQLite and
# PostgreSQL side by side, HOTLINE_TEST_WORKERS workers each). JUnit reports
# and logs of every run are kept in $HOTLINE_SOAK_DIR (default a new
# directory under /tmp), printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
stress=0
if [ "${1:-}" = "--stress" ]; then stress=1; shift; fi
targets=("$@")

scripts/bootstrap.sh test
eval "$(scripts/pg-test-cluster.sh start)"
export HOTLINE_TEST_PG_URL
out="${HOTLINE_SOAK_DIR:-$(mktemp -d /tmp/hotline-soak.XXXXXX)}"
mkdir -p "$out"
workers="${HOTLINE_TEST_WORKERS:-4}"
py=.venv/bin/python

stress_pid=""
cleanup() {
  [ -n "$stress_pid" ] && kill "$stress_pid" 2>/dev/null || true
  scripts/pg-test-cluster.sh stop
}
trap cleanup EXIT
if [ "$stress" = 1 ]; then
  if ! command -v stress-ng >/dev/null; then
    echo "soak: installing stress-ng (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null
  fi
  # One CPU worker at full load for the whole soak (no timeout: killed at exit).
  stress-ng --cpu 1 --cpu-load 100 --quiet &
  stress_pid=$!
fi

start=$SECONDS
for i in $(seq 1 "$runs"); do
  t0=$SECONDS
  $py -m pytest -p no:cacheprovider -q -m asterisk -n "$workers" --dist worksteal \
    --junitxml="$out/run$i-sqlite.xml" "${targets[@]}" >"$out/run$i-sqlite.log" 2>&1 &
  a=$!
  HOTLINE_TEST_DATABASE_URL="$HOTLINE_TEST_PG_URL" \
    $py -m pytest -p no:cacheprovider -q -m asterisk -n "$workers" --dist worksteal \
    --junitxml="$out/run$i-pg.xml" "${targets[@]:-tests/e2e}" >"$out/run$i-pg.log" 2>&1 &
  b=$!
  wait "$a" || true
  wait "$b" || true
  echo "soak: run $i of $runs done in $((SECONDS - t0)) s: sqlite: $(tail -1 "$out/run$i-sqlite.log"); postgresql: $(tail -1 "$out/run$i-pg.log")"
done
echo "soak: $runs runs in $((SECONDS - start)) s, stress=$stress, $(nproc) CPUs; reports in $out"
$py scripts/soak_table.py "$out"/run*-*.xml
