"""Inbound load over real SIP: callers from a carrier's trunk walking the hotline menu.

    .venv/bin/python bench/sip_load.py [--levels 100,150,200,250,300 --target 200]

The hotline's Asterisk receives every call over PJSIP on its ``trunk``
endpoint, from a second Asterisk that plays the callers' telephone network
(hotline.sipnet): one PJSIP channel per call, RTP both ways (the callers send
silence while they listen), keys as RFC 4733 events. Nothing is a Local
channel inside the hotline's instance. The service runtime (FastAGI + AMI,
the CRM's call listener) runs in this process; the callers are driven from a
separate process (this script with ``--drive``) in its own session.

The callers listen before they press: each key is sent (AMI PlayDTMF on the
caller network) once the prompt it answers has started on the hotline
(AGIExecStart on the hotline's AMI), never on a clock. The walk is the one
of bench/ivr_load.py (``WALK``), from the demo debtor's number:

    menu 2 (outages at the caller's address) -> # -> 4 (debt) -> the account
    number and # -> # -> 3 (consultations) -> 1 (a standard answer) -> # ->
    # -> * (repeat) -> 0 (operator) -> the queue; the caller holds for
    ``--hold`` seconds and hangs up.

Phases, in one run:

1. one calibration call through the IVR, whose prompts (in order, between
   the keys) become **the floor**: the same walk in pure dialplan
   (``hotline-bench-floor``: the same files, ``Read()`` for the keys,
   MixMonitor, the same queue), reached over the same trunk;
2. the floor at ``--target`` concurrent callers: CPU of the hotline's
   Asterisk per call with no Python in the call path;
3. the IVR at each of ``--levels`` concurrent callers (arriving over
   ``level / --rate`` seconds), until one breaks (prompt-start p99 >= 150 ms
   or a failed call): the knee is the last level that held.

Printed, per phase: prompt-start latency after a key (Asterisk's clock: the
DTMFEnd the hotline's channel received to the next prompt start) p50/p99 and
the service's own share (from the stored journals: the key's AGI answer to
the next prompt command); the AGI round trip of GET/SET commands p50/p99;
CPU of the hotline's Asterisk, of the service and of the caller network, in
cores and in CPU-ms per call; the event loop's lateness; failed calls.

Targets (issue 10): 200 concurrent callers with p99 < 150 ms and 0 failed
calls; service CPU <= 0.15 of a core at that load; AGI round trip p99 < 20 ms.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    pct,
    proc_cpu,
    run_driver,
    self_cpu,
    sip_world,
    thread_cpu,
)
from ivr_load import (
    CALLER_NUMBER,
    HOLD,
    IN_HOURS,
    WALK,
    cpu_priority,
    latencies,
    loop_lag,
    queue_joined,
    service_reaction,
)

from hotline.callrig import read_prompts, starts_prompt

SCRIPT = Path(__file__).resolve()
FLOOR_CONTEXT = "hotline-bench-floor"
FLOOR_NUMBER = "88001009999"
"""The trunk number of the floor (dialplans/test-network.conf)."""
FLOOR_EVENT = "BenchFloorPrompt"
CALL_TIMEOUT = 180.0
TARGET_P99_MS = 150.0


# -- the driver (a separate process) ---------------------------------------------------------


def segments(events: list[dict[str, str]], call_id: str) -> list[list[str]]:
    """The calibration call's prompt playing, cut at each received key:
    ``segments[i]`` are the commands heard before key ``i`` (the last
    segment: after the last key, up to the queue)."""
    out: list[list[str]] = [[]]
    for e in events:
        if e.get("Uniqueid") != call_id:
            continue
        if e.get("Event") == "DTMFEnd" and e.get("Direction") == "Received":
            if out[-1]:  # the keys of one input (an account number) cut once
                out.append([])
        elif e.get("Event") == "AGIExecStart":
            command = e.get("Command", "")
            if starts_prompt(command) or command.startswith("SAY "):
                out[-1].append(command)
    return out


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    from core.settings import load_settings
    from hotline.sipnet import HOTLINE_NUMBER, CallerNetwork, SipCallRig

    hotline = load_settings(
        overrides={
            "ami_port": args.ami_port,
            "ami_test_secret": args.secret,
            "sip_port": args.sip_port,
            "sip_trunk_port": args.net_sip_port,
            "log_level": "WARNING",
        }
    )
    network = CallerNetwork(hotline, ami_port=args.net_ami_port)
    network.s.ami_test_secret = args.net_secret

    class Rig(SipCallRig):
        def _on_event(self, event: Any) -> None:
            # The floor announces its prompts (pure dialplan has no
            # AGIExecStart): seen as prompt starts, so the callers listen to
            # the floor as they listen to the IVR.
            if event.get("Event") == "UserEvent" and event.get("UserEvent") == FLOOR_EVENT:
                event = {
                    **{str(k): str(v) for k, v in dict(event).items()},
                    "Event": "AGIExecStart",
                    "Command": f'STREAM FILE {event.get("File", "")} ""',
                }
            super()._on_event(event)

    rig = Rig(
        hotline,
        network,
        events="call,dtmf,agi,user,agent",
        only=("Newchannel", "Hangup", "DTMFEnd", "AGIExecStart", "UserEvent", "QueueCallerJoin"),
    )
    await rig.start()
    await rig.set_test_now(IN_HOURS)
    number = FLOOR_NUMBER if args.floor else HOTLINE_NUMBER
    sem = asyncio.Semaphore(args.concurrency)
    lat: list[float] = []
    failures: dict[str, int] = {}
    durations: list[float] = []
    call_ids: list[str] = []
    calibration: list[list[str]] = []
    peak = active = 0

    def fail(reason: str) -> None:
        failures[reason] = failures.get(reason, 0) + 1

    async def one(i: int) -> None:
        nonlocal peak, active
        await asyncio.sleep(args.ramp * i / max(1, args.calls))
        async with sem:
            active += 1
            peak = max(peak, active)
            t0 = time.monotonic()
            call = None
            try:
                call = await rig.place_sip(number=number, caller_number=CALLER_NUMBER)
                call_ids.append(call.call_id)
                await rig.walk(call, WALK, timeout=60)
                await queue_joined(call, timeout=60)
                await asyncio.sleep(args.hold)
                await rig.hangup_caller(call)
                await rig.wait_end(call, timeout=CALL_TIMEOUT)
            except (AssertionError, RuntimeError, TimeoutError) as exc:
                fail(type(exc).__name__)
                print(f"call {i}: {str(exc)[:300]}", file=sys.stderr)
                if call is not None and not call.ended.is_set():
                    await rig.hangup_caller(call)
                return
            finally:
                active -= 1
            durations.append(time.monotonic() - t0)
            found = latencies(call.call_id, call.events)
            lat.extend(found)
            if call.user_events("HotlineFallback"):
                fail("fallback")
            elif len(found) != len(WALK):
                fail(f"{len(found)} of {len(WALK)} keys answered")
            if args.calibrate:
                calibration.extend(segments(call.events, call.call_id))

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.calls)))
    wall = time.monotonic() - t0
    await rig.close()
    return {
        "calls": args.calls,
        "failed": sum(failures.values()),
        "failures": failures,
        "wall": wall,
        "peak_concurrency": peak,
        "latencies": lat,
        "call_ids": call_ids,
        "call_p50": pct(durations, 50),
        "segments": calibration,
    }


# -- the floor: the calibration call's prompts in pure dialplan ------------------------------


def floor_dialplan(segs: list[list[str]]) -> str:
    """``hotline-bench-floor``: the prompts the IVR played, in order; each
    key read by ``Read()`` on the prompt it answers (a UserEvent announces
    every prompt, so the simulated callers listen to it)."""
    if len(segs) != len(WALK) + 1:
        raise ValueError(f"calibration call had {len(segs) - 1} keys, the walk {len(WALK)}")
    lines = [
        f"[{FLOOR_CONTEXT}]",
        "exten => s,1,Set(CHANNEL(language)=${HOTLINE_LANG})",
        " same => n,Answer()",
        " same => n,MixMonitor(${HOTLINE_SPOOL}/floor-${UNIQUEID}.wav)",
    ]

    def files(command: str) -> list[str]:
        if command.startswith("STREAM FILE "):
            return [command.split()[2]]
        return read_prompts(command)

    for i, seg in enumerate(segs):
        plays: list[tuple[str, str]] = []  # (kind, argument)
        for command in seg:
            if command.startswith("SAY NUMBER "):
                plays.append(("SayNumber", command.split()[2]))
            elif command.startswith("SAY DIGITS "):
                plays.append(("SayDigits", command.split()[2]))
            else:
                plays += [("file", f) for f in files(command)]
        key = WALK[i][1] if i < len(WALK) else None
        for n, (kind, arg) in enumerate(plays):
            last = n == len(plays) - 1
            if kind == "file":
                lines.append(f" same => n,UserEvent({FLOOR_EVENT},File: {arg})")
            if kind != "file":
                lines.append(f" same => n,{kind}({arg})")
            elif last and key is not None:
                digits = 20 if len(key) > 1 else 1
                lines.append(f" same => n,Read(BENCH_KEY,{arg},{digits},,1,30)")
            else:
                lines.append(f" same => n,Playback({arg})")
    lines.append(" same => n,Goto(hotline-queue,s,1)")
    return "\n".join(lines) + "\n"


# -- the system under test (this process) ----------------------------------------------------


@dataclass
class Phase:
    name: str
    level: int
    result: dict[str, Any]
    cpu_ast: float
    cpu_srv: float
    cpu_net: float
    wall: float
    rtt: list[float]
    reaction: list[float]
    lags: list[float]
    threads: dict[str, float]

    @property
    def p99(self) -> float:
        return pct([1000 * x for x in self.result["latencies"]], 99)

    @property
    def failed(self) -> int:
        return int(self.result["failed"])

    def held(self) -> bool:
        return self.failed == 0 and self.p99 < TARGET_P99_MS


async def run_phase(
    rt: Any,
    settings: Any,
    network: Any,
    pids: tuple[int, int],
    args: argparse.Namespace,
    *,
    name: str,
    level: int,
    floor: bool = False,
    calibrate: bool = False,
) -> Phase:
    rtts: list[float] = []
    rt.fastagi.rtt_observer = lambda cmd, dt: (
        rtts.append(dt) if cmd.startswith(("GET ", "SET ")) else None
    )
    lags: list[float] = []
    lag_task = asyncio.ensure_future(loop_lag(lags))
    a0, n0, s0, t0 = proc_cpu(pids[0]), proc_cpu(pids[1]), self_cpu(), time.monotonic()
    th0 = thread_cpu()
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--drive",
        f"--ami-port={settings.ami_port}",
        f"--secret={settings.test_secret()}",  # a secret may start with "-"
        f"--sip-port={settings.sip_port}",
        f"--net-sip-port={settings.sip_trunk_port}",
        f"--net-ami-port={network.s.ami_port}",
        f"--net-secret={network.s.test_secret()}",
        f"--calls={level}",
        f"--concurrency={level}",
        f"--ramp={level / args.rate:g}",
        f"--hold={args.hold:g}",
    ]
    if floor:
        cmd.append("--floor")
    if calibrate:
        cmd.append("--calibrate")
    result = await run_driver(cmd)
    wall = time.monotonic() - t0
    cpu_ast, cpu_net, cpu_srv = proc_cpu(pids[0]) - a0, proc_cpu(pids[1]) - n0, self_cpu() - s0
    threads = {k: v - th0.get(k, 0.0) for k, v in thread_cpu().items()}
    lag_task.cancel()
    rt.fastagi.rtt_observer = None
    if result is None:
        raise RuntimeError("the call driver failed")
    reaction = (
        []
        if floor
        else await rt.services.run_db(service_reaction, rt.services.db, set(result["call_ids"]))
    )
    return Phase(
        name, level, result, cpu_ast, cpu_srv, cpu_net, wall, rtts, reaction, lags, threads
    )


def report(p: Phase) -> None:
    lat = [1000 * x for x in p.result["latencies"]]
    calls = max(1, p.result["calls"])
    print(
        f"[{p.name}] {p.result['calls']} SIP callers (peak {p.result['peak_concurrency']} "
        f"at once), wall {p.wall:.0f} s, call p50 {p.result['call_p50']:.1f} s"
    )
    print(
        f"  prompt-start after a key ({len(lat)} samples): p50 {pct(lat, 50):.1f} ms, "
        f"p99 {pct(lat, 99):.1f} ms, max {max(lat, default=float('nan')):.1f} ms"
        + (
            f"; the service's own share p50 {pct(p.reaction, 50):.1f} ms, "
            f"p99 {pct(p.reaction, 99):.1f} ms"
            if p.reaction
            else ""
        )
    )
    if p.rtt:
        rtt = [1000 * x for x in p.rtt]
        print(
            f"  AGI round trip (GET/SET, {len(rtt)}): p50 {pct(rtt, 50):.2f} ms, "
            f"p99 {pct(rtt, 99):.2f} ms; event loop lateness p99 {pct(p.lags, 99):.1f} ms"
        )
    print(
        f"  CPU in cores: hotline Asterisk {p.cpu_ast / p.wall:.2f}, service "
        f"{p.cpu_srv / p.wall:.3f}, caller network {p.cpu_net / p.wall:.2f}; CPU-ms per call: "
        f"Asterisk {1000 * p.cpu_ast / calls:.0f}, service {1000 * p.cpu_srv / calls:.0f}"
    )
    split = ", ".join(
        f"{k} {v / p.wall:.3f}" for k, v in sorted(p.threads.items(), key=lambda kv: -kv[1]) if v
    )
    print(f"  service cores by thread: {split}")
    detail = json.dumps(p.result["failures"], ensure_ascii=False) if p.failed else ""
    print(f"  failed calls: {p.failed} of {p.result['calls']} {detail}".rstrip())


async def main_async(args: argparse.Namespace) -> int:
    from crm_bridge.demo_data import load_demo
    from hotline.runner import Runtime

    world = sip_world("sip")
    if world is None:
        return 2
    settings, sandbox, network = world
    ast_pid, net_pid = sandbox._pid(), network._pid()
    assert ast_pid is not None and net_pid is not None
    pids = (ast_pid, net_pid)
    phases: list[Phase] = []
    try:
        async with Runtime(settings, components=("fastagi", "ami")) as rt:
            assert rt.fastagi is not None and rt.services is not None
            await rt.services.run_db(load_demo, rt.services.db)
            print(
                f"machine: {os.cpu_count()} CPUs, load average before the run "
                f"{os.getloadavg()[0]:.2f}; service CPU priority: {cpu_priority()}",
                flush=True,
            )
            cal = await run_phase(
                rt, settings, network, pids, args, name="calibration", level=1, calibrate=True
            )
            if cal.failed:
                report(cal)
                return 2
            extensions = sandbox.etc / "extensions.conf"
            extensions.write_text(
                extensions.read_text(encoding="utf-8")
                + "\n; ---- bench/sip_load.py\n"
                + floor_dialplan(cal.result["segments"]),
                encoding="utf-8",
            )
            sandbox.cli("dialplan reload")
            floor = await run_phase(
                rt, settings, network, pids, args, name="floor", level=args.target, floor=True
            )
            report(floor)
            for level in args.levels:
                phase = await run_phase(rt, settings, network, pids, args, name="ivr", level=level)
                phases.append(phase)
                report(phase)
                if not phase.held():
                    break
    finally:
        network.down()
        sandbox.down()
        if not args.keep:
            shutil.rmtree(settings.data, ignore_errors=True)

    print()
    print("level  p50 ms  p99 ms  failed  Asterisk cores  service cores  AGI p99 ms")
    for p in phases:
        lat = [1000 * x for x in p.result["latencies"]]
        print(
            f"{p.level:>5}  {pct(lat, 50):>6.1f}  {p.p99:>6.1f}  {p.failed:>6}  "
            f"{p.cpu_ast / p.wall:>14.2f}  {p.cpu_srv / p.wall:>13.3f}  "
            f"{1000 * pct(p.rtt, 99):>10.2f}"
        )
    held = [p.level for p in phases if p.held()]
    knee = max(held) if held else 0
    broke = next((p.level for p in phases if not p.held()), None)
    print(
        f"knee: {knee} concurrent SIP callers held p99 < {TARGET_P99_MS:g} ms with 0 failed calls"
        + (f"; {broke} did not" if broke else "; the largest level tried still held")
    )
    at = next((p for p in phases if p.level == args.target), None)
    if at is not None:
        per_call_ivr = at.cpu_ast / max(1, at.result["calls"])
        per_call_floor = floor.cpu_ast / max(1, floor.result["calls"])
        print(
            f"at {args.target} callers: Asterisk CPU per call {1000 * per_call_ivr:.0f} ms with "
            f"the IVR vs {1000 * per_call_floor:.0f} ms in pure dialplan (ratio "
            f"{per_call_ivr / max(per_call_floor, 1e-9):.2f}); service "
            f"{at.cpu_srv / at.wall:.3f} cores (target <= 0.15); AGI round trip p99 "
            f"{1000 * pct(at.rtt, 99):.2f} ms (target < 20)"
        )
    return 0


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[100, 150, 200, 250, 300],
        help="concurrent callers of the IVR phases, in order (stops at the first that breaks)",
    )
    p.add_argument("--target", type=int, default=200, help="callers of the floor phase")
    p.add_argument("--rate", type=float, default=20.0, help="calls arriving per second")
    p.add_argument("--hold", type=float, default=HOLD, help="seconds a caller holds in the queue")
    p.add_argument("--keep", action="store_true", help="keep the bench data directory")
    p.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--calibrate", action="store_true", help=argparse.SUPPRESS)
    for name in ("ami-port", "sip-port", "net-sip-port", "net-ami-port", "calls", "concurrency"):
        p.add_argument(f"--{name}", type=int, help=argparse.SUPPRESS)
    for name in ("secret", "net-secret"):
        p.add_argument(f"--{name}", help=argparse.SUPPRESS)
    p.add_argument("--ramp", type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.drive:
        print(json.dumps(asyncio.run(drive(args))))
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
