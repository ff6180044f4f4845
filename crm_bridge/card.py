"""The caller card (REQ-T9, A4): what the operator's screen shows for a call —
the account identified in the IVR (or suggested by the calling number with
its confidence), address, debt, meters and last readings, open appeals, the
caller's path through the IVR, the appeal of the call; the campaign
and contact of an outbound call. Service logic, no HTTP: the workplace
(:mod:`crm_bridge.web`) sends it over its WebSocket and its JSON API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select

from crm_bridge.ami_listener import (
    VAR_ACCOUNT,
    VAR_APPEAL,
    VAR_CAMPAIGN,
    VAR_CONTACT,
)
from crm_bridge.appeals import AppealView
from crm_bridge.calls import CallService
from crm_bridge.identify import Identifier, account_display_address
from crm_bridge.models import (
    Account,
    Appeal,
    AppealStatus,
    Meter,
    Reading,
)

__all__ = ["STATUS_RU", "appeal_full", "build_card", "describe_outbound_with"]

OutboundDescriber = Callable[[Any, str, str], "dict[str, Any] | None"]
"""``(db, campaign, contact) -> {name, kind, message, phone, account, callee}``:
what the outbound slice knows about the campaign and the contact of a call
transferred from it (blocking, in the DB thread)."""
_OUTBOUND: list[OutboundDescriber] = []


def describe_outbound_with(describer: OutboundDescriber) -> None:
    """The slice that places outbound calls (the autoinformer) says how its
    campaign and contact are shown on the card; the CRM does not read its
    tables itself."""
    if describer not in _OUTBOUND:
        _OUTBOUND.append(describer)


STATUS_RU: Final = {
    AppealStatus.REGISTERED: "зарегистрировано",
    AppealStatus.IN_PROGRESS: "в работе",
    AppealStatus.ANSWERED: "дан ответ",
    AppealStatus.CLOSED: "закрыто",
    AppealStatus.NOT_CONSIDERED: "не рассматривается",
}


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


SECTIONS: Final = {
    "menu": "главное меню",
    "ident": "определение абонента",
    "outage": "раздел «Отключения»",
    "consult": "раздел «Справка и присоединение»",
    "debt": "раздел «Задолженность и оплата»",
    "queue": "очередь к оператору",
    "am": "автоответчик",
    "readings": "передача показаний",
    "outbound": "сообщение автоинформатора",
}
"""The IVR's prompt groups as the operator reads them (the menu path in words)."""
MENUS: Final = {
    "main": "в главном меню",
    "debt": "в разделе «Задолженность»",
    "consult": "в разделе «Справка»",
    "outage": "в разделе «Отключения»",
    "ident": "при определении абонента",
    "am-contact": "на автоответчике",
    "callback-offer": "на предложении обратного звонка",
    "callback-number": "при подтверждении номера",
}
REASONS: Final = {
    "timeout": "не ответил",
    "no-input": "не ответил",
    "invalid": "нажал не ту клавишу",
    "repeat": "попросил повторить",
    "back": "вернулся назад",
}
STEPS: Final = {
    "ident": {
        "identified": "абонент определён",
        "not-found": "лицевой счёт не найден",
        "no-input": "номер лицевого счёта не введён",
    },
    "ident-gate": {
        "passed": "подтвердил лицевой счёт",
        "remembered": "лицевой счёт подтверждён ранее в звонке",
        "wrong": "неверно указал лицевой счёт",
        "ambiguous": "цифры подходят к нескольким лицевым счетам",
        "no-input": "не указал лицевой счёт",
        "declined": "не стал указывать лицевой счёт",
        "failed": "не подтвердил лицевой счёт",
    },
}


