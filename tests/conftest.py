"""Shared fixtures. The real-Asterisk tier starts one Asterisk instance and
one service runtime per test session.

Tests that need Asterisk FAIL with a clear message when it cannot be
provided; they are never silently skipped.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest
import pytest_asyncio

from core.settings import Settings, load_settings

_PORT_CLAIMS: list[IO[str]] = []
"""Lock files of the ports this process claimed, held until it exits."""
PORT_CLAIMS_DIR = Path(tempfile.gettempdir()) / "hotline-test-ports"


def _free_port() -> int:
    """A port free for both TCP and UDP on loopback (SIP uses UDP), claimed
    for this process's lifetime.

    Chosen below the kernel's ephemeral range: a port from ``bind(0)`` is an
    ephemeral one, and between choosing it and Asterisk binding it an
    outgoing connection (a database or AMI client of a parallel session) may
    take it as its local port (seen in CI: EADDRINUSE). Free is not enough
    either: several sessions start at once (xdist workers, the SQLite and
    PostgreSQL runs, another engineer's run) and pick ports before any of
    them binds, so two could pick the same one (seen in the soak: EADDRINUSE
    on a FastAGI port). Each port is therefore claimed with an exclusive lock
    on ``<tmp>/hotline-test-ports/<port>.lock``, held until the process exits
    (the kernel drops it even after a crash): no two live sessions share one."""
    low = 20000
    try:
        low = min(low, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        pass
    PORT_CLAIMS_DIR.mkdir(exist_ok=True)
    rnd = random.SystemRandom()
    while True:
        port = rnd.randrange(max(1024, low - 12000), low)
        claim = open(PORT_CLAIMS_DIR / f"{port}.lock", "w")
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            claim.close()  # another live session holds it
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
        except OSError:
            claim.close()
            continue
        _PORT_CLAIMS.append(claim)
        return port


# Each test session (and so parallel sessions of several engineers or CI jobs
# on one machine) gets its own free ports for Asterisk and the services.
TEST_PORTS = {
    "ami_port": _free_port(),
    "fastagi_port": _free_port(),
    "audiosocket_port": _free_port(),
    "sip_port": _free_port(),
    "sip_trunk_port": _free_port(),  # the caller network's SIP (hotline.sipnet)
    "web_port": 0,
}


_PG_DATABASES = itertools.count(1)


def _fresh_pg_database(url: str, prefix: str = "hotline_e2e") -> tuple[str, str]:
    """A new, empty PostgreSQL database for this test session (its name
    carries the process id and a count: xdist workers, or two directories
    importing the same session fixture, never share one)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = f"{prefix}_{os.getpid()}_{next(_PG_DATABASES)}"
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return u.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(url: str, name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_SETTINGS_FROM_ENV = (
    "HOTLINE_ASTERISK_MODE",
    "HOTLINE_ASTERISK_ROOT",
    "HOTLINE_CACHE_DIR",
    "HOTLINE_TTS_ROOT",
    "HOTLINE_TTS_VOICE",
)
"""The settings a test session takes from the environment (where Asterisk
and RHVoice live, which voice); the others are the tests' own."""


def _test_settings() -> Settings:
    base = load_settings(
        overrides={"test_mode": True, **TEST_PORTS},
        environ={k: v for k, v in os.environ.items() if k in _SETTINGS_FROM_ENV},
    )
    data = base.root / "var/lib/hotline" / f"test-{os.getpid()}"
    return base.replace(data_dir=data)


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    """Settings of the real-Asterisk tier. ``HOTLINE_TEST_DATABASE_URL`` (a
    PostgreSQL URL) runs it on a fresh PostgreSQL database instead of SQLite."""
    s = _test_settings()
    if s.data.exists():
        shutil.rmtree(s.data)
    s.data.mkdir(parents=True)
    url = os.environ.get("HOTLINE_TEST_DATABASE_URL")
    dropped: tuple[str, str] | None = None
    if url:
        fresh, name = _fresh_pg_database(url)
        s = s.replace(database_url=fresh)
        dropped = (url, name)
    yield s
    if dropped:
        _drop_pg_database(*dropped)


@pytest.fixture(scope="session")
def prompts(settings: Settings) -> Path:
    """The whole catalogue in the prompts' real voice, RHVoice (its root is
    built on first use); the machine's prompt cache makes later sessions
    copy instead of synthesising again."""
    from ivr.prompts import PromptCatalogue, TTSUnavailableError, configure_from, generate

    try:
        synth = configure_from(settings.replace(tts_engine="rhvoice"))
    except TTSUnavailableError as exc:
        pytest.fail(f"RHVoice, the prompts' voice, could not be provided: {exc}", pytrace=False)
    report = generate(
        PromptCatalogue.load(), settings.sounds_dir, synth=synth, cache=settings.prompt_cache
    )
    assert report.ok, report.summary()
    return settings.sounds_dir


@pytest.fixture(scope="session")
def asterisk(settings: Settings, prompts: Path) -> Iterator[object]:
    from hotline.sandbox import Sandbox, SandboxError

    sb = Sandbox(settings)
    try:
        sb.up()
    except SandboxError as exc:
        pytest.fail(f"the real Asterisk could not be provided: {exc}", pytrace=False)
    yield sb
    sb.down()
    if os.environ.get("HOTLINE_KEEP_TEST_DATA") != "1":
        shutil.rmtree(settings.data, ignore_errors=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def runtime(settings: Settings, asterisk: object) -> AsyncIterator[object]:
    from hotline.runner import Runtime
    from hotline.slices import component_names

    async with Runtime(settings, components=component_names()) as rt:
        yield rt


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rig(settings: Settings, runtime: object) -> AsyncIterator[object]:
    from hotline.callrig import CallRig

    r = CallRig(settings, hub=runtime.services.hub)  # type: ignore[attr-defined]
    await r.start()
    yield r
    await r.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A failing real-Asterisk test shows the tail of Asterisk's log."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed and "asterisk" in getattr(item, "fixturenames", ()):
        sb = getattr(item, "funcargs", {}).get("asterisk")
        if sb is not None:
            rep.sections.append(("asterisk log", sb.log_tail(80)))
            rep.sections.append(("asterisk warnings", sb.warnings()))
