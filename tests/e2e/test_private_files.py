"""Files with personal data or secrets are private from birth (issue 11,
152-FZ): created with their final mode, never chmod-ed afterwards, and the
production logs keep neither the keys callers type nor their numbers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.asterisk]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rendered_secrets_are_private_and_generated(settings: Any, asterisk: Any) -> None:
    etc = asterisk.etc
    assert mode(etc / "manager.conf") == 0o640
    assert mode(etc / "pjsip.conf") == 0o640
    assert mode(asterisk.base / "hotline-agi.toml") == 0o640  # the database URL
    assert mode(settings.data / "ami.secret") == 0o600
    pjsip = (etc / "pjsip.conf").read_text()
    assert "change-me" not in pjsip
    # Operators' phones: generated passwords, rendered only as digests
    # (shift.phones; tests/shift/test_phones.py).
    assert "password =" not in pjsip


def test_production_logs_keep_no_keys_and_no_numbers(settings: Any, asterisk: Any) -> None:
    from hotline.sandbox import Sandbox

    production = Sandbox(settings.replace(test_mode=False)).template_vars()["FULL_LOG"]
    assert "dtmf" not in production and "verbose" not in production
    assert "dtmf" not in (asterisk.etc / "logger.conf").read_text()  # not even in tests
    dialplan = (asterisk.etc / "extensions.conf").read_text()
    assert "NoOp(hotline inbound ${CALLERID(num)})" not in dialplan


def test_the_service_creates_private_files(tmp_path: Path) -> None:
    """``hotline`` sets umask 027 before anything: the data directory and the
    SQLite database (accounts, calls, appeals) are not readable by others."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    cp = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "--data-dir", str(data), "db", "upgrade"],
        env={**env, "HOTLINE_ASTERISK_ROOT": "/"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cp.returncode == 0, cp.stderr
    assert mode(data) == 0o750
    databases = list(data.glob("*.db")) + list(data.glob("*.sqlite*"))
    assert databases, list(data.iterdir())
    assert all(mode(db) & 0o007 == 0 for db in databases)