def _journal_line(kind: str, detail: Mapping[str, Any]) -> str | None:
    """One IVR journal entry as a line for the operator, in words (None: not shown)."""
    if kind == "prompt":
        group = str(detail.get("id", "")).split("/", 1)[0]
        section = SECTIONS.get(group)
        return f"слушал: {section}" if section else None
    if kind == "say":
        return f"услышал: {detail.get('text') or detail.get('value', '')}".strip()
    if kind == "input":
        where = MENUS.get(str(detail.get("menu", "")), "")
        reason = str(detail.get("reason", "ok"))
        if reason in REASONS:
            return " ".join(filter(None, [REASONS[reason], where]))
        if detail.get("private"):  # an account number: never kept, never shown
            return "ввёл номер лицевого счёта"
        digits = detail.get("digits") or ""
        if not digits:
            return " ".join(filter(None, ["ничего не ввёл", where]))
        verb = "нажал" if len(str(digits)) == 1 else "ввёл"
        return " ".join(filter(None, [verb, str(digits), where]))
    if kind == "step":
        name = str(detail.get("name", ""))
        if name == "appeal" and detail.get("number"):
            return f"зарегистрировано обращение № {detail['number']}"
        if name == "callback":
            return "заказал обратный звонок"
        return STEPS.get(name, {}).get(str(detail.get("result", "")))
    if kind == "record":
        return "оставил голосовое сообщение"
    if kind == "speech":
        return f"сказал: «{detail.get('text', '')}»"
    if kind in ("queue_join", "operator_connected", "queue_abandon", "hangup", "transferred"):
        names = {
            "queue_join": "поставлен в очередь операторов",
            "operator_connected": "соединён с оператором",
            "queue_abandon": "покинул очередь",
            "hangup": "звонок завершён",
            "transferred": "переведён оператором",
        }
        return names[kind]
    return None


