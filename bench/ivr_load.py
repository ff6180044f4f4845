"""Inbound IVR load: N concurrent callers walking the hotline menu (REQ-T1, T7).

    .venv/bin/python bench/ivr_load.py [--calls 200 --concurrency 200 --ramp 10]

Starts a private Asterisk instance (like bench/fastagi.py), runs the
service runtime (FastAGI + AMI, the CRM's call listener included) in this
process, and places the calls from a separate driver process (this script
with ``--drive``), so the driver never competes with the system under test.

Each call goes the real inbound route (``hotline-inbound``: Answer,
MixMonitor, the ``inbound`` flow) from a Local channel into the test caller
context. The callers listen: each key is pressed (AMI PlayDTMF) once the
prompt it answers has started on the IVR channel (``WALK``, ``CallRig.walk``),
barging in as a caller who knows the menu does, never on a clock. The
callers call from the demo
debtor's number (the demo accounts are loaded), so the walk touches the
database the way real calls do:

    warning, welcome, main menu
    -> 2 (outages: the caller's account by number, proven with the last
    four digits of the account and # (the identity gate), outages at its
    address) -> # (back) -> 4 (debt: proven once per call, the balance
    spoken) -> # (back) -> 3 (consultations) -> 1 (a standard
    answer) -> # (back to the sub-menu) -> # (back to the main menu)
    -> * (repeat) -> 0 (operator: the appeal registered, queue position and
    wait announced) -> the queue (no operators); the caller holds 5 s and
    hangs up.

bench/sip_load.py walks the same menu over a real SIP trunk.

Prompt-start latency after a key press is measured on Asterisk's own clock
(``timestampevents``): from the ``DTMFEnd`` the IVR channel received to the
``AGIExecStart`` of the next prompt (``STREAM FILE``, or a ``Read()`` with
prompts) on that channel — the whole
reaction: Asterisk to FastAGI, the flow (journal, database), back to
Asterisk. Eleven samples per call (for the account number: from its ``#``).

The calls arrive over ``--ramp`` seconds (default 10 s, 20 calls/s; 0 puts
every key press of every call in the same instant); a walk lasts about
80 s, so all of them are in the menu together (``peak`` is printed).

A call fails when its Originate fails, it does not end in time, the
dialplan fallback ran (``HotlineFallback``), it did not reach the queue, a
key got no next prompt, or the flow raised (FastAGI failures).

The service runs with its ``cpu_nice`` setting (default -5, core/priority.py:
ahead of Asterisk's media threads; ``--cpu-nice 0`` runs it level with them),
and the driver in a session of its own (the callers are the outside world,
not in the service's scheduling group). Besides the latency it prints how
late the service's event loop wakes for a 10 ms timer.

Prints latency p50/p90/p99/max (target p99 < 150 ms) and failed calls
(target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_settings, pct, proc_cpu, run_driver, self_cpu

from crm_bridge.demo_data import DEMO_CALLER, load_demo
from hotline.callrig import starts_prompt
from hotline.sandbox import Sandbox
from telephony.contract import Context, Var

SCRIPT = Path(__file__).resolve()
CALLER_NUMBER = (DEMO_CALLER.phone or "+79001234567").lstrip("+")

ACCOUNT = DEMO_CALLER.number
WALK: tuple[tuple[str, str], ...] = (
    ("menu/main", "2"),
    ("outage/enter_last_digits", ACCOUNT[-4:] + "#"),  # the identity gate (REQ-T9)
    ("outage/report_outage", "#"),
    ("menu/main", "4"),  # proven once per call: the debt at once
    ("debt/options", "#"),
    ("menu/main", "3"),
    ("consult/menu", "1"),
    ("consult/tc_howto", "#"),
    ("consult/menu", "#"),
    ("menu/main", "*"),
    ("menu/main", "0"),
)
"""The walk, as (prompt, keys): the caller listens, and presses each key once
the prompt it answers has started (``CallRig.walk``), never on a clock."""
STEPS = tuple(keys for _, keys in WALK)
HOLD = 5.0
"""Seconds the caller holds in the queue before hanging up."""
CALL_TIMEOUT = 120.0
IN_HOURS = "2025-03-05T10:00:00+03:00"
"""A Wednesday morning (HOTLINE_TEST_NOW, honoured in test mode only)."""


# -- the driver (a separate process) ---------------------------------------------------------


def latencies(call_id: str, events: list[dict[str, str]]) -> list[float]:
    """Seconds from each received key to the next prompt start on the IVR channel."""
    out: list[float] = []
    pending: float | None = None
    for e in events:
        if e.get("Uniqueid") != call_id:
            continue
        name = e.get("Event")
        if name == "DTMFEnd" and e.get("Direction") == "Received":
            pending = float(e["Timestamp"])
        elif name == "AGIExecStart" and starts_prompt(e.get("Command", "")) and pending is not None:
            out.append(float(e["Timestamp"]) - pending)
            pending = None
    return out


async def drive(
    ami_port: int, secret: str, calls: int, concurrency: int, ramp: float
) -> dict[str, Any]:
    from core.settings import load_settings
    from hotline.callrig import CallRig

    s = load_settings(
        overrides={"ami_port": ami_port, "ami_test_secret": secret, "log_level": "WARNING"}
    )
    rig = CallRig(
        s,
        events="call,dtmf,agi,user,agent",
        only=("Newchannel", "Hangup", "DTMFEnd", "AGIExecStart", "UserEvent", "QueueCallerJoin"),
    )
    await rig.start()
    sem = asyncio.Semaphore(concurrency)
    samples: list[float] = []
    by_step: list[list[float]] = [[] for _ in STEPS]
    failures: dict[str, int] = {}
    durations: list[float] = []
    peak = active = 0

    def fail(reason: str) -> None:
        failures[reason] = failures.get(reason, 0) + 1

    async def one(i: int) -> None:
        nonlocal peak, active
        await asyncio.sleep(ramp * i / max(1, calls))
        async with sem:
            active += 1
            peak = max(peak, active)
            t0 = time.monotonic()
            try:
                call = await rig.place(
                    Context.INBOUND,
                    "s",
                    caller_number=CALLER_NUMBER,
                    variables={Var.TEST_NOW.value: IN_HOURS},
                    timeout=30,
                )
                await rig.walk(call, WALK, timeout=60)
                await queue_joined(call, timeout=60)
                await asyncio.sleep(HOLD)
                await rig.hangup_caller(call)
                await rig.wait_end(call, timeout=CALL_TIMEOUT)
            except (AssertionError, RuntimeError, TimeoutError) as exc:
                fail(type(exc).__name__)
                print(f"call {i}: {str(exc)[:300]}", file=sys.stderr)
                return
            finally:
                active -= 1
            durations.append(time.monotonic() - t0)
            found = latencies(call.call_id, call.events)
            samples.extend(found)
            for k, dt in enumerate(found[: len(STEPS)]):
                by_step[k].append(dt)
            if call.user_events("HotlineFallback"):
                fail("fallback")
            elif len(found) != len(STEPS):
                fail(f"{len(found)} of {len(STEPS)} keys answered")

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(calls)))
    wall = time.monotonic() - t0
    await rig.close()
    return {
        "calls": calls,
        "failed": sum(failures.values()),
        "failures": failures,
        "wall": wall,
        "peak_concurrency": peak,
        "latencies": samples,
        "by_step": by_step,
        "call_p50": pct(durations, 50),
    }


async def queue_joined(call: Any, timeout: float) -> None:
    """Wait for the call's QueueCallerJoin: the walk reached the queue."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not any(e.get("Event") == "QueueCallerJoin" for e in call.events):
        if call.ended.is_set() or loop.time() > end:
            raise AssertionError("the caller never joined the queue")
        await asyncio.sleep(0.05)


