"""A durable local spool: what must not be lost while the database is away
(issue 13, items 1 and 8).

An append-only file per node and process (``<node>.<pid>.<start>.spool``) in
a directory of its own. Every record is one line ``<crc32> <json>\\n``,
written and ``fsync``'d before :meth:`Spool.append` returns, so a record the
caller was told is spooled survives a SIGKILL or a power cut; a torn last
line (the process died inside ``write``) fails its CRC and is skipped — it
was never acknowledged.

Bounded: the spool refuses to grow past ``max_bytes`` (:class:`SpoolFull`).
Reserved space: the file is allocated ``reserve_bytes`` ahead of its data
(``posix_fallocate``) and records are written into that space (``pwrite``
at the data's end; the unwritten rest reads as NUL bytes, where reading
stops), so on a full disk the calls' records still fit — nobody else on the
file system (recordings, the database) can take that space. It is extended
a step at a time while the disk has room.

Replay (:meth:`Spool.replay`) reads the records in order — this process's
file and the files of processes that are gone (their ``flock`` is free) —
hands each to ``apply`` and checkpoints the offset reached (``.done``,
replaced atomically). ``apply`` must be idempotent: a crash between applying
a record and checkpointing it applies it again. A file of a dead process is
deleted once replayed; this process's own file is truncated when everything
in it is applied.

This module knows nothing of databases: records are JSON objects.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["Spool", "SpoolError", "SpoolFull", "SpoolStats"]

log = logging.getLogger(__name__)

SUFFIX: Final = ".spool"
_PEEK: Final = 64 * 1024
_STEP: Final = 1024 * 1024
"""The allocation grows by at least this much once the reserve is half used."""


class SpoolError(RuntimeError):
    """A record could not be made durable."""


class SpoolFull(SpoolError):
    """The spool reached its bound: the record was refused."""


@dataclass(frozen=True)
class SpoolStats:
    records: int
    """Records waiting for replay (every file in the directory)."""
    bytes: int
    files: int
    reserve_bytes: int
    """Allocated and not yet written in this process's file."""
    oldest_age_seconds: float | None


