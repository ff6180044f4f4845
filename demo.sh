#!/usr/bin/env bash
# Command 1: the whole contact centre on its embedded default (SQLite, the
# project's Asterisk), with demo data and a simulated call; prints the URL of
# the dispatcher page and keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh runtime
exec .venv/bin/hotline demo --keep-running "$@"
