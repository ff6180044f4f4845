"""Shared helpers of the benchmarks: a private Asterisk instance with free
ports, CPU accounting from /proc, percentiles, and a call generator that runs
in its own process (so its CPU is never counted against the system under test).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings, load_settings  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_settings(name: str) -> Settings:
    base = load_settings(
        overrides={
            "test_mode": True,
            "ami_port": free_port(),
            "fastagi_port": free_port(),
            "audiosocket_port": free_port(),
            "sip_port": free_port(),
            "web_port": 0,
            "log_level": "WARNING",
        }
    )
    data = base.root / "var/lib/hotline" / f"bench-{name}-{os.getpid()}"
    if data.exists():
        shutil.rmtree(data)
    return base.replace(data_dir=data)


def fresh_pg_database(server: str, name: str) -> str:
    """The URL of an empty PostgreSQL database ``name`` on ``server`` (dropped
    first if a previous run left it)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(server)
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return u.set(database=name).render_as_string(hide_password=False)


def served_settings(workdir: Path, fields: dict[str, object]) -> Settings:
    """The settings of a hotline a bench runs as a child process in ``workdir``."""
    return Settings(asterisk_root=workdir, data_dir=workdir / "data", **fields).resolve()  # type: ignore[arg-type]


async def serve(workdir: Path, fields: dict[str, object], components: Sequence[str]) -> None:
    """The hotline under test (a child process) with ``components`` until SIGTERM;
    prints «ready» once it serves."""
    import signal

    from hotline.runner import Runtime

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Runtime(served_settings(workdir, fields), tuple(components)):
        print("ready", flush=True)
        await stop.wait()


def proc_cpu(pid: int, children: bool = True) -> float:
    """CPU seconds of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    total = utime + stime + ((cutime + cstime) if children else 0)
    return total / CLK_TCK


def self_cpu() -> float:
    return time.process_time()


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads by role: the event loop (the
    main thread) and each executor lane by its thread-name prefix."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(task.name), "other")
        role = "event loop" if name == "MainThread" else name.rsplit("_", 1)[0]
        out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def pct(samples: Sequence[float], p: float) -> float:
    if not samples:
        return float("nan")
    s = sorted(samples)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def run_generator(
    settings: Settings,
    context: str,
    calls: int,
    concurrency: int,
    script: str,
    timeout: float = 900,
) -> dict[str, Any]:
    """Place ``calls`` calls into ``context`` from a separate process."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve().parent / "_generator.py"),
        "--ami-port",
        str(settings.ami_port),
        f"--secret={settings.test_secret()}",  # a secret may start with "-"
        "--context",
        context,
        "--calls",
        str(calls),
        "--concurrency",
        str(concurrency),
        "--script",
        script,
    ]
    # The simulated callers are the outside world: a session of their own,
    # not in the service's scheduling group (core/priority.py).
    cp = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        start_new_session=True,
    )
    if cp.returncode != 0:
        raise RuntimeError(f"generator failed: {cp.stderr[-3000:]}")
    return dict(json.loads(cp.stdout.strip().splitlines()[-1]))


async def generate(
    ami_port: int, secret: str, context: str, calls: int, concurrency: int, script: str
) -> dict[str, Any]:
    from hotline.callrig import CallRig

    s = load_settings(
        overrides={"ami_port": ami_port, "ami_test_secret": secret, "log_level": "WARNING"}
    )
    # the generator needs hangups and user events only
    rig = CallRig(s, events="call,user", only=("Hangup", "UserEvent"))
    await rig.start()
    sem = asyncio.Semaphore(concurrency)
    failed = 0
    durations: list[float] = []
    peak = 0
    active = 0

    async def one(i: int) -> None:
        nonlocal failed, peak, active
        async with sem:
            active += 1
            peak = max(peak, active)
            t0 = time.monotonic()
            try:
                call = await rig.place(context, script, caller_number=f"7900{i:07d}", timeout=30)
                await rig.wait_end(call, timeout=120)
                if call.user_events("HotlineFallback"):
                    failed += 1
                durations.append(time.monotonic() - t0)
            except (AssertionError, RuntimeError, TimeoutError) as exc:
                failed += 1
                print(f"call {i}: {exc}", file=sys.stderr)
            finally:
                active -= 1

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(calls)))
    wall = time.monotonic() - t0
    await rig.close()
    return {
        "calls": calls,
        "failed": failed,
        "wall": wall,
        "peak_concurrency": peak,
        "call_p50": pct(durations, 50),
        "call_p99": pct(durations, 99),
    }


async def run_driver(cmd: list[str]) -> dict[str, Any] | None:
    """Run a bench's call driver (a separate process, in a session of its
    own: the simulated callers are the outside world, not in the service's
    scheduling group) and return the JSON of its last line; None, with its
    error printed, when it failed."""
    cp = await asyncio.to_thread(
        subprocess.run,
        cmd,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        start_new_session=True,
    )
    if cp.returncode != 0:
        print(f"driver failed:\n{cp.stderr[-3000:]}", file=sys.stderr)
        return None
    if cp.stderr.strip():
        print(cp.stderr.strip()[-3000:], file=sys.stderr)
    result: dict[str, Any] = json.loads(cp.stdout.strip().splitlines()[-1])
    return result


def sip_world(name: str) -> tuple[Settings, Any, Any] | None:
    """The hotline's Asterisk and the callers' network (hotline.sipnet) up,
    with the prompts generated: (settings, sandbox, network); None (after
    saying why) when the prompts cannot be made."""
    from hotline.sandbox import Sandbox
    from hotline.sipnet import CallerNetwork
    from ivr.prompts import PromptCatalogue, generate

    settings = bench_settings(name).replace(sip_trunk_port=free_port())
    settings.data.mkdir(parents=True, exist_ok=True)
    gen = generate(PromptCatalogue.load(), settings.sounds_dir)
    if not gen.ok:
        print(gen.summary(), file=sys.stderr)
        return None
    sandbox = Sandbox(settings)
    network = CallerNetwork(settings, ami_port=free_port())
    sandbox.up()
    network.up()
    return settings, sandbox, network