# -- the system under test (this process) ----------------------------------------------------


async def loop_lag(out: list[float]) -> None:
    """How late the service's event loop wakes up for a 10 ms timer: the time
    a caller's key waits for the loop, apart from the flow's own work."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(0.01)
        out.append(1000 * (loop.time() - t - 0.01))


async def main_async(args: argparse.Namespace) -> int:
    from hotline.runner import Runtime
    from ivr.prompts import PromptCatalogue, generate

    settings = bench_settings("ivr")
    if args.cpu_nice is not None:
        settings.cpu_nice = args.cpu_nice
        if args.cpu_nice >= 0:
            level_priority(args.cpu_nice)
    settings.data.mkdir(parents=True, exist_ok=True)
    report = generate(PromptCatalogue.load(), settings.sounds_dir)
    if not report.ok:
        print(report.summary(), file=sys.stderr)
        return 2
    sandbox = Sandbox(settings)
    sandbox.up()
    pid = sandbox._pid()
    assert pid is not None
    try:
        async with Runtime(settings, components=tuple(args.components.split(","))) as rt:
            assert rt.fastagi is not None and rt.services is not None
            await rt.services.run_db(load_demo, rt.services.db)
            failures0 = rt.fastagi.stats.failures
            lags: list[float] = []
            lag_task = asyncio.ensure_future(loop_lag(lags))
            priority = cpu_priority()
            a0, s0, t0 = proc_cpu(pid), self_cpu(), time.monotonic()
            cmd = [
                sys.executable,
                str(SCRIPT),
                "--drive",
                "--ami-port",
                str(settings.ami_port),
                f"--secret={settings.test_secret()}",  # a secret may start with "-"
                "--calls",
                str(args.calls),
                "--concurrency",
                str(args.concurrency),
                "--ramp",
                str(args.ramp),
            ]
            result = await run_driver(cmd)
            if result is None:
                return 2
            flow_failures = rt.fastagi.stats.failures - failures0
            reaction = await rt.services.run_db(service_reaction, rt.services.db)
            lag_task.cancel()
            wall = time.monotonic() - t0
            cpu_ast, cpu_srv = proc_cpu(pid) - a0, self_cpu() - s0
    finally:
        sandbox.down()
        if not args.keep:
            shutil.rmtree(settings.data, ignore_errors=True)

    lat_ms = [1000 * x for x in result["latencies"]]
    failed = result["failed"] + flow_failures
    print(
        f"IVR load: {args.calls} inbound calls arriving over {args.ramp:g} s, "
        f"{args.concurrency} concurrent "
        f"(peak {result['peak_concurrency']}), menu walk {' '.join(STEPS)}, "
        f"wall {result['wall']:.1f} s, call p50 {result['call_p50']:.1f} s"
    )
    print(
        f"prompt-start latency after a key press ({len(lat_ms)} samples): "
        f"p50 {pct(lat_ms, 50):.1f} ms, p90 {pct(lat_ms, 90):.1f} ms, "
        f"p99 {pct(lat_ms, 99):.1f} ms, max {max(lat_ms, default=float('nan')):.1f} ms "
        f"(target p99 < 150 ms)"
    )
    print(
        f"  of which the service (flow + database: from the key's AGI answer to the next "
        f"prompt command, {len(reaction)} samples): p50 {pct(reaction, 50):.1f} ms, "
        f"p99 {pct(reaction, 99):.1f} ms; the rest is Asterisk and the OS scheduler"
    )
    print(
        f"  the service's event loop, lateness of a 10 ms timer: p50 {pct(lags, 50):.1f} ms, "
        f"p99 {pct(lags, 99):.1f} ms, max {max(lags, default=float('nan')):.1f} ms "
        f"(CPU priority: {priority})"
    )
    steps = ", ".join(
        f"{key[-2:] if len(key) > 2 else key} {1000 * pct(v, 50):.0f}/{1000 * pct(v, 99):.0f}"
        for key, v in zip(STEPS, result["by_step"], strict=True)
    )
    print(f"  per key, p50/p99 ms: {steps}")
    print(
        f"  CPU during the run, in cores: Asterisk {cpu_ast / wall:.2f}, "
        f"services (FastAGI + flows + DB) {cpu_srv / wall:.2f}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    detail = dict(result["failures"])
    if flow_failures:
        detail["flow raised (FastAGI failures)"] = flow_failures
    print(
        f"failed calls: {failed} of {args.calls} = {failed / max(1, args.calls):.1%} "
        f"(target 0){' ' + json.dumps(detail, ensure_ascii=False) if detail else ''}"
    )
    return 0


def level_priority(nice: int) -> None:
    """Set this process (and its session group) to ``nice``: a run level with
    Asterisk undoes an earlier run's priority in the same session."""
    from core.priority import AUTOGROUP

    if AUTOGROUP.exists():
        AUTOGROUP.write_text(str(nice))
    os.setpriority(os.PRIO_PROCESS, 0, nice)


