"""Multi-digit input is collected inside Asterisk by one GET DATA: its
answers map onto the same results the per-digit loop gives."""

from __future__ import annotations

import pytest

from ivr.channel import AgiChannel, AgiResponse, CallerHangup, parse_response
from ivr.journal import CallJournal


class Scripted:
    """Answers GET DATA with the given lines in turn; anything else: result=0."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.commands: list[str] = []

    async def command(self, command: str) -> AgiResponse:
        self.commands.append(command)
        if command.startswith("GET DATA") and self.answers:
            return parse_response(self.answers.pop(0))
        return parse_response("200 result=0")


def channel(t: Scripted) -> AgiChannel:
    return AgiChannel(t, {"agi_uniqueid": "u1"}, CallJournal("u1", "test"))


@pytest.mark.parametrize(
    ("answer", "digits", "reason"),
    [
        ("200 result=1000000001", "1000000001", "ok"),  # ended by "#"
        ("200 result=12345678901234567890", "12345678901234567890", "ok"),  # max digits
        ("200 result=123 (timeout)", "123", "ok"),  # stopped typing
        ("200 result= (timeout)", None, "timeout"),  # silence
        ("200 result=", None, "invalid"),  # "#" alone
    ],
)
async def test_get_data_answers(answer: str, digits: str | None, reason: str) -> None:
    t = Scripted(answer)
    result = await channel(t).read_digits(
        "ident/enter_account", max_digits=20, timeout=6.0, attempts=1, retry_prompt=None
    )
    assert (result.digits, result.reason) == (digits, reason)
    assert t.commands == ["GET DATA ident/enter_account 6000 20"]


async def test_hash_alone_accepted_when_allowed() -> None:
    t = Scripted("200 result=")
    result = await channel(t).read_digits(
        "queue/enter_number", max_digits=12, allow_empty_terminator=True, attempts=1
    )
    assert (result.digits, result.reason) == ("", "ok")


async def test_invalid_then_valid_with_the_retry_prompt() -> None:
    t = Scripted("200 result=12", "200 result=79001234567")
    result = await channel(t).read_digits(
        "queue/enter_number",
        max_digits=12,
        attempts=2,
        valid=lambda d: len(d) == 11,
        retry_prompt="queue/invalid_number",
    )
    assert (result.digits, result.attempts) == ("79001234567", 2)
    assert any("queue/invalid_number" in c for c in t.commands)


async def test_hangup_during_get_data() -> None:
    ch = channel(Scripted("200 result=-1"))
    with pytest.raises(CallerHangup):
        await ch.read_digits("ident/enter_account", max_digits=20, attempts=1)
    assert ch.hung_up


async def test_one_key_menus_keep_the_per_key_commands() -> None:
    t = Scripted()
    await channel(t).read_digits("menu/main", max_digits=1, timeout=1.0, attempts=1)
    assert not any(c.startswith("GET DATA") for c in t.commands)


class Interrupting(Scripted):
    """STREAM FILE of ``key_on`` is interrupted by ``key``."""

    def __init__(self, key_on: str, key: str, *answers: str) -> None:
        super().__init__(*answers)
        self.key_on, self.key = key_on, key

    async def command(self, command: str) -> AgiResponse:
        if command.startswith("STREAM FILE") and self.key_on in command:
            self.commands.append(command)
            return parse_response(f"200 result={ord(self.key)} endpos=800")
        return await super().command(command)


async def test_several_prompts_stream_the_first_and_get_data_plays_the_last() -> None:
    """AGI's GET DATA plays one file only ("a&b" fails as a hang-up)."""
    t = Scripted("200 result=12345")
    result = await channel(t).read_digits(
        ("readings/zone_day", "readings/enter_reading_keypad"), max_digits=7, attempts=1
    )
    assert result.digits == "12345"
    assert t.commands[0].startswith("STREAM FILE readings/zone_day ")
    assert t.commands[1:] == ["GET DATA readings/enter_reading_keypad 5000 7"]


async def test_a_key_during_a_leading_prompt_starts_the_number() -> None:
    t = Interrupting("readings/zone_day", "1", "200 result=2345")
    ch = channel(t)
    keys = await ch.collect_digits(
        ("readings/zone_day", "readings/enter_reading_keypad"), max_digits=7, timeout=4.0
    )
    assert keys == "12345#"
    assert t.commands[1:] == ['GET DATA "" 4000 6']  # the rest, no prompt


async def test_hash_during_a_leading_prompt_ends_the_input() -> None:
    t = Interrupting("a", "#")
    assert await channel(t).collect_digits(("a", "b"), max_digits=7, timeout=4.0) == "#"
    assert not any(c.startswith("GET DATA") for c in t.commands)


async def test_the_rest_of_a_number_after_type_ahead_is_one_get_data() -> None:
    t = Scripted("200 result=0000001")
    result = await channel(t).read_digits((), max_digits=20, timeout=4.0, attempts=1)
    assert result.digits == "0000001"
    assert t.commands == ['GET DATA "" 4000 20']
