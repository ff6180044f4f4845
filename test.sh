#!/usr/bin/env bash
# Command 2: all the tests — unit, real Asterisk 22, SQLite and PostgreSQL,
# headless Chromium. Does its own setup (Debian packages, .venv, a throw-away
# PostgreSQL cluster); the Asterisk root is built once and cached.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh test
eval "$(scripts/pg-test-cluster.sh start)"
trap 'scripts/pg-test-cluster.sh stop' EXIT
export HOTLINE_TEST_PG_URL
export CI="${CI:-}"
# 1) everything on the embedded default (SQLite); tests/crm also run on PostgreSQL
.venv/bin/python -m pytest -p no:cacheprovider "$@"
# 2) the real-Asterisk tier again with PostgreSQL as the database
if [ $# -eq 0 ]; then
  HOTLINE_TEST_DATABASE_URL="$HOTLINE_TEST_PG_URL" .venv/bin/python -m pytest -p no:cacheprovider -m asterisk tests/e2e
fi
