"""Offices and visits (REQ-T11): the free slots, booking, moving and
cancelling, the office's day list — the one service the voice menu, the
operator's card and the office pages use.

Booking is safe under concurrency on both databases: the visit takes the
lowest free *seat* of its slot and the partial unique index ``uq_visits_seat``
refuses a second booked visit on the same seat; a booking that loses the race
tries again with what is left and, when nothing is, fails with
:class:`SlotTaken` («это время уже занято»).

Each booking, move and cancellation queues the customer's confirmation in
``visit_notices`` in the same transaction (:mod:`visits.notices` sends it).
Logs name visits by id, never an account or a phone (152-FZ).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_bridge.address import from_parts
from crm_bridge.calendar_ru import ProductionCalendar
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Account, AccountPhone
from visits.models import (
    NoticeChannel,
    NoticeKind,
    NoticeState,
    Office,
    OfficeDayOff,
    Visit,
    VisitEvent,
    VisitNotice,
    VisitStatus,
)
from visits.slots import WEEKDAYS_RU, HoursError, OfficeHours, format_hours, parse_hours

__all__ = [
    "LEAD",
    "AlreadyBooked",
    "Contact",
    "NotFound",
    "OfficeDraft",
    "OfficeView",
    "SlotTaken",
    "SlotView",
    "VisitError",
    "VisitService",
    "VisitView",
]

log = logging.getLogger(__name__)

LEAD: Final = timedelta(minutes=30)
"""A slot is offered only when it starts at least this long after now."""
SEAT_TRIES: Final = 5


class VisitError(Exception):
    """A refusal the customer or the operator is told (the message is Russian)."""


class NotFound(VisitError):
    pass


class SlotTaken(VisitError):
    def __init__(self) -> None:
        super().__init__("это время уже занято, выберите другое")


class AlreadyBooked(VisitError):
    pass


@dataclass(frozen=True, slots=True)
class OfficeView:
    id: int
    name: str
    address: str
    settlement: str
    spoken: str
    hours: OfficeHours
    hours_text: dict[int, str]
    horizon_days: int
    active: bool
    days_off: tuple[tuple[date, str], ...] = ()

    @property
    def capacity(self) -> int:
        return self.hours.capacity

    @property
    def slot_minutes(self) -> int:
        return self.hours.slot_minutes

    @property
    def zone(self) -> ZoneInfo:
        return self.hours.zone

    def week_rows(self) -> list[tuple[int, str, str]]:
        return [(d, WEEKDAYS_RU[d], self.hours_text.get(d, "")) for d in range(7)]


@dataclass(frozen=True, slots=True)
class SlotView:
    starts_at: datetime
    ends_at: datetime
    free: int


@dataclass(frozen=True, slots=True)
class VisitView:
    id: int
    office_id: int
    office_name: str
    office_address: str
    office_spoken: str
    account_id: int
    account_number: str
    holder_name: str
    starts_at: datetime
    ends_at: datetime
    seat: int
    status: VisitStatus
    source: str
    booked_by: str
    topic: str
    notify_channel: NoticeChannel
    notify_contact: str | None

    def as_json(self, zone: ZoneInfo) -> dict[str, Any]:
        local = self.starts_at.astimezone(zone)
        return {
            "id": self.id,
            "office_id": self.office_id,
            "office": self.office_name,
            "address": self.office_address,
            "starts_at": self.starts_at.isoformat(),
            "when": local.strftime("%d.%m.%Y %H:%M"),
            "status": self.status.value,
            "source": self.source,
            "notify_channel": self.notify_channel.value,
        }


@dataclass(frozen=True, slots=True)
class Contact:
    """Where the customer's confirmation goes (REQ-O12: the channel on file)."""

    channel: NoticeChannel
    address: str | None = None


