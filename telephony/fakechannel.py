"""A scripted caller that speaks the :class:`~telephony.channel.Channel` protocol.

The fast test tier of the call flows: a real flow runs against
:class:`FakeChannel` (prompt ids, keys, variables; no AGI strings, no
Asterisk) beside the real-Asterisk tier, never instead of it. Any slice's
tests may use it.

The caller follows a script of steps ``(item, keys)``: when ``item`` starts
— a prompt id played (also one offered by :meth:`~FakeChannel.read_digits`
or :meth:`~FakeChannel.collect_digits`), a spoken phrase as the journal
names it (``money:1543.20``, ``number:1``), or ``record:<name>`` — the caller
presses ``keys`` (``None``: stays silent). Steps are taken in order: an item
that is not the next step's passes in silence, so a script lists only where
the caller acts. Pressed keys wait in a buffer, as DTMF waits in Asterisk:
a playback that lets them through stops at the first one (barge-in), one
that does not (``escape=""``) swallows them; :meth:`~FakeChannel.wait_digit`
takes one key, :meth:`~FakeChannel.collect_digits` keys up to ``#`` (a
silence ends it as ``Read()`` does). ``hangup_at``: the caller hangs up the
first time that item starts (:class:`~telephony.channel.CallerHangup`).

The call journal is written as :class:`~telephony.channel.AgiChannel`
writes it (prompt, say, dtmf, input, record, var, next, hangup), so a test
asserts the caller's path the way the real-Asterisk tier does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from telephony.channel import (
    ALL_KEYS,
    CallerHangup,
    Channel,
    ReadsDigits,
    Recording,
    mask_keys,
)
from telephony.contract import Next, Var
from telephony.journal import CallJournal

__all__ = ["FakeChannel", "ScriptError", "Step"]

Step = tuple[str, str | None]
"""``(item, keys)``: when ``item`` starts, the caller presses ``keys`` (None: silence)."""


class ScriptError(AssertionError):
    """The flow went on far longer than any script (a loop that never ends)."""


class FakeChannel(ReadsDigits):
    """:class:`~telephony.channel.Channel` implementation with a scripted caller."""

    def __init__(
        self,
        script: Sequence[Step] = (),
        *,
        hangup_at: str | None = None,
        caller_number: str | None = None,
        variables: Mapping[str, str] | None = None,
        call_id: str = "1700000000.1",
        linked_id: str = "",
        route: str = "test",
        arguments: Sequence[str] = (),
        spool_dir: str = "/tmp",
        exec_results: Mapping[str, int] | None = None,
        journal: CallJournal | None = None,
        max_items: int = 500,
    ) -> None:
        """``variables``: the channel's variables before the flow (``get_var``
        answers from them, ``set_var`` writes them); ``exec_results``: what
        :meth:`exec` returns per application (0 by default); ``journal``: to
        continue a call's journal (a later route on the same channel)."""
        self.script: deque[Step] = deque(script)
        self.hangup_at = hangup_at
        self.variables: dict[str, str] = {str(k): v for k, v in (variables or {}).items()}
        self.executed: list[tuple[str, str]] = []
        """``(application, arguments)`` of every :meth:`exec`, in order."""
        self.recordings: list[Recording] = []
        self.answered = False
        self.hung_up = False
        self.spool_dir = spool_dir
        self._caller_number = caller_number
        self._call_id = call_id
        self._linked_id = linked_id
        self._arguments = list(arguments)
        self._exec_results = dict(exec_results or {})
        self._keys = ""
        self._items = 0
        self._max_items = max_items
        if journal is None:
            journal = CallJournal(call_id=call_id, route=route)
            journal.add("start", route=route, channel=f"Fake/{call_id}")
        self.journal = journal

    # -- identity -------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def linked_id(self) -> str:
        return self._linked_id or self._call_id

    @property
    def caller_number(self) -> str | None:
        return self._caller_number

    @property
    def route(self) -> str:
        return self.journal.route

    @property
    def arguments(self) -> list[str]:
        return list(self._arguments)

    # -- what a test reads ------------------------------------------------------------
    @property
    def heard(self) -> list[str]:
        """Prompt ids and spoken phrases, in order (:meth:`CallJournal.heard`)."""
        return self.journal.heard()

    @property
    def destinations(self) -> list[str]:
        """Every :meth:`next` / :meth:`hangup` destination, in order."""
        return [str(e.detail["where"]) for e in self.journal.entries if e.kind == "next"]

    @property
    def vars_set(self) -> list[tuple[str, str]]:
        """``(name, value)`` of every variable the flow set, in order."""
        return [
            (str(e.detail["name"]), str(e.detail["value"]))
            for e in self.journal.entries
            if e.kind == "var"
        ]

    @property
    def pending_steps(self) -> list[Step]:
        """Script steps whose item never started (a finished script has none)."""
        return list(self.script)

    # -- the caller ------------------------------------------------------------------
    def _alive(self) -> None:
        if self.hung_up:
            raise CallerHangup("the caller has hung up")

    def _hang_up(self, item: str) -> None:
        self.hung_up = True
        self.journal.add("hangup")
        raise CallerHangup(f"the caller hung up at {item}")

    def _starts(self, item: str) -> None:
        """``item`` starts: the caller acts if it is the next step (and no key
        is still waiting: a caller who typed ahead does not hear it through)."""
        self._items += 1
        if self._items > self._max_items:
            raise ScriptError(f"more than {self._max_items} items: {self.heard[-10:]}")
        if self.script and self.script[0][0] == item and not self._keys:
            _, keys = self.script.popleft()
            self._keys += keys or ""
        if item == self.hangup_at:
            self._hang_up(item)

    def _barge_in(self, escape: str) -> str | None:
        """The first waiting key the playback stops on; keys it does not stop
        on are swallowed by it."""
        while self._keys:
            key, self._keys = self._keys[0], self._keys[1:]
            if key in escape:
                self.journal.add("dtmf", digits=key, barge_in=True)
                return key
        return None

    # -- the Channel protocol ------------------------------------------------------------
    async def answer(self) -> None:
        self._alive()
        self.answered = True

    async def play(self, *prompt_ids: str, escape: str = ALL_KEYS) -> str | None:
        self._alive()
        for pid in prompt_ids:
            self.journal.add("prompt", id=pid)
            self._starts(pid)
            key = self._barge_in(escape)
            if key:
                return key
        return None

    async def _say(self, what: str, value: str, text: str, escape: str) -> str | None:
        self._alive()
        self.journal.add("say", what=what, value=value, text=text)
        self._starts(f"{what}:{value}")
        return self._barge_in(escape)

    async def say(
        self, what: str, value: str, tokens: Sequence[str], escape: str = ALL_KEYS
    ) -> str | None:
        return await self._say(what, value, " ".join(tokens), escape)

    async def say_number(self, number: int, escape: str = ALL_KEYS) -> str | None:
        return await self._say("number", str(int(number)), "", escape)

    async def say_digits(self, digits: str, escape: str = ALL_KEYS) -> str | None:
        return await self._say("digits", digits, "", escape)

    async def wait_digit(self, timeout: float) -> str | None:
        self._alive()
        if not self._keys:
            return None
        key, self._keys = self._keys[0], self._keys[1:]
        self.journal.add("dtmf", digits=key)
        return key

    async def collect_digits(
        self,
        prompts: Sequence[str] = (),
        *,
        max_digits: int,
        timeout: float,
        private: bool = False,
    ) -> str:
        """As ``Read()`` gives them to :class:`~telephony.channel.AgiChannel`:
        the keys with "#" appended when "#" (or a pause after some keys) ended
        the input, the keys alone when ``max_digits`` did; "" on silence."""
        if max_digits < 1:
            return ""
        self._alive()
        for pid in prompts:
            self.journal.add("prompt", id=pid)
            self._starts(pid)
        keyed, ended = "", False
        while self._keys and len(keyed) < max_digits:
            key, self._keys = self._keys[0], self._keys[1:]
            if key == "#":
                ended = True
                break
            keyed += key
        digits = keyed + "#" if ended or (keyed and len(keyed) < max_digits) else keyed
        if digits:
            if private:
                self.journal.add("dtmf", digits=mask_keys(digits), private=True)
            else:
                self.journal.add("dtmf", digits=digits)
        return digits

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
        """Ended by the caller's silence, or by a key of the step ``record:<name>``
        (when in ``escape``); ``hangup_at="record:<name>"`` hangs up during it.
        No file is written: a test that needs one writes it."""
        self._alive()
        path = str(PurePosixPath(self.spool_dir) / name)
        item = f"record:{name}"
        if item == self.hangup_at:
            self.journal.add("record", path=path, ended_by="hangup")
        self._starts(item)
        key: str | None = None
        while self._keys and key is None:
            first, self._keys = self._keys[0], self._keys[1:]
            key = first if first in escape else None
        rec = Recording(path, fmt, "dtmf" if key else "silence", key)
        self.recordings.append(rec)
        self.journal.add("record", path=path, ended_by=rec.ended_by)
        return rec

    async def set_var(self, name: str | Var, value: str) -> None:
        self._alive()
        name = str(name)
        self.journal.add("var", name=name, value=value)
        self.variables[name] = value

    async def get_var(self, name: str | Var) -> str | None:
        self._alive()
        return self.variables.get(str(name))

    async def exec(self, app: str, args: str = "", *, check_hangup: bool = True) -> int:
        self._alive()
        self.executed.append((app, args))
        result = self._exec_results.get(app, 0)
        if result == -1 and check_hangup:
            self._hang_up(f"exec:{app}")
        return result

    async def next(self, where: Next, **variables: str) -> None:
        for k, v in variables.items():
            await self.set_var(k, v)
        self._alive()
        self.journal.add("next", where=where.value)
        self.variables[Var.NEXT.value] = where.value

    async def hangup(self) -> None:
        self._alive()
        self.journal.add("next", where=Next.HANGUP.value)
        self.variables[Var.NEXT.value] = Next.HANGUP.value


_FAKE_CHANNEL_IS_A_CHANNEL: type[Channel] = FakeChannel
"""Checked by mypy: :class:`FakeChannel` implements :class:`~telephony.channel.Channel`."""
