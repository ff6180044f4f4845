"""Listening in on an operator's live call (issue 14): the supervisor's own
SIP phone rings and, once answered, hears the call through Asterisk's
``ChanSpy`` on the operator's channel.

Modes (ChanSpy's options): **listen** (``q``: quietly, nobody hears the
supervisor), **whisper** (``w``: the operator hears the supervisor, the
caller does not), **barge** (``B``: both hear). ``E`` ends the spy when the
operator's call ends; ``d`` lets the supervisor switch modes from the phone's
keypad (4 listen, 5 whisper, 6 barge). The web route writes every use to the
audit log (who, whom, which mode).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select

from crm_bridge.db import Database
from crm_bridge.models import Operator, OperatorRole
from shift.presence import PresenceError, ShiftService, State

__all__ = ["ListenError", "Mode", "listen_in", "spy_options"]

logger = logging.getLogger(__name__)


class Mode(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


MODE_TITLES: Final = {
    Mode.LISTEN: "Прослушивание",
    Mode.WHISPER: "Суфлирование",
    Mode.BARGE: "Вмешательство",
}
_FLAG: Final = {Mode.LISTEN: "", Mode.WHISPER: "w", Mode.BARGE: "B"}


class ListenError(Exception):
    """Listening in that cannot start (message in Russian)."""


def spy_options(mode: Mode) -> str:
    return "qEd" + _FLAG[mode]


def supervisor_phone(db: Database, supervisor_id: int) -> str | None:
    """The supervisor's own phone (the PJSIP interface), if any."""
    with db.session() as session:
        row = session.execute(
            select(Operator.interface, Operator.pjsip_endpoint).where(
                Operator.id == supervisor_id,
                Operator.role == OperatorRole.SUPERVISOR,
                Operator.active.is_(True),
            )
        ).first()
    if row is None:
        return None
    return row.interface or (f"PJSIP/{row.pjsip_endpoint}" if row.pjsip_endpoint else None)


async def listen_in(
    *,
    ami: Any,
    shift: ShiftService | None,
    phone: str | None,
    operator_id: int,
    mode: Mode,
) -> str:
    """Ring the supervisor's ``phone`` into ChanSpy on the operator's call;
    returns the operator's channel listened to."""
    if ami is None or shift is None:
        raise ListenError("нет связи с АТС")
    if not phone:
        raise ListenError("у вас нет SIP-телефона: его выдаёт команда «hotline operators phone»")
    try:
        person = await shift.presence(operator_id)
    except PresenceError as exc:
        raise ListenError(str(exc)) from exc
    if person.state is not State.TALKING or not person.phone_channel:
        raise ListenError("оператор сейчас не разговаривает (или работает на другом узле)")
    target = person.phone_channel
    try:
        resp = await ami.action(
            {
                "Action": "Originate",
                "Channel": phone,
                "Application": "ChanSpy",
                "Data": f"{target},{spy_options(mode)}",
                "CallerID": f'"{MODE_TITLES[mode]}: {person.login}" <{person.login}>',
                "Timeout": "30000",
                "Async": "true",
            },
            as_list=False,
            timeout=5.0,
        )
    except (RuntimeError, OSError) as exc:
        raise ListenError(f"АТС не ответила: {exc}") from exc
    first = resp[0] if isinstance(resp, list) and resp else resp
    if first is None or str(first.get("Response", "")).lower() != "success":
        message = str(first.get("Message", "")) if first is not None else "нет ответа"
        raise ListenError(f"АТС отказала: {message}")
    logger.info("supervisor listens in (%s) on operator %s", mode, operator_id)
    return target
