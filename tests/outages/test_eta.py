"""Emergencies without an estimate, and overdue estimates (issue 16 items
1 and 2), on SQLite and PostgreSQL: the register takes an emergency whose
restoration time «уточняется» (a planned outage keeps its end); an
emergency stays active for the IVR's check and the menu until it is marked
restored, its passed estimate no longer told and flagged for the
dispatcher."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm_bridge.db import Database
from crm_bridge.outages import OPEN_END, Outage, OutageKind, OutageService
from outages.importer import ImportRejected, parse_file
from outages.models import OutageStatus
from outages.register import Draft, OutageInputError, OutageRegister
from tests.outages.conftest import MSK, NOW, Clock

INSIDE = "0000001001"  # ул. Ленина 1, кв. 1
PHONE = "+79000001001"


def _emergency(register: OutageRegister, *, eta: timedelta | None) -> int:
    return register.create(
        Draft(
            kind=OutageKind.EMERGENCY,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + eta if eta is not None else None,
            addresses=["г. Демоград, ул. Ленина, д. 1-3"],
            reason="повреждение кабеля",
        ),
        by="sidorova",
    ).id


def test_an_emergency_without_an_estimate_is_entered_and_found(
    db: Database, register: OutageRegister, town: dict[str, int]
) -> None:
    outage_id = _emergency(register, eta=None)
    entry = register.get(outage_id)
    assert entry.ends_at is None and entry.status is OutageStatus.IN_PROGRESS
    assert entry.as_json()["ends_at"] is None
    assert not entry.overdue(NOW + timedelta(days=30))  # nothing to be overdue
    with db.session() as s:
        rows = s.scalars(select(Outage).where(Outage.register_id == outage_id)).all()
        assert [(r.ends_at, r.eta) for r in rows] == [(OPEN_END, None)]
    check = OutageService(db)
    found = check.emergency(town[INSIDE], NOW)
    assert found is not None and found.register_id == outage_id
    assert found.estimate(NOW) is None
    caller = check.emergency_for_phone(PHONE, NOW + timedelta(days=3))
    assert caller is not None and caller.outage.estimate(NOW + timedelta(days=3)) is None
    # the menu's outage information (item 2) lists it too
    listed = check.affecting(account_id=town[INSIDE], now=NOW + timedelta(days=3))
    assert [o.register_id for o in listed] == [outage_id]


def test_a_planned_outage_still_needs_its_end() -> None:
    draft = Draft(
        kind=OutageKind.PLANNED,
        starts_at=NOW + timedelta(days=4),
        ends_at=None,
        addresses=["ул. Садовая"],
    )
    with pytest.raises(OutageInputError, match="для планового отключения укажите"):
        draft.check()


def test_an_overdue_emergency_stays_until_restored_and_is_flagged(
    db: Database, register: OutageRegister, town: dict[str, int], clock: Clock
) -> None:
    """The estimate (+2 h) passes without the outage marked restored: the
    check still finds it, with no estimate to tell; the register flags it
    and keeps it in its open listing; restored → gone."""
    outage_id = _emergency(register, eta=timedelta(hours=2))
    check = OutageService(db)
    before = check.emergency_for_phone(PHONE, NOW + timedelta(hours=1))
    assert before is not None and before.outage.estimate(NOW + timedelta(hours=1)) == NOW + (
        timedelta(hours=2)
    )
    assert not register.get(outage_id).overdue(NOW + timedelta(hours=1))

    late = NOW + timedelta(hours=3)
    clock.now = late
    after = check.emergency_for_phone(PHONE, late)
    assert after is not None and after.outage.register_id == outage_id
    assert after.outage.estimate(late) is None  # «сроки уточняются», not a time past
    assert check.emergency(town[INSIDE], late) is not None
    assert register.get(outage_id).overdue(late)
    assert outage_id in [e.id for e in register.listing()]

    # the dispatcher moves it: told again, no longer flagged
    register.move_eta(outage_id, late + timedelta(hours=2), by="sidorova")
    moved = check.emergency_for_phone(PHONE, late)
    assert moved is not None and moved.outage.estimate(late) == late + timedelta(hours=2)
    assert not register.get(outage_id).overdue(late)
    # …or clears it («уточняется»), then marks it restored: gone
    register.move_eta(outage_id, None, by="sidorova")
    assert register.get(outage_id).ends_at is None
    clock.advance(minutes=30)
    register.set_status(outage_id, OutageStatus.RESTORED, by="sidorova")
    assert check.emergency_for_phone(PHONE, clock.now) is None
    assert check.affecting(account_id=town[INSIDE], now=clock.now) == []
    page = register.page(outage_id)
    assert [h.action for h in page.history] == ["created", "eta", "eta", "status"]
    assert page.history[2].detail["to"] is None


def test_a_planned_end_is_not_cleared(register: OutageRegister, town: dict[str, int]) -> None:
    planned = register.create(
        Draft(
            kind=OutageKind.PLANNED,
            starts_at=NOW + timedelta(days=4),
            ends_at=NOW + timedelta(days=4, hours=6),
            addresses=["ул. Садовая"],
        ),
        by="sidorova",
    )
    with pytest.raises(OutageInputError, match="укажите дату и время"):
        register.move_eta(planned.id, None, by="sidorova")
    assert register.get(planned.id).ends_at == NOW + timedelta(days=4, hours=6)


def test_the_api_body_may_leave_the_estimate_out(
    db: Database, register: OutageRegister, town: dict[str, int]
) -> None:
    """``put_external`` without an estimate, then with one, then without
    again: each change in the history, the check following it."""
    client, _ = register.add_client("grid")
    draft = Draft(
        kind=OutageKind.EMERGENCY,
        starts_at=NOW - timedelta(hours=1),
        ends_at=None,
        addresses=["г. Демоград, ул. Ленина, д. 1"],
    )
    created, new = register.put_external(client.id, "AV-1", draft, by="api:grid")
    assert new and created.ends_at is None
    again, new = register.put_external(client.id, "AV-1", draft, by="api:grid")
    assert not new and again.id == created.id
    eta = NOW + timedelta(hours=4)
    register.put_external(
        client.id, "AV-1", Draft(**{**draft.__dict__, "ends_at": eta}), by="api:grid"
    )
    found = OutageService(db).emergency(town[INSIDE], NOW)
    assert found is not None and found.estimate(NOW) == eta
    assert [h.action for h in register.page(created.id).history] == ["created", "eta"]


def test_the_file_takes_an_emergency_without_an_estimate() -> None:
    """An empty «Окончание» (or no such column) for an emergency; a planned
    row without it is refused naming the row."""
    body = (
        "Вид;Начало;Окончание;Адреса\n"
        "аварийное;03.03.2031 08:00;;ул. Ленина, д. 1-2\n"
        "аварийное;03.03.2031 08:00;03.03.2031 20:00;с. Ивановка\n"
    )
    parsed = parse_file(body.encode(), "f.csv", MSK)
    assert [d.ends_at is None for d in parsed.drafts] == [True, False]
    no_column = "Вид;Начало;Адреса\nаварийное;03.03.2031 08:00;с. Ивановка\n"
    assert parse_file(no_column.encode(), "f.csv", MSK).drafts[0].ends_at is None
    planned = "Вид;Начало;Окончание;Адреса\nаварийное;03.03.2031 08:00;;с. Ивановка\n" + (
        "плановое;10.03.2031 09:00;;ул. Садовая\n"
    )
    with pytest.raises(ImportRejected, match="строка 3, столбец «Окончание»"):
        parse_file(planned.encode(), "f.csv", MSK)
