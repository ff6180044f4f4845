"""Typed settings in layers: defaults → TOML file → environment → command line.

One :class:`Settings` object is built at start-up and handed down. Secrets
come only from the environment or from files outside the repository (the AMI
secret is generated into the data directory on first use).

Paths: Asterisk may run in a private root (the sandbox) whose ``/`` is a host
directory. Everything Asterisk must read or write (generated prompts, call
recordings, the SQLite file used by process AGI) lives under ``data_dir``,
which by default is ``<asterisk_root>/var/lib/hotline``; :meth:`Settings.ast_path`
gives the path as Asterisk sees it.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, get_type_hints

ENV_PREFIX = "HOTLINE_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message says which."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotline"


@dataclass(slots=True)
class Settings:
    # where things live
    cache_dir: Path = field(default_factory=default_cache_dir)
    asterisk_mode: str = "auto"
    """``auto`` (system Asterisk if installed, else the sandbox), ``system``, ``sandbox``."""
    asterisk_root: Path | None = None
    """Root of the Asterisk file system: ``/`` for a system Asterisk, the
    sandbox root otherwise (default ``<cache_dir>/asterisk-22-root``)."""
    data_dir: Path | None = None
    """Default ``<asterisk_root>/var/lib/hotline``."""
    database_url: str | None = None
    """Default: SQLite file ``<data_dir>/hotline.db``. PostgreSQL:
    ``postgresql+psycopg://user:pass@host/db``."""
    # network (AMI and FastAGI stay on loopback unless configured otherwise)
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret: str | None = None
    ami_test_user: str = "hotline-test"
    ami_test_secret: str | None = None
    """Test mode only: a second AMI user for the test and bench tools (all
    events; the service's user gets only those it handles)."""
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    fastagi_advertise: str = ""
    """Address Asterisk uses to reach FastAGI (``host:port``); default the bind address."""
    fastagi_allow: list[str] = field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    """Networks Asterisk connects to FastAGI from (every node's Asterisk, when
    FastAGI listens on a network address); anything else is closed unread."""
    fastagi_max_connections: int = 1000
    """Calls served at once; a connection beyond them is refused (the caller
    goes to the dialplan's fallback: apology and the operator queue)."""
    audiosocket_port: int = 4574
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_session_idle_minutes: int = 30
    """A web session unused this long ends (the next request asks to log in)."""
    web_session_max_hours: int = 12
    """A web session ends this long after log-in, used or not (one shift)."""
    web_login_max_failures: int = 5
    """Wrong passwords for one login within ``web_login_window_minutes``
    before that login is refused without checking (per address: four times as many)."""
    web_login_window_minutes: int = 15
    web_trusted_proxies: list[str] = field(default_factory=list)
    """Addresses of TLS-terminating reverse proxies whose ``X-Forwarded-Proto``
    and ``X-Forwarded-For`` are believed (cookies become ``Secure``)."""
    sip_host: str = "127.0.0.1"
    """The address of the SIP transport: operators' phones register to
    ``sip_host:sip_port`` (a deployment gives the operators' LAN address)."""
    sip_port: int = 5060
    sip_trunk_host: str = "127.0.0.2"
    """The carrier's SIP address (the 8-800 trunk): calls from it land in the
    ``hotline-trunk`` context, and ``outbound_trunk`` (``PJSIP/...@trunk``)
    dials it. Tests and benches: the simulated caller network (hotline.sipnet)
    on a second loopback address."""
    sip_trunk_port: int = 5060
    # service behaviour
    timezone: str = "Europe/Moscow"
    working_hours: str = "mon-sat 08:00-20:00"
    extra_holidays: list[str] = field(default_factory=list)
    extra_working_days: list[str] = field(default_factory=list)
    queue_name: str = "operators"
    queue_callback_after: int = 120
    """Seconds in the queue before a callback is offered (REQ-T8)."""
    queue_callback_within_minutes: int = 60
    """The queue's callback offer promises a call within this many working
    minutes (REQ-T8): the caller hears the time, the worklist shows it as the
    callback's deadline and marks it overdue once passed."""
    specialist_queue: str = "specialists"
    """The second line: specialists an operator transfers complex questions
    to (REQ-T10); operators whose phone serves it log in to this queue."""
    callback_retry_minutes: int = 30
    """A callback not reached (no answer, busy) is tried again this much later."""
    callback_max_attempts: int = 3
    """Attempts before a callback is given up (failed)."""
    shift_wrapup_seconds: int = 300
    """An operator's wrap-up after a call (post-processing, REQ-T7: 5 minutes
    at most) before the queue offers them the next one; they may end it sooner."""
    vosk_model: Path | None = None
    prefer_asterisk_digits: bool = False
    # the voice of the prompts (ivr.prompts; README "Voice")
    tts_engine: str = "auto"
    """``auto`` (RHVoice if it can be had, else espeak-ng with a warning),
    ``rhvoice`` (RHVoice or an error), ``espeak`` (espeak-ng)."""
    tts_voice: str = "anna"
    """The RHVoice voice of every prompt and call-time phrase (its licence:
    README "Voice"); espeak-ng always speaks ``ru``."""
    tts_root: Path | None = None
    """Where RHVoice is installed: ``/`` for the host's own packages, else a
    private Debian sid root built with mmdebstrap on first use (default
    ``<cache_dir>/rhvoice-root`` with the sandbox Asterisk, ``/`` with a
    system Asterisk)."""
    test_mode: bool = False
    """Loads the test-only dialplan (the simulated caller and network)."""
    log_level: str = "INFO"
    node_name: str = "node1"
    # several nodes, one contact centre (nodes.failover)
    node_heartbeat_seconds: float = 5.0
    """How often each node writes its heartbeat (and looks for dead nodes)."""
    node_dead_after_seconds: float = 30.0
    """A node silent this long is dead: the others take its work over."""
    node_call_grace_seconds: float = 120.0
    """How long past its ring timeout a dead node's outbound call may still be
    up on its Asterisk (AMD, waiting for a machine's silence); its contact is
    retried only after that."""
    # the supervisor's wallboard (supervision.wallboard): when a tile turns red
    wallboard_service_level_min: float = 80.0
    """Per cent of queue calls answered within 40 s (REQ-T7), at least."""
    wallboard_abandon_max: float = 5.0
    """Per cent of queue calls abandoned by the caller, at most."""
    wallboard_longest_wait_max: int = 40
    """Seconds the longest-waiting caller may wait."""
    wallboard_refresh_seconds: float = 2.0
    """How often a watched wallboard reads the shared database (other nodes, today's figures)."""
    cpu_nice: int = -5
    """Nice value ``hotline run`` asks for at start: ahead of Asterisk's media
    threads when the node's CPU is saturated (core/priority.py). Needs root
    or CAP_SYS_NICE, else unchanged; 0 leaves it alone."""
    # meter readings (REQ-T14; crm_bridge.readings, ivr.flows.meter_readings)
    readings_period_start_day: int = 15
    """First day of the month of the reading period (inclusive)."""
    readings_period_end_day: int = 25
    """Last day of the month of the reading period (inclusive; may be < start: wraps)."""
    readings_max_daily_kwh: int = 100
    """Plausibility bound: more kWh per day since the previous reading asks for a
    second confirmation and flags the reading for review."""
    readings_billing_url: str = ""
    """Where ``POST /readings/push`` sends accepted readings (JSON); empty: disabled."""
    speech_mode: str = "auto"
    """``auto`` (AudioSocket streaming, record-then-recognise if it fails),
    ``record`` (record-then-recognise only), ``off`` (keypad only)."""
    speech_language: str = "ru"
    """Language pack of the readings recogniser (grammar + parser), see ivr.speech_lang."""
    # autoinformer (REQ-O1–O11; autoinformer.dialer, autoinformer.email)
    outbound_trunk: str = ""
    """Dial string of an outbound call; ``{number}`` is the callee's digits
    (``79001234567``). Empty: ``PJSIP/{number}@trunk`` (the carrier's trunk
    of pjsip.conf), or in test mode (tests, ``hotline demo``) the simulated
    telephone network ``Local/{number}@hotline-test-network``
    (dialplans/test-network.conf). A dial string naming an endpoint or a
    context Asterisk does not have is reported when the dialer starts and
    holds dialling (the campaign's page says so)."""
    outbound_caller_id: str = ""
    """Caller ID shown to the callee (empty: the trunk's default)."""
    dialer_lines: int = 30
    """Simultaneous outbound calls of one dialer worker (trunk lines)."""
    dialer_cps: int = 5
    """Outbound call attempts started per second, at most."""
    dialer_max_call_seconds: int = 1800
    """An answered call still up after this long is checked with Asterisk."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "autoinform@example.invalid"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    # retention of personal data (152-FZ; crm_bridge.retention), days, 0 = for ever
    retention_recordings_days: int = 365
    retention_journal_days: int = 365
    retention_logs_days: int = 90
    """STARTTLS before anything else is sent. AUTH (``smtp_user``) to a relay
    that is not on this machine is refused without it: the password and the
    letters (personal data) never cross a network in clear."""

    # health (hotline.health): /health, /metrics, the pages' warning, the alert
    health_interval_seconds: int = 15
    health_disk_min_mb: int = 1024
    """Free space below this (on the data or recordings disk) is a problem:
    reported before the disk is full."""
    health_disk_min_percent: float = 5.0
    health_database_max_ms: int = 500
    """A trivial query slower than this is a problem (2 s: the database is down)."""
    health_failures_max: int = 3
    """Call flows failed within 5 minutes from which the node is degraded."""
    health_alert_to: str = ""
    """Comma-separated addresses told when the node becomes degraded and
    when it recovers (the smtp_* settings); empty: the log only."""

    # surveys (REQ-A13; surveys/)
    survey_after_call: bool = True
    """A caller still on the line when the operator ended the call is asked
    the CSI mark (1–5) of the operator's work; False: only when the operator
    transfers the caller to the survey."""
    survey_nps: bool = True
    """The survey also asks the NPS question (0–10; 1 then 0 for ten)."""

    # supervision: the daily digest of appeals falling due (supervision.digest)
    digest_time: str = "08:00"
    """Local time (``timezone``) the digest is sent each day, ``HH:MM``."""
    digest_to: str = ""
    """Comma-separated addresses of the digest; empty: no digest."""

    # outages: surge detection of the outage register (outages.surge)
    outage_surge_calls: int = 10
    """Calls from one street/settlement (or about outages) that raise an alert (N)."""
    outage_surge_minutes: int = 15
    """Within how many minutes (M)."""
    outage_surge_to: str = ""
    """Comma-separated addresses the alerts are e-mailed to; empty: the page only."""
    outage_surge_check_seconds: int = 30
    """How often the calls are scanned."""

    # external CRM / billing webhook (crm_bridge.webhook)
    webhook_url: str = ""
    """Where appeals and readings are pushed (JSON, signed); empty: disabled."""
    webhook_secret: str = ""
    """HMAC-SHA256 key of the webhook signature; empty: generated into the data dir."""

    # the SMS channel through Kannel (sms/)
    sms_kannel_url: str = ""
    """Kannel's ``sendsms`` URL (``http://127.0.0.1:13013/cgi-bin/sendsms``);
    empty: replies and notices wait in the outbox, nothing is sent."""
    sms_kannel_user: str = "hotline"
    sms_kannel_password: str = ""
    """The ``sendsms-user`` password; empty: generated into the data dir (``kannel-sendsms.secret``)."""
    sms_sender: str = ""
    """The sender shown to customers (the hotline's short number or name); empty: Kannel's default."""
    sms_inbound_key: str = ""
    """The key Kannel's ``get-url`` and ``dlr-url`` carry; empty: generated (``sms-inbound.secret``)."""
    sms_allow: list[str] = field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    """Networks Kannel calls the hotline from (incoming messages, delivery reports)."""
    sms_callback_url: str = ""
    """How Kannel reaches this web server (``http://10.0.0.5:8080``); empty: ``web_host:web_port``."""
    sms_max_parts: int = 4
    """A reply or notice longer than one segment is concatenated up to this many parts."""

    # -- derived ------------------------------------------------------------
    @property
    def root(self) -> Path:
        assert self.asterisk_root is not None, "resolve() first"
        return self.asterisk_root

    @property
    def data(self) -> Path:
        assert self.data_dir is not None, "resolve() first"
        return self.data_dir

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data / 'hotline.db'}"

    @property
    def sounds_dir(self) -> Path:
        return self.data / "sounds"

    @property
    def prompt_cache(self) -> Path:
        """Generated prompt audio by content hash (engine, voice, text, audio
        pipeline), shared by every data directory of this machine."""
        return self.cache_dir / "prompt-cache"

    @property
    def spool_dir(self) -> Path:
        return self.data / "recordings"

    @property
    def agi_url(self) -> str:
        host = self.fastagi_advertise or f"{self.fastagi_host}:{self.fastagi_port}"
        return f"agi://{host}"

    def host_path(self, ast_path: str) -> Path:
        """A path Asterisk reported (inside its root) as this host sees it."""
        return self.root / ast_path.lstrip("/")

    def ast_path(self, host_path: Path) -> str:
        """The path as Asterisk sees it (inside its root)."""
        try:
            rel = host_path.resolve().relative_to(self.root.resolve())
        except ValueError as exc:
            raise SettingsError(
                f"{host_path} is outside the Asterisk root {self.root}: Asterisk cannot reach it"
            ) from exc
        return "/" + str(rel) if str(rel) != "." else "/"

    def secret(self) -> str:
        """The AMI secret: from settings/env, else generated once into the data dir."""
        return self.ami_secret or self.generated_secret("ami")

    def test_secret(self) -> str:
        """The secret of the test-mode AMI user (``ami_test_user``)."""
        return self.ami_test_secret or self.generated_secret("ami-test")

    def generated_secret(self, name: str) -> str:
        """A secret generated once into ``<data>/<name>.secret`` (created 0600)."""
        path = self.data / f"{name}.secret"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        return value

    def resolve(self) -> Settings:
        """Fill in the derived defaults; returns self."""
        if self.asterisk_mode not in ("auto", "system", "sandbox"):
            raise SettingsError(
                f"asterisk_mode must be auto, system or sandbox, not {self.asterisk_mode!r}"
            )
        if self.asterisk_root is None:
            use_system = self.asterisk_mode == "system" or (
                self.asterisk_mode == "auto" and system_asterisk() is not None
            )
            self.asterisk_root = Path("/") if use_system else self.cache_dir / "asterisk-22-root"
        if self.data_dir is None:
            self.data_dir = self.root / "var/lib/hotline"
        if self.tts_engine not in ("auto", "rhvoice", "espeak"):
            raise SettingsError(
                f"tts_engine must be auto, rhvoice or espeak, not {self.tts_engine!r}"
            )
        if self.tts_root is None:
            self.tts_root = Path("/") if self.root == Path("/") else self.cache_dir / "rhvoice-root"
        if not self.outbound_trunk:
            self.outbound_trunk = TEST_NETWORK_TRUNK if self.test_mode else CARRIER_TRUNK
        return self

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


