"""Shared pieces of the inbound flows (hotline menu, answering machine,
queue callback): the menu key reader with limited retries, the call's clock
and working hours, speaking dates, speech detection in recordings, and the
callback task.

Menu conventions (every menu of the hotline): ``*`` repeats, ``#`` goes
back, silence or a key that is not in the menu gives another try, and after
:data:`MAX_ATTEMPTS` failed tries the caller is put through to an operator.

The clock: flows take "now" from :func:`call_now`. In test mode only
(``settings.test_mode``) the channel variable ``HOTLINE_TEST_NOW`` (an ISO
8601 datetime with an offset, e.g. set through Originate variables) replaces
the real time, so the tests can call "at 22:00" or "on 1 January"; outside
test mode the variable is ignored and never even read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from crm_bridge.db import Database, utcnow
from crm_bridge.deadlines import DeadlineRules
from crm_bridge.models import Callback, CallbackStatus
from ivr import phrases_ru
from ivr.deps import IvrDeps
from ivr.schedule import WorkingHours
from telephony.channel import Channel
from telephony.contract import Var

__all__ = [
    "MAX_ATTEMPTS",
    "Choice",
    "ChoiceStatus",
    "call_now",
    "choose",
    "create_callback",
    "deadline_rules",
    "dynamic_prompt",
    "has_speech",
    "host_path",
    "say_datetime",
    "working_hours",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 3
"""Failed tries (silence or a wrong key) before the operator."""
MENU_TIMEOUT: Final = 5.0
"""Seconds of silence after a menu prompt before it counts as no input."""
MAX_REPEATS: Final = 5
"""``*`` repeats allowed per menu visit (then it counts as a failed try)."""

P_INVALID: Final = "common/invalid_choice"
P_NO_INPUT: Final = "common/no_input"


class ChoiceStatus(StrEnum):
    OK = "ok"
    BACK = "back"
    """``#``: the caller wants the previous menu."""
    REPEAT = "repeat"
    """``*`` when the caller asked :func:`choose` to return it."""
    FAILED = "failed"
    """:data:`MAX_ATTEMPTS` silences or wrong keys: the operator."""


@dataclass(frozen=True, slots=True)
class Choice:
    status: ChoiceStatus
    key: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is ChoiceStatus.OK


async def choose(
    ch: Channel,
    prompts: Sequence[str],
    keys: str,
    *,
    name: str,
    attempts: int = MAX_ATTEMPTS,
    timeout: float = MENU_TIMEOUT,
    back: bool = True,
    return_repeat: bool = False,
    quiet_failure: bool = False,
) -> Choice:
    """Play a menu and return the caller's key.

    ``keys`` are the valid choices. ``*`` replays the prompts (or returns
    :attr:`ChoiceStatus.REPEAT` with ``return_repeat``, so the caller can
    replay more than the menu itself, e.g. an announcement); ``#`` returns
    :attr:`ChoiceStatus.BACK` (``back=False``: replays, as in the main menu).
    Silence and other keys are failed tries, each followed by a short
    explanation (unless ``quiet_failure`` on the last one) and the menu again.
    """
    failures = 0
    repeats = 0
    while True:
        digit = await ch.play(*prompts)
        if digit is None:
            digit = await ch.wait_digit(timeout)
        if digit == "*" and repeats < MAX_REPEATS:
            repeats += 1
            ch.journal.add("input", menu=name, digits="*", reason="repeat")
            if return_repeat:
                return Choice(ChoiceStatus.REPEAT, "*")
            continue
        if digit == "#" and repeats < MAX_REPEATS:
            ch.journal.add("input", menu=name, digits="#", reason="back")
            if back:
                return Choice(ChoiceStatus.BACK, "#")
            repeats += 1
            continue
        if digit is not None and digit in keys:
            ch.journal.add("input", menu=name, digits=digit, reason="ok", attempt=failures + 1)
            return Choice(ChoiceStatus.OK, digit)
        failures += 1
        reason = "timeout" if digit is None else "invalid"
        ch.journal.add("input", menu=name, digits=digit or "", reason=reason, attempt=failures)
        if failures >= attempts:
            if not quiet_failure:
                await ch.play(P_NO_INPUT if digit is None else P_INVALID)
            return Choice(ChoiceStatus.FAILED, digit)
        await ch.play(P_NO_INPUT if digit is None else P_INVALID)


# -- time -------------------------------------------------------------------------------


def working_hours(deps: IvrDeps) -> WorkingHours:
    """The hotline's working hours (REQ-T2), built once from the settings
    with the company's calendar (``Services.hours``)."""
    return deps.hours


def deadline_rules(deps: IvrDeps) -> DeadlineRules:
    """Deadline rules in the company's zone with the same production calendar."""
    return deps.crm.rules


DYNAMIC_TTS_TIMEOUT: Final = 15.0
"""How long a caller's own phrase (an address, an office's name) may take to synthesise."""


