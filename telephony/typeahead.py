"""Type-ahead: a key that stops a prompt is the answer to the next question.

Asterisk hands a flow the key that interrupted a playback (``STREAM FILE``
with escape digits returns it) and the key is then gone: a flow that plays a
greeting, a notice or a spoken amount and goes on to a menu or a ``Read()``
would make the caller press it again. :class:`TypeAhead` wraps any
:class:`~telephony.channel.Channel` and keeps such a key *pending* instead:

- a playback (``play``, ``say``, ``say_number``, ``say_digits``) stopped by
  a key returns None and leaves the key pending;
- while a key is pending, every playback it may interrupt is not played at
  all (the caller has already answered; journalled as ``skip``); a playback
  it may not interrupt (``escape=""``, the recording warning) is played;
- the next input takes it first: :meth:`~TypeAhead.wait_digit` returns it,
  :meth:`~TypeAhead.collect_digits` (and so ``read_digits`` of several
  digits) starts with it and collects only the rest inside Asterisk,
  ``read_digits`` of one key returns it;
- a recording drops it (nothing after it asks for a key).

So a chain of interruptible prompts — greeting then main menu, a notice then
«enter the account», a spoken amount then its options — hands the key on to
whatever asks next, whatever the flow did with the playback's result. A flow
takes a pending key itself with :func:`typed_key` (e.g. to stop listening
for speech). The flows of the inbound routes wrap their channel on entry with
:func:`type_ahead` (idempotent); the call runner and the tests keep the
channel they made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telephony.channel import (
    ALL_KEYS,
    Channel,
    ReadsDigits,
    Recording,
)
from telephony.contract import Next, Var
from telephony.journal import CallJournal

__all__ = ["TypeAhead", "key_ahead", "type_ahead", "typed_key"]


class TypeAhead(ReadsDigits):
    """A :class:`~telephony.channel.Channel` that keeps a key typed ahead
    for the next input (see the module docstring)."""

    def __init__(self, inner: Channel) -> None:
        self.inner = inner
        self.pending = ""
        """Keys that stopped a playback and no input has taken yet."""

    # -- identity (the wrapped channel's) ---------------------------------------------
    @property
    def journal(self) -> CallJournal:
        return self.inner.journal

    @property
    def call_id(self) -> str:
        return self.inner.call_id

    @property
    def linked_id(self) -> str:
        return self.inner.linked_id

    @property
    def caller_number(self) -> str | None:
        return self.inner.caller_number

    @property
    def route(self) -> str:
        return self.inner.route

    @property
    def arguments(self) -> list[str]:
        return self.inner.arguments

    @property
    def spool_dir(self) -> str:
        return self.inner.spool_dir

    @property
    def hung_up(self) -> bool:
        return self.inner.hung_up

    def __getattr__(self, name: str) -> Any:
        # Anything beyond the protocol (AgiChannel.verbose, FakeChannel's
        # test accessors) is the wrapped channel's.
        return getattr(self.inner, name)

    # -- type-ahead ------------------------------------------------------------------
    def take(self) -> str | None:
        """The first pending key, taken (None when none is pending)."""
        if not self.pending:
            return None
        key, self.pending = self.pending[0], self.pending[1:]
        return key

    def _answered(self, escape: str, item: str) -> bool:
        """A pending key would stop this playback: it is not played."""
        if self.pending and self.pending[0] in escape:
            self.journal.add("skip", id=item, key_ahead=True)
            return True
        return False

    def _keep(self, key: str | None) -> None:
        if key:
            self.pending += key

    # -- playbacks -------------------------------------------------------------------
    async def answer(self) -> None:
        await self.inner.answer()

    async def play(self, *prompt_ids: str, escape: str = ALL_KEYS) -> str | None:
        for pid in prompt_ids:
            if self._answered(escape, pid):
                continue
            self._keep(await self.inner.play(pid, escape=escape))
        return None

    async def say(
        self, what: str, value: str, tokens: Sequence[str], escape: str = ALL_KEYS
    ) -> str | None:
        if not self._answered(escape, f"{what}:{value}"):
            self._keep(await self.inner.say(what, value, tokens, escape=escape))
        return None

    async def say_number(self, number: int, escape: str = ALL_KEYS) -> str | None:
        if not self._answered(escape, f"number:{int(number)}"):
            self._keep(await self.inner.say_number(number, escape=escape))
        return None

    async def say_digits(self, digits: str, escape: str = ALL_KEYS) -> str | None:
        if not self._answered(escape, f"digits:{digits}"):
            self._keep(await self.inner.say_digits(digits, escape=escape))
        return None

    # -- inputs ----------------------------------------------------------------------
    async def wait_digit(self, timeout: float) -> str | None:
        key = self.take()
        if key is not None:
            return key
        return await self.inner.wait_digit(timeout)

    async def collect_digits(
        self,
        prompts: Sequence[str] = (),
        *,
        max_digits: int,
        timeout: float,
        private: bool = False,
    ) -> str:
        """The pending keys first (the prompts are not played: the caller is
        already answering), then the rest collected inside Asterisk
        (``private``: the keys are journalled masked)."""
        if max_digits < 1:
            return ""
        if not self.pending:
            return await self.inner.collect_digits(
                prompts, max_digits=max_digits, timeout=timeout, private=private
            )
        for pid in prompts:
            self.journal.add("skip", id=pid, key_ahead=True)
        keyed, self.pending = self.pending, ""
        if "#" in keyed:
            return keyed[: keyed.index("#") + 1]
        if len(keyed) >= max_digits:
            self.pending = keyed[max_digits:]
            return keyed[:max_digits]
        rest = await self.inner.collect_digits(
            (), max_digits=max_digits - len(keyed), timeout=timeout, private=private
        )
        if not rest:
            # A pause after the key typed ahead ends the input, as in Read().
            return keyed + "#"
        return keyed + rest

    async def record(
        self,
        name: str,
        *,
        fmt: str = "wav",
        max_seconds: float = 60.0,
        silence_seconds: float = 3.0,
        beep: bool = True,
        escape: str = "#",
    ) -> Recording:
        if self.pending:
            self.journal.add("skip", id=f"keys-ahead:{len(self.pending)}", key_ahead=True)
            self.pending = ""
        return await self.inner.record(
            name,
            fmt=fmt,
            max_seconds=max_seconds,
            silence_seconds=silence_seconds,
            beep=beep,
            escape=escape,
        )

    # -- the rest: the wrapped channel's ------------------------------------------------
    async def set_var(self, name: str | Var, value: str) -> None:
        await self.inner.set_var(name, value)

    async def get_var(self, name: str | Var) -> str | None:
        return await self.inner.get_var(name)

    async def exec(self, app: str, args: str = "", *, check_hangup: bool = True) -> int:
        return await self.inner.exec(app, args, check_hangup=check_hangup)

    async def next(self, where: Next, **variables: str) -> None:
        await self.inner.next(where, **variables)

    async def hangup(self) -> None:
        await self.inner.hangup()


def type_ahead(ch: Channel) -> TypeAhead:
    """``ch`` with type-ahead (the same wrapper when it already has it)."""
    return ch if isinstance(ch, TypeAhead) else TypeAhead(ch)


def key_ahead(ch: Channel) -> bool:
    """A key typed ahead on ``ch`` waits for the next input (nothing it may
    interrupt is worth preparing, e.g. synthesising a phrase)."""
    return isinstance(ch, TypeAhead) and bool(ch.pending)


def typed_key(ch: Channel) -> str | None:
    """Take a key the caller typed ahead on ``ch`` (None: none, or ``ch``
    keeps no keys)."""
    return ch.take() if isinstance(ch, TypeAhead) else None


_TYPE_AHEAD_IS_A_CHANNEL: type[Channel] = TypeAhead
"""Checked by mypy: :class:`TypeAhead` implements :class:`~telephony.channel.Channel`."""
