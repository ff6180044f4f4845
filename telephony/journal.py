"""The structured call journal: what the caller heard and did, in order.

Every :class:`~telephony.channel.Channel` writes here. Tests read it to assert what
the caller heard; the CRM stores it as ``call_events``; the operator card shows
the caller's path through the menu.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    ts: float
    kind: str
    """``start``, ``prompt``, ``say``, ``dtmf``, ``input``, ``record``,
    ``speech``, ``var``, ``next``, ``hangup``, ``error``, ``end``, ``step``."""
    detail: dict[str, Any]


@dataclass(slots=True)
class CallJournal:
    call_id: str
    route: str = ""
    entries: list[JournalEntry] = field(default_factory=list)
    listeners: list[Callable[[CallJournal, JournalEntry], None]] = field(default_factory=list)
    base_seq: int = 0
    """Entries of earlier AGI sessions of the same channel (a call that goes
    from the menu to the meter-readings route): numbering continues after
    them, so the stored ``call_events`` keep every session's entries."""

    def add(self, kind: str, **detail: Any) -> JournalEntry:
        entry = JournalEntry(self.base_seq + len(self.entries) + 1, time.time(), kind, detail)
        self.entries.append(entry)
        for listener in self.listeners:
            listener(self, entry)
        return entry

    def heard(self) -> list[str]:
        """Prompt ids and spoken phrases in the order the caller heard them."""
        out: list[str] = []
        for e in self.entries:
            if e.kind == "prompt":
                out.append(str(e.detail["id"]))
            elif e.kind == "say":
                out.append(f"{e.detail['what']}:{e.detail['value']}")
        return out

    def kinds(self) -> list[str]:
        return [e.kind for e in self.entries]

    def last(self, kind: str) -> JournalEntry | None:
        for e in reversed(self.entries):
            if e.kind == kind:
                return e
        return None

    @property
    def ended(self) -> bool:
        return bool(self.entries) and self.entries[-1].kind == "end"


class JournalHub:
    """Recent journals of the calls this process served, with waiting.

    Bounded (oldest journals are dropped), so a long-running service does
    not grow; the durable copy is the database's ``call_events``.
    """

    def __init__(self, keep: int = 2000) -> None:
        self._keep = keep
        self._journals: OrderedDict[str, CallJournal] = OrderedDict()
        self._changed = asyncio.Event()
        self._waiters = 0

    def open(self, call_id: str, route: str) -> CallJournal:
        """A new journal for ``route``; a later route on the same channel
        replaces the earlier journal here and continues its numbering."""
        earlier = self._journals.get(call_id)
        base = earlier.base_seq + len(earlier.entries) if earlier is not None else 0
        journal = CallJournal(call_id=call_id, route=route, base_seq=base)
        journal.listeners.append(self._on_entry)
        self._journals[call_id] = journal
        self._journals.move_to_end(call_id)
        while len(self._journals) > self._keep:
            self._journals.popitem(last=False)
        self._on_entry(journal, None)
        return journal

    def get(self, call_id: str) -> CallJournal | None:
        return self._journals.get(call_id)

    def _on_entry(self, journal: CallJournal, entry: JournalEntry | None) -> None:
        if self._waiters:
            self._changed.set()

    async def wait_for(
        self,
        call_id: str,
        predicate: Callable[[CallJournal], bool],
        timeout: float,
    ) -> CallJournal:
        """Wait until the journal of ``call_id`` satisfies ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiters += 1
        try:
            while True:
                self._changed.clear()
                journal = self._journals.get(call_id)
                if journal is not None and predicate(journal):
                    return journal
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(
                        f"journal of {call_id} did not reach the expected state in {timeout}s: "
                        f"{journal.entries if journal else 'no journal'}"
                    )
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    continue
        finally:
            self._waiters -= 1