CARRIER_TRUNK: Final = "PJSIP/{number}@trunk"
"""The carrier's trunk endpoint of asterisk-conf/pjsip.conf."""
TEST_NETWORK_TRUNK: Final = "Local/{number}@hotline-test-network"
"""The simulated telephone network of test mode (dialplans/test-network.conf)."""


def _convert(name: str, typ: Any, value: Any) -> Any:
    text = str(typ)
    try:
        if value is None:
            return None
        if "Path" in text:
            return Path(os.path.expanduser(str(value))) if value != "" else None
        if text in ("int", "<class 'int'>"):
            return int(value)
        if text in ("bool", "<class 'bool'>"):
            if isinstance(value, bool):
                return value
            v = str(value).strip().lower()
            if v in ("1", "true", "yes", "on"):
                return True
            if v in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if "list" in text:
            if isinstance(value, list):
                return [str(v) for v in value]
            return [v.strip() for v in str(value).split(",") if v.strip()]
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: cannot use {value!r} ({typ})") from exc


def load_settings(
    config_file: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build settings: defaults → file → ``HOTLINE_*`` environment → overrides."""
    env = dict(os.environ if environ is None else environ)
    hints = get_type_hints(Settings)
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        p = Path(path)
        if not p.exists():
            raise SettingsError(f"config file {p} does not exist")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {p}: {exc}") from exc
        data = data.get("hotline", data)
        for key, value in data.items():
            if key not in names:
                raise SettingsError(f"config file {p}: unknown setting {key!r}")
            values[key] = _convert(key, hints[key], value)
    for name in names:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _convert(name, hints[name], raw)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in names:
            raise SettingsError(f"unknown setting {key!r}")
        values[key] = _convert(key, hints[key], value)
    return Settings(**values).resolve()


def from_cli_args(args: Any, **extra: Any) -> Settings:
    """The settings of a ``hotline`` command: its ``--config``, ``--data-dir``,
    ``--database-url``, ``--asterisk`` and ``--log-level`` over the usual
    layers, then ``extra``."""
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "database_url": getattr(args, "database_url", None),
        "asterisk_mode": getattr(args, "asterisk", None),
        "log_level": getattr(args, "log_level", None),
        **extra,
    }
    return load_settings(getattr(args, "config", None), overrides)


PRIVATE_UMASK = 0o027
"""Files and directories the service creates are never readable by others
(personal data under 152-FZ: the database, recordings, journals, secrets):
directories 0750, files 0640 at most."""


def private_files() -> None:
    """Set the process umask (entry points call it first)."""
    os.umask(PRIVATE_UMASK)


def system_asterisk() -> Path | None:
    """The system-wide Asterisk binary, if one is installed."""
    for p in ("/usr/sbin/asterisk", "/usr/local/sbin/asterisk"):
        if Path(p).exists():
            return Path(p)
    return None
