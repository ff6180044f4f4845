"""How long callers inside a Read() wait for the fallback when the service dies.

    .venv/bin/python bench/fallback_latency.py [--calls 20]

Starts a private Asterisk instance and a FastAGI service in its own process
(``hotline run --only fastagi``), places ``--calls`` simulated callers
(Local channels into ``hotline-inbound``, in working hours) who choose the
debt item (4) once the main menu plays and then say nothing while asked for
the account number. Once every caller is waiting in silence in a Read(), the
service is killed with SIGKILL; for each caller the time from the kill to the
dialplan's fallback (``UserEvent HotlineFallback``) is measured, as well as
whether the recording warning was played again.

Prints the kill → fallback percentiles (target: p100 ≤ 2 s, issue 13 item 4;
``telephony.channel.READ_SLICE`` is the bound) and the share of callers that
heard the warning twice (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, bench_settings, free_port, pct

from crm_bridge.db import Database
from crm_bridge.demo_data import DEMO_CALLER, load_demo
from hotline.callrig import CallRig, PlacedCall
from hotline.sandbox import Sandbox
from hotline.slices import upgrade
from ivr.prompts import PromptCatalogue, generate
from telephony.channel import READ_SLICE
from telephony.contract import Context, UserEvent, Var

IN_HOURS = "2025-03-05T10:00:00+03:00"


def _silent_read(call: PlacedCall) -> bool:
    """The caller's latest AGI command is a Read() without prompts: it is
    waiting in silence (a slice after the prompts)."""
    commands = [e.get("Command", "") for e in call.events if e.get("Event") == "AGIExecStart"]
    return bool(commands) and commands[-1].startswith("EXEC Read HOTLINE_KEYS,,")


def _start_service(settings, port: int) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    """``hotline run --only fastagi`` in its own process (to be killed)."""
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(settings.data),
        "HOTLINE_FASTAGI_PORT": str(port),
        "HOTLINE_TEST_MODE": "1",
        "HOTLINE_LOG_LEVEL": "WARNING",
    }
    if settings.database_url:
        env["HOTLINE_DATABASE_URL"] = settings.database_url
    return subprocess.Popen(
        [sys.executable, "-m", "hotline.cli", "run", "--only", "fastagi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def main_async(args: argparse.Namespace) -> int:
    settings = bench_settings("fallback")
    settings.data.mkdir(parents=True, exist_ok=True)
    generate(PromptCatalogue.load(), settings.sounds_dir)
    db = Database(settings.db_url)
    upgrade(db)
    load_demo(db)
    db.dispose()
    sandbox = Sandbox(settings)
    sandbox.up()
    port = free_port()
    service = _start_service(settings, port)
    rig = CallRig(settings)
    arrived: dict[str, float] = {}

    def stamp(event) -> None:  # type: ignore[no-untyped-def]
        if event.get("Event") == "UserEvent" and event.get("UserEvent") == UserEvent.FALLBACK:
            arrived.setdefault(str(event.get("Uniqueid", "")), time.monotonic())

    rig.ami.on_event("UserEvent", stamp)
    try:
        assert service.stdout is not None
        line = await asyncio.to_thread(service.stdout.readline)
        if not line.startswith(b"hotline running"):
            raise SystemExit(f"the service did not start: {line!r}")
        await rig.start()
        variables = {
            Var.TEST_NOW.value: IN_HOURS,
            Var.AGI.value: f"agi://127.0.0.1:{port}",
        }
        caller = (DEMO_CALLER.phone or "+79001234567").lstrip("+")
        # Placed a fraction of a slice apart: the kill finds them at every
        # point of their silence slices.
        calls = []
        for _ in range(args.calls):
            calls.append(
                await rig.place(Context.INBOUND, "s", caller_number=caller, variables=variables)
            )
            await asyncio.sleep(READ_SLICE / args.calls)
        await asyncio.gather(*(rig.answer(c, "menu/main", "4", timeout=120) for c in calls))
        await _until(lambda: all(_silent_read(c) for c in calls), 120, "callers in silence")
        killed = time.monotonic()
        service.send_signal(signal.SIGKILL)
        await asyncio.to_thread(service.wait, 10)
        await _until(lambda: all(c.call_id in arrived for c in calls), 60, "every fallback")
        waits = [arrived[c.call_id] - killed for c in calls]
        twice = sum(1 for c in calls if c.user_events(UserEvent.FALLBACK_WARNING.value))
        for c in calls:
            await rig.hangup_caller(c)
    finally:
        if service.poll() is None:
            service.kill()
        service.wait(10)
        await rig.close()
        sandbox.down()
    load = os.getloadavg()
    print(
        f"Fallback after SIGKILL of the FastAGI service: {args.calls} callers waiting "
        f"in silence in a Read() (READ_SLICE = {READ_SLICE:g} s); load "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"kill -> fallback: p50 {pct(waits, 50):.2f} s, p90 {pct(waits, 90):.2f} s, "
        f"max {max(waits):.2f} s (target max <= 2 s)"
    )
    print(f"callers who heard the recording warning again: {twice} of {args.calls} (target 0)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--calls", type=int, default=20)
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
