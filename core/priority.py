"""CPU priority of the call-control process (REQ-T1: a caller's key gets its
answer at once, also when the node is busy).

On a node near its CPU limit, Asterisk runs hundreds of media threads (one
per channel, one per MixMonitor) that wake every 20 ms; ``hotline run`` is one
event loop that needs little CPU but is on every caller's critical path: a
key press waits for it. With equal weights the kernel let that loop wait in
the run queue for up to a few hundred milliseconds at a time
(bench/ivr_load.py: event-loop lag p99 27-39 ms, max 270-400 ms at 200 menu
callers on 2 cores), which became the p99 of the prompt-start latency.

So the process asks for a higher priority than Asterisk's at start:

* where the kernel groups tasks by session (``autogroup``, the default of
  Debian kernels for processes not placed in a cgroup by systemd), the
  session's group gets ``nice`` (``/proc/self/autogroup``);
* the process's own threads get the same ``nice`` (for kernels that schedule
  threads, not groups).

Under systemd each service has its own cgroup and the unit decides
(``deploy/systemd/hotline.service``: ``Nice=-5``, ``CPUWeight=400``).
A negative nice needs root or CAP_SYS_NICE; without it nothing changes and
one line says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")
AUTOGROUP_SWITCH = Path("/proc/sys/kernel/sched_autogroup_enabled")


def autogroup_nice(path: Path = AUTOGROUP) -> int | None:
    """The session group's nice: ``/autogroup-123 nice 0`` -> 0 (None: no such file)."""
    try:
        words = path.read_text().split()
    except OSError:
        return None
    if len(words) >= 3 and words[1] == "nice":
        try:
            return int(words[2])
        except ValueError:
            return None
    return None


def raise_cpu_priority(
    nice: int,
    *,
    autogroup: Path = AUTOGROUP,
    autogroup_switch: Path = AUTOGROUP_SWITCH,
) -> list[str]:
    """Ask for ``nice`` (lower = more CPU) for this process; never lowers a
    priority already higher. Returns what was changed (empty: nothing)."""
    done: list[str] = []
    if nice == 0:
        return done
    try:
        grouped = autogroup_switch.read_text().strip() == "1"
    except OSError:
        grouped = False
    current = autogroup_nice(autogroup) if grouped else None
    if current is not None and current > nice:
        try:
            autogroup.write_text(str(nice))
            done.append(f"session group nice {current} -> {nice}")
        except OSError as exc:
            log.info("CPU priority of the session group unchanged (%s)", exc.strerror or exc)
    try:
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        if mine > nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
            done.append(f"process nice {mine} -> {nice}")
    except OSError as exc:
        log.info(
            "CPU priority unchanged (%s): give the service Nice=%d / CPUWeight in its "
            "systemd unit, or CAP_SYS_NICE",
            exc.strerror or exc,
            nice,
        )
    if done:
        log.info("CPU priority: %s", "; ".join(done))
    return done
