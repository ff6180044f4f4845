"""«Нет света» answered before the menu (issue 16 item 2).

When an account of the calling number (caller ID → the accounts on file; any
of them, when the number has several) is at an address inside an active
emergency outage of the register, the inbound flow tells the caller right
after the recording warning (REQ-T4 stays first):

    «По вашему адресу аварийное отключение электроэнергии. Восстановление
    ориентировочно в восемнадцать часов» (the time in the accusative that «в»
    governs, with the date when it is not today; «Сроки восстановления
    уточняются» with no estimate, or when the estimate has passed and the
    emergency is not marked restored yet: it stays active until it is),

and the call goes on to the menu as usual: a key pressed during the notice
is the main menu's choice (type-ahead). The estimate said is the register's
current one (a moved estimate moves the rows the check reads).

The check (:meth:`crm_bridge.outages.OutageService.emergency_for_phone`,
the hot path ``bench/outage_match.py`` measures) starts when the call is
answered and runs while the warning plays; after the warning the flow waits
for it at most :data:`WAIT_AFTER_WARNING` seconds. A slow or failing
database never delays or breaks the call: no answer in time, or an error,
and the caller simply hears the menu.

The notice says no address and nothing of the account: only that the
caller's house is without power now, which its residents know and the
grid's outage map publishes. The outages at the address in full (planned
ones, the schedule) stay behind the identity gate (REQ-T9, T13) in menu
item 2.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, tzinfo
from typing import Final

from crm_bridge.outages import CallerEmergency, OutageService
from ivr import phrases_ru
from ivr.deps import IvrDeps
from ivr.phrases_ru import Phrase
from telephony.channel import Channel

__all__ = [
    "P_EMERGENCY",
    "P_RESTORE_AT",
    "P_RESTORE_UNKNOWN",
    "WAIT_AFTER_WARNING",
    "announce",
    "notice",
    "start_check",
    "wait_check",
]

log = logging.getLogger(__name__)

P_EMERGENCY: Final = "outage/emergency_at_address"
P_RESTORE_AT: Final = "outage/restore_expected_at"
P_RESTORE_UNKNOWN: Final = "outage/restore_unknown"

WAIT_AFTER_WARNING = 0.3
"""Seconds the flow still waits for the check once the warning has ended
(it had the whole warning, several seconds, to answer)."""


def start_check(
    deps: IvrDeps, calling_number: str | None, now: datetime
) -> asyncio.Future[CallerEmergency | None]:
    """Start the check off the event loop (while the warning plays)."""
    service = OutageService(deps.db)
    return asyncio.ensure_future(deps.run_db(service.emergency_for_phone, calling_number, now))


async def wait_check(
    check: asyncio.Future[CallerEmergency | None],
    call_id: str,
    *,
    timeout: float | None = None,
) -> CallerEmergency | None:
    """The check's answer, or None when it failed or is not there within
    ``timeout`` (default :data:`WAIT_AFTER_WARNING`, read at the call: a
    test with a scripted caller, whose warning takes no time, gives the check
    the time the warning would have; it is left to finish in its thread and
    its result is dropped)."""
    limit = WAIT_AFTER_WARNING if timeout is None else timeout
    try:
        return await asyncio.wait_for(asyncio.shield(check), limit)
    except TimeoutError:
        log.warning("call %s: emergency outage check too slow, menu without it", call_id)
        check.add_done_callback(_drop)
    except Exception as exc:
        log.warning("call %s: emergency outage check failed: %r", call_id, exc)
    return None


def _drop(future: asyncio.Future[CallerEmergency | None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a late failure was already logged as a timeout


def notice(eta: datetime | None, now: datetime, zone: tzinfo) -> Phrase:
    """What is said: the emergency, then the estimated restoration — «в»
    + the time in the accusative, with the date (genitive) when the
    restoration is not expected today; «сроки уточняются» without one."""
    if eta is None:
        return Phrase((P_EMERGENCY, P_RESTORE_UNKNOWN))
    local = eta.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        when = phrases_ru.value("time", local.time(), "acc")
    else:
        when = phrases_ru.value("datetime", local, "acc")
    return Phrase((P_EMERGENCY, P_RESTORE_AT, *when.parts))


async def announce(ch: Channel, found: CallerEmergency, now: datetime, zone: tzinfo) -> None:
    """Tell the caller (a key stops it and is kept for the menu: type-ahead)."""
    outage = found.outage
    eta = outage.estimate(now)
    ch.journal.add(
        "step",
        name="emergency-outage",
        outage=outage.register_id or outage.id,
        eta=eta.isoformat() if eta is not None else None,
        code=outage.classification.value,
    )
    await phrases_ru.speak(ch, notice(eta, now, zone))
