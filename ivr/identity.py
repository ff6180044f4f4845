"""The identity gate: nothing personal is said before the caller proves the account (REQ-T9, T13).

A calling number is not proof: it may be a relative's or a neighbour's
phone, or spoofed. It only *suggests* the accounts on file for it; every
branch that would say something personal asks :class:`IdentityGate` first,
and this module is the one place that asks.

The scheme (what a utility's IVR asks, from what is printed on the bill):

* **calling number on file** (one account or several): «Для защиты ваших
  данных введите последние четыре цифры номера лицевого счёта и нажмите
  решётку». One account of the number ending with those digits passes
  (:func:`crm_bridge.identify.by_phone_and_tail`); the whole account number
  is accepted at the same prompt (naming it is REQ-T9 evidence for any
  account: a caller on a relative's phone names their own). Several
  accounts of the number ending with the same digits: the whole number is
  asked for.
* **calling number not on file** (or withheld): the whole account number,
  keyed (a branch may bring its own asker: the readings flow also takes it
  by voice).
* **limited attempts** (:data:`ATTEMPTS`): a wrong proof hears «цифры не
  совпадают» / «лицевой счёт не найден», a silence «мы не получили ответа»;
  then :attr:`Outcome.FAILED` and the branch puts the caller through to an
  operator (``ident/not_identified``) having said nothing personal. An
  *optional* gate (the outages at the caller's address) takes a silence as
  :attr:`Outcome.DECLINED`: the caller hears the public part only.
* **the journal** gets a step ``ident-gate`` per attempt (``way``: tail or
  account; ``result``) and never a digit: the keys are journalled masked
  (:meth:`telephony.channel.Channel.collect_digits` ``private=True``), and a
  log line names the call, not the caller (152-FZ).
* **across calls**: a calling number from which :data:`TAIL_LOCKOUT` wrong
  last-digit proofs were made within :data:`TAIL_LOCKOUT_WINDOW` (the
  stored journals, ``call_events``) is no longer offered the four-digit
  shortcut: only the whole account number is asked (as for a number not on
  file), so guessing four digits call after call leads nowhere.
* **once per call**: a passed gate is kept by the gate (the route's flow)
  and in the channel variable ``HOTLINE_VERIFIED`` (``<way>:<account
  id>:<channel uniqueid>``, no keyed digit) for the later routes of the same
  channel (menu → meter readings); a value made for another channel is
  ignored.

What each branch of the inbound call discloses, and where the gate stands:

=========================  ==============================================  ===================
branch                     personal data it would say                       gate
=========================  ==============================================  ===================
menu 1, meter readings     the account's address (read back), the previous  required, before the
                           reading, the meters                              address
menu 2, outages            the outages at the caller's address: where the   optional: without it
                           holder of the number lives, and when the house   only the public
                           is without power                                 schedule («на сайте»)
menu 3, consultations      nothing personal (standard answers)              none
menu 4, debt               balance, overpayment, its date                   required
queue callback             the calling number read back (the caller's own   none
                           line), nothing of the account
answering machine          the calling number read back                     none
=========================  ==============================================  ===================
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import func, select

from crm_bridge.db import utcnow
from crm_bridge.identify import (
    TAIL_DIGITS,
    Identification,
    Identifier,
    IdentMethod,
    by_phone_and_tail,
    normalize_account_number,
)
from crm_bridge.models import Account, Call, CallEvent, Category
from crm_bridge.phones import try_normalize_phone
from ivr.deps import IvrDeps
from telephony.channel import Channel
from telephony.contract import Var

__all__ = [
    "ATTEMPTS",
    "GateResult",
    "IdentityGate",
    "OnFile",
    "Outcome",
    "Verified",
    "on_file",
]

log = logging.getLogger(__name__)

ATTEMPTS: Final = 3
"""Wrong or silent proofs before the gate fails (then: the operator)."""
KEY_TIMEOUT: Final = 6.0
"""Seconds for the first key (and between keys, inside ``Read()``)."""
MAX_ACCOUNT_DIGITS: Final = 20
TAIL_LOCKOUT: Final = 6
"""Wrong last-digit proofs from one calling number (over its calls) after
which it is asked for the whole account number only."""
TAIL_LOCKOUT_WINDOW: Final = timedelta(hours=24)

P_ENTER_TAIL: Final = "ident/enter_last_digits"
P_ENTER_TAIL_OR_ACCOUNT: Final = "ident/enter_last_digits_or_account"
P_ENTER_ACCOUNT: Final = "ident/enter_account"
P_SEVERAL: Final = "ident/several_accounts_match"
P_TAIL_MISMATCH: Final = "ident/digits_mismatch"
P_NOT_FOUND: Final = "ident/account_not_found"
P_NO_INPUT: Final = "common/no_input"
P_IDENTIFIED: Final = "ident/identified"
P_CONFIRMED: Final = "ident/confirmed"
P_NOT_IDENTIFIED: Final = "ident/not_identified"
"""Said by a branch whose gate failed, before the operator."""


class Outcome(StrEnum):
    PASSED = "passed"
    DECLINED = "declined"
    """An optional gate: the caller keyed nothing (hears the public part only)."""
    FAILED = "failed"
    """:data:`ATTEMPTS` wrong or silent proofs: the branch offers the operator."""


@dataclass(frozen=True, slots=True)
class Verified:
    """The account the caller has proven in this call."""

    account_id: int
    number: str
    category: Category
    way: IdentMethod
    """:attr:`IdentMethod.ACCOUNT` (the whole number) or :attr:`IdentMethod.PHONE_TAIL`."""
    ident: Identification | None
    """What :meth:`crm_bridge.identify.Identifier.card` re-checks; None when the
    proof was made by an earlier route of the channel (``HOTLINE_VERIFIED``)."""
    fresh: bool = True
    """Proven just now (False: remembered from earlier in the call)."""


@dataclass(frozen=True, slots=True)
class GateResult:
    outcome: Outcome
    verified: Verified | None = None

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED and self.verified is not None


@dataclass(frozen=True, slots=True)
class OnFile:
    """What the database holds for the calling number. Nothing of it is
    ever spoken: it decides what the gate asks and checks the proof."""

    by_phone: Identification
    own: Mapping[str, Identification] = field(default_factory=dict)
    """:meth:`Identifier.by_account` of the number's account(s), looked up
    ahead (a caller keying their own whole number waits for no query)."""
    wrong_tails: int = 0
    """Wrong last-digit proofs from this number within :data:`TAIL_LOCKOUT_WINDOW`."""

    @property
    def known(self) -> bool:
        """The calling number is on file (one account or several)."""
        return bool(self.by_phone.candidates)

    @property
    def tail_locked(self) -> bool:
        return self.wrong_tails >= TAIL_LOCKOUT


def on_file(db: Any, calling_number: str | None) -> OnFile:
    """The calling number's accounts, the whole-number identification of its
    only account, and its recent wrong proofs: one trip to the database (run
    it off the event loop)."""
    identifier = Identifier(db)
    found = identifier.by_phone(calling_number)
    if not found.candidates:
        return OnFile(found)
    own: dict[str, Identification] = {}
    if found.account_id is not None:
        number = found.candidates[0].number
        own[number] = identifier.by_account(number)
    wrong = wrong_tail_proofs(db, calling_number, since=utcnow() - TAIL_LOCKOUT_WINDOW)
    return OnFile(found, own, wrong)


def wrong_tail_proofs(db: Any, calling_number: str | None, *, since: Any) -> int:
    """Wrong last-digit proofs made from ``calling_number`` since ``since``,
    as the stored call journals record them (steps ``ident-gate``)."""
    phone = try_normalize_phone(calling_number)
    if phone is None:
        return 0
    detail = CallEvent.detail
    stmt = (
        select(func.count(CallEvent.id))
        .join(Call, Call.uniqueid == CallEvent.call_uniqueid)
        .where(
            Call.caller_number == phone,
            CallEvent.ts >= since,
            CallEvent.kind == "step",
            detail["name"].as_string() == "ident-gate",
            detail["way"].as_string() == "tail",
            detail["result"].as_string() == "wrong",
        )
    )
    with db.session(readonly=True) as session:
        return int(session.execute(stmt).scalar_one())


def _account_brief(db: Any, account_id: int) -> tuple[str, Category] | None:
    with db.session(readonly=True) as session:
        row = session.execute(
            select(Account.number, Account.category).where(Account.id == account_id)
        ).one_or_none()
    return None if row is None else (str(row[0]), Category(row[1]))


AccountAsker = Callable[[], Awaitable[str | None]]
"""A branch's own way to ask for the whole account number (the readings
flow: keyed or spoken, read back); returns the digits, or None."""


class IdentityGate:
    """The gate of one call's flow (see the module docstring).

    ``on_file``: how the flow gets :class:`OnFile` (the inbound menu has it
    prefetched while the recording warning plays); by default it is looked
    up when first needed."""

    def __init__(
        self,
        ch: Channel,
        deps: IvrDeps,
        *,
        on_file: Callable[[], Awaitable[OnFile]] | None = None,
    ) -> None:
        self.ch = ch
        self.deps = deps
        self._source = on_file
        self._on_file: OnFile | None = None
        self._passed: Verified | None = None
        self._mark_read = False

    async def caller_on_file(self) -> OnFile:
        if self._on_file is None:
            if self._source is not None:
                self._on_file = await self._source()
            else:
                self._on_file = await self.deps.run_db(on_file, self.deps.db, self.ch.caller_number)
        return self._on_file

    async def verified(self) -> Verified | None:
        """The account proven earlier in this call (by this flow, or by an
        earlier route of the channel), else None. Asks nothing."""
        if self._passed is not None:
            return self._passed
        if self._mark_read:
            return None
        self._mark_read = True
        mark = await self.ch.get_var(Var.VERIFIED)
        if not mark:
            return None
        way_text, _, rest = mark.partition(":")
        account_text, _, channel = rest.partition(":")
        try:
            way = IdentMethod(way_text)
        except ValueError:
            way = IdentMethod.NONE
        if (
            way not in (IdentMethod.ACCOUNT, IdentMethod.PHONE_TAIL)
            or not account_text.isdigit()
            or not self.ch.call_id
            or channel != self.ch.call_id
        ):
            log.warning("call %s: ignoring a %s made elsewhere", self.ch.call_id, Var.VERIFIED)
            return None
        brief = await self.deps.run_db(_account_brief, self.deps.db, int(account_text))
        if brief is None:
            return None
        self._passed = Verified(int(account_text), brief[0], brief[1], way, None, fresh=False)
        self.ch.journal.add("step", name="ident-gate", result="remembered", way=way.value)
        return self._passed

    async def forget(self) -> None:
        """The caller says the proven account is not theirs: ask anew."""
        self._passed = None
        self._mark_read = True
        await self.ch.set_var(Var.VERIFIED, "")

    async def require(
        self,
        *,
        notice: tuple[str, ...] = (),
        known_prompt: str = P_ENTER_TAIL,
        unknown_prompt: str = P_ENTER_ACCOUNT,
        optional: bool = False,
        whole_number: bool = False,
        ask_account: AccountAsker | None = None,
        first: str | None = None,
    ) -> GateResult:
        """The proven account: remembered, or asked for now.

        ``notice``: said before the first question within the same input (a
        caller who knows it keys during the notice); ``known_prompt`` /
        ``unknown_prompt``: the first question when the calling number is
        / is not on file (retries use the generic ones); ``optional``: a
        silence declines; ``whole_number``: ask for the whole account number
        even when the number is on file; ``ask_account``: the branch's own
        asker of the whole number; ``first``: a key the caller already
        pressed (type-ahead), the start of the first answer."""
        if not whole_number:
            remembered = await self.verified()
            if remembered is not None:
                return GateResult(Outcome.PASSED, remembered)
        found = await self.caller_on_file()
        by_tail = found.known and not whole_number
        if by_tail and found.tail_locked:
            # Guessed at call after call: the whole number only (not said why).
            log.warning("call %s: last-digit proofs locked for the calling number", self.ch.call_id)
            self.ch.journal.add("step", name="ident-gate", result="tail-locked")
            by_tail = False
        failures = 0
        asked = 0
        while failures < ATTEMPTS:
            asked += 1
            lead = notice if asked == 1 else ()
            if by_tail:
                prompt = known_prompt if asked == 1 else P_ENTER_TAIL_OR_ACCOUNT
            else:
                prompt = unknown_prompt if asked == 1 else P_ENTER_ACCOUNT
            if ask_account is not None and not by_tail:
                if lead:
                    await self.ch.play(*lead)
                keyed = await ask_account()
            else:
                keyed = await self._keys((*lead, prompt), first if asked == 1 else None)
            attempt = failures + 1
            if not keyed:
                if optional:
                    self._journal(attempt, "tail" if by_tail else "account", "declined")
                    return GateResult(Outcome.DECLINED)
                self._journal(attempt, "tail" if by_tail else "account", "no-input")
                failures += 1
                if failures < ATTEMPTS:
                    await self.ch.play(P_NO_INPUT)
                continue
            if by_tail and len(keyed) == TAIL_DIGITS and keyed.isdigit():
                way = "tail"
                ident = by_phone_and_tail(found.by_phone, self.ch.caller_number, keyed)
                if ident.ambiguous:
                    # Accounts of the number end so: the whole number decides
                    # (not a failure: the digits were right).
                    self._journal(attempt, way, "ambiguous")
                    by_tail = False
                    asked, notice, unknown_prompt = 0, (P_SEVERAL,), P_ENTER_ACCOUNT
                    first = None
                    continue
            else:
                way = "account"
                ident = await self._by_account(found, keyed)
            verified = _verified(ident)
            if verified is not None:
                self._journal(attempt, way, "passed")
                self._passed = verified
                self._mark_read = True
                await self.ch.set_var(
                    Var.VERIFIED,
                    f"{verified.way.value}:{verified.account_id}:{self.ch.call_id}",
                )
                await self.ch.play(P_CONFIRMED if way == "tail" else P_IDENTIFIED)
                return GateResult(Outcome.PASSED, verified)
            self._journal(attempt, way, "wrong")
            failures += 1
            await self.ch.play(P_TAIL_MISMATCH if way == "tail" else P_NOT_FOUND)
        self.ch.journal.add("step", name="ident-gate", result="failed", attempts=failures)
        return GateResult(Outcome.FAILED)

    async def _keys(self, prompts: tuple[str, ...], first: str | None) -> str:
        """Keys up to ``#`` or a pause (one ``Read()``, journalled masked)."""
        buf = first or ""
        if not buf.endswith("#"):
            buf += await self.ch.collect_digits(
                () if buf else prompts,
                max_digits=MAX_ACCOUNT_DIGITS + 1 - len(buf),
                timeout=KEY_TIMEOUT,
                private=True,
            )
        return buf[:-1] if buf.endswith("#") else buf

    async def _by_account(self, found: OnFile, keyed: str) -> Identification:
        number = normalize_account_number(keyed)
        if number is not None:
            for own_number, ident in found.own.items():
                if own_number == number:
                    return ident
        identifier = Identifier(self.deps.db)
        return await self.deps.run_db(identifier.by_account, keyed)

    def _journal(self, attempt: int, way: str, result: str) -> None:
        """One attempt, without what was keyed (152-FZ)."""
        self.ch.journal.add("step", name="ident-gate", attempt=attempt, way=way, result=result)


def _verified(ident: Identification) -> Verified | None:
    if not ident.allows_confidential or ident.account_id is None or not ident.candidates:
        return None
    found = ident.candidates[0]
    if found.account_id != ident.account_id or found.category is None:
        return None
    return Verified(ident.account_id, found.number, found.category, ident.method, ident)
