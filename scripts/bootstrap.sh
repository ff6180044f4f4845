#!/usr/bin/env bash
# Sets up everything the project needs on a Debian/Ubuntu machine, idempotently:
#   scripts/bootstrap.sh [runtime|test]
# - Debian packages (mmdebstrap for the Asterisk root, espeak-ng + sox for the
#   prompts, libsox-fmt-mp3 for the MP3 recordings of the message builder, baresip-core for the demo's and the tests' operator phones,
#   kannel + kannel-extras for the SMS gateway and its fake SMSC; for tests
#   also PostgreSQL and Chromium);
# - the Python virtualenv .venv with the project (pip's wheel cache lives in
#   ~/.cache/pip, outside the repo, and is reused);
# The private Asterisk 22 root is built on first use by `hotline asterisk up`
# (or the test fixtures) into ~/.cache/hotline and reused afterwards; so is
# the RHVoice root of the prompts' voice (Debian sid non-free: rhvoice,
# rhvoice-russian), by `hotline prompts generate`, the demo or the tests —
# both with mmdebstrap, installed here. espeak-ng is the voice's fallback.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-runtime}"

need_pkgs=(mmdebstrap espeak-ng sox libsox-fmt-mp3 python3-venv baresip-core kannel kannel-extras)
if [ "$mode" = "test" ]; then
  need_pkgs+=(postgresql chromium)
fi

missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "bootstrap: not a Debian/Ubuntu system; install: ${missing[*]} (and Asterisk 22)" >&2
    exit 2
  fi
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts Kannel's example WAP gateway (wapbox, UDP on every
  # interface); the hotline runs its own bearerbox/smsbox from a rendered
  # configuration (`hotline sms conf`), so the example service is switched off.
  if [[ " ${missing[*]} " == *" kannel "* ]] && command -v systemctl >/dev/null \
      && systemctl is-enabled --quiet kannel 2>/dev/null; then
    $SUDO systemctl disable --now kannel >/dev/null 2>&1 || true
  fi
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: Python >= 3.11 is required ($("$PY" --version 2>&1))" >&2
  exit 2
fi
stamp=".venv/.hotline-installed"
want="$(sha256sum pyproject.toml | cut -c1-16)-$mode"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the Python environment (.venv)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  extras="postgres"
  [ "$mode" = "test" ] && extras="dev"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[$extras]"
  echo "$want" > "$stamp"
fi
