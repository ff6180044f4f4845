"""Booking, moving and cancelling visits on SQLite and PostgreSQL
(REQ-T11): the free slots after now, capacity, double booking refused —
also by many bookings at once —, the office's day list, the confirmations
queued in the same transaction, and the models matching the migration."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm_bridge.calendar_ru import ProductionCalendar
from crm_bridge.db import Database
from tests.visits.conftest import Clock, office_draft
from visits.models import NoticeChannel, VisitNotice
from visits.service import (
    AlreadyBooked,
    Contact,
    OfficeView,
    SlotTaken,
    VisitError,
    VisitService,
)

MSK = ZoneInfo("Europe/Moscow")


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2025, 3, day, hh, mm, tzinfo=MSK)


def notices(db: Database) -> list[tuple[int, str, str, str]]:
    with db.session() as s:
        return [
            (n.visit_id, n.kind, n.channel, n.body)
            for n in s.execute(select(VisitNotice).order_by(VisitNotice.id)).scalars()
        ]


def test_models_match_migrations(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from crm_bridge.models import Base

    ours = {"visit_offices", "visit_office_days_off", "visits", "visit_events", "visit_notices"}

    def include(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in ours

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_free_slots_start_after_now_and_skip_lunch(
    service: VisitService, office: OfficeView
) -> None:
    slots = service.free_slots(office.id, limit=5)  # now: Monday 10:00
    assert [s.starts_at.astimezone(MSK).strftime("%H:%M") for s in slots] == [
        "10:30",
        "11:00",
        "11:30",
        "13:00",
        "13:30",
    ]
    day = service.free_slots(office.id, day=at(4, 0).date(), limit=100)
    assert len(day) == 16 and all(s.free == 1 for s in day)


def test_book_then_the_slot_is_not_offered_and_a_second_booking_is_refused(
    service: VisitService, office: OfficeView, accounts: dict[str, int], db: Database
) -> None:
    first = service.book(office.id, accounts["2000000001"], at(3, 10, 30), source="ivr", by="ivr")
    assert first.seat == 1 and first.notify_channel is NoticeChannel.EMAIL
    assert [s.starts_at for s in service.free_slots(office.id, limit=1)] == [at(3, 11)]
    with pytest.raises(SlotTaken, match="уже занято"):
        service.book(office.id, accounts["2000000002"], at(3, 10, 30), source="ivr", by="ivr")
    with pytest.raises(AlreadyBooked):
        service.book(office.id, accounts["2000000001"], at(3, 11), source="ivr", by="ivr")
    assert [n[:3] for n in notices(db)] == [(first.id, "booked", "email")]
    assert "в понедельник, 3 марта, в 10:30" in notices(db)[0][3]


@pytest.mark.parametrize(
    ("when", "error"),
    [
        (at(3, 10, 15), "слишком скоро"),
        (at(3, 10, 45), "не время начала приёма"),
        (at(3, 12, 0), "не время начала приёма"),
        (at(8, 10, 0), "Международный женский день"),  # a Saturday and a holiday
        (at(9, 10, 0), "не работает в этот день недели"),
        (at(8, 10, 0) + timedelta(days=60), "вперёд"),
        (datetime(2025, 3, 4, 10, 0), "без часового пояса"),
    ],
)
def test_times_that_are_not_free_slots_are_refused(
    service: VisitService,
    office: OfficeView,
    accounts: dict[str, int],
    when: datetime,
    error: str,
) -> None:
    with pytest.raises(VisitError, match=error):
        service.book(office.id, accounts["2000000003"], when, source="ivr", by="ivr")


def test_office_day_off_and_holiday_refuse(
    service: VisitService, office: OfficeView, accounts: dict[str, int]
) -> None:
    service.add_day_off(office.id, at(5, 0).date(), "санитарный день")
    assert service.free_slots(office.id, day=at(5, 0).date()) == []
    with pytest.raises(VisitError, match="выходной день офиса"):
        service.book(office.id, accounts["2000000003"], at(5, 10), source="ivr", by="ivr")
    service.remove_day_off(office.id, at(5, 0).date())
    service.book(office.id, accounts["2000000003"], at(5, 10), source="ivr", by="ivr")


def test_many_bookings_of_one_slot_at_once_fill_its_capacity_only(
    db: Database, clock: Clock, accounts: dict[str, int]
) -> None:
    """Eight bookers, one slot of two windows: two are booked (seats 1 and
    2), six hear «уже занято» — on both databases, from separate threads
    each with its own service."""
    office = VisitService(db, ProductionCalendar(), clock=clock).save_office(
        office_draft(capacity=2)
    )
    numbers = [f"20000000{n:02d}" for n in range(1, 9)]
    start = threading.Barrier(len(numbers))
    results: dict[str, str] = {}

    def book(number: str) -> None:
        service = VisitService(db, ProductionCalendar(), clock=clock)
        start.wait()
        try:
            v = service.book(office.id, accounts[number], at(4, 9), source="ivr", by="ivr")
            results[number] = f"seat {v.seat}"
        except SlotTaken:
            results[number] = "taken"

    threads = [threading.Thread(target=book, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results.values()) == ["seat 1", "seat 2", *["taken"] * 6]
    day = VisitService(db, ProductionCalendar(), clock=clock).day_list(office.id, at(4, 0).date())
    assert sorted(v.seat for v in day) == [1, 2]


def test_move_frees_the_old_seat_and_cancel_frees_it_too(
    service: VisitService, office: OfficeView, accounts: dict[str, int], db: Database
) -> None:
    a, b = accounts["2000000001"], accounts["2000000002"]
    va = service.book(office.id, a, at(4, 9), source="operator", by="ivanova")
    vb = service.book(office.id, b, at(4, 9, 30), source="operator", by="ivanova")
    with pytest.raises(SlotTaken):
        service.move(va.id, at(4, 9, 30), by="ivanova")
    moved = service.move(va.id, at(4, 10), by="ivanova")
    assert moved.starts_at == at(4, 10)
    # the old slot is free again: b moves there
    assert service.move(vb.id, at(4, 9), by="ivanova").starts_at == at(4, 9)
    cancelled = service.cancel(va.id, by="ivr")
    assert cancelled.status.value == "cancelled"
    with pytest.raises(VisitError, match="уже отменена"):
        service.cancel(va.id, by="ivr")
    assert service.upcoming(a) == []
    # the cancelled seat is bookable, and a can book again
    again = service.book(office.id, a, at(4, 10), source="ivr", by="ivr")
    assert again.seat == 1
    assert [v.id for v in service.day_list(office.id, at(4, 0).date())] == [vb.id, again.id]
    kinds = [(n[0], n[1]) for n in notices(db)]
    assert kinds == [
        (va.id, "booked"),
        (vb.id, "booked"),
        (va.id, "moved"),
        (vb.id, "moved"),
        (va.id, "cancelled"),
        (again.id, "booked"),
    ]


def test_the_channel_on_file(service: VisitService, accounts: dict[str, int]) -> None:
    with_email, without = accounts["2000000001"], accounts["2000000007"]
    assert service.contact_for(with_email) == Contact(NoticeChannel.EMAIL, "visitor1@example.org")
    assert service.contact_for(without) == Contact(NoticeChannel.NONE)
    assert service.contact_for(without, "sms") == Contact(NoticeChannel.SMS, "+79001000007")
    with pytest.raises(VisitError, match="нет мобильного"):
        service.contact_for(without, "sms", phone="+79009999999")
    with pytest.raises(VisitError, match="электронной почты"):
        service.contact_for(without, "email")


def test_the_form_the_customer_chose(service: VisitService, accounts: dict[str, int]) -> None:
    """REQ-O12: «auto» follows ``accounts.notify_by`` when it can be used."""
    from crm_bridge.models import Account

    with_email, without = accounts["2000000001"], accounts["2000000007"]

    def choose(account_id: int, form: str | None) -> None:
        with service.db.session(write=True) as s:
            acc = s.get(Account, account_id)
            assert acc is not None
            acc.notify_by = form

    choose(with_email, "sms")  # SMS first, although an e-mail is on file
    assert service.contact_for(with_email) == Contact(NoticeChannel.SMS, "+79001000001")
    choose(with_email, "phone")  # a call is no confirmation: the e-mail on file
    assert service.contact_for(with_email).channel is NoticeChannel.EMAIL
    choose(without, "sms")
    assert service.contact_for(without) == Contact(NoticeChannel.SMS, "+79001000007")
    choose(without, "email")  # chose e-mail but has none: nothing to send to
    assert service.contact_for(without) == Contact(NoticeChannel.NONE)


def test_nearest_office_by_the_settlement(
    service: VisitService, office: OfficeView, accounts: dict[str, int]
) -> None:
    other = service.save_office(
        office_draft(name="Ивановка", settlement="с. Ивановка", address="с. Ивановка, д. 3")
    )
    assert service.nearest_office(accounts["2000000001"]).id == office.id  # type: ignore[union-attr]
    assert service.nearest_office(accounts["2000000002"]).id == other.id  # type: ignore[union-attr]


def test_office_form_errors_are_russian(service: VisitService) -> None:
    with pytest.raises(VisitError, match="укажите название"):
        service.save_office(office_draft(name=" "))
    with pytest.raises(VisitError, match="вторник: «9-18»"):
        service.save_office(office_draft(hours={1: "9-18"}))
    with pytest.raises(VisitError, match="хотя бы на один день"):
        service.save_office(office_draft(hours={}))
    assert service.offices() == []


def test_utc_and_local_are_the_same_slot(
    service: VisitService, office: OfficeView, accounts: dict[str, int]
) -> None:
    v = service.book(
        office.id,
        accounts["2000000004"],
        datetime(2025, 3, 4, 6, 0, tzinfo=UTC),
        source="ivr",
        by="ivr",
    )
    assert v.starts_at.astimezone(MSK) == at(4, 9)


def test_the_database_itself_refuses_a_second_booked_visit_on_a_seat(
    service: VisitService, office: OfficeView, accounts: dict[str, int], db: Database
) -> None:
    """The partial unique index, without the service's own check: one booked
    visit per seat of a slot; a cancelled one does not hold it."""
    from sqlalchemy.exc import IntegrityError

    from visits.models import Visit

    def add(account: str, status: str) -> None:
        with db.session(write=True) as s:
            s.add(
                Visit(
                    office_id=office.id,
                    account_id=accounts[account],
                    starts_at=at(4, 9),
                    ends_at=at(4, 9, 30),
                    seat=1,
                    status=status,
                    source="ivr",
                    booked_by="test",
                )
            )

    add("2000000001", "cancelled")
    add("2000000002", "booked")
    add("2000000003", "cancelled")
    with pytest.raises(IntegrityError):
        add("2000000004", "booked")
    assert [v.account_id for v in service.day_list(office.id, at(4, 0).date())] == [
        accounts["2000000002"]
    ]
