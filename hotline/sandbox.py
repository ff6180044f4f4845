"""The Asterisk sandbox owned by the project: ``hotline asterisk up|down|status|cli``.

Two routes to a real Asterisk 22:

- a **system Asterisk** (``/usr/sbin/asterisk``) is used when installed;
- otherwise, on Debian/Ubuntu, a **private root** is built from Debian sid
  packages with ``mmdebstrap`` (PLATFORM.md), cached outside the repository
  (``~/.cache/hotline/asterisk-22-root``) and reused.

Either way the project runs its *own instance*: configuration rendered from
``asterisk-conf/`` and ``dialplans/`` into ``<data_dir>/asterisk/etc``, with
its own run, log, spool and database directories, so a system Asterisk
service is never touched. AMI listens on 127.0.0.1 only with a generated
secret; Russian sounds are reachable as language ``ru``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

from core.settings import Settings, system_asterisk
from hotline.slices import SLICES, ami_events
from telephony.contract import Var

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
CONF_SRC = REPO / "asterisk-conf"
DIALPLAN_SRC = REPO / "dialplans"
SID_PACKAGES = [
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-ru-gsm",
    "asterisk-core-sounds-en-gsm",
    "python3",
    "python3-sqlalchemy",
    "python3-alembic",
    "python3-phonenumbers",
    "python3-holidays",
    "python3-num2words",
    "python3-openpyxl",
    "python3-psycopg",
    "python3-aiohttp",
]
# Pure-Python packages not in Debian, copied into the root from this host.
VENDORED = ("asterisk", "panoramisk", "six")
ROOT_STAMP = ".hotline-root"
ROOT_VERSION = "1:" + ",".join(SID_PACKAGES)
DEBIAN_MIRROR = "http://deb.debian.org/debian"


SECRET_CONF = frozenset({"manager.conf", "pjsip.conf"})
"""Rendered configuration holding secrets (AMI, SIP): created 0640."""


def write_file(path: Path, text: str, mode: int) -> None:
    """Write ``path`` created with ``mode`` (never chmod-ed afterwards: a file
    with a secret is never readable by others, even for a moment). An
    existing file is replaced whole (a new file renamed over it: a reader —
    Asterisk starting — sees the old or the new, never a missing or a half
    file), so an older, wider mode does not survive."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class SandboxError(RuntimeError):
    """Asterisk cannot be provided; the message says what to install or fix."""