async def dynamic_prompt(deps: IvrDeps, prefix: str, text: str, what: str) -> str | None:
    """A phrase of this call's data (an address, an office's name) as the
    prompt ``dyn/<prefix><digest>``, synthesised once by the offline TTS and
    kept; None when it cannot be (no text, sox or TTS, a failure or the
    time limit): the caller then hears the fallback the flow chooses.
    ``what`` names it in the log (never the text: it may be personal)."""
    if not text.strip():
        return None
    from ivr import prompts

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    prompt_id = f"dyn/{prefix}{digest}"
    target = Path(deps.settings.sounds_dir) / "dyn" / f"{prefix}{digest}.wav"
    if target.is_file():
        return prompt_id
    sox = shutil.which("sox")
    if sox is None:
        return None
    try:
        synth = prompts.find_synthesiser()
    except prompts.TTSUnavailableError:
        return None
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(DYNAMIC_TTS_TIMEOUT):
            await loop.run_in_executor(None, prompts.synthesise, synth, sox, text, target)
    except (TimeoutError, prompts.TTSFailedError, OSError) as exc:
        log.warning("%s synthesis failed: %s", what, type(exc).__name__)
        return None
    return prompt_id


async def call_now(ch: Channel, deps: IvrDeps) -> datetime:
    """ "Now" for this call: the real time, or ``HOTLINE_TEST_NOW`` in test mode."""
    if deps.settings.test_mode:
        raw = await ch.get_var(Var.TEST_NOW)
        if raw:
            try:
                forced = datetime.fromisoformat(raw)
            except ValueError:
                log.warning("ignoring %s=%r: not an ISO datetime", Var.TEST_NOW, raw)
            else:
                if forced.tzinfo is not None:
                    ch.journal.add("step", name="clock", now=forced.isoformat())
                    return forced
                log.warning("ignoring %s=%r: no UTC offset", Var.TEST_NOW, raw)
    return utcnow()


async def say_datetime(
    ch: Channel, when: datetime, tz: Any, case: phrases_ru.Case = "nom"
) -> str | None:
    """«восемь часов тридцать минут двадцать пятого ноября» in the zone ``tz``,
    the time in ``case`` (the frame's, see :mod:`ivr.phrases_ru`)."""
    return await phrases_ru.speak(ch, phrases_ru.value("datetime", when.astimezone(tz), case))


# -- recordings -------------------------------------------------------------------------


def host_path(settings: Any, asterisk_path: str) -> Path:
    """The host path of a file Asterisk wrote at ``asterisk_path`` (inside its root)."""
    return Path(settings.root) / asterisk_path.lstrip("/")


def has_speech(
    path: Path,
    *,
    frame_ms: int = 20,
    threshold: int = 400,
    min_speech_ms: int = 300,
) -> bool:
    """Does a 16-bit PCM WAV recording contain speech (energy detector)?

    A frame is voiced when its mean absolute amplitude is above
    ``threshold`` (≈ −38 dBFS); speech is at least ``min_speech_ms`` of
    voiced frames. A missing, empty or unreadable file has no speech.
    """
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                log.warning("speech check: %s is not 16-bit PCM", path.name)
                return False
            rate, channels = w.getframerate(), w.getnchannels()
            data = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error):
        return False
    samples = array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    step = max(1, rate * channels * frame_ms // 1000)
    needed = max(1, min_speech_ms // frame_ms)
    voiced = 0
    for start in range(0, len(samples) - step + 1, step):
        frame = samples[start : start + step]
        if sum(abs(s) for s in frame) / step > threshold:
            voiced += 1
            if voiced >= needed:
                return True
    return False


async def has_speech_async(path: Path) -> bool:
    return await asyncio.to_thread(has_speech, path)


# -- callbacks --------------------------------------------------------------------------


def create_callback(
    db: Database,
    *,
    phone: str,
    due_at: datetime,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    appeal_id: int | None = None,
    account_id: int | None = None,
    note: str | None = None,
) -> int:
    """A pending callback task (REQ-T6, REQ-T8); returns its id."""
    with db.session(write=True) as session:
        task = Callback(
            phone=phone,
            due_at=due_at,
            window_start=window_start,
            window_end=window_end,
            appeal_id=appeal_id,
            account_id=account_id,
            status=CallbackStatus.PENDING,
            note=note,
        )
        session.add(task)
        session.flush()
        return int(task.id)


def callback_promise(
    hours: WorkingHours, now: datetime, within_minutes: int
) -> tuple[datetime, datetime]:
    """When a callback is due and by when it is promised (REQ-T8): from the
    first open moment at or after ``now``, ``within_minutes`` of working time
    (a promise that does not fit before the close goes on at the next
    opening), rounded up to ten minutes so it is said as a round time, and
    never past the close of the period it ends in."""
    start = hours.next_open(now) or now
    left = timedelta(minutes=max(1, within_minutes))
    at = start
    while True:
        close = hours.next_close(at)
        if close is None or close <= at or at + left <= close:
            end = at + left
            break
        left -= close - at
        reopen = hours.next_open(close)
        if reopen is None:
            end = close
            break
        at = reopen
    minute = end.replace(second=0, microsecond=0)
    rounded = minute + timedelta(minutes=-minute.minute % 10)
    if rounded < end:
        rounded += timedelta(minutes=10)
    if close is not None and close > at and rounded > close:  # the period it ends in
        rounded = close
    return start, rounded


def callback_window(hours: WorkingHours, now: datetime) -> tuple[datetime, datetime]:
    """The first working-hours period at or after ``now``: (start, end)."""
    start = hours.next_open(now) or now
    end = hours.next_close(start) or start + timedelta(hours=1)
    return start, end