def _encode(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def _decode(line: bytes) -> dict[str, Any] | None:
    if not line.endswith(b"\n") or len(line) < 11 or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Spool:
    """One process's spool file in ``directory`` (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        node: str,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        reserve_bytes: int = 64 * 1024 * 1024,
        fsync: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.node = node
        self.max_bytes = max_bytes
        self.reserve_bytes = reserve_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        """The end of the data written (the file is allocated beyond it)."""
        self._allocated = 0
        self.disk_full = False
        """The last try to extend the allocation found the disk full."""
        self._pending = 0
        self._changed = threading.Event()
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in node) or "node"
        self.path = self.directory / f"{safe}.{os.getpid()}.{time.time_ns()}{SUFFIX}"
        self.refused = 0
        """Records refused (spool full or the disk failing): lost, and reported."""
        self._orphans = False
        """Files of processes that are gone wait in the directory (checked at
        open and after each replay, not on every write)."""

    # -- the writer ---------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory and this process's file (locked, its reserve allocated)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd = fd
        self._size = 0
        self._allocated = os.fstat(fd).st_size
        self._allocate(self.reserve_bytes)
        _fsync_dir(self.directory)
        self._orphans = any(p != self.path for p in self._files())

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)  # releases the flock: another process may replay it
            if self._pending == 0 and self.path.exists():
                with contextlib.suppress(OSError):
                    self.path.unlink()
                    _done_path(self.path).unlink(missing_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        """Make ``record`` durable (written and fsync'd) or raise :class:`SpoolError`."""
        line = _encode(record)
        with self._lock:
            if self._fd is None:
                try:
                    self.open()
                except OSError as exc:
                    self.refused += 1
                    raise SpoolError(f"the spool could not be opened: {exc}") from exc
            if self._size + len(line) > self.max_bytes:
                self.refused += 1
                raise SpoolFull(f"the spool is full ({self.max_bytes // (1024 * 1024)} MB)")
            if self._allocated - self._size < max(len(line), self.reserve_bytes // 2):
                # Grow while the disk has room; a full disk keeps what is left.
                self._allocate(self._size + len(line) + max(self.reserve_bytes, _STEP))
            if self._size + len(line) > self._allocated and not self._allocate(
                self._size + len(line)
            ):
                self.refused += 1
                raise SpoolError("the disk is full and the spool's reserve is used up")
            try:
                self._write(line)
            except OSError as exc:
                self.refused += 1
                raise SpoolError(f"the spool could not be written: {exc}") from exc
            self._size += len(line)
            self._pending += 1
        self._changed.set()

    def _write(self, line: bytes) -> None:
        assert self._fd is not None
        view = memoryview(line)
        at = self._size
        while view:
            n = os.pwrite(self._fd, view, at)
            view, at = view[n:], at + n
        if self._fsync:
            os.fsync(self._fd)

    def _allocate(self, size: int) -> bool:
        """Make the file's allocation at least ``size`` bytes; False on a full disk."""
        if size <= self._allocated or self._fd is None:
            return size <= self._allocated
        try:
            os.posix_fallocate(self._fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            if not self.disk_full:
                log.error(
                    "disk full: the spool writes into its reserve (%d bytes)", self.reserve_left()
                )
            self.disk_full = True
            return False
        self._allocated = size
        self.disk_full = False
        return True

    def reserve_left(self) -> int:
        """Allocated and not yet written."""
        return max(0, self._allocated - self._size) if self._fd is not None else 0

    # -- the backlog -------------------------------------------------------------------------

    def has_backlog(self) -> bool:
        """Anything waiting: this process's records, or another process's file."""
        return bool(self._pending) or self._orphans

    def _files(self) -> list[Path]:
        try:
            return sorted(
                (p for p in self.directory.iterdir() if p.name.endswith(SUFFIX)),
                key=lambda p: p.stat().st_mtime_ns,
            )
        except OSError:
            return []

    def stats(self) -> SpoolStats:
        records = size = files = 0
        oldest: float | None = None
        now = time.time()
        for path in self._files():
            start = _read_done(path)
            count = 0
            first_ts: float | None = None
            end = start
            for record, end in _records(path, start):  # noqa: B007
                count += 1
                if first_ts is None:
                    first_ts = float(record.get("at", now))
            if count == 0:
                continue
            files += 1
            records += count
            size += end - start
            if first_ts is not None:
                age = max(0.0, now - first_ts)
                oldest = age if oldest is None else max(oldest, age)
        return SpoolStats(records, size, files, self.reserve_left(), oldest)

    def wait_changed(self, timeout: float) -> bool:
        """Block until a record is appended (or ``timeout``); for the replayer's thread."""
        got = self._changed.wait(timeout)
        self._changed.clear()
        return got

    # -- replay ----------------------------------------------------------------------------

    def replay(self, apply: Callable[[dict[str, Any]], None]) -> int:
        """Apply every waiting record in order; returns how many were applied.

        Stops at the first record ``apply`` raises on (the exception
        propagates; what was applied before it is checkpointed), so the order
        is kept: a later record never overtakes an earlier one."""
        applied = 0
        for path in self._files():
            own = path == self.path
            if own:
                applied += self._replay_file(path, apply, own=True)
                continue
            lock = _try_lock(path)
            if lock is None:
                continue  # a live process's file: it replays it itself
            try:
                applied += self._replay_file(path, apply, own=False)
                for p in (path, _done_path(path)):
                    p.unlink(missing_ok=True)
                log.info("spool %s of a previous process replayed", path.name)
            finally:
                os.close(lock)
        self._orphans = any(p != self.path for p in self._files())
        return applied

    def _replay_file(
        self, path: Path, apply: Callable[[dict[str, Any]], None], *, own: bool
    ) -> int:
        start = _read_done(path)
        applied = 0
        end = start
        try:
            for record, end_offset in _records(path, start):
                apply(record)
                applied += 1
                end = end_offset
                if own:
                    with self._lock:
                        self._pending = max(0, self._pending - 1)
        finally:
            if end != start:
                try:
                    _write_done(path, end)
                except OSError as exc:  # a full disk: the replay is idempotent
                    log.warning("spool checkpoint not written: %s", exc)
        if own:
            self._truncate_if_done(end)
        return applied

    def _truncate_if_done(self, end: int) -> None:
        """Everything in this process's file is applied: start it afresh."""
        with self._lock:
            if self._fd is None or self._pending or self._size != end:
                return
            # Zeroed, not truncated: the allocation (the reserve) is kept.
            os.pwrite(self._fd, b"\0" * self._size, 0)
            if self._fsync:
                os.fsync(self._fd)
            self._size = 0
            _done_path(self.path).unlink(missing_ok=True)


def _records(path: Path, start: int) -> Iterator[tuple[dict[str, Any], int]]:
    """``(record, offset after it)`` from ``start``, up to the allocated space
    after the data (NUL bytes); a torn or corrupt line is skipped."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    with f:
        f.seek(start)
        offset = start
        while True:
            line = f.readline(_PEEK)
            if not line or line.startswith(b"\0"):
                return  # the end, or the allocated space after the data
            while not line.endswith(b"\n"):
                more = f.readline(_PEEK)
                line += more
                if not more or b"\0" in more:
                    break  # a torn line, then the allocated space
            record = _decode(line)
            if record is None:
                if b"\0" in line:
                    return
                offset += len(line)
                log.error("spool %s: a corrupt record at %d skipped", path.name, offset)
                continue
            offset += len(line)
            yield record, offset


def _done_path(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def _read_done(path: Path) -> int:
    try:
        return int(_done_path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_done(path: Path, offset: int) -> None:
    done = _done_path(path)
    tmp = done.with_name(done.name + ".tmp")
    with tmp.open("w") as f:
        f.write(str(offset))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, done)


def _try_lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
