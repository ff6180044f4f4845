"""Multi-digit input is collected inside Asterisk by the dialplan's Read()
(prompts, barge-in and every digit up to "#", several prompt files in one
command): its outcomes map onto the same results the per-digit loop gives."""

from __future__ import annotations

import pytest

from telephony.channel import AgiChannel, AgiResponse, CallerHangup, parse_response
from telephony.journal import CallJournal


class Scripted:
    """Answers each Read() with the next (READSTATUS, keys); Read's own
    result is -1 for a hang-up; anything else: result=0."""

    def __init__(self, *answers: tuple[str, str]) -> None:
        self.answers = list(answers)
        self.commands: list[str] = []
        self._last: tuple[str, str] = ("TIMEOUT", "")

    async def command(self, command: str) -> AgiResponse:
        self.commands.append(command)
        if command.startswith("EXEC Read"):
            self._last = self.answers.pop(0) if self.answers else ("TIMEOUT", "")
            return parse_response("200 result=-1" if self._last[0] == "HANGUP" else "200 result=0")
        if command.startswith("GET FULL VARIABLE ${READSTATUS}"):
            status, keys = self._last
            return parse_response(f"200 result=1 ({status}|{keys})")
        return parse_response("200 result=0")

    @property
    def reads(self) -> list[str]:
        return [c for c in self.commands if c.startswith("EXEC Read")]


def channel(t: Scripted) -> AgiChannel:
    return AgiChannel(t, {"agi_uniqueid": "u1"}, CallJournal("u1", "test"))


@pytest.mark.parametrize(
    ("answer", "digits", "reason"),
    [
        (("OK", "1000000001"), "1000000001", "ok"),  # ended by "#"
        (("OK", "12345678901234567890"), "12345678901234567890", "ok"),  # max digits
        (("OK", "123"), "123", "ok"),  # stopped typing (a pause after keys)
        (("TIMEOUT", "123"), "123", "ok"),
        (("SKIPPED", ""), None, "invalid"),  # "#" alone
    ],
)
async def test_read_outcomes(answer: tuple[str, str], digits: str | None, reason: str) -> None:
    t = Scripted(answer)
    result = await channel(t).read_digits(
        "ident/enter_account", max_digits=20, timeout=6.0, attempts=1, retry_prompt=None
    )
    assert (result.digits, result.reason) == (digits, reason)
    assert t.reads == ["EXEC Read HOTLINE_KEYS,ident/enter_account,20,,1,"]
    # Read() waits for the first key a slice at a time, between keys the whole timeout.
    assert t.commands[:2] == [
        "SET VARIABLE TIMEOUT(response) 2",
        "SET VARIABLE TIMEOUT(digit) 6",
    ]


async def test_silence_is_waited_for_in_slices() -> None:
    """Issue 13/17: 6 s of silence are three Read()s of 2 s, the prompts in the
    first only; each ends where a service that died is noticed (the fallback)."""
    t = Scripted(("TIMEOUT", ""), ("TIMEOUT", ""), ("TIMEOUT", ""))
    result = await channel(t).read_digits(
        "ident/enter_account", max_digits=20, timeout=6.0, attempts=1, retry_prompt=None
    )
    assert (result.digits, result.reason) == (None, "timeout")
    assert t.reads == [
        "EXEC Read HOTLINE_KEYS,ident/enter_account,20,,1,",
        "EXEC Read HOTLINE_KEYS,,20,,1,",
        "EXEC Read HOTLINE_KEYS,,20,,1,",
    ]


async def test_keys_after_a_silent_slice_are_taken() -> None:
    t = Scripted(("TIMEOUT", ""), ("OK", "1000000001"))
    result = await channel(t).read_digits(
        "ident/enter_account", max_digits=20, timeout=6.0, attempts=1, retry_prompt=None
    )
    assert (result.digits, result.reason) == ("1000000001", "ok")
    assert len(t.reads) == 2


async def test_read_timeouts_are_set_once_per_call() -> None:
    t = Scripted(("OK", "12"), ("OK", "34"), ("OK", "56"))
    ch = channel(t)
    await ch.collect_digits(("a",), max_digits=5, timeout=6.0)
    await ch.collect_digits(("b",), max_digits=5, timeout=6.0)
    await ch.collect_digits(("c",), max_digits=5, timeout=5.0)
    sets = [c for c in t.commands if c.startswith("SET VARIABLE TIMEOUT")]
    assert sets == [
        "SET VARIABLE TIMEOUT(response) 2",
        "SET VARIABLE TIMEOUT(digit) 6",
        "SET VARIABLE TIMEOUT(response) 1.67",
        "SET VARIABLE TIMEOUT(digit) 5",
    ]


async def test_hash_alone_accepted_when_allowed() -> None:
    t = Scripted(("SKIPPED", ""))
    result = await channel(t).read_digits(
        "queue/enter_number", max_digits=12, allow_empty_terminator=True, attempts=1
    )
    assert (result.digits, result.reason) == ("", "ok")


async def test_invalid_then_valid_with_the_retry_prompt() -> None:
    t = Scripted(("OK", "12"), ("OK", "79001234567"))
    result = await channel(t).read_digits(
        "queue/enter_number",
        max_digits=12,
        attempts=2,
        valid=lambda d: len(d) == 11,
        retry_prompt="queue/invalid_number",
    )
    assert (result.digits, result.attempts) == ("79001234567", 2)
    assert any("queue/invalid_number" in c for c in t.commands)


async def test_hangup_during_read() -> None:
    ch = channel(Scripted(("HANGUP", "")))
    with pytest.raises(CallerHangup):
        await ch.read_digits("ident/enter_account", max_digits=20, attempts=1)
    assert ch.hung_up


async def test_one_key_menus_keep_the_per_key_commands() -> None:
    t = Scripted()
    await channel(t).read_digits("menu/main", max_digits=1, timeout=1.0, attempts=1)
    assert not t.reads


async def test_several_prompts_are_one_read() -> None:
    """A notice and «enter the number» in one command: a caller typing ahead
    during the notice loses no key between two AGI commands."""
    t = Scripted(("OK", "12345"))
    keys = await channel(t).collect_digits(
        ("readings/zone_day", "readings/enter_reading_keypad"), max_digits=7, timeout=4.0
    )
    assert keys == "12345#"
    assert t.reads[0] == (
        "EXEC Read HOTLINE_KEYS,readings/zone_day&readings/enter_reading_keypad,7,,1,"
    )
    assert not any(c.startswith(("STREAM FILE", "GET DATA", "WAIT FOR DIGIT")) for c in t.commands)


async def test_the_rest_of_a_number_is_one_read_without_a_prompt() -> None:
    t = Scripted(("TIMEOUT", "0000001"))
    assert await channel(t).collect_digits((), max_digits=20, timeout=4.5) == "0000001"
    assert t.reads == ["EXEC Read HOTLINE_KEYS,,20,,1,"]
