"""Pieces of the inbound flows without Asterisk: the menu key reader with
limited retries, the queue wait estimate (REQ-T7), the speech detector of
the answering machine (REQ-T5) and the callback window (REQ-T6, T8).

The whole flows run against the real Asterisk in tests/e2e/test_hotline.py.
"""

from __future__ import annotations

import asyncio
import math
import wave
from array import array
from collections import deque
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.slices import upgrade
from ivr.flows.common import (
    MAX_ATTEMPTS,
    ChoiceStatus,
    callback_promise,
    callback_window,
    choose,
    has_speech,
)
from ivr.flows.hotline import CLASSIFICATION, CONSULT_ANSWERS, estimate_wait
from ivr.schedule import WorkingHours
from telephony.channel import AgiChannel, AgiResponse, parse_response
from telephony.journal import CallJournal

MSK = ZoneInfo("Europe/Moscow")


class KeypadCaller:
    """An AGI transport whose caller presses ``keys`` one per wait for a key
    (``None``: stays silent); prompts always play to the end."""

    def __init__(self, keys: list[str | None]) -> None:
        self.keys = deque(keys)
        self.commands: list[str] = []

    async def command(self, command: str) -> AgiResponse:
        self.commands.append(command)
        if command.startswith("WAIT FOR DIGIT"):
            key = self.keys.popleft() if self.keys else None
            return parse_response(f"200 result={ord(key) if key else 0}")
        if command.startswith("STREAM FILE"):
            return parse_response("200 result=0 endpos=8000")
        return parse_response("200 result=1")


def _channel(keys: list[str | None]) -> AgiChannel:
    journal = CallJournal(call_id="1700000000.1", route="inbound")
    return AgiChannel(KeypadCaller(keys), {"agi_uniqueid": "1700000000.1"}, journal)


def _choose(keys: list[str | None], **kw: object) -> tuple[object, AgiChannel]:
    ch = _channel(keys)
    choice = asyncio.run(choose(ch, ("menu/main",), "12340", name="main", **kw))  # type: ignore[arg-type]
    return choice, ch


# -- the menu key reader ---------------------------------------------------------------------


def test_valid_key_is_returned() -> None:
    choice, ch = _choose(["3"])
    assert choice.status is ChoiceStatus.OK and choice.key == "3"  # type: ignore[attr-defined]
    assert ch.journal.heard() == ["menu/main"]


def test_invalid_and_silent_input_give_limited_retries_then_fail() -> None:
    """Two wrong keys and a silence: each followed by an explanation and the
    menu again; the third failure is final (the flow then calls the operator)."""
    choice, ch = _choose(["9", "8", None])
    assert choice.status is ChoiceStatus.FAILED  # type: ignore[attr-defined]
    assert ch.journal.heard() == [
        "menu/main",
        "common/invalid_choice",
        "menu/main",
        "common/invalid_choice",
        "menu/main",
        "common/no_input",
    ]
    reasons = [e.detail["reason"] for e in ch.journal.entries if e.kind == "input"]
    assert reasons == ["invalid", "invalid", "timeout"]
    assert MAX_ATTEMPTS == 3


def test_a_good_key_after_failures_still_counts() -> None:
    choice, ch = _choose([None, "7", "0"])
    assert choice.status is ChoiceStatus.OK and choice.key == "0"  # type: ignore[attr-defined]
    attempts = [e.detail.get("attempt") for e in ch.journal.entries if e.kind == "input"]
    assert attempts == [1, 2, 3]


def test_star_repeats_and_hash_goes_back() -> None:
    choice, ch = _choose(["*", "#"])
    assert choice.status is ChoiceStatus.BACK  # type: ignore[attr-defined]
    assert ch.journal.heard() == ["menu/main", "menu/main"]
    choice, _ = _choose(["*"], return_repeat=True)
    assert choice.status is ChoiceStatus.REPEAT  # type: ignore[attr-defined]


def test_hash_in_the_main_menu_replays_it() -> None:
    choice, ch = _choose(["#", "1"], back=False)
    assert choice.status is ChoiceStatus.OK and choice.key == "1"  # type: ignore[attr-defined]
    assert ch.journal.heard() == ["menu/main", "menu/main"]


def test_endless_repeats_are_bounded() -> None:
    """A stuck ``*`` key cannot keep the caller in the menu forever."""
    choice, _ = _choose(["*"] * 20)
    assert choice.status is ChoiceStatus.FAILED  # type: ignore[attr-defined]


def test_quiet_failure_skips_the_last_explanation() -> None:
    choice, ch = _choose([None], attempts=1, quiet_failure=True)
    assert choice.status is ChoiceStatus.FAILED  # type: ignore[attr-defined]
    assert ch.journal.heard() == ["menu/main"]


# -- classification and standard answers ----------------------------------------------------


def test_every_branch_has_a_classification_code() -> None:
    """REQ-A4: codes of the menu branches and the standard answers."""
    assert {k: v.value for k, v in CLASSIFICATION.items()} == {
        "readings": "Э",
        "outages": "КЭ",
        "consult": "С",
        "debt": "Об",
        "visits": "Об",
        "operator": "Пр",
    }
    assert sorted(CONSULT_ANSWERS) == ["1", "2", "3", "4", "5"]
    for prompts, code, topic in CONSULT_ANSWERS.values():
        assert prompts and all(p.startswith("consult/") for p in prompts)
        assert code.value in ("С", "Т", "Об") and topic


