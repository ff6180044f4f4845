"""The fault-injection rig (issue 13): a node that can be hurt, and the
figures of what the callers got.

Used by the fault tier (``tests/faults``, ``-m faults``) and by
``bench/faults.py``. Its parts:

* :class:`PrivatePostgres` — a PostgreSQL cluster of its own (Debian's
  binaries, ``scripts/pg-test-cluster.sh``) that may be stopped, and frozen
  with SIGSTOP (every process of the cluster) and thawed;
* :class:`FaultNode` — ``hotline run`` in its own process, as one node:
  FastAGI, AMI (the call listener), the spool's replayer and the sweep, on
  the private database (or a SQLite file on a small disk), with its own
  spool directory; to be killed with SIGKILL and started again;
* :func:`place_callers` — simulated callers (AMI Originate of Local channels
  into ``hotline-inbound``) whose flow is served by the node
  (``HOTLINE_AGI`` per call), in working hours;
* :func:`longest_silence` — what a caller heard, from Asterisk's own events:
  the longest time between the end of something the caller heard or a key
  the caller pressed and the next thing heard (a prompt, the fallback's
  apology, the queue);
* :func:`figures` — for the calls placed: rows, appeals, journals, rows left
  open and duplicates in the node's database;
* the scenarios, :func:`database_fault` (stopped or frozen mid-call) and
  :func:`service_killed`, shared by the tests and the bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.models import Appeal, Call, CallEvent
from hotline.callrig import CallRig, PlacedCall, starts_prompt
from telephony.contract import Context, UserEvent, Var

__all__ = [
    "IN_HOURS",
    "FaultFigures",
    "FaultNode",
    "PrivatePostgres",
    "database_fault",
    "figures",
    "fill",
    "free_port",
    "longest_silence",
    "mounted_tmpfs",
    "place_callers",
    "service_killed",
    "wait_recorded",
]

REPO = Path(__file__).resolve().parents[1]
IN_HOURS = "2025-03-05T10:00:00+03:00"
"""A Wednesday, 10:00 Moscow (test mode only): the menu, not the answering machine."""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the database ------------------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of its own, to stop and to freeze."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.url = ""
        self.frozen: list[int] = []

    def _script(self, action: str) -> str:
        env = {
            **os.environ,
            "HOTLINE_PG_DIR": str(self.directory),
            "HOTLINE_PG_PORT": str(self.port),
        }
        done = subprocess.run(
            [str(REPO / "scripts/pg-test-cluster.sh"), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        return done.stdout

    def start(self) -> str:
        out = self._script("start")
        self.url = out.strip().split("=", 1)[1]
        return self.url

    def fresh_database(self) -> str:
        """A new, empty database on the cluster; its URL."""
        base = self.url.rsplit("/", 1)[0]
        name = f"faults_{os.urandom(4).hex()}"
        admin = Database(base + "/postgres")
        try:
            with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        return f"{base}/{name}"

    def stop(self) -> None:
        """A stopped database (fast shutdown: connections are closed)."""
        self.thaw()
        self._script("stop")

    def pids(self) -> list[int]:
        """The postmaster and every process of the cluster."""
        pidfile = self.directory / "data" / "postmaster.pid"
        try:
            master = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        out = [master]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master:
                out.append(int(entry.name))
        return out

    def freeze(self) -> None:
        """SIGSTOP to the whole cluster: connections stay open, nothing answers."""
        self.frozen = self.pids()
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


# -- the node ----------------------------------------------------------------------------------


@dataclass
class FaultNode:
    """``hotline run`` as one node in its own process (see the module docstring)."""

    settings: Settings
    """The session's settings: its data directory (prompts, AMI secrets), its Asterisk."""
    database_url: str
    spool_dir: Path
    name: str = "faultnode"
    env: dict[str, str] = field(default_factory=dict)
    fastagi_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    COMPONENTS = "fastagi,ami,web,spool-replay,sweep"

    @property
    def agi_url(self) -> str:
        return f"agi://127.0.0.1:{self.fastagi_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    async def start(self, timeout: float = 120.0) -> None:
        self.proc = await asyncio.to_thread(self._spawn)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if not line.startswith(b"hotline running"):
            log = self.log_path or self.spool_dir.parent / f"{self.name}.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"the node did not start: {line!r}\n{tail}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        s = self.settings
        env = {
            **os.environ,
            "HOTLINE_DATA_DIR": str(s.data),
            "HOTLINE_DATABASE_URL": self.database_url,
            "HOTLINE_FASTAGI_PORT": str(self.fastagi_port),
            "HOTLINE_WEB_PORT": str(self.web_port),
            "HOTLINE_AMI_PORT": str(s.ami_port),
            "HOTLINE_TEST_MODE": "1",
            "HOTLINE_NODE_NAME": self.name,
            "HOTLINE_WRITE_SPOOL_DIR": str(self.spool_dir),
            "HOTLINE_WRITE_SPOOL_RESERVE_MB": "4",
            "HOTLINE_SWEEP_INTERVAL_SECONDS": "2",
            "HOTLINE_RECONSTRUCT_AFTER_SECONDS": "3",
            "HOTLINE_HEALTH_INTERVAL_SECONDS": "2",
            **self.env,
        }
        log = (self.log_path or self.spool_dir.parent / f"{self.name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "run", "--only", self.COMPONENTS],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        return proc

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what the process held in memory is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- the callers ---------------------------------------------------------------------------------


async def place_callers(
    rig: CallRig,
    node: FaultNode,
    n: int,
    *,
    caller_number: str = "79005550100",
    extra: dict[str, str] | None = None,
) -> list[PlacedCall]:
    """``n`` callers served by ``node`` (in working hours), each staying on the line."""
    variables = {Var.TEST_NOW.value: IN_HOURS, Var.AGI.value: node.agi_url, **(extra or {})}
    calls = []
    for i in range(n):
        number = f"{caller_number[:-3]}{(int(caller_number[-3:]) + i) % 1000:03d}"
        calls.append(
            await rig.place(
                Context.INBOUND, "s", caller_number=number, variables=variables, timeout=30
            )
        )
    return calls


def in_queue(call: PlacedCall) -> bool:
    return any(e.get("Event") == "QueueCallerJoin" for e in call.events)


def fell_back(call: PlacedCall) -> list[dict[str, str]]:
    return call.user_events(UserEvent.FALLBACK.value)


def flow_prompts(call: PlacedCall) -> list[str]:
    """Prompt files the flow started (AGI ``STREAM FILE`` or a ``Read()``'s), in order."""
    out = []
    for command in call.agi_commands():
        if command.startswith("STREAM FILE"):
            out.append(command.split()[2].strip('"'))
        elif command.startswith("Read-prompt "):
            out.append(command.split()[1])
    return out


def _ts(event: dict[str, str]) -> float | None:
    try:
        return float(event["Timestamp"])
    except (KeyError, ValueError):
        return None


def longest_silence(call: PlacedCall, since: float | None = None) -> float:
    """The longest the caller waited in silence for the system (seconds):
    from the end of a prompt, or a key the caller pressed, to the next thing
    heard — a prompt, the fallback (its apology plays at once) or the queue
    (music). Asterisk's event times (``Timestamp``); ``since`` (epoch) counts
    only waits that ended after it."""
    waiting_from: float | None = None
    longest = 0.0
    for e in call.events:
        ts = _ts(e)
        if ts is None:
            continue
        kind = e.get("Event")
        command = e.get("Command", "")
        heard = (
            (kind == "AGIExecStart" and starts_prompt(command))
            or (kind == "UserEvent" and e.get("UserEvent") == UserEvent.FALLBACK.value)
            or kind == "QueueCallerJoin"
        )
        if heard:
            if waiting_from is not None and (since is None or ts >= since):
                longest = max(longest, ts - waiting_from)
            waiting_from = None
            if kind == "QueueCallerJoin":
                break  # music from here on
            continue
        ended_sound = kind == "AGIExecEnd" and command.startswith("STREAM FILE")
        pressed = kind == "DTMFEnd" and e.get("Direction") == "Received"
        if ended_sound or pressed:
            waiting_from = ts
    return longest


# -- the figures ---------------------------------------------------------------------------------


@dataclass
class FaultFigures:
    fault: str
    calls: int
    rows: int
    appeals: int
    """Calls with an appeal."""
    journals: int
    """Calls with a journal (any source)."""
    ivr_journals: int
    """Calls with the flow's own journal."""
    open_rows: int
    duplicates: int
    """Appeals beyond one per call."""
    reconstructed: int
    longest_silence: float

    HEADER = (
        f"{'fault':<34} {'calls':>5} {'rows':>5} {'appeals':>7} {'journals':>8} "
        f"{'(IVR)':>6} {'open':>5} {'dup':>4} {'rebuilt':>7} {'silence, s':>10}"
    )

    def line(self) -> str:
        return (
            f"{self.fault:<34} {self.calls:>5} {self.rows:>5} {self.appeals:>7} "
            f"{self.journals:>8} {self.ivr_journals:>6} {self.open_rows:>5} "
            f"{self.duplicates:>4} {self.reconstructed:>7} {self.longest_silence:>10.2f}"
        )


def figures(
    db: Database, fault: str, calls: Sequence[PlacedCall], since: float | None = None
) -> FaultFigures:
    from faults.models import ReconstructedAppeal

    ids = [c.call_id for c in calls]
    with db.session(readonly=True) as s:
        rows = s.execute(select(func.count()).where(Call.uniqueid.in_(ids))).scalar_one()
        open_rows = s.execute(
            select(func.count()).where(Call.uniqueid.in_(ids), Call.ended_at.is_(None))
        ).scalar_one()
        per_call = dict(
            s.execute(
                select(Call.uniqueid, func.count(Appeal.id))
                .join(Appeal, Appeal.call_id == Call.id)
                .where(Call.uniqueid.in_(ids))
                .group_by(Call.uniqueid)
            ).all()
        )
        journals = s.execute(
            select(func.count(func.distinct(CallEvent.call_uniqueid))).where(
                CallEvent.call_uniqueid.in_(ids)
            )
        ).scalar_one()
        ivr = s.execute(
            select(func.count(func.distinct(CallEvent.call_uniqueid))).where(
                CallEvent.call_uniqueid.in_(ids), CallEvent.source == "ivr"
            )
        ).scalar_one()
        rebuilt = s.execute(
            select(func.count()).where(ReconstructedAppeal.call_uniqueid.in_(ids))
        ).scalar_one()
    return FaultFigures(
        fault=fault,
        calls=len(ids),
        rows=int(rows),
        appeals=len(per_call),
        journals=int(journals),
        ivr_journals=int(ivr),
        open_rows=int(open_rows),
        duplicates=sum(n - 1 for n in per_call.values()),
        reconstructed=int(rebuilt),
        longest_silence=max((longest_silence(c, since) for c in calls), default=0.0),
    )


def complete(db: Database, calls: Sequence[PlacedCall]) -> bool:
    """Every call has its row (closed), its appeal and its journal."""
    f = figures(db, "", calls)
    n = len(calls)
    return f.rows == n and f.appeals == n and f.journals == n and f.open_rows == 0


def describe(db: Database, calls: Sequence[PlacedCall]) -> list[dict[str, Any]]:
    """What the database holds of each call (a failing test's message)."""
    out = []
    ids = [c.call_id for c in calls]
    with db.session(readonly=True) as s:
        found = {
            c.uniqueid: c for c in s.execute(select(Call).where(Call.uniqueid.in_(ids))).scalars()
        }
        appeals = dict(
            s.execute(
                select(Call.uniqueid, func.count(Appeal.id))
                .join(Appeal, Appeal.call_id == Call.id)
                .where(Call.uniqueid.in_(ids))
                .group_by(Call.uniqueid)
            ).all()
        )
        kinds: dict[str, list[str]] = {}
        for uid, source, kind in s.execute(
            select(CallEvent.call_uniqueid, CallEvent.source, CallEvent.kind)
            .where(CallEvent.call_uniqueid.in_(ids))
            .order_by(CallEvent.ts)
        ):
            kinds.setdefault(uid, []).append(f"{source}:{kind}")
    for uid in ids:
        row = found.get(uid)
        out.append(
            {
                "call": uid[-8:],
                "row": row is not None,
                "open": row is not None and row.ended_at is None,
                "outcome": row.outcome if row else None,
                "appeals": appeals.get(uid, 0),
                "journal": kinds.get(uid, [])[-6:],
            }
        )
    return out


# -- a small disk -------------------------------------------------------------------------------


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A file system of ``size`` at ``path`` (a tmpfs; needs root)."""
    if os.geteuid() != 0:
        raise RuntimeError("mounting a small tmpfs needs root (as ./test.sh runs)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        with contextlib.suppress(OSError):
            path.rmdir()


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; returns the filler (delete it to free the space)."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    with contextlib.suppress(OSError), filler.open("ab") as f:
        while True:
            f.write(b"\0")
            f.flush()
    return filler


# -- the scenarios ----------------------------------------------------------------------------

ACCOUNT = "1000000001"


async def until(probe: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """The first truthy value of ``probe()`` (sync or awaitable); AssertionError after ``timeout``."""
    import inspect

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def press(i: int) -> str:
    """Half the callers ask for the debt (4, then key in an account: the
    database is needed to find it), half for an operator (0: their appeal is
    registered)."""
    return "4" if i % 2 == 0 else "0"


async def hang_up(rig: CallRig, calls: Sequence[PlacedCall]) -> None:
    for call in calls:
        await rig.hangup_caller(call)
    await asyncio.gather(*(rig.wait_end(c, timeout=60) for c in calls))


async def wait_recorded(
    node: FaultNode, calls: Sequence[PlacedCall], timeout: float = 120
) -> Database:
    """Until every call has its row (closed), its appeal and its journal."""
    db = Database(node.database_url)
    try:
        await until(
            lambda: asyncio.to_thread(complete, db, calls),
            timeout,
            "every call's row, appeal and journal",
            interval=1.0,
        )
    except AssertionError as exc:
        state = await asyncio.to_thread(describe, db, calls)
        missing = [s for s in state if s["open"] or not s["appeals"] or not s["journal"]]
        raise AssertionError(f"{exc}: {missing}") from exc
    return db


async def database_fault(
    rig: CallRig, node: FaultNode, pg: PrivatePostgres, n: int, *, freeze: bool
) -> tuple[list[PlacedCall], Database, float]:
    """``n`` callers in the main menu; the database stopped (or frozen);
    they choose (:func:`press`) and every one must reach the queue while it
    is away; they hang up; the database comes back. Returns the calls, the
    node's database once everything is recorded, and the fault's time."""
    calls = await place_callers(rig, node, n)
    await asyncio.gather(*(rig.heard_start(c, "menu/main", timeout=120) for c in calls))
    fault_at = time.time()
    if freeze:
        pg.freeze()
    else:
        await asyncio.to_thread(pg.stop)

    async def choose(i: int, call: PlacedCall) -> None:
        await rig.send_dtmf(call, press(i))
        if press(i) == "4":  # asked for the account (the number is not on file)
            await rig.answer(call, "ident/required_for_debt", ACCOUNT + "#", timeout=60)

    await asyncio.gather(*(choose(i, c) for i, c in enumerate(calls)))
    await until(lambda: all(in_queue(c) for c in calls), 90, "every caller in the queue")
    await hang_up(rig, calls)
    if freeze:
        pg.thaw()
    else:
        await asyncio.to_thread(pg.start)
    db = await wait_recorded(node, calls)
    return calls, db, fault_at


async def service_killed(
    rig: CallRig, node: FaultNode, n: int
) -> tuple[list[PlacedCall], Database, float]:
    """``n`` callers in the main menu; the node SIGKILLed; every one must
    reach the queue (the fallback); the node starts again; they hang up."""
    calls = await place_callers(rig, node, n)
    await asyncio.gather(*(rig.heard_start(c, "menu/main", timeout=180) for c in calls))
    killed = time.time()
    await asyncio.to_thread(node.kill)
    await until(lambda: all(in_queue(c) for c in calls), 90, "every caller in the queue")
    await node.start()
    await hang_up(rig, calls)
    db = await wait_recorded(node, calls)
    return calls, db, killed
