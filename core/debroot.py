"""Private Debian roots built with mmdebstrap, cached and stamped.

The Asterisk sandbox (hotline.sandbox) and the RHVoice root of the prompts
(ivr.prompts) are both small Debian sid systems built from packages on first
use (PLATFORM.md): the target is built next to its final place and renamed
over it, a stamp file records what it holds, and a lock lets one of several
processes that ask at once build it while the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

DEBIAN_MIRROR = "http://deb.debian.org/debian"
STAMP = ".hotline-root"


class RootUnavailableError(RuntimeError):
    """The root cannot be built here; the message says why and what to do."""


def stamp_of(root: Path) -> str | None:
    """The version a built root was stamped with, None if it is not built."""
    try:
        return (root / STAMP).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def ensure_root(
    root: Path,
    packages: Sequence[str],
    version: str,
    *,
    components: Sequence[str] = ("main",),
    what: str = "Debian root",
    carry_over: Callable[[Path, Path], None] | None = None,
    timeout: float = 1200,
) -> bool:
    """Build ``root`` with ``packages`` unless it is stamped ``version``.

    Returns whether it was built now. An older root (another stamp) is
    replaced whole: the new one is built beside it, ``carry_over(old, new)``
    moves what must survive, then the new one takes its place.
    """
    if stamp_of(root) == version:
        return False
    if os.geteuid() != 0:
        raise RootUnavailableError(f"building the {what} in {root} needs root (mmdebstrap, chroot)")
    ensure_mmdebstrap()
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp_of(root) == version:
            return False  # another process built it while this one waited
        tmp = root.with_name(root.name + ".build")
        if tmp.exists():
            # An interrupted mmdebstrap leaves /proc, /sys and /dev/pts mounted
            # inside its target: unmount them before removing the directory.
            unmount_under(tmp)
            shutil.rmtree(tmp)
        log.info("building the %s in %s (Debian sid: %s)", what, root, ", ".join(packages))
        cmd = [
            "mmdebstrap",
            "--variant=apt",
            '--aptopt=Acquire::Check-Valid-Until "false"',
            "--components=" + " ".join(components),
            "--include=" + ",".join(packages),
            "sid",
            str(tmp),
            DEBIAN_MIRROR,
        ]
        try:
            subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        except subprocess.CalledProcessError as exc:
            unmount_under(tmp)
            raise RootUnavailableError(
                f"mmdebstrap failed ({exc.returncode}) building the {what}:\n"
                f"{(exc.stderr or exc.stdout or '')[-2000:]}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            unmount_under(tmp)
            raise RootUnavailableError(
                f"mmdebstrap timed out after {timeout:.0f} s building the {what}"
            ) from exc
        if root.exists():
            if carry_over is not None:
                carry_over(root, tmp)
            shutil.rmtree(root)
        tmp.rename(root)
        (root / STAMP).write_text(version + "\n", encoding="utf-8")
        return True


def ensure_mmdebstrap() -> None:
    """Install mmdebstrap from Debian if it is missing."""
    if shutil.which("mmdebstrap"):
        return
    if shutil.which("apt-get") is None:
        raise RootUnavailableError(
            "mmdebstrap is missing and this is not a Debian/Ubuntu system (no apt-get)"
        )
    log.info("installing mmdebstrap from Debian")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd, timeout in (
        (["apt-get", "update", "-qq"], 600),
        (["apt-get", "install", "-y", "-qq", "mmdebstrap"], 900),
    ):
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=True, env=env)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise RootUnavailableError(f"cannot install mmdebstrap: {exc}") from exc


def unmount_under(path: Path) -> None:
    """Lazily unmount every mount point below ``path``, deepest first."""
    prefix = str(path.resolve()) + "/"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    points = [m.split()[1] for m in mounts if len(m.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
