"""FastAGI benchmark: the same short menu three ways, side by side in one run.

    .venv/bin/python bench/fastagi.py [--calls 1000 --concurrency 200]

Starts a private Asterisk instance, runs the FastAGI server in this process
and places simulated calls (Local channels, scripted caller pressing a key)
from a separate generator process, so the generator's CPU is never counted.
The menu (dialplans/test-bench.conf, route ``bench-menu``): read a variable,
set one, play a short prompt, wait for a key, set, say the digit, read, set
— nine AGI round trips per call.

Prints:
- AGI command round-trip p50/p99 (the non-media commands: GET/SET VARIABLE,
  measured in the server from writing the command to reading the answer),
  at the given concurrency;
- calls per second;
- CPU per call (Asterisk + its children + this server process) against the
  pure-dialplan menu (the physical floor) and against process AGI (pyst2,
  one Python process per call).
Targets: 200 concurrent calls with p99 < 20 ms; FastAGI CPU per call ≤ 2×
the dialplan floor and ≥ 10× cheaper than process AGI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_settings, pct, proc_cpu, run_generator, self_cpu

from hotline.runner import Runtime
from hotline.sandbox import Sandbox
from ivr.prompts import PromptCatalogue, generate
from telephony.contract import Context


async def scenario(
    settings,
    sandbox,
    pid: int,
    context: str,
    calls: int,
    conc: int,
    rtts: list[tuple[str, float]] | None = None,
    script: str = "w3000-d5",
) -> dict:
    if rtts is not None:
        rtts.clear()
    a0, s0 = proc_cpu(pid), self_cpu()
    result = await asyncio.to_thread(run_generator, settings, context, calls, conc, script)
    a1, s1 = proc_cpu(pid), self_cpu()
    result["asterisk_cpu"] = a1 - a0
    result["server_cpu"] = (s1 - s0) if rtts is not None else 0.0
    ok = max(1, calls - result["failed"])
    result["cpu_per_call_ms"] = 1000 * (result["asterisk_cpu"] + result["server_cpu"]) / ok
    result["cps"] = calls / result["wall"]
    if rtts is not None:
        fast = [dt for cmd, dt in rtts if cmd.startswith(("GET ", "SET "))]
        result["rtt_p50_ms"] = 1000 * pct(fast, 50)
        result["rtt_p99_ms"] = 1000 * pct(fast, 99)
        result["rtt_samples"] = len(fast)
    return result


async def main_async(args: argparse.Namespace) -> int:
    settings = bench_settings("fastagi")
    settings.data.mkdir(parents=True, exist_ok=True)
    catalogue = PromptCatalogue.load()
    generate(
        catalogue.subset(
            [i for i in catalogue.ids() if i.startswith(("bench/", "common/", "words/"))]
        ),
        settings.sounds_dir,
    )
    sandbox = Sandbox(settings)
    sandbox.up()
    pid = sandbox._pid()
    assert pid is not None
    rtts: list[tuple[str, float]] = []
    try:
        async with Runtime(settings, components=("fastagi",)) as rt:
            assert rt.fastagi is not None
            rt.fastagi.rtt_observer = lambda cmd, dt: rtts.append((cmd, dt))
            if args.no_journal:
                rt.fastagi.on_call_end = None
            # warm-up (page cache, module import in the root for process AGI)
            await scenario(settings, sandbox, pid, Context.BENCH_FASTAGI, 10, 10, rtts)
            await scenario(settings, sandbox, pid, Context.BENCH_PROCESS, 2, 2)
            floor = await scenario(
                settings,
                sandbox,
                pid,
                Context.BENCH_DIALPLAN,
                args.calls,
                args.concurrency,
                script=args.caller,
            )
            fast = await scenario(
                settings,
                sandbox,
                pid,
                Context.BENCH_FASTAGI,
                args.calls,
                args.concurrency,
                rtts,
                script=args.caller,
            )
            proc = await scenario(
                settings,
                sandbox,
                pid,
                Context.BENCH_PROCESS,
                args.process_calls,
                args.process_concurrency,
                script=args.caller,
            )
    finally:
        sandbox.down()

    print(
        f"FastAGI benchmark: {args.calls} calls, {args.concurrency} concurrent "
        f"(process AGI: {args.process_calls} calls, {args.process_concurrency} concurrent)"
    )
    print(f"{'menu':<14}{'calls/s':>9}{'failed':>8}{'peak conc':>11}{'CPU ms/call':>13}")
    for name, r in (("dialplan", floor), ("fastagi", fast), ("process-agi", proc)):
        print(
            f"{name:<14}{r['cps']:>9.1f}{r['failed']:>8}{r['peak_concurrency']:>11}{r['cpu_per_call_ms']:>13.2f}"
        )
    print(
        f"AGI round-trip (GET/SET VARIABLE, {fast['rtt_samples']} samples): "
        f"p50 {fast['rtt_p50_ms']:.2f} ms, p99 {fast['rtt_p99_ms']:.2f} ms (target p99 < 20 ms)"
    )
    r_floor = fast["cpu_per_call_ms"] / floor["cpu_per_call_ms"]
    r_proc = proc["cpu_per_call_ms"] / fast["cpu_per_call_ms"]
    print(f"CPU per call, FastAGI / pure dialplan: {r_floor:.2f}x (target <= 2x)")
    print(f"CPU per call, process AGI / FastAGI: {r_proc:.1f}x (target >= 10x)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--process-calls", type=int, default=60)
    p.add_argument("--process-concurrency", type=int, default=20)
    p.add_argument(
        "--caller",
        default="w3000-d5",
        help="the simulated caller: waits 3 s, presses 5 (a person at a menu)",
    )
    p.add_argument(
        "--no-journal", action="store_true", help="do not store call journals (diagnostic)"
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
