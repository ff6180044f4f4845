"""The durable spool (issue 13, items 1 and 8): records survive a SIGKILL,
are replayed in order and once checkpointed, a torn last line is skipped,
the spool is bounded, and its reserved space takes the records of a full
disk (a real, full tmpfs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.spool import Spool, SpoolError, SpoolFull
from hotline.faultrig import fill

REPO = Path(__file__).resolve().parents[2]


def _collect(spool: Spool) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    spool.replay(got.append)
    return got


def test_records_are_replayed_in_order_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "node1", reserve_bytes=0)
    spool.open()
    assert not spool.has_backlog()
    for i in range(5):
        spool.append({"op": "x", "key": f"call-{i % 2}", "n": i, "text": "абонент"})
    assert spool.has_backlog()
    assert spool.stats().records == 5
    assert [r["n"] for r in _collect(spool)] == [0, 1, 2, 3, 4]
    assert not spool.has_backlog()
    assert _collect(spool) == [], "a replayed record is not applied again"
    spool.append({"n": 5})
    assert [r["n"] for r in _collect(spool)] == [5], "an applied spool starts afresh"
    spool.close()
    assert not spool.path.exists()


def test_replay_stops_at_the_first_failure_and_resumes_there(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "node1", reserve_bytes=0)
    spool.open()
    for i in range(4):
        spool.append({"n": i})
    applied: list[int] = []

    def apply(record: dict[str, Any]) -> None:
        if record["n"] == 2 and not applied.count(-1):
            applied.append(-1)
            raise ConnectionError("database away")
        applied.append(record["n"])

    with pytest.raises(ConnectionError):
        spool.replay(apply)
    assert applied == [0, 1, -1]
    assert spool.has_backlog()
    spool.replay(apply)
    assert applied == [0, 1, -1, 2, 3], "nothing overtaken, nothing applied twice"
    spool.close()


def test_records_survive_a_killed_process_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    """A real process appends, is SIGKILLed in the middle of a line; another
    process's spool in the same directory replays what was acknowledged."""
    directory = tmp_path / "spool"
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from core.spool import Spool
        spool = Spool({str(directory)!r}, "node1", reserve_bytes=0)
        spool.open()
        for i in range(3):
            spool.append({{"n": i}})
        os.pwrite(spool._fd, b'0000abcd {{"n": 99', spool._size)  # torn: dies mid-line
        print("appended", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.strip() == "appended"
    survivor = Spool(directory, "node1", reserve_bytes=0)
    survivor.open()
    assert survivor.has_backlog(), "the dead process's file is found at start"
    assert [r["n"] for r in _collect(survivor)] == [0, 1, 2]
    assert not survivor.has_backlog()
    assert [p.name for p in directory.iterdir() if p.name.endswith(".spool")] == [
        survivor.path.name
    ], "a replayed file of a dead process is removed"
    survivor.close()


def test_a_live_process_file_is_left_to_it(tmp_path: Path) -> None:
    one = Spool(tmp_path, "node1", reserve_bytes=0)
    two = Spool(tmp_path, "node1", reserve_bytes=0)
    one.open()
    two.open()
    one.append({"n": 1})
    assert _collect(two) == [], "one's file is locked: one replays it"
    assert [r["n"] for r in _collect(one)] == [1]
    one.close()
    two.close()


def test_the_spool_is_bounded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "node1", max_bytes=200, reserve_bytes=0)
    spool.open()
    spool.append({"n": 1})
    with pytest.raises(SpoolFull):
        for i in range(50):
            spool.append({"n": i, "pad": "x" * 20})
    assert spool.refused == 1
    spool.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB file system (tmpfs), to be filled."""
    if os.geteuid() != 0:
        pytest.fail("mounting a small tmpfs needs root (as ./test.sh runs)", pytrace=False)
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_takes_the_records_from_the_reserve(small_disk: Path) -> None:
    """The reserve is allocated inside the spool's own file: what else fills
    the disk (recordings, the database) cannot take it."""
    spool = Spool(small_disk / "spool", "node1", reserve_bytes=64 * 1024)
    spool.open()
    assert spool.reserve_left() == 64 * 1024
    filler = fill(small_disk)
    with pytest.raises(OSError), (small_disk / "probe").open("wb") as f:
        f.write(b"\0" * 8192)
        f.flush()
        os.fsync(f.fileno())
    record = {"op": "call.record", "text": "запись звонка " * 20}
    taken = 0
    with pytest.raises(SpoolError):
        for taken in range(10_000):
            spool.append({**record, "n": taken})
    assert taken > 100, "the reserve took the records of a full disk"
    assert spool.refused == 1, "refused once the reserve is used up, and counted"
    assert [r["n"] for r in _collect(spool)] == list(range(taken))
    assert spool.reserve_left() >= 64 * 1024, "replayed: its space is the reserve again"
    filler.unlink()  # space again: the spool grows beyond its reserve as it needs
    for i in range(300):
        spool.append({**record, "n": i})
    assert spool.reserve_left() >= 32 * 1024 and not spool.disk_full
    spool.close()