# -- queue wait (REQ-T7) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "logged", "free", "holdtime", "expected"),
    [
        (1, 1, 1, 0, 0),  # an operator is free: no wait announced
        (1, 0, 0, 0, 180),  # nobody logged in: one handling time
        (1, 2, 0, 0, 180),
        (3, 2, 0, 0, 360),  # two ahead per operator
        (1, 1, 0, 20, 60),  # never below one minute
        (4, 2, 0, 150, 300),  # the queue's own hold time
    ],
)
def test_estimate_wait(position: int, logged: int, free: int, holdtime: int, expected: int) -> None:
    assert estimate_wait(position, logged_in=logged, free=free, holdtime=holdtime) == expected


def test_estimate_wait_grows_with_the_position() -> None:
    waits = [estimate_wait(p, logged_in=3, free=0, holdtime=0) for p in range(1, 30)]
    assert waits == sorted(waits) and waits[-1] == math.ceil(29 / 3) * 180


# -- speech detection (REQ-T5) --------------------------------------------------------------


def _wav(path: Path, samples: array) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return path


def test_has_speech(tmp_path: Path) -> None:
    silence = _wav(tmp_path / "silence.wav", array("h", [0] * 8000 * 3))
    hiss = _wav(tmp_path / "hiss.wav", array("h", [(i * 37) % 200 - 100 for i in range(24000)]))
    tone = array("h", [int(3000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(4000)])
    voice = _wav(tmp_path / "voice.wav", array("h", [0] * 8000) + tone + array("h", [0] * 8000))
    click = _wav(tmp_path / "click.wav", array("h", [0] * 8000) + tone[:800])
    assert not has_speech(silence)
    assert not has_speech(hiss)
    assert has_speech(voice)
    assert not has_speech(click), "100 ms is not speech"
    assert not has_speech(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    assert not has_speech(tmp_path / "empty.wav")


# -- callback window (REQ-T6, T8) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        # in hours: now, until the close
        (datetime(2025, 3, 5, 10, 0, tzinfo=MSK), (2025, 3, 5, 10), (2025, 3, 5, 20)),
        # Wednesday night: Thursday 8:00-20:00
        (datetime(2025, 3, 5, 22, 0, tzinfo=MSK), (2025, 3, 6, 8), (2025, 3, 6, 20)),
        # Saturday night: Monday
        (datetime(2025, 3, 15, 20, 0, tzinfo=MSK), (2025, 3, 17, 8), (2025, 3, 17, 20)),
        # New Year: after the holidays
        (datetime(2025, 1, 1, 12, 0, tzinfo=MSK), (2025, 1, 9, 8), (2025, 1, 9, 20)),
    ],
)
def test_callback_window(now: datetime, start: tuple[int, ...], end: tuple[int, ...]) -> None:
    s, e = callback_window(WorkingHours(), now)
    assert s == datetime(*start, tzinfo=MSK)
    assert e == datetime(*end, tzinfo=MSK)


@pytest.mark.parametrize(
    ("now", "minutes", "start", "by"),
    [
        # in hours: within the hour, rounded up to ten minutes
        (
            datetime(2025, 3, 5, 10, 3, 20, tzinfo=MSK),
            60,
            (2025, 3, 5, 10, 3, 20),
            (2025, 3, 5, 11, 10),
        ),
        # already on a ten-minute mark: not moved
        (datetime(2025, 3, 5, 10, 0, tzinfo=MSK), 60, (2025, 3, 5, 10), (2025, 3, 5, 11, 0)),
        # 40 working minutes left today: the other 20 at Thursday's opening
        (datetime(2025, 3, 5, 19, 20, tzinfo=MSK), 60, (2025, 3, 5, 19, 20), (2025, 3, 6, 8, 20)),
        # rounding never passes the close
        (datetime(2025, 3, 5, 19, 5, tzinfo=MSK), 50, (2025, 3, 5, 19, 5), (2025, 3, 5, 20, 0)),
        # Saturday night: Monday from the opening
        (datetime(2025, 3, 15, 20, 0, tzinfo=MSK), 60, (2025, 3, 17, 8), (2025, 3, 17, 9, 0)),
        # New Year: after the holidays
        (datetime(2025, 1, 1, 12, 0, tzinfo=MSK), 30, (2025, 1, 9, 8), (2025, 1, 9, 8, 30)),
    ],
)
def test_callback_promise(
    now: datetime, minutes: int, start: tuple[int, ...], by: tuple[int, ...]
) -> None:
    """REQ-T8: the time the caller is told, in working minutes."""
    s, e = callback_promise(WorkingHours(), now, minutes)
    assert s == datetime(*start, tzinfo=MSK)
    assert e == datetime(*by, tzinfo=MSK)


# -- the caller context fetched while the warning plays -----------------------------------


def test_caller_context_is_what_the_branches_would_look_up(tmp_path: Path) -> None:
    """One trip at the start gives the menu the same answers the «outages»
    branch and a keyed own account number would fetch themselves (REQ-T9:
    nothing in it unlocks data, the keyed number still has to match)."""
    from crm_bridge.db import Database
    from crm_bridge.demo_data import DEMO_CALLER, load_demo
    from crm_bridge.identify import Identifier
    from crm_bridge.outages import OutageService
    from ivr.flows.hotline import _caller_context

    db = Database(f"sqlite:///{tmp_path / 'crm.db'}")
    upgrade(db)
    load_demo(db)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=MSK)
    ctx = _caller_context(db, DEMO_CALLER.phone, now)
    ident = Identifier(db).by_account(DEMO_CALLER.number)
    assert ctx.account_id == ident.account_id and ctx.number == DEMO_CALLER.number
    assert ctx.by_account == ident and ident.allows_confidential
    assert list(ctx.outages) == OutageService(db).affecting(account_id=ctx.account_id, now=now)

    unknown = _caller_context(db, "+79990000000", now)
    assert unknown.account_id is None and unknown.by_account is None
    assert _caller_context(db, None, now).account_id is None
