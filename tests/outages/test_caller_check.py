"""The IVR's question before the menu (issue 16 item 2) on SQLite and
PostgreSQL: is an account of the calling number inside an active emergency
outage (:meth:`crm_bridge.outages.OutageService.emergency_for_phone`)?"""

from __future__ import annotations

from datetime import timedelta

from crm_bridge.accounts import AccountData
from crm_bridge.db import Database
from crm_bridge.models import ClassificationCode
from crm_bridge.outages import OutageKind, OutageService
from outages.register import Draft, OutageRegister
from tests.crm.conftest import add_accounts
from tests.outages.conftest import NOW, Clock

SHARED = "+79005550001"


def _emergency(register: OutageRegister, *lines: str, reason: str = "авария") -> int:
    return register.create(
        Draft(
            kind=OutageKind.EMERGENCY,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=5),
            addresses=list(lines),
            reason=reason,
        ),
        by="sidorova",
    ).id


def test_any_account_of_the_number_inside_an_emergency(
    db: Database, register: OutageRegister, town: dict[str, int], clock: Clock
) -> None:
    """A number on three accounts: Садовая 1 (outside), Ленина 3 and 4
    (inside): found, the account the outage covers; each outside caller,
    a number not on file or no number at all: None."""
    ids = add_accounts(
        db,
        *(
            AccountData(
                number=number,
                holder_name="Дачник",
                settlement="г. Демоград",
                street_type="ул.",
                street=street,
                house=house,
                phones=(SHARED,),
            )
            for number, street, house in (
                ("5550000001", "Садовая", "1"),
                ("5550000002", "Ленина", "3"),
                ("5550000003", "Ленина", "4"),
            )
        ),
    )
    check = OutageService(db)
    assert check.emergency_for_phone(SHARED, NOW) is None  # no emergency registered yet
    entry = _emergency(register, "г. Демоград, ул. Ленина, д. 2-4")
    found = check.emergency_for_phone("8 (900) 555-00-01", NOW)  # as a caller ID may come
    assert found is not None
    assert found.account_id in (ids["5550000002"], ids["5550000003"])
    assert found.outage.register_id == entry
    assert found.outage.classification is ClassificationCode.KE
    assert check.emergency_for_phone("+79000001043", NOW) is None  # Садовая 1 alone
    assert check.emergency_for_phone("+79009999999", NOW) is None  # not on file
    assert check.emergency_for_phone(None, NOW) is None
    assert check.emergency_for_phone("anonymous", NOW) is None
    # before it began: not current; once the estimate has passed it stays
    # (until marked restored), its estimate no longer told (REQ: issue 16)
    assert check.emergency_for_phone(SHARED, NOW - timedelta(hours=2)) is None
    overdue = check.emergency_for_phone(SHARED, NOW + timedelta(hours=5))
    assert overdue is not None and overdue.outage.register_id == entry
    assert overdue.outage.estimate(NOW + timedelta(hours=5)) is None


def test_the_latest_estimate_wins_and_a_limitation_is_og(
    db: Database, register: OutageRegister, town: dict[str, int]
) -> None:
    """Two emergencies over one house: the one restored last is told; its
    reason names a limitation of consumption: Ог."""
    _emergency(register, "ул. Ленина, д. 1-5")
    later = register.create(
        Draft(
            kind=OutageKind.EMERGENCY,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=9),
            addresses=["г. Демоград, ул. Ленина, д. 1"],
            reason="Графики временного ограничения режима потребления",
        ),
        by="sidorova",
    )
    found = OutageService(db).emergency_for_phone("+79000001001", NOW)  # Ленина 1, кв. 1
    assert found is not None and found.outage.register_id == later.id
    assert found.outage.estimate(NOW) == NOW + timedelta(hours=9)
    assert found.outage.classification is ClassificationCode.OG