def _without_repeats(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in lines:
        if not out or out[-1]["text"] != line["text"]:
            out.append(line)
    return out


def build_card(
    db: Any,
    uniqueid: str,
    *,
    vars: Mapping[str, str] | None = None,
    caller_number: str | None = None,
) -> dict[str, Any]:
    """The caller card of call ``uniqueid`` as JSON-ready data (blocking: run
    it in the DB thread pool). ``vars`` are the call's ``HOTLINE_*`` variables."""
    vars = dict(vars or {})
    calls = CallService(db)
    call = calls.get(uniqueid)
    caller = caller_number or (call.caller_number if call else None)
    card: dict[str, Any] = {
        "uniqueid": uniqueid,
        "call": {
            "caller_number": caller,
            "started_at": _iso(call.started_at) if call else None,
            "queue": call.queue_name if call else None,
            "wait_seconds": call.wait_seconds if call else None,
            "direction": str(call.direction) if call else "in",
            "operator_id": call.operator_id if call else None,
            "recorded": bool(call and call.recording_file),
        },
        "ident": {"method": "none", "confidence": 0.0, "verified": False, "candidates": []},
        "account": None,
        "open_appeals": [],
        "appeal": None,
        "ivr": [],
        "outbound": None,
    }
    account_id: int | None = None
    ident = card["ident"]
    outbound = _outbound(db, vars)
    card["outbound"] = outbound
    # An outbound call transferred to an operator: the campaign called this
    # account's number on file (REQ-O7), so the account is known, not guessed.
    named = vars.get(VAR_ACCOUNT) or (outbound or {}).get("account")
    if named:
        found = Identifier(db).by_account(named)
        if found.account_id is not None:
            account_id = found.account_id
            how = "campaign" if outbound else "account"
            ident.update(method=how, confidence=found.confidence, verified=True)
    if account_id is None and call is not None and call.account_id is not None:
        account_id = call.account_id
        ident.update(method="call", confidence=1.0, verified=True)
    if account_id is None and caller:
        found = Identifier(db).by_phone(caller)
        ident["candidates"] = [
            {"account_id": c.account_id, "number": c.number, "address": c.address}
            for c in found.candidates
        ]
        if found.account_id is not None:
            account_id = found.account_id
            ident.update(method="phone", confidence=found.confidence, verified=False)
    with db.session() as session:
        if account_id is not None:
            card["account"] = _account_data(session, account_id)
            rows = session.execute(
                select(Appeal)
                .where(
                    Appeal.account_id == account_id,
                    Appeal.status.in_((AppealStatus.REGISTERED, AppealStatus.IN_PROGRESS)),
                )
                .order_by(Appeal.seq.desc())
                .limit(10)
            ).scalars()
            card["open_appeals"] = [_appeal_brief(a) for a in rows]
        appeal = None
        if vars.get(VAR_APPEAL):
            appeal = session.execute(
                select(Appeal).where(Appeal.number == vars[VAR_APPEAL])
            ).scalar_one_or_none()
        if appeal is None and call is not None:
            appeal = (
                session.execute(
                    select(Appeal).where(Appeal.call_id == call.id).order_by(Appeal.seq.desc())
                )
                .scalars()
                .first()
            )
        if appeal is not None:
            card["appeal"] = appeal_full(appeal)
    for event in calls.events(uniqueid):
        line = _journal_line(event.kind, event.detail)
        if line:
            card["ivr"].append({"ts": _iso(event.ts), "source": event.source, "text": line})
    card["ivr"] = _without_repeats(card["ivr"])
    return card


def _outbound(db: Any, vars: Mapping[str, str]) -> dict[str, Any] | None:
    """The campaign and contact of an outbound call, as the outbound slice
    describes them (its name, kind, the message, the callee's number)."""
    campaign, contact = vars.get(VAR_CAMPAIGN), vars.get(VAR_CONTACT)
    if not campaign and not contact:
        return None
    out: dict[str, Any] = {"campaign": campaign, "contact": contact}
    for describe in _OUTBOUND:
        more = describe(db, campaign or "", contact or "")
        if more:
            out.update(more)
            break
    return out


def _account_data(session: Any, account_id: int) -> dict[str, Any] | None:
    account = session.get(Account, account_id)
    if account is None:
        return None
    meters = session.execute(
        select(Meter).where(Meter.account_id == account_id).order_by(Meter.id)
    ).scalars()
    meter_data = []
    for meter in meters:
        readings = session.execute(
            select(Reading)
            .where(Reading.meter_id == meter.id)
            .order_by(Reading.taken_at.desc(), Reading.id.desc())
            .limit(6)
        ).scalars()
        meter_data.append(
            {
                "serial": meter.serial,
                "zones": meter.zones,
                "last": [
                    [f"T{i}", _money(v) if v is not None else None]
                    for i, v in enumerate((meter.last_t1, meter.last_t2, meter.last_t3), 1)
                    if i <= max(1, meter.zones)
                ],
                "last_reading_at": _iso(meter.last_reading_at),
                "readings": [
                    {
                        "zone": str(r.zone),
                        "value": f"{r.value:f}",
                        "taken_at": _iso(r.taken_at),
                        "source": str(r.source),
                        "status": str(r.status),
                    }
                    for r in readings
                ],
            }
        )
    return {
        "id": account.id,
        "number": account.number,
        "holder": account.holder_name,
        "category": str(account.category),
        "address": account_display_address(account),
        "debt": _money(account.debt),
        "debt_as_of": account.debt_as_of.isoformat() if account.debt_as_of else None,
        "notify_by": account.notify_by,
        "meters": meter_data,
    }


def _appeal_brief(a: Appeal) -> dict[str, Any]:
    return {
        "id": a.id,
        "number": a.number,
        "received_at": _iso(a.received_at),
        "status": str(a.status),
        "status_ru": STATUS_RU[a.status],
        "classification": str(a.classification) if a.classification else None,
        "content": a.content,
    }


def appeal_full(a: Appeal | AppealView) -> dict[str, Any]:
    return {
        "id": a.id,
        "number": a.number,
        "received_at": _iso(a.received_at),
        "status": str(a.status),
        "status_ru": STATUS_RU[a.status],
        "classification": str(a.classification) if a.classification else None,
        "classification_corrected": a.classification_corrected,
        "kind": str(a.kind),
        "content": a.content,
        "note": a.note,
        "not_considered_reason": str(a.not_considered_reason) if a.not_considered_reason else None,
    }