@dataclass(slots=True)
class OfficeDraft:
    """An office as the supervisor's form gives it (validated by :meth:`check`)."""

    name: str
    address: str
    settlement: str
    spoken: str
    hours: dict[int, str] = field(default_factory=dict)
    slot_minutes: int = 30
    capacity: int = 1
    horizon_days: int = 14
    active: bool = True

    def check(self) -> dict[str, str]:
        """The stored hours (normalised); :class:`VisitError` in Russian."""
        for what, value in (
            ("название", self.name),
            ("адрес", self.address),
            ("населённый пункт", self.settlement),
        ):
            if not value.strip():
                raise VisitError(f"укажите {what} офиса")
        if not 5 <= self.slot_minutes <= 240:
            raise VisitError("длительность приёма — от 5 до 240 минут")
        if not 1 <= self.capacity <= 50:
            raise VisitError("число окон приёма — от 1 до 50")
        if not 1 <= self.horizon_days <= 90:
            raise VisitError("запись вперёд — от 1 до 90 дней")
        stored: dict[str, str] = {}
        try:
            for day in range(7):
                intervals = parse_hours(self.hours.get(day, ""), day=WEEKDAYS_RU[day])
                if intervals:
                    stored[str(day)] = format_hours(intervals)
        except HoursError as exc:
            raise VisitError(str(exc)) from exc
        if not stored:
            raise VisitError("укажите часы приёма хотя бы на один день недели")
        return stored


def _settlement_key(name: str) -> str:
    return from_parts(settlement=name).settlement_key or name.strip().lower()


