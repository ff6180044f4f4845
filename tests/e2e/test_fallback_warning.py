"""REQ-T4 on the fallback path, over real SIP (issue 17 item 5, issue 13
item 4): the call is recorded from its first second (MixMonitor), so a
caller whose FastAGI service is unreachable, or dies, hears the recording
warning before the apology — exactly once.

Calls come from the callers' telephone network over the SIP trunk; the trunk
calls of these tests are pointed (test-only global ``HOTLINE_TEST_TRUNK_AGI``)
at a FastAGI address nobody listens on, or at a second service, a real
``hotline run --only fastagi`` process, that the test kills with SIGKILL.
What the caller heard is Asterisk's own record: the AGI commands the flow
ran, the fallback's user events (``HotlineFallback`` with what the flow left
in ``HOTLINE_WARNED``, ``HotlineFallbackWarning`` once it has played the
warning itself) and the caller joining the queue after the apology.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from crm_bridge.demo_data import DEMO_CALLER
from telephony.contract import UserEvent, Var
from tests.conftest import _free_port
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]

REPO = Path(__file__).resolve().parents[2]
WARNING = "common/recording_warning"


def _flow_played(call: Any) -> list[str]:
    """Prompts the flow played (AGI ``STREAM FILE``), in order."""
    return [
        e.get("Command", "").split()[2].strip('"')
        for e in call.events
        if e.get("Event") == "AGIExecStart" and e.get("Command", "").startswith("STREAM FILE")
    ]


def _count(played: list[str], prompt: str) -> int:
    return sum(1 for p in played if p.endswith("/" + prompt))


def _events(call: Any, name: str) -> list[dict[str, str]]:
    return [e for e in call.events if e.get("Event") == name]


def _in_queue(call: Any) -> bool:
    return bool(_events(call, "QueueCallerJoin"))


async def _warned(sip: Any, call: Any) -> str:
    """``HOTLINE_WARNED`` of the hotline's channel now."""
    name = await sip.channel_name(call.call_id)
    got = await sip.ami.action({"Action": "Getvar", "Channel": name, "Variable": Var.WARNED.value})
    return str(got.get("Value", "") or "")


@pytest_asyncio.fixture(loop_scope="session")
async def trunk_agi(sip: Any) -> AsyncIterator[Any]:
    """Sets the FastAGI URL of the trunk's calls; cleared after the test."""

    async def point(url: str) -> None:
        await sip.ami.action(
            {"Action": "Setvar", "Variable": Var.TEST_TRUNK_AGI.value, "Value": url}
        )

    yield point
    await point("")


@pytest.fixture
def service(settings: Any) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A second FastAGI service on the session's database: ``hotline run
    --only fastagi`` in its own process, to be killed."""
    port = _free_port()
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(settings.data),
        "HOTLINE_FASTAGI_PORT": str(port),
        "HOTLINE_AMI_PORT": str(settings.ami_port),
        "HOTLINE_TEST_MODE": "1",
    }
    if settings.database_url:
        env["HOTLINE_DATABASE_URL"] = settings.database_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline.cli", "run", "--only", "fastagi"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode("utf-8", "replace")
        assert line.startswith("hotline running"), f"the service did not start: {line!r}"
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def test_service_unreachable_the_warning_comes_first(sip: Any, trunk_agi: Any) -> None:
    """Nobody listens at the FastAGI address: the caller hears the recording
    warning, then the apology, then waits in the queue — never silence."""
    dead = _free_port()  # claimed by this session, never listened on
    await trunk_agi(f"agi://127.0.0.1:{dead}")
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await until(lambda: _in_queue(call), 40, "the caller to reach the queue")
        warned_in_queue = await _warned(sip, call)
        await sip.hangup_caller(call)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    assert _flow_played(call) == [] and call.journal is None, "no flow ran"
    fallback = call.user_events(UserEvent.FALLBACK.value)
    assert len(fallback) == 1 and fallback[0].get("Warned", "") == "", fallback
    assert fallback[0].get("Reason", "").startswith("FAILURE"), fallback  # AGISTATUS
    # The warning played in full by the fallback, before the apology and the queue.
    warning = call.user_events(UserEvent.FALLBACK_WARNING.value)
    assert len(warning) == 1, [e.get("Event") for e in call.events]
    order = [e.get("UserEvent") or e.get("Event") for e in call.events]
    assert order.index(UserEvent.FALLBACK.value) < order.index(UserEvent.FALLBACK_WARNING.value)
    assert order.index(UserEvent.FALLBACK_WARNING.value) < order.index("QueueCallerJoin")
    assert warned_in_queue == "1"


async def test_service_killed_after_the_warning_no_second_warning(
    sip: Any, trunk_agi: Any, service: tuple[subprocess.Popen[bytes], int]
) -> None:
    """The service dies (SIGKILL) while the main menu plays, after the flow
    played the warning: the fallback apologises and queues the caller
    without warning again."""
    proc, port = service
    await trunk_agi(f"agi://127.0.0.1:{port}")
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.heard_start(call, "menu/main")
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
        await until(lambda: _in_queue(call), 40, "the caller to reach the queue")
        await sip.hangup_caller(call)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    played = _flow_played(call)
    assert _count(played, WARNING) == 1 and played[0].endswith("/" + WARNING), played
    assert played[-1].endswith("/menu/main"), played
    fallback = call.user_events(UserEvent.FALLBACK.value)
    assert len(fallback) == 1 and fallback[0].get("Warned") == "1", fallback
    assert call.user_events(UserEvent.FALLBACK_WARNING.value) == [], "no second warning"


async def test_service_killed_in_a_read_reaches_the_fallback(
    sip: Any, trunk_agi: Any, service: tuple[subprocess.Popen[bytes], int]
) -> None:
    """The service dies while the caller is in a Read() (asked for the
    account's last digits, saying nothing): the Read() ends at its next slice of
    silence and the fallback takes the caller (apology, queue), no second
    warning. How soon: bench/fallback_latency.py."""
    proc, port = service
    await trunk_agi(f"agi://127.0.0.1:{port}")
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.answer(call, "menu/main", "4")
        # The identity gate asks a number on file for the account's last digits.
        await sip.heard_start(call, "ident/enter_last_digits")
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
        await until(lambda: _in_queue(call), 40, "the caller to reach the queue")
        await sip.hangup_caller(call)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    assert _count(_flow_played(call), WARNING) == 1
    last = [e.get("Command", "") for e in _events(call, "AGIExecStart")][-1]
    assert last.startswith("EXEC Read"), last  # it was in a Read() when the service died
    fallback = call.user_events(UserEvent.FALLBACK.value)
    assert len(fallback) == 1 and fallback[0].get("Warned") == "1", fallback
    assert call.user_events(UserEvent.FALLBACK_WARNING.value) == [], "no second warning"