def cpu_priority() -> str:
    """This process's nice and its session group's (core/priority.py)."""
    from core.priority import autogroup_nice

    text = f"nice {os.getpriority(os.PRIO_PROCESS, 0)}"
    group = autogroup_nice()
    return text if group is None else f"{text}, session group nice {group}"


def service_reaction(db: Any, calls: set[str] | None = None) -> list[float]:
    """Milliseconds from each key the IVR journal got (the AGI answer that
    carried it) to the next prompt it asked for, over every stored journal
    (or those of ``calls``): the part of the prompt-start latency spent in
    this process."""
    from sqlalchemy import select

    from crm_bridge.models import CallEvent

    with db.session(readonly=True) as session:
        rows = session.execute(
            select(CallEvent.call_uniqueid, CallEvent.kind, CallEvent.ts)
            .where(CallEvent.source == "ivr")
            .order_by(CallEvent.call_uniqueid, CallEvent.seq)
        ).all()
    out: list[float] = []
    key_at: tuple[str, Any] | None = None
    for uid, kind, ts in rows:
        if calls is not None and uid not in calls:
            continue
        if kind == "dtmf":
            key_at = (uid, ts)
        elif kind in ("prompt", "say") and key_at is not None and key_at[0] == uid:
            out.append((ts - key_at[1]).total_seconds() * 1000)
            key_at = None
    return out


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument(
        "--ramp",
        type=float,
        default=10.0,
        help="seconds over which the calls arrive (0: all at once); a call lasts ~80 s, "
        "so all of them are up together",
    )
    p.add_argument(
        "--components",
        default="fastagi,ami",
        help="runtime components in this process (default: FastAGI and the AMI listener)",
    )
    p.add_argument(
        "--cpu-nice",
        type=int,
        help="the service's cpu_nice setting (default the setting's, -5; 0: equal to Asterisk)",
    )
    p.add_argument("--keep", action="store_true", help="keep the bench data directory")
    p.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ami-port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--secret", help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.drive:
        result = asyncio.run(
            drive(args.ami_port, args.secret, args.calls, args.concurrency, args.ramp)
        )
        print(json.dumps(result))
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
