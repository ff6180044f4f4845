"""What callers get, and what is kept, when the database or the service fails
(issue 13: the figures' table of the note).

    .venv/bin/python bench/faults.py [--callers 20] [--kill-callers 50]

Starts a private Asterisk instance, a PostgreSQL cluster of its own and a
node (``hotline run``: FastAGI, AMI, the spool's replayer, the sweep) in its
own process, and plays the fault tier's scenarios (``hotline.faultrig``):
PostgreSQL stopped mid-call, PostgreSQL frozen (SIGSTOP) mid-call — callers
in the main menu then asking for the debt (an account to find) or an
operator — and the node SIGKILLed under ``--kill-callers`` callers in the
menu, then started again. For each fault it prints: calls, rows, calls with
an appeal, calls with a journal (and with the flow's own journal), rows left
open, duplicate appeals, appeals reconstructed, and the longest silence a
caller heard (from the end of a prompt or a key to the next prompt, the
fallback or the queue; Asterisk's event times). Targets: 100 % / 100 % / 0 /
≤ 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_settings

from hotline.callrig import CallRig
from hotline.faultrig import (
    FaultFigures,
    FaultNode,
    PrivatePostgres,
    database_fault,
    figures,
    service_killed,
)
from hotline.sandbox import Sandbox
from ivr.prompts import PromptCatalogue, generate


async def main_async(args: argparse.Namespace) -> int:
    settings = bench_settings("faults")
    settings.data.mkdir(parents=True, exist_ok=True)
    generate(PromptCatalogue.load(), settings.sounds_dir, cache=settings.prompt_cache)
    sandbox = Sandbox(settings)
    sandbox.up()
    work = Path(f"/tmp/hotline-bench-faults-{os.getpid()}")
    pg = PrivatePostgres(work / "pg")
    rig = CallRig(settings)
    rows: list[FaultFigures] = []
    started = time.monotonic()
    try:
        await asyncio.to_thread(pg.start)
        await rig.start()
        for name, scenario in (
            ("PostgreSQL stopped mid-call", "stop"),
            ("PostgreSQL frozen (SIGSTOP) mid-call", "freeze"),
            ("service SIGKILLed, back at once", "kill"),
        ):
            node = FaultNode(
                settings,
                await asyncio.to_thread(pg.fresh_database),
                work / scenario / "spool",
                log_path=work / f"{scenario}.log",
            )
            (work / scenario).mkdir(parents=True, exist_ok=True)
            await node.start()
            try:
                if scenario == "kill":
                    calls, db, at = await service_killed(rig, node, args.kill_callers)
                else:
                    calls, db, at = await database_fault(
                        rig, node, pg, args.callers, freeze=scenario == "freeze"
                    )
                rows.append(await asyncio.to_thread(figures, db, name, calls, at))
                db.dispose()
            finally:
                pg.thaw()
                node.stop()
    finally:
        await rig.close()
        pg.destroy()
        sandbox.down()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(settings.data, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"Faults (issue 13): {args.callers} callers per database fault, "
        f"{args.kill_callers} under the kill; {time.monotonic() - started:.0f} s; "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(FaultFigures.HEADER)
    for f in rows:
        print(f.line())
    print(
        "rows / appeals / journals: calls that have one (target: all); open, dup: target 0; "
        "silence: the longest wait heard after the fault (target ≤ 2 s)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--kill-callers", type=int, default=50)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
