"""An incoming text message, handled (REQ-T14): the readings it carries go
through the same rules as voice and keypad (:mod:`crm_bridge.readings`:
digits, previous reading, rollover, plausibility, period), the sender gets a
reply in Russian saying what was accepted or what is wrong, and every
message is registered as an appeal of channel SMS (REQ-A1).

Who the readings are for:

* the account number in the text («ЛС 1000000001 …», or the first of several
  numbers) — from any phone, as on the keypad;
* otherwise the sender's number on file: exactly one account; a number on
  several accounts is refused with the reason (the sender must name the
  account), a number not on file likewise.

The account must have exactly one meter (several: the sender is asked to
call). Zones labelled Т1…Т3 must exist on the meter; unlabelled values are
the meter's zones in order and must be as many. A suspicious jump is not
stored at once: the reply asks to send the same message again, and a
repeat within :data:`CONFIRM_WITHIN` confirms it (stored flagged for
review, like a caller's second confirmation).

Replies fit one segment where they can (UCS-2: 70 characters); the unknown
text gets the short help and is registered as an open appeal for the
operators (it may be a question or a complaint). Reading messages are
registered answered and closed: the reply is the answer.

Logs carry the message ids and outcomes only, never a number or a text (152-FZ).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database, utcnow
from crm_bridge.identify import Identification, Identifier
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    Category,
    ClassificationCode,
    ReadingSource,
    ReadingStatus,
    ReplyChannel,
    TariffZone,
)
from crm_bridge.phones import try_normalize_phone
from crm_bridge.readings import (
    ConfirmationRequired,
    MeterView,
    ReadingError,
    ReadingService,
    StoredReading,
    Verdict,
)
from sms.encoding import coding_of, segments
from sms.models import Direction, InOutcome, OutState, SmsMessage
from sms.parser import FormatError, ReadingsMessage, parse

__all__ = ["CONFIRM_WITHIN", "HELP", "ZONE_RU", "Handled", "SmsInbound"]

logger = logging.getLogger(__name__)

CONFIRM_WITHIN: Final = timedelta(hours=24)
HELP: Final = "Показания: ЛС 1000000001 Т1 12345 Т2 6789"
"""The help reply's example (with the appeal's number it stays one segment)."""
ZONE_RU: Final = {TariffZone.T1: "Т1", TariffZone.T2: "Т2", TariffZone.T3: "Т3"}


@dataclass(frozen=True, slots=True)
class Handled:
    inbound_id: int
    reply_id: int | None
    outcome: InOutcome
    reply: str
    appeal_number: str | None
    duplicate: bool = False


class _Refused(Exception):
    def __init__(self, reply: str, *, outcome: InOutcome = InOutcome.REFUSED) -> None:
        super().__init__(reply)
        self.reply = reply
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class _Plan:
    account_id: int
    category: Category
    address: str
    meter: MeterView
    values: tuple[tuple[TariffZone, int], ...]
    confirmed: bool


def _n(value: int | Decimal) -> str:
    v = Decimal(value)
    return format(v.quantize(Decimal(1)) if v == v.to_integral_value() else v, "f")


class SmsInbound:
    """Handles one incoming message (blocking: run it off the event loop)."""

    def __init__(
        self,
        db: Database,
        *,
        readings: ReadingService,
        appeals: AppealService,
        identifier: Identifier | None = None,
        service_number: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.readings = readings
        self.appeals = appeals
        self.identifier = identifier or Identifier(db)
        self.service_number = service_number
        self._clock = clock

    # -- the one entry point ----------------------------------------------------

    def receive(
        self, *, sender: str, text: str, receiver: str = "", gateway_id: str | None = None
    ) -> Handled:
        peer = try_normalize_phone(sender) or (sender or "").strip()[:32] or "?"
        inbound = self._store_incoming(peer, receiver, text, gateway_id)
        if isinstance(inbound, Handled):
            logger.info(
                "sms %s: a repeat of the gateway's message, not handled again", inbound.inbound_id
            )
            return inbound
        parsed: ReadingsMessage | None = None
        try:
            parsed = parse(text)
        except FormatError as exc:
            return self._finish_refused(inbound, peer, text, f"Не принято: {exc.reason}.", None)
        if parsed is None:
            return self._finish_help(inbound, peer, text)
        try:
            plan = self._plan(parsed, peer, inbound)
        except _Refused as ref:
            return self._finish_refused(inbound, peer, text, ref.reply, None, outcome=ref.outcome)
        return self._finish_readings(inbound, peer, text, parsed, plan)

    # -- steps ----------------------------------------------------------------

    def _store_incoming(
        self, peer: str, receiver: str, text: str, gateway_id: str | None
    ) -> int | Handled:
        try:
            with self.db.session(write=True) as session:
                row = SmsMessage(
                    direction=Direction.IN.value,
                    peer=peer,
                    service_number=(receiver or self.service_number)[:32],
                    text=text,
                    parts=segments(text),
                    coding=coding_of(text),
                    gateway_id=gateway_id[:64] if gateway_id else None,
                    state="received",
                    purpose="",
                    created_at=self._clock(),
                )
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            with self.db.session() as session:
                first = session.execute(
                    select(SmsMessage).where(SmsMessage.gateway_id == gateway_id)
                ).scalar_one()
                reply = session.execute(
                    select(SmsMessage).where(SmsMessage.reply_to_id == first.id)
                ).scalar_one_or_none()
                outcome = (
                    InOutcome(first.state)
                    if first.state in InOutcome.__members__.values()
                    else InOutcome.HELP
                )
                return Handled(
                    inbound_id=first.id,
                    reply_id=reply.id if reply else None,
                    outcome=outcome,
                    reply=reply.text if reply else "",
                    appeal_number=None,
                    duplicate=True,
                )

    def _identify(self, parsed: ReadingsMessage, peer: str) -> Identification:
        if parsed.account is not None:
            ident = self.identifier.by_account(parsed.account)
            if not ident.identified:
                raise _Refused("Не принято: лицевой счёт не найден. Проверьте номер.")
            return ident
        ident = self.identifier.by_phone(peer)
        if ident.identified:
            return ident
        if len(ident.candidates) > 1:
            raise _Refused(
                "Не принято: номер указан у нескольких счетов. Пришлите: ЛС <номер> <показание>"
            )
        raise _Refused("Не принято: номер не найден. Пришлите: ЛС <номер счёта> <показание>")

    def _plan(self, parsed: ReadingsMessage, peer: str, inbound_id: int) -> _Plan:
        ident = self._identify(parsed, peer)
        assert ident.account_id is not None
        account = self.readings.account(ident.account_id)
        meters = self.readings.meters(account.id)
        if not meters:
            raise _Refused("Не принято: на лицевом счёте нет счётчика.")
        if len(meters) > 1:
            raise _Refused(
                "Не принято: у вас несколько счётчиков. Передайте показания по телефону."
            )
        meter = meters[0]
        values = self._zones(parsed, meter)
        key = f"{account.id}|" + " ".join(f"{z.value}={v}" for z, v in values)
        confirmed = False
        for zone, value in values:
            check = self.readings.check(meter, zone, value)
            label = f"{ZONE_RU[zone]} {value}"
            if check.verdict is Verdict.TOO_MANY_DIGITS:
                raise _Refused(
                    f"Не принято: в показании {ZONE_RU[zone]} больше {meter.digits} цифр."
                )
            if check.verdict is Verdict.BELOW_PREVIOUS:
                raise _Refused(f"Не принято: {label} меньше предыдущего показания.")
            if check.verdict is Verdict.SUSPICIOUS and not confirmed:
                confirmed = self._repeat_of_confirm(peer, key, inbound_id)
                if not confirmed:
                    self._set_key(inbound_id, key)
                    raise _Refused(
                        f"{label}: большой расход. Если верно, пришлите то же ещё раз.",
                        outcome=InOutcome.CONFIRM,
                    )
        self._set_key(inbound_id, key)
        return _Plan(account.id, account.category, account.address, meter, values, confirmed)

    @staticmethod
    def _zones(parsed: ReadingsMessage, meter: MeterView) -> tuple[tuple[TariffZone, int], ...]:
        names = ", ".join(ZONE_RU[z] for z in meter.zones)
        if parsed.labelled:
            for v in parsed.values:
                assert v.zone is not None
                if v.zone not in meter.zones:
                    raise _Refused(
                        f"Не принято: у счётчика нет зоны {ZONE_RU[v.zone]} (есть {names})."
                    )
            return tuple((v.zone, v.value) for v in parsed.values if v.zone is not None)
        if len(parsed.values) != len(meter.zones):
            if len(meter.zones) == 1:
                raise _Refused("Не принято: у счётчика одна зона, пришлите одно показание.")
            example = " ".join(f"{ZONE_RU[z]} <показание>" for z in meter.zones)
            raise _Refused(f"Не принято: укажите зоны: {example}")
        return tuple((z, v.value) for z, v in zip(meter.zones, parsed.values, strict=True))

    def _repeat_of_confirm(self, peer: str, key: str, inbound_id: int) -> bool:
        since = self._clock() - CONFIRM_WITHIN
        with self.db.session() as session:
            found = session.execute(
                select(SmsMessage.id)
                .where(
                    SmsMessage.peer == peer,
                    SmsMessage.direction == Direction.IN.value,
                    SmsMessage.state == InOutcome.CONFIRM.value,
                    SmsMessage.content_key == key,
                    SmsMessage.created_at >= since,
                    SmsMessage.id != inbound_id,
                )
                .limit(1)
            ).scalar_one_or_none()
        return found is not None

    def _set_key(self, inbound_id: int, key: str) -> None:
        with self.db.session(write=True) as session:
            row = session.get(SmsMessage, inbound_id)
            assert row is not None
            row.content_key = key[:128]

    # -- endings --------------------------------------------------------------

    def _finish_readings(
        self, inbound_id: int, peer: str, text: str, parsed: ReadingsMessage, plan: _Plan
    ) -> Handled:
        stored: list[StoredReading] = []
        try:
            for zone, value in plan.values:
                stored.append(
                    self.readings.submit(
                        meter_id=plan.meter.id,
                        zone=zone,
                        value=value,
                        source=ReadingSource.SMS,
                        recognised_text=text[:255],
                        confirmed_jump=plan.confirmed,
                    )
                )
        except ConfirmationRequired:
            reply = "Не принято: большой расход. Если верно, пришлите то же ещё раз."
            return self._finish_refused(inbound_id, peer, text, reply, plan, stored=stored)
        except ReadingError:
            reply = "Не принято: показание меньше предыдущего или не подходит счётчику."
            return self._finish_refused(inbound_id, peer, text, reply, plan, stored=stored)
        listed = ", ".join(f"{ZONE_RU[s.zone]} {_n(s.value)}" for s in stored)
        flagged = any(s.status is ReadingStatus.FLAGGED for s in stored)
        reply = f"Приняты{' на проверку' if flagged else ''} показания {listed}."
        later = next((s.counts_from for s in stored if not s.in_period), None)
        reply += f" Учтём с {later:%d.%m}." if later else " Спасибо!"
        content = "Показания по СМС: " + "; ".join(
            f"{s.serial} {ZONE_RU[s.zone]}: {_n(s.value)} "
            f"({'на проверку' if s.status is ReadingStatus.FLAGGED else 'принято'})"
            for s in stored
        )
        return self._close(inbound_id, peer, InOutcome.ACCEPTED, reply, content, plan)

    def _finish_refused(
        self,
        inbound_id: int,
        peer: str,
        text: str,
        reply: str,
        plan: _Plan | None,
        *,
        outcome: InOutcome = InOutcome.REFUSED,
        stored: list[StoredReading] | None = None,
    ) -> Handled:
        content = f"Показания по СМС не приняты ({reply}). Текст: {text}"
        if stored:
            content += ". Принято до ошибки: " + ", ".join(
                f"{ZONE_RU[s.zone]} {_n(s.value)}" for s in stored
            )
        return self._close(inbound_id, peer, outcome, reply, content, plan)

    def _close(
        self,
        inbound_id: int,
        peer: str,
        outcome: InOutcome,
        reply: str,
        content: str,
        plan: _Plan | None,
    ) -> Handled:
        account_id = plan.account_id if plan else self._phone_account(peer)
        view = self.appeals.register(
            channel=AppealChannel.SMS,
            kind=AppealKind.METER_READING,
            category=plan.category if plan else Category.FL,
            content=content[:4000],
            address_text=plan.address if plan else None,
            classification=ClassificationCode.E,
            reply_channel=ReplyChannel.SMS,
            reply_contact=peer,
            account_id=account_id,
            received_at=self._clock(),
            answered_in_call=f"Ответ по СМС: {reply}",
        )
        return self._reply(inbound_id, peer, outcome, reply, view.id, view.number, account_id)

    def _finish_help(self, inbound_id: int, peer: str, text: str) -> Handled:
        account_id = self._phone_account(peer)
        view = self.appeals.register(
            channel=AppealChannel.SMS,
            kind=AppealKind.APPEAL,
            content=text[:4000],
            reply_channel=ReplyChannel.SMS,
            reply_contact=peer,
            account_id=account_id,
            received_at=self._clock(),
        )
        reply = f"Обращение {view.number} принято. {HELP}"
        return self._reply(
            inbound_id, peer, InOutcome.HELP, reply, view.id, view.number, account_id
        )

    def _phone_account(self, peer: str) -> int | None:
        return self.identifier.by_phone(peer).account_id if peer.startswith("+") else None

    def _reply(
        self,
        inbound_id: int,
        peer: str,
        outcome: InOutcome,
        reply: str,
        appeal_id: int,
        appeal_number: str,
        account_id: int | None,
    ) -> Handled:
        now = self._clock()
        with self.db.session(write=True) as session:
            row = session.get(SmsMessage, inbound_id)
            assert row is not None
            row.state = outcome.value
            row.appeal_id = appeal_id
            row.account_id = account_id
            out = SmsMessage(
                direction=Direction.OUT.value,
                peer=peer,
                service_number=row.service_number,
                text=reply,
                parts=segments(reply),
                coding=coding_of(reply),
                state=OutState.QUEUED.value,
                purpose="reply",
                reply_to_id=inbound_id,
                appeal_id=appeal_id,
                account_id=account_id,
                tries=0,
                next_try_at=now,
                created_at=now,
            )
            session.add(out)
            session.flush()
            reply_id = out.id
        logger.info(
            "sms %s: %s, reply %s queued (appeal %s)", inbound_id, outcome, reply_id, appeal_number
        )
        return Handled(inbound_id, reply_id, outcome, reply, appeal_number)