def _run(
    cmd: list[str], timeout: float, check: bool = True, **kw: object
) -> subprocess.CompletedProcess[str]:
    log.debug("run %s", cmd)
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=check, **kw
        )  # type: ignore[call-overload]
    except subprocess.CalledProcessError as exc:
        raise SandboxError(
            f"command failed ({exc.returncode}): {' '.join(cmd)}\n{(exc.stderr or exc.stdout or '')[-2000:]}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"command timed out after {timeout}s: {' '.join(cmd)}") from exc


@dataclass
class Status:
    running: bool
    pid: int | None
    detail: str


class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.root = settings.root
        self.private = self.root != Path("/")
        self.base = settings.data / "asterisk"
        self.etc = self.base / "etc"
        self.log_dir = self.base / "log"
        self.run_dir = self.base / "run"

    # -- paths ----------------------------------------------------------------
    @property
    def conf_file(self) -> Path:
        return self.etc / "asterisk.conf"

    @property
    def messages_log(self) -> Path:
        return self.log_dir / "messages"

    @property
    def full_log(self) -> Path:
        return self.log_dir / "full"

    def _prefix(self) -> list[str]:
        return ["chroot", str(self.root)] if self.private else []

    def _asterisk(self) -> list[str]:
        return [*self._prefix(), "/usr/sbin/asterisk" if self.private else str(system_asterisk())]

    # -- the private root -----------------------------------------------------
    def ensure_root(self) -> None:
        """Build the private root once (cached), or check the system Asterisk."""
        if not self.private:
            if system_asterisk() is None:
                raise SandboxError(
                    "asterisk_mode=system but no Asterisk is installed "
                    "(install the 'asterisk' package, or use asterisk_mode=sandbox)"
                )
            return
        stamp = self.root / ROOT_STAMP
        if stamp.exists() and stamp.read_text().strip() == ROOT_VERSION:
            return
        if os.geteuid() != 0:
            raise SandboxError(
                "building the private Asterisk root needs root (chroot, mmdebstrap). "
                "Run as root, or install Asterisk 22 system-wide and set asterisk_mode=system."
            )
        self._ensure_mmdebstrap()
        # Several processes (parallel test sessions, a demo) may ask at once:
        # one builds, the others wait for it and reuse its root.
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with open(self.root.with_name(self.root.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if stamp.exists() and stamp.read_text().strip() == ROOT_VERSION:
                return
            self._build_root()

    def _build_root(self) -> None:
        tmp = self.root.with_name(self.root.name + ".build")
        if tmp.exists():
            # An interrupted mmdebstrap leaves /proc, /sys and /dev/pts mounted
            # inside its target: unmount them before removing the directory.
            _unmount_under(tmp)
            shutil.rmtree(tmp)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        log.info("building the Asterisk 22 root in %s (Debian sid, about a minute)", self.root)
        _run(
            [
                "mmdebstrap",
                "--variant=apt",
                '--aptopt=Acquire::Check-Valid-Until "false"',
                "--include=" + ",".join(SID_PACKAGES),
                "sid",
                str(tmp),
                DEBIAN_MIRROR,
            ],
            timeout=1200,
        )
        if self.root.exists():
            # The default data directory lives in the root: carry it over.
            data = self.root / "var/lib/hotline"
            if data.is_dir():
                (tmp / "var/lib").mkdir(parents=True, exist_ok=True)
                shutil.rmtree(tmp / "var/lib/hotline", ignore_errors=True)
                data.rename(tmp / "var/lib/hotline")
            shutil.rmtree(self.root)
        tmp.rename(self.root)
        (self.root / ROOT_STAMP).write_text(ROOT_VERSION + "\n")

    @staticmethod
    def _ensure_mmdebstrap() -> None:
        if shutil.which("mmdebstrap"):
            return
        if shutil.which("apt-get") is None:
            raise SandboxError(
                "no Asterisk found and this is not a Debian/Ubuntu system: install Asterisk 22 "
                "(package 'asterisk' with Russian sounds) and set asterisk_mode=system"
            )
        log.info("installing mmdebstrap from Debian")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "update", "-qq"], timeout=600, env=env)
        _run(["apt-get", "install", "-y", "-qq", "mmdebstrap"], timeout=900, env=env)

    def agi_python(self) -> str:
        """Python for process-AGI scripts, as Asterisk sees it. In a private
        root: Debian's python3 with the Debian packages of our dependencies
        (installed with the root); the pure-Python ones (pyst2, panoramisk)
        are copied from this host's environment at render time."""
        return "/usr/bin/python3" if self.private else sys.executable

    # -- rendering --------------------------------------------------------------
    def _moddir(self) -> str:
        conf = self.root / "etc/asterisk/asterisk.conf"
        if conf.exists():
            for line in conf.read_text(errors="replace").splitlines():
                if line.strip().startswith("astmoddir"):
                    return line.split("=>", 1)[1].strip()
        for cand in (
            "usr/lib/x86_64-linux-gnu/asterisk/modules",
            "usr/lib/asterisk/modules",
            "usr/lib64/asterisk/modules",
        ):
            if (self.root / cand).is_dir():
                return "/" + cand
        raise SandboxError("cannot find Asterisk's module directory")

    def _sounds_ok(self) -> None:
        sounds = self.root / "usr/share/asterisk/sounds"
        ru = sounds / "ru"
        if ru.exists():
            return
        src = sounds / "ru_RU_f_IvrvoiceRU"
        if self.private and src.is_dir():
            ru.symlink_to("ru_RU_f_IvrvoiceRU")
        else:
            log.warning("Russian sounds are missing (%s): install asterisk-core-sounds-ru", ru)

    def template_vars(self) -> dict[str, str]:
        s = self.s
        ap = s.ast_path
        return {
            "ASTETCDIR": ap(self.etc),
            "ASTRUNDIR": ap(self.run_dir),
            "ASTLOGDIR": ap(self.log_dir),
            "ASTSPOOLDIR": ap(self.base / "spool"),
            "ASTDBDIR": ap(self.base / "db"),
            "ASTAGIDIR": ap(self.base / "agi-bin"),
            "ASTMODDIR": self._moddir(),
            "AMI_HOST": s.ami_host,
            "AMI_PORT": str(s.ami_port),
            "AMI_USER": s.ami_user,
            "AMI_SECRET": s.secret(),
            # Production logs keep no keys typed (account numbers) and no
            # caller numbers (verbose lines); test mode reads played prompts.
            "FULL_LOG": "notice,warning,error,verbose(3)"
            if s.test_mode
            else "notice,warning,error",
            "AMI_EVENTFILTERS": "\n".join(
                f"eventfilter(action(include),name({name})) =" for name in ami_events()
            ),
            "AMI_TEST_USER": _test_ami_user(s) if s.test_mode else "",
            "SIP_PORT": str(s.sip_port),
            "SIP_HOST": s.sip_host,
            "TRUNK_HOST": s.sip_trunk_host,
            "TRUNK_PORT": str(s.sip_trunk_port),
            "QUEUE": s.queue_name,
            "AGI_URL": s.agi_url,
            "SOUNDS": ap(s.sounds_dir),
            "SPOOL": ap(s.spool_dir),
            "AUDIOSOCKET": f"{s.fastagi_host}:{s.audiosocket_port}",
            "CALLBACK_AFTER": str(s.queue_callback_after),
            "SPECIALIST_QUEUE": s.specialist_queue,
            "NODE": s.node_name,
        }

    def render(self) -> bool:
        """Render asterisk-conf/ and dialplans/ into the instance's etc dir;
        whether any configuration file changed (only those are rewritten)."""
        self._sounds_ok()
        for d in (
            self.etc,
            self.log_dir,
            self.run_dir,
            self.base / "spool",
            self.base / "db",
            self.base / "agi-bin",
            self.s.spool_dir,
            self.s.sounds_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        values = self.template_vars()
        files: dict[str, str] = {}
        for src in sorted(CONF_SRC.glob("*.conf")):
            files[src.name] = Template(src.read_text(encoding="utf-8")).substitute(values)
        # dialplan: globals carry the contract values, then the dialplan files
        lines = ["; rendered by hotline — do not edit, edit dialplans/ instead", "[globals]"]
        lines += [
            f"{Var.AGI}={values['AGI_URL']}",
            f"{Var.SOUNDS}={values['SOUNDS']}",
            f"{Var.SPOOL}={values['SPOOL']}",
            f"{Var.LANGUAGE}=ru",
            f"{Var.AUDIOSOCKET}={values['AUDIOSOCKET']}",
            f"{Var.QUEUE_NAME}={values['QUEUE']}",
            f"{Var.CALLBACK_AFTER}={values['CALLBACK_AFTER']}",
            f"{Var.SPECIALIST_QUEUE}={values['SPECIALIST_QUEUE']}",
            f"{Var.OUTBOUND_CID}={self.s.outbound_caller_id}",
            f"{Var.AGI_SCRIPT}={values['ASTAGIDIR']}/hotline-agi",
            "",
        ]
        for src in sorted(DIALPLAN_SRC.glob("*.conf")):
            if src.name.startswith("test") and not self.s.test_mode:
                continue
            lines.append(f"; ---- {src.name}")
            lines.append(src.read_text(encoding="utf-8"))
        files["extensions.conf"] = "\n".join(lines)
        # What the slices add (the operators' phones in pjsip.conf, the
        # survey's contexts in extensions.conf).
        for sl in SLICES:
            if sl.asterisk_conf is None:
                continue
            for name, extra in sl.asterisk_conf(self.s).items():
                if name not in files:
                    raise SandboxError(f"slice {sl.name} adds to {name}, which is not rendered")
                files[name] += f"\n; ---- added by the {sl.name} slice\n{extra}"
        changed = False
        for stale in self.etc.glob("*.conf"):
            if stale.name not in files:
                stale.unlink()
                changed = True
        for name, text in files.items():
            target = self.etc / name
            mode = 0o640 if name in SECRET_CONF else 0o644
            if target.is_file() and target.read_text(encoding="utf-8") == text:
                continue
            write_file(target, text, mode)
            changed = True
        self._render_agi_wrapper()
        return changed

    def _render_agi_wrapper(self) -> None:
        s = self.s
        if self.private:
            src_dst = self.base / "agi-src"  # per instance: parallel sessions never share it
            if src_dst.exists():
                shutil.rmtree(src_dst)
            src_dst.mkdir(parents=True)
            # The layers below the slices, every slice (its package is its
            # name), the composition root and the AGI entry point.
            for pkg in ("core", "telephony", *(sl.name for sl in SLICES), "hotline", "agi_scripts"):
                shutil.copytree(
                    REPO / pkg, src_dst / pkg, ignore=shutil.ignore_patterns("__pycache__")
                )
            shutil.copytree(
                REPO / "recordings",
                src_dst / "recordings",
                ignore=shutil.ignore_patterns("generated", "*.wav"),
            )
            import importlib

            for name in VENDORED:
                mod = importlib.import_module(name)
                assert mod.__file__ is not None
                path = Path(mod.__file__)
                if path.name == "__init__.py":
                    shutil.copytree(
                        path.parent, src_dst / name, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:  # a single-module distribution (six)
                    shutil.copyfile(path, src_dst / path.name)
            python = self.agi_python()
            pythonpath = self.s.ast_path(src_dst)
        else:
            python = sys.executable
            pythonpath = str(REPO)
        db_url = s.db_url
        if db_url.startswith("sqlite:///"):
            db_url = "sqlite:///" + s.ast_path(Path(db_url[len("sqlite:///") :]))
        conf = self.base / "hotline-agi.toml"  # holds the database URL and its password
        write_file(
            conf,
            "[hotline]\n"
            f'asterisk_root = "/"\n'
            f'asterisk_mode = "system"\n'
            f'data_dir = "{s.ast_path(s.data)}"\n'
            f'database_url = "{db_url}"\n'
            f'timezone = "{s.timezone}"\n'
            f'working_hours = "{s.working_hours}"\n',
            0o640,
        )
        wrapper = self.base / "agi-bin" / "hotline-agi"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"export HOTLINE_CONFIG={s.ast_path(conf)}\n"
            f"export PYTHONPATH={pythonpath}\n"
            f'exec {python} -m agi_scripts.hotline_agi "$@"\n',
            encoding="utf-8",
        )
        wrapper.chmod(0o755)

    # -- process control ----------------------------------------------------------
    def cli(self, command: str, timeout: float = 15.0, check: bool = True) -> str:
        cp = _run(
            [*self._asterisk(), "-C", self.s.ast_path(self.conf_file), "-rx", command],
            timeout=timeout,
            check=check,
        )
        return cp.stdout

    def status(self) -> Status:
        pid = self._pid()
        if pid is None:
            return Status(False, None, "not running")
        try:
            out = self.cli("core show uptime", timeout=5, check=True)
        except SandboxError as exc:
            return Status(False, pid, f"process {pid} does not answer: {exc}")
        return Status(True, pid, out.strip())

    def _pid(self) -> int | None:
        pidfile = self.run_dir / "asterisk.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def up(self, timeout: float = 60.0) -> Status:
        """Build (once), render, start and wait for readiness. Idempotent:
        a running instance gets its configuration reloaded instead."""
        self.ensure_root()
        if self._pid() is not None and self.status().running:
            # A running instance may still be booting (just restarted): it is
            # reading its configuration, which is rendered only once it has
            # booted, and reloaded only if it changed (a restarted Asterisk
            # has read what is there).
            self._wait_booted(time.monotonic() + timeout)
            if self.render():
                self.cli("core reload")
            return self.status()
        self.render()
        for f in (self.messages_log, self.full_log):
            if f.exists() and f.stat().st_size > 20_000_000:
                f.unlink()
        console = open(self.log_dir / "console.log", "ab")
        try:
            subprocess.Popen(
                [*self._asterisk(), "-f", "-n", "-C", self.s.ast_path(self.conf_file)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            console.close()
        self._wait_booted(time.monotonic() + timeout)
        return self.status()

    def _wait_booted(self, deadline: float) -> None:
        """Until Asterisk says it is fully booted (``core waitfullybooted``)."""
        last = ""
        while time.monotonic() < deadline:
            time.sleep(0.3)
            cp = subprocess.run(
                [
                    *self._asterisk(),
                    "-C",
                    self.s.ast_path(self.conf_file),
                    "-rx",
                    "core waitfullybooted",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            last = (cp.stdout + cp.stderr).strip()
            if cp.returncode == 0 and "fully booted" in last.lower():
                return
        raise SandboxError(f"Asterisk did not become ready in time: {last}\n{self.log_tail()}")

    def down(self, timeout: float = 20.0) -> None:
        pid = self._pid()
        if pid is None:
            return
        subprocess.run(
            [*self._asterisk(), "-C", self.s.ast_path(self.conf_file), "-rx", "core stop now"],
            capture_output=True,
            timeout=15,
            check=False,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._pid() is None:
                return
            time.sleep(0.2)
        log.warning("Asterisk %s did not stop in %ss, killing it", pid, timeout)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass

    def warnings(self, limit: int = 40) -> str:
        """Asterisk's warnings and errors since it started (the module loader's
        start-up noise left out): a failing test shows them, e.g. a voice
        queue Asterisk had to cut ("Exceptionally long voice queue length")."""
        if not self.messages_log.exists():
            return "(no Asterisk messages log)"
        lines = [
            line
            for line in self.messages_log.read_text(errors="replace").splitlines()
            if ("WARNING" in line or "ERROR" in line) and "loader.c" not in line
        ]
        return "\n".join(lines[-limit:]) or "(none)"

    def log_tail(self, lines: int = 60) -> str:
        for f in (self.full_log, self.messages_log, self.log_dir / "console.log"):
            if f.exists():
                text = f.read_text(errors="replace").splitlines()
                return f"--- last {lines} lines of {f}:\n" + "\n".join(text[-lines:])
        return "(no Asterisk log yet)"


def _unmount_under(path: Path) -> None:
    """Lazily unmount every mount point below ``path``, deepest first."""
    prefix = str(path.resolve()) + "/"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    points = [m.split()[1] for m in mounts if len(m.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _test_ami_user(s: Settings) -> str:
    """The test-mode AMI user of the test and bench tools: every event but the
    noisiest, and ``system`` write for the AMI ``Filter`` by which a tool
    narrows its own session."""
    return "\n".join(
        [
            f"[{s.ami_test_user}]",
            f"secret = {s.test_secret()}",
            "deny = 0.0.0.0/0.0.0.0",
            "permit = 127.0.0.0/255.0.0.0",
            "read = system,call,agent,user,dtmf,reporting,dialplan,originate,agi",
            "write = system,call,agent,user,originate,reporting",
            "writetimeout = 5000",
            "eventfilter(action(exclude),name(RTCPSent)) =",
            "eventfilter(action(exclude),name(RTCPReceived)) =",
            "eventfilter(action(exclude),name(VarSet)) =",
            "eventfilter(action(exclude),name(Newexten)) =",
        ]
    )
