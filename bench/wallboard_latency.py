"""The supervisor's wallboard after an AMI event (issue 14): callers from the
callers' network (hotline.sipnet, PJSIP trunk) ask for an operator, wait in
the queue and give up; the supervisor's board (``/supervision/``) runs in
headless Chromium.

    .venv/bin/python bench/wallboard_latency.py [--calls 60] [--concurrency 6]

Every ``QueueCallerJoin`` and ``QueueCallerAbandon``/``QueueCallerLeave``
the board takes is logged with its version; the page logs the moment it
rendered each version (``performance.timeOrigin + performance.now()``, the
same machine clock). Printed, per event, p50/p99/max of the first render of
that version or a later one after

* Asterisk's own timestamp of the event (``timestampevents``), and
* the moment the service received it;

and the same for the bench's own WebSocket client (the message alone,
without the browser's rendering). Target: p99 < 200 ms after the event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import pct, sip_world

IN_HOURS = "2025-03-05T10:00:00+03:00"
TARGET_P99_MS = 200.0
BOARD_EVENTS = ("QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave")

OBSERVE = """() => {
  window.__renders = [];
  const box = document.getElementById("wallboard");
  new MutationObserver(() => {
    window.__renders.push([Number(box.dataset.version), performance.timeOrigin + performance.now()]);
  }).observe(box, { attributes: true, attributeFilter: ["data-version"] });
}"""


def first_at_or_after(renders: list[tuple[int, float]], version: int) -> float | None:
    """The first moment a version ≥ ``version`` was shown (renders in time order)."""
    for v, t in renders:
        if v >= version:
            return t
    return None


async def caller(rig: Any, board: Any, number: str, hold: float) -> None:
    """Asks for an operator, waits ``hold`` seconds in the queue (from the
    moment it is in it), hangs up."""
    call = await rig.place_sip(caller_number=number)
    await rig.walk(call, [("menu/main", "0")])
    deadline = time.monotonic() + 60
    while call.call_id not in board.waiting:
        if time.monotonic() > deadline:
            raise TimeoutError("the caller never joined the queue")
        await asyncio.sleep(0.05)
    await asyncio.sleep(hold)
    await rig.hangup_caller(call)


async def ws_client(
    url: str, cookies: Any, log: list[tuple[int, float]], stop: asyncio.Event
) -> None:
    import json

    import aiohttp

    async with aiohttp.ClientSession(cookies=cookies) as session:
        async with session.ws_connect(url) as ws:
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), 0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                log.append((int(json.loads(msg.data)["version"]), time.time()))


async def main_async(args: argparse.Namespace) -> int:
    from crm_bridge.demo_data import DEMO_CALLER, DEMO_OPERATORS, load_demo
    from crm_bridge.models import OperatorRole
    from hotline.runner import Runtime
    from hotline.sipnet import SipCallRig
    from tests.browser import chromium, logged_in_page

    supervisor = next(op for op in DEMO_OPERATORS if op.role is OperatorRole.SUPERVISOR)
    world = sip_world("wallboard")
    if world is None:
        return 2
    settings, sandbox, network = world
    events: list[tuple[int, str, float, float | None]] = []  # version, event, at, ts
    renders: list[tuple[int, float]] = []
    received: list[tuple[int, float]] = []
    try:
        async with Runtime(settings, components=("fastagi", "ami", "web")) as rt:
            services = rt.services
            assert services is not None and services.wallboard is not None
            board = services.wallboard
            await services.run_db(load_demo, services.db)
            changed = board._changed

            def logged(event: str, at: float | None = None, ts: str = "") -> None:
                changed(event, at, ts)
                if event in BOARD_EVENTS:
                    events.append(
                        (board.version, event, board.cause["at"], float(ts) if ts else None)
                    )

            board._changed = logged  # type: ignore[method-assign]
            rig = SipCallRig(settings, network, hub=services.hub)
            await rig.start()
            await rig.set_test_now(IN_HOURS)
            stop = asyncio.Event()
            try:
                async with chromium() as browser:
                    page = await logged_in_page(
                        browser, rt.web_url + "supervision/", supervisor.login, supervisor.password
                    )
                    await page.locator("#wallboard[data-ws=ready]").wait_for(timeout=10_000)
                    await page.evaluate(OBSERVE)
                    jar = {c["name"]: c["value"] for c in await page.context.cookies()}
                    listener = asyncio.create_task(
                        ws_client(
                            rt.web_url.replace("http", "ws") + "supervision/ws", jar, received, stop
                        )
                    )
                    print(
                        f"machine: {os.cpu_count()} CPUs, load average before the run "
                        f"{os.getloadavg()[0]:.2f}; {args.calls} callers, "
                        f"{args.concurrency} at a time, each waits {args.hold:.0f}±1 s and hangs up",
                        flush=True,
                    )
                    assert DEMO_CALLER.phone is not None
                    number = DEMO_CALLER.phone.lstrip("+")
                    gate = asyncio.Semaphore(args.concurrency)
                    rnd = random.Random(14)

                    async def one() -> None:
                        async with gate:
                            await caller(rig, board, number, args.hold + rnd.uniform(-1, 1))

                    results = await asyncio.gather(
                        *(one() for _ in range(args.calls)), return_exceptions=True
                    )
                    failed = [r for r in results if isinstance(r, BaseException)]
                    await asyncio.sleep(1.0)
                    renders = [
                        (int(v), t / 1000) for v, t in await page.evaluate("window.__renders")
                    ]
                    stop.set()
                    await listener
            finally:
                await rig.close()
    finally:
        network.down()
        sandbox.down()
        if not args.keep:
            shutil.rmtree(settings.data, ignore_errors=True)

    renders.sort(key=lambda r: r[1])
    received.sort(key=lambda r: r[1])
    rows: dict[str, list[float]] = {
        "page after Asterisk's event timestamp": [],
        "page after the service received the event": [],
        "WebSocket message after Asterisk's event timestamp": [],
    }
    lost = 0
    for version, _event, at, ts in events:
        shown = first_at_or_after(renders, version)
        got = first_at_or_after(received, version)
        if shown is None or got is None:
            lost += 1
            continue
        rows["page after the service received the event"].append(1000 * (shown - at))
        if ts is not None:
            rows["page after Asterisk's event timestamp"].append(1000 * (shown - ts))
            rows["WebSocket message after Asterisk's event timestamp"].append(1000 * (got - ts))
    for name, values in rows.items():
        print(
            f"{name}: p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms, "
            f"max {max(values, default=float('nan')):.1f} ms ({len(values)} events)"
        )
    print(f"events never shown: {lost}; callers failed: {len(failed)}")
    p99 = pct(rows["page after Asterisk's event timestamp"], 99)
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(f"target p99 < {TARGET_P99_MS:.0f} ms after the AMI event: {verdict}")
    return 0 if not failed and not lost else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=60)
    p.add_argument("--concurrency", type=int, default=6)
    p.add_argument("--hold", type=float, default=4.0, help="seconds a caller waits in the queue")
    p.add_argument("--keep", action="store_true", help="keep the bench data directory")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
