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

from sqlalchemy import insert, select

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


@dataclass(slots=True)
class _Incoming:
    """The message being handled; stored with its reply in one write at the end."""

    peer: str
    service_number: str
    text: str
    gateway_id: str | None
    account_id: int | None = None
    content_key: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    account_id: int
    category: Category
    meter: MeterView
    values: tuple[tuple[TariffZone, int], ...]
    confirmed: bool


def _n(value: int | Decimal) -> str:
    v = Decimal(value)
    return format(v.quantize(Decimal(1)) if v == v.to_integral_value() else v, "f")


class SmsInbound:
    """Handles one incoming message (blocking: run it off the event loop).

    Database work per message: the identification and the meter read, the
    readings stored (one write per zone, :meth:`ReadingService.submit`), the
    appeal registered (one write), and the message with its reply stored in
    one last write. A gateway id seen before returns the first handling.
    """

    def __init__(
        self,
        db: Database,
        *,
        readings: ReadingService,
        appeals: AppealService,
        identifier: Identifier | None = None,
        service_number: str = "",
        clock: Callable[[], datetime] = utcnow,
        survey: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.db = db
        self.survey = survey
        """A reply to a survey campaign's question (:class:`sms.campaigns.SurveyReplies`):
        the reply to send, or None (the message is read as readings)."""
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
        gid = gateway_id[:64] if gateway_id else None
        if gid is not None and (seen := self._seen(gid)) is not None:
            logger.info(
                "sms %s: a repeat of the gateway's message, not handled again", seen.inbound_id
            )
            return seen
        inbound = _Incoming(peer, (receiver or self.service_number)[:32], text, gid)
        if self.survey is not None and (answer := self.survey(peer, text)) is not None:
            inbound.account_id = self._phone_account(peer)
            return self._store(inbound, InOutcome.SURVEY, answer, None, None)
        try:
            parsed = parse(text)
        except FormatError as exc:
            return self._finish_refused(inbound, f"Не принято: {exc.reason}.", None)
        if parsed is None:
            return self._finish_help(inbound)
        try:
            plan = self._plan(parsed, inbound)
        except _Refused as ref:
            return self._finish_refused(inbound, ref.reply, None, outcome=ref.outcome)
        return self._finish_readings(inbound, plan)

    # -- steps ----------------------------------------------------------------

    def _seen(self, gateway_id: str) -> Handled | None:
        """How a message the gateway sent before (a retried request) was
        handled. Every incoming message asks this first: one statement by
        the unique gateway id in an autocommit session (no BEGIN/COMMIT);
        the reply is read only for a repeat."""
        with self.db.session(readonly=True) as session:
            first = session.execute(
                select(SmsMessage.id, SmsMessage.state).where(SmsMessage.gateway_id == gateway_id)
            ).first()
            if first is None:
                return None
            reply = session.execute(
                select(SmsMessage.id, SmsMessage.text).where(SmsMessage.reply_to_id == first.id)
            ).first()
        return Handled(
            inbound_id=first.id,
            reply_id=reply.id if reply else None,
            outcome=InOutcome(first.state),
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

    def _plan(self, parsed: ReadingsMessage, inbound: _Incoming) -> _Plan:
        ident = self._identify(parsed, inbound.peer)
        assert ident.account_id is not None
        account_id = ident.account_id
        inbound.account_id = account_id
        category = next(
            (c.category for c in ident.candidates if c.account_id == account_id and c.category),
            Category.FL,
        )
        meters = self.readings.meters(account_id)
        if not meters:
            raise _Refused("Не принято: на лицевом счёте нет счётчика.")
        if len(meters) > 1:
            raise _Refused(
                "Не принято: у вас несколько счётчиков. Передайте показания по телефону."
            )
        meter = meters[0]
        values = self._zones(parsed, meter)
        key = f"{account_id}|" + " ".join(f"{z.value}={v}" for z, v in values)
        inbound.content_key = key[:128]
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
                confirmed = self._repeat_of_confirm(inbound.peer, inbound.content_key)
                if not confirmed:
                    raise _Refused(
                        f"{label}: большой расход. Если верно, пришлите то же ещё раз.",
                        outcome=InOutcome.CONFIRM,
                    )
        return _Plan(account_id, category, meter, values, confirmed)

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

    def _repeat_of_confirm(self, peer: str, key: str) -> bool:
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
                )
                .limit(1)
            ).scalar_one_or_none()
        return found is not None

    # -- endings --------------------------------------------------------------

    def _finish_readings(self, inbound: _Incoming, plan: _Plan) -> Handled:
        stored: list[StoredReading] = []
        try:
            for zone, value in plan.values:
                stored.append(
                    self.readings.submit(
                        meter_id=plan.meter.id,
                        zone=zone,
                        value=value,
                        source=ReadingSource.SMS,
                        recognised_text=inbound.text[:255],
                        confirmed_jump=plan.confirmed,
                    )
                )
        except ConfirmationRequired:
            reply = "Не принято: большой расход. Если верно, пришлите то же ещё раз."
            return self._finish_refused(inbound, reply, plan, stored=stored)
        except ReadingError:
            reply = "Не принято: показание меньше предыдущего или не подходит счётчику."
            return self._finish_refused(inbound, reply, plan, stored=stored)
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
        return self._close(inbound, InOutcome.ACCEPTED, reply, content, plan)

    def _finish_refused(
        self,
        inbound: _Incoming,
        reply: str,
        plan: _Plan | None,
        *,
        outcome: InOutcome = InOutcome.REFUSED,
        stored: list[StoredReading] | None = None,
    ) -> Handled:
        content = f"Показания по СМС не приняты ({reply}). Текст: {inbound.text}"
        if stored:
            content += ". Принято до ошибки: " + ", ".join(
                f"{ZONE_RU[s.zone]} {_n(s.value)}" for s in stored
            )
        return self._close(inbound, outcome, reply, content, plan)

    def _close(
        self, inbound: _Incoming, outcome: InOutcome, reply: str, content: str, plan: _Plan | None
    ) -> Handled:
        """A readings message: registered answered and closed (the reply is the answer)."""
        if inbound.account_id is None:
            inbound.account_id = self._phone_account(inbound.peer)
        view = self.appeals.register(
            channel=AppealChannel.SMS,
            kind=AppealKind.METER_READING,
            category=plan.category if plan else Category.FL,
            content=content[:4000],
            classification=ClassificationCode.E,
            reply_channel=ReplyChannel.SMS,
            reply_contact=inbound.peer,
            account_id=inbound.account_id,
            received_at=self._clock(),
            answered_in_call=f"Ответ по СМС: {reply}",
        )
        return self._store(inbound, outcome, reply, view.id, view.number)

    def _finish_help(self, inbound: _Incoming) -> Handled:
        """Not a readings message: an open appeal for the operators, and the help."""
        inbound.account_id = self._phone_account(inbound.peer)
        view = self.appeals.register(
            channel=AppealChannel.SMS,
            kind=AppealKind.APPEAL,
            content=inbound.text[:4000],
            reply_channel=ReplyChannel.SMS,
            reply_contact=inbound.peer,
            account_id=inbound.account_id,
            received_at=self._clock(),
        )
        reply = f"Обращение {view.number} принято. {HELP}"
        return self._store(inbound, InOutcome.HELP, reply, view.id, view.number)

    def _phone_account(self, peer: str) -> int | None:
        return self.identifier.by_phone(peer).account_id if peer.startswith("+") else None

    def _store(
        self,
        inbound: _Incoming,
        outcome: InOutcome,
        reply: str,
        appeal_id: int | None,
        appeal_number: str | None,
    ) -> Handled:
        """The message and its reply (queued), in one write (Core inserts: no
        unit of work for two plain rows)."""
        now = self._clock()
        common = {
            "peer": inbound.peer,
            "service_number": inbound.service_number,
            "appeal_id": appeal_id,
            "account_id": inbound.account_id,
            "tries": 0,
            "created_at": now,
        }
        with self.db.transaction(write=True) as conn:
            inbound_id = conn.execute(
                insert(SmsMessage).returning(SmsMessage.id),
                {
                    **common,
                    "direction": Direction.IN.value,
                    "text": inbound.text,
                    "parts": segments(inbound.text),
                    "coding": coding_of(inbound.text),
                    "gateway_id": inbound.gateway_id,
                    "state": outcome.value,
                    "purpose": "",
                    "content_key": inbound.content_key,
                },
            ).scalar_one()
            reply_id = conn.execute(
                insert(SmsMessage).returning(SmsMessage.id),
                {
                    **common,
                    "direction": Direction.OUT.value,
                    "text": reply,
                    "parts": segments(reply),
                    "coding": coding_of(reply),
                    "state": OutState.QUEUED.value,
                    "purpose": "reply",
                    "reply_to_id": inbound_id,
                    "next_try_at": now,
                },
            ).scalar_one()
        logger.info(
            "sms %s: %s, reply %s queued (appeal %s)", inbound_id, outcome, reply_id, appeal_number
        )
        return Handled(inbound_id, reply_id, outcome, reply, appeal_number)