class VisitService:
    def __init__(
        self,
        db: Database,
        calendar: ProductionCalendar,
        *,
        clock: Callable[[], datetime] = utcnow,
        zone: str = "Europe/Moscow",
    ) -> None:
        self.db = db
        self.calendar = calendar
        self.clock = clock
        self.zone = ZoneInfo(zone)

    # -- offices ----------------------------------------------------------------------

    @staticmethod
    def _office_view(s: Session, o: Office) -> OfficeView:
        offs = s.execute(
            select(OfficeDayOff.day, OfficeDayOff.reason)
            .where(OfficeDayOff.office_id == o.id)
            .order_by(OfficeDayOff.day)
        ).all()
        hours = OfficeHours.from_stored(
            o.hours or {},
            slot_minutes=o.slot_minutes,
            capacity=o.capacity,
            zone=o.timezone,
            days_off=[d for d, _ in offs],
        )
        return OfficeView(
            id=o.id,
            name=o.name,
            address=o.address,
            settlement=o.settlement,
            spoken=o.spoken,
            hours=hours,
            hours_text={int(k): v for k, v in (o.hours or {}).items()},
            horizon_days=o.horizon_days,
            active=o.active,
            days_off=tuple((d, r) for d, r in offs),
        )

    def offices(self, *, active_only: bool = False) -> list[OfficeView]:
        with self.db.session() as s:
            q = select(Office).order_by(Office.id)
            if active_only:
                q = q.where(Office.active.is_(True))
            return [self._office_view(s, o) for o in s.execute(q).scalars()]

    def office(self, office_id: int) -> OfficeView:
        with self.db.session() as s:
            o = s.get(Office, office_id)
            if o is None:
                raise NotFound(f"офис № {office_id} не найден")
            return self._office_view(s, o)

    def save_office(self, draft: OfficeDraft, office_id: int | None = None) -> OfficeView:
        stored = draft.check()
        with self.db.session(write=True) as s:
            o = Office() if office_id is None else s.get(Office, office_id)
            if o is None:
                raise NotFound(f"офис № {office_id} не найден")
            o.name = draft.name.strip()
            o.address = draft.address.strip()
            o.settlement = draft.settlement.strip()
            o.settlement_key = _settlement_key(draft.settlement)
            o.spoken = draft.spoken.strip() or f"{o.name}, {o.address}"
            o.hours = stored
            o.slot_minutes = draft.slot_minutes
            o.capacity = draft.capacity
            o.horizon_days = draft.horizon_days
            o.timezone = o.timezone or self.zone.key
            o.active = draft.active
            if office_id is None:
                o.timezone = self.zone.key
                s.add(o)
            s.flush()
            return self._office_view(s, o)

    def add_day_off(self, office_id: int, day: date, reason: str) -> None:
        with self.db.session(write=True) as s:
            if s.get(Office, office_id) is None:
                raise NotFound(f"офис № {office_id} не найден")
            exists = s.execute(
                select(OfficeDayOff.id).where(
                    OfficeDayOff.office_id == office_id, OfficeDayOff.day == day
                )
            ).scalar_one_or_none()
            if exists is None:
                s.add(OfficeDayOff(office_id=office_id, day=day, reason=reason.strip()[:255]))

    def remove_day_off(self, office_id: int, day: date) -> None:
        with self.db.session(write=True) as s:
            for row in s.execute(
                select(OfficeDayOff).where(
                    OfficeDayOff.office_id == office_id, OfficeDayOff.day == day
                )
            ).scalars():
                s.delete(row)

    def nearest_office(self, account_id: int) -> OfficeView | None:
        """The active office of the account's settlement (else the first active one)."""
        with self.db.session() as s:
            key = s.execute(
                select(Account.settlement_key).where(Account.id == account_id)
            ).scalar_one_or_none()
            q = select(Office).where(Office.active.is_(True)).order_by(Office.id)
            offices = list(s.execute(q).scalars())
            if not offices:
                return None
            same = [o for o in offices if key and o.settlement_key == key]
            return self._office_view(s, (same or offices)[0])

    # -- slots ------------------------------------------------------------------------

    def free_slots(
        self,
        office_id: int,
        *,
        after: datetime | None = None,
        limit: int = 3,
        day: date | None = None,
    ) -> list[SlotView]:
        """The next ``limit`` slots with a free seat, from ``after`` + :data:`LEAD`
        (or those of one ``day``), within the office's horizon."""
        now = after or self.clock()
        office = self.office(office_id)
        zone = office.zone
        first_day = now.astimezone(zone).date()
        days = (
            [day]
            if day is not None
            else [first_day + timedelta(days=n) for n in range(office.horizon_days + 1)]
        )
        candidates = [
            (a, b) for d in days for a, b in office.hours.slots(d, self.calendar) if a >= now + LEAD
        ]
        if not candidates:
            return []
        # one query for the whole horizon: the menu waits for this
        taken = self._taken(office_id, candidates[0][0], candidates[-1][1])
        out: list[SlotView] = []
        for a, b in candidates:
            free = office.capacity - taken.get(a, 0)
            if free > 0:
                out.append(SlotView(a, b, free))
                if len(out) >= limit:
                    break
        return out

    def _taken(self, office_id: int, start: datetime, end: datetime) -> dict[datetime, int]:
        with self.db.session(readonly=True) as s:
            rows = s.execute(
                select(Visit.starts_at, func.count())
                .where(
                    Visit.office_id == office_id,
                    Visit.status == VisitStatus.BOOKED.value,
                    Visit.starts_at >= start,
                    Visit.starts_at < end,
                )
                .group_by(Visit.starts_at)
            ).all()
        return {at: n for at, n in rows}

    # -- visits -----------------------------------------------------------------------

    def contact_for(
        self, account_id: int, prefer: str = "auto", phone: str | None = None
    ) -> Contact:
        """REQ-O12: ``email`` → the e-mail on file; ``sms`` → ``phone`` (or the
        account's first mobile) when it is a mobile on file; ``auto`` → the
        form the customer chose (``accounts.notify_by``) when it can be used,
        else the e-mail on file, else nothing; ``none`` → nothing."""
        with self.db.session(readonly=True) as s:
            acc = s.get(Account, account_id)
            if acc is None:
                raise NotFound("лицевой счёт не найден")
            phones = list(
                s.execute(
                    select(AccountPhone.phone).where(AccountPhone.account_id == account_id)
                ).scalars()
            )
        mobiles = [p for p in phones if p.startswith("+79")]
        if prefer == "auto" and acc.notify_by == "sms" and mobiles:
            prefer = "sms"
        if prefer == "sms":
            chosen = (
                phone if phone in mobiles else (mobiles[0] if mobiles and phone is None else None)
            )
            if chosen is None:
                raise VisitError("у абонента нет мобильного номера для SMS")
            return Contact(NoticeChannel.SMS, chosen)
        if prefer in ("email", "auto") and acc.email:
            return Contact(NoticeChannel.EMAIL, acc.email)
        if prefer == "email":
            raise VisitError("у абонента не указан адрес электронной почты")
        return Contact(NoticeChannel.NONE)

    def book(
        self,
        office_id: int,
        account_id: int,
        starts_at: datetime,
        *,
        source: str,
        by: str,
        contact: Contact | None = None,
        topic: str = "",
        call_uniqueid: str | None = None,
    ) -> VisitView:
        """Book the slot starting at ``starts_at`` (:class:`SlotTaken` when full)."""
        if contact is None:
            contact = self.contact_for(account_id)
        office = self.office(office_id)
        self._check_slot(office, starts_at)
        for _ in range(SEAT_TRIES):
            try:
                with self.db.session(write=True) as s:
                    if s.get(Account, account_id) is None:
                        raise NotFound("лицевой счёт не найден")
                    existing = self._active(s, account_id)
                    if existing:
                        raise AlreadyBooked(
                            "абонент уже записан на приём: перенесите или отмените ту запись"
                        )
                    seat = self._free_seat(s, office, starts_at, exclude=None)
                    v = Visit(
                        office_id=office_id,
                        account_id=account_id,
                        starts_at=starts_at,
                        ends_at=starts_at + timedelta(minutes=office.slot_minutes),
                        seat=seat,
                        status=VisitStatus.BOOKED.value,
                        source=source,
                        booked_by=by,
                        topic=topic[:255],
                        notify_channel=contact.channel.value,
                        notify_contact=contact.address,
                        call_uniqueid=call_uniqueid,
                    )
                    s.add(v)
                    s.flush()
                    s.add(VisitEvent(visit_id=v.id, action="booked", by=by, detail={}))
                    view = self._view(s, v)
                    self._queue_notice(s, view, NoticeKind.BOOKED)
                    log.info("visit %s booked (office %s, %s)", v.id, office_id, source)
                    return view
            except IntegrityError:
                continue  # another booking took the seat first: look again
        raise SlotTaken()

    def move(self, visit_id: int, starts_at: datetime, *, by: str) -> VisitView:
        for _ in range(SEAT_TRIES):
            try:
                with self.db.session(write=True) as s:
                    v = self._booked(s, visit_id)
                    office = self.office(v.office_id)
                    self._check_slot(office, starts_at)
                    if v.starts_at == starts_at:
                        raise VisitError("визит уже назначен на это время")
                    old = v.starts_at
                    v.seat = self._free_seat(s, office, starts_at, exclude=v.id)
                    v.starts_at = starts_at
                    v.ends_at = starts_at + timedelta(minutes=office.slot_minutes)
                    s.flush()
                    s.add(
                        VisitEvent(
                            visit_id=v.id,
                            action="moved",
                            by=by,
                            detail={"from": old.isoformat(), "to": starts_at.isoformat()},
                        )
                    )
                    view = self._view(s, v)
                    self._queue_notice(s, view, NoticeKind.MOVED)
                    log.info("visit %s moved", v.id)
                    return view
            except IntegrityError:
                continue
        raise SlotTaken()

    def cancel(self, visit_id: int, *, by: str) -> VisitView:
        with self.db.session(write=True) as s:
            v = self._booked(s, visit_id)
            v.status = VisitStatus.CANCELLED.value
            s.add(VisitEvent(visit_id=v.id, action="cancelled", by=by, detail={}))
            view = self._view(s, v)
            self._queue_notice(s, view, NoticeKind.CANCELLED)
            log.info("visit %s cancelled", v.id)
            return view

    def upcoming(self, account_id: int) -> list[VisitView]:
        """The account's booked visits that have not started yet."""
        with self.db.session() as s:
            return [self._view(s, v) for v in self._active(s, account_id)]

    def get(self, visit_id: int) -> VisitView:
        with self.db.session() as s:
            v = s.get(Visit, visit_id)
            if v is None:
                raise NotFound(f"запись № {visit_id} не найдена")
            return self._view(s, v)

    def day_list(self, office_id: int, day: date) -> list[VisitView]:
        """The office's booked visits of ``day`` (its local date), by time."""
        office = self.office(office_id)
        start = datetime.combine(day, datetime.min.time(), office.zone)
        with self.db.session() as s:
            rows = s.execute(
                select(Visit)
                .where(
                    Visit.office_id == office_id,
                    Visit.status == VisitStatus.BOOKED.value,
                    Visit.starts_at >= start,
                    Visit.starts_at < start + timedelta(days=1),
                )
                .order_by(Visit.starts_at, Visit.seat)
            ).scalars()
            return [self._view(s, v) for v in rows]

    # -- internals --------------------------------------------------------------------

    def _check_slot(self, office: OfficeView, starts_at: datetime) -> None:
        if starts_at.tzinfo is None:
            raise VisitError("время визита без часового пояса")
        if not office.active:
            raise VisitError("офис не принимает записи")
        now = self.clock()
        if starts_at < now + LEAD:
            raise VisitError("это время уже прошло или наступит слишком скоро")
        local = starts_at.astimezone(office.zone)
        if local.date() > now.astimezone(office.zone).date() + timedelta(days=office.horizon_days):
            raise VisitError(f"запись открыта только на {office.horizon_days} дн. вперёд")
        reason = office.hours.closed_reason(local.date(), self.calendar)
        if reason is not None:
            raise VisitError(f"{local:%d.%m.%Y} офис не принимает: {reason}")
        if not office.hours.is_slot(starts_at, self.calendar):
            raise VisitError(f"{local:%H:%M} — не время начала приёма в этом офисе")

    @staticmethod
    def _free_seat(s: Session, office: OfficeView, starts_at: datetime, exclude: int | None) -> int:
        q = select(Visit.seat).where(
            Visit.office_id == office.id,
            Visit.starts_at == starts_at,
            Visit.status == VisitStatus.BOOKED.value,
        )
        if exclude is not None:
            q = q.where(Visit.id != exclude)
        used = set(s.execute(q).scalars())
        for seat in range(1, office.capacity + 1):
            if seat not in used:
                return seat
        raise SlotTaken()

    def _active(self, s: Session, account_id: int) -> Sequence[Visit]:
        return list(
            s.execute(
                select(Visit)
                .where(
                    Visit.account_id == account_id,
                    Visit.status == VisitStatus.BOOKED.value,
                    Visit.starts_at > self.clock(),
                )
                .order_by(Visit.starts_at)
            ).scalars()
        )

    @staticmethod
    def _booked(s: Session, visit_id: int) -> Visit:
        v = s.get(Visit, visit_id)
        if v is None:
            raise NotFound(f"запись № {visit_id} не найдена")
        if v.status != VisitStatus.BOOKED.value:
            raise VisitError("запись уже отменена")
        return v

    @staticmethod
    def _view_by_id(db: Database, visit_id: int) -> VisitView | None:
        with db.session() as s:
            v = s.get(Visit, visit_id)
            return None if v is None else VisitService._view(s, v)

    @staticmethod
    def _view(s: Session, v: Visit) -> VisitView:
        o = s.get(Office, v.office_id)
        a = s.get(Account, v.account_id)
        assert o is not None and a is not None
        return VisitView(
            id=v.id,
            office_id=o.id,
            office_name=o.name,
            office_address=o.address,
            office_spoken=o.spoken,
            account_id=a.id,
            account_number=a.number,
            holder_name=a.holder_name,
            starts_at=v.starts_at,
            ends_at=v.ends_at,
            seat=v.seat,
            status=VisitStatus(v.status),
            source=v.source,
            booked_by=v.booked_by,
            topic=v.topic,
            notify_channel=NoticeChannel(v.notify_channel),
            notify_contact=v.notify_contact,
        )

    def _queue_notice(self, s: Session, view: VisitView, kind: NoticeKind) -> None:
        from visits.notices import notice_text

        if view.notify_channel is NoticeChannel.NONE or not view.notify_contact:
            return
        office_zone = ZoneInfo(s.get(Office, view.office_id).timezone)  # type: ignore[union-attr]
        subject, body = notice_text(
            kind, view, office_zone, sms=view.notify_channel is NoticeChannel.SMS
        )
        same = s.execute(
            select(VisitNotice).where(
                VisitNotice.visit_id == view.id,
                VisitNotice.kind == kind.value,
                VisitNotice.slot_at == view.starts_at,
            )
        ).scalar_one_or_none()
        if same is not None:  # moved back to a slot it was moved to before: told again
            same.body, same.subject, same.state = body, subject, NoticeState.QUEUED.value
            same.next_try_at, same.tries = self.clock(), 0
            return
        s.add(
            VisitNotice(
                visit_id=view.id,
                kind=kind.value,
                slot_at=view.starts_at,
                channel=view.notify_channel.value,
                contact=view.notify_contact,
                subject=subject,
                body=body,
                next_try_at=self.clock(),
            )
        )
