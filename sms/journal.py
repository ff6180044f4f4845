"""The SMS journal for the staff (``GET /sms/``, supervisors; issue 18 item 3):
every text message in and out — replies, appeal notices, campaign messages —
with its delivery state and report, filtered by direction, state, purpose,
period and a customer's number. Lists never show a full number: phone
numbers are masked (``+79*******01``), and so are the long digit runs in a
text (account numbers: ``ЛС 10******01``). Every read is audited
(``sms.journal``; the number searched for is not written into the audit).
A bad filter is a Russian 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select

from crm_bridge.db import Database
from crm_bridge.models import OperatorRole
from crm_bridge.phones import try_normalize_phone
from sms.models import Direction, OutState, SmsMessage
from webedge.edge import allow, audit
from webedge.shell import error_response, render

__all__ = ["Filters", "JournalRow", "journal", "mask_phone", "mask_text", "read_journal"]

LIMIT: Final = 200
DIRECTION_TITLES: Final = {"in": "входящее", "out": "исходящее"}
STATE_TITLES: Final = {
    "queued": "в очереди",
    "sending": "отправляется",
    "sent": "принято шлюзом",
    "buffered": "в очереди SMSC",
    "smsc": "принято SMSC",
    "delivered": "доставлено",
    "failed": "не доставлено",
    "accepted": "показания приняты",
    "refused": "показания не приняты",
    "confirm": "ждём подтверждения",
    "help": "справка, обращение",
    "survey": "ответ на опрос",
}
PURPOSE_TITLES: Final = {
    "reply": "ответ",
    "notice": "уведомление по обращению",
    "campaign": "кампания",
    "": "—",
}
_DIGITS: Final = re.compile(r"\d{7,}")


def mask_phone(peer: str) -> str:
    """``+79001110001`` → ``+79*******01``: enough to tell numbers apart, not to call one."""
    if len(peer) <= 5:
        return peer[:1] + "*" * max(0, len(peer) - 1)
    return peer[:3] + "*" * (len(peer) - 5) + peer[-2:]


def mask_text(text: str) -> str:
    """Long digit runs (account and phone numbers) masked but their ends."""
    return _DIGITS.sub(lambda m: m.group()[:2] + "*" * (len(m.group()) - 4) + m.group()[-2:], text)


class FilterError(ValueError):
    """A filter that cannot be read; the message is for people."""


@dataclass(frozen=True)
class Filters:
    direction: str = ""
    state: str = ""
    purpose: str = ""
    start: date | None = None
    end: date | None = None
    phone: str = ""
    """E.164, normalised from what was typed."""

    @classmethod
    def parse(cls, query: Any) -> Filters:
        direction = (query.get("direction") or "").strip()
        if direction and direction not in DIRECTION_TITLES:
            raise FilterError("направление: входящие или исходящие")
        state = (query.get("state") or "").strip()
        if state and state not in STATE_TITLES:
            raise FilterError(f"неизвестное состояние «{state[:20]}»")
        purpose = (query.get("purpose") or "").strip()
        if purpose and purpose not in PURPOSE_TITLES:
            raise FilterError(f"неизвестное назначение «{purpose[:20]}»")
        start, end = _day(query.get("start"), "начало"), _day(query.get("end"), "конец")
        if start and end and end < start:
            raise FilterError("конец периода раньше начала")
        raw = (query.get("phone") or "").strip()
        phone = ""
        if raw:
            phone = try_normalize_phone(raw) or ""
            if not phone:
                raise FilterError("номер телефона не распознан")
        return cls(direction, state, purpose, start, end, phone)

    def audit_subject(self) -> str:
        """What was looked at, without the number searched for (152-FZ)."""
        parts = [
            f"{k}={v}"
            for k, v in (
                ("direction", self.direction),
                ("state", self.state),
                ("purpose", self.purpose),
                ("start", self.start or ""),
                ("end", self.end or ""),
            )
            if v
        ]
        if self.phone:
            parts.append("phone=*")
        return " ".join(parts)[:128] or "all"


def _day(raw: str | None, what: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise FilterError(f"{what} периода: ожидается дата ДД.ММ.ГГГГ, а не «{raw[:20]}»")


@dataclass(frozen=True)
class JournalRow:
    id: int
    created_at: datetime
    direction: str
    peer: str
    """Masked."""
    text: str
    """Digit runs masked."""
    parts: int
    state: str
    purpose: str
    report_at: datetime | None
    error: str


def read_journal(
    db: Database, f: Filters, tz: str = "Europe/Moscow", limit: int = LIMIT
) -> tuple[list[JournalRow], dict[str, int]]:
    """The newest messages matching ``f`` (masked) and the counts by state."""
    zone = ZoneInfo(tz)
    where = []
    if f.direction:
        where.append(SmsMessage.direction == f.direction)
    if f.state:
        where.append(SmsMessage.state == f.state)
    if f.purpose:
        where.append(SmsMessage.purpose == f.purpose)
    if f.start:
        where.append(
            SmsMessage.created_at >= datetime.combine(f.start, time.min, zone).astimezone(UTC)
        )
    if f.end:
        where.append(
            SmsMessage.created_at
            < datetime.combine(f.end + timedelta(days=1), time.min, zone).astimezone(UTC)
        )
    if f.phone:
        where.append(SmsMessage.peer == f.phone)
    with db.session(readonly=True) as s:
        rows = [
            JournalRow(
                m.id,
                m.created_at,
                DIRECTION_TITLES.get(m.direction, m.direction),
                mask_phone(m.peer),
                mask_text(m.text),
                m.parts,
                STATE_TITLES.get(m.state, m.state),
                PURPOSE_TITLES.get(m.purpose, m.purpose) if m.direction == Direction.OUT else "—",
                m.report_at,
                m.error or "",
            )
            for m in s.scalars(
                select(SmsMessage).where(*where).order_by(SmsMessage.id.desc()).limit(limit)
            )
        ]
        counts = {
            STATE_TITLES.get(state, state): n
            for state, n in s.execute(
                select(SmsMessage.state, func.count()).where(*where).group_by(SmsMessage.state)
            )
        }
    return rows, counts


@allow(OperatorRole.SUPERVISOR)
async def journal(request: web.Request) -> web.Response:
    from sms.web import CTX

    ctx = request.app[CTX]
    try:
        f = Filters.parse(request.query)
    except FilterError as exc:
        return error_response(request, 400, f"Неверный фильтр: {exc}")
    tz = ctx.services.settings.timezone
    rows, counts = await ctx.services.run_db(lambda: read_journal(ctx.services.db, f, tz))
    await audit(request, "sms.journal", f.audit_subject())
    return render(
        request,
        "sms/journal.html",
        {
            "title": "СМС: отправленные и полученные",
            "rows": rows,
            "counts": counts,
            "f": f,
            "q": request.query,
            "limit": LIMIT,
            "directions": DIRECTION_TITLES,
            "states": STATE_TITLES,
            "purposes": {k: v for k, v in PURPOSE_TITLES.items() if k},
            "delivered": STATE_TITLES[OutState.DELIVERED.value],
        },
    )
