"""Diagnostic flows: a short menu that exercises the AGI round trip.

``selftest`` says a number in Russian (Asterisk's ``ru`` grammar), reads up
to four digits ending in ``#`` and says them back; ``bench/fastagi.py`` and
``hotline demo`` place calls into it. ``selftest-fail`` raises, to prove
that a failing flow lands the caller in the fallback branch.
"""

from __future__ import annotations

from ivr.deps import IvrDeps
from telephony.channel import Channel
from telephony.contract import Next

SELFTEST_NUMBER = 2026
PROMPTS = ("selftest/hello", "selftest/enter_digits", "selftest/you_entered", "selftest/goodbye")


async def selftest(ch: Channel, deps: IvrDeps) -> None:
    rounds = 1
    for arg in ch.arguments[1:] if ch.arguments[:1] == ["selftest"] else ch.arguments:
        if arg.startswith("rounds="):
            rounds = max(1, min(20, int(arg.split("=", 1)[1])))
    await ch.play("selftest/hello")
    await ch.say_number(SELFTEST_NUMBER)
    for _ in range(rounds):
        result = await ch.read_digits(
            "selftest/enter_digits", max_digits=4, timeout=4.0, inter_digit_timeout=2.0, attempts=1
        )
        if result.digits:
            await ch.play("selftest/you_entered")
            await ch.say_digits(result.digits)
    await ch.play("selftest/goodbye")
    await ch.next(Next.HANGUP)


class SelftestFailure(RuntimeError):
    pass


async def selftest_fail(ch: Channel, deps: IvrDeps) -> None:
    await ch.play("selftest/hello")
    raise SelftestFailure("deliberate failure (selftest-fail route)")


async def bench_menu(ch: Channel, deps: IvrDeps) -> None:
    """The benchmark menu; ``dialplans/test-bench.conf`` has the same menu in
    pure dialplan (the CPU floor) and over process AGI."""
    caller = await ch.get_var("CALLERID(num)")
    await ch.set_var("BENCH_CALLER", caller or "")
    digit = await ch.play("bench/tick")
    if digit is None:
        digit = await ch.wait_digit(3.0)
    await ch.set_var("BENCH_CHOICE", digit or "none")
    await ch.say_digits(digit or "0")
    await ch.get_var("BENCH_CHOICE")
    await ch.next(Next.HANGUP)
