"""The outage register on SQLite and PostgreSQL: address lines parsed and
matched to accounts before saving, the scopes the IVR reads (``affecting``,
``emergency``), statuses and the moved restoration time with history, the
API's idempotent put, the clients' hashed tokens, and the migration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm_bridge.db import Database
from crm_bridge.outages import Outage, OutageKind, OutageService, Scope
from outages.models import ApiClient, OutageHistory, OutageStatus
from outages.register import (
    AddressLineError,
    Draft,
    OutageInputError,
    OutageRegister,
    hash_token,
    parse_line,
)
from tests.outages.conftest import NOW, Clock


@pytest.mark.parametrize(
    ("line", "scope"),
    [
        ("г. Демоград, ул. Ленина, д. 1-15", Scope("демоград", "ленина", 1, 15)),
        ("ул. Ленина 1–15", Scope(None, "ленина", 1, 15)),
        ("Демоград, ул. 8 Марта, дома с 2 по 10", Scope("демоград", "8 марта", 2, 10)),
        ("ул. Ленина, д. 5а", Scope(None, None, None, None, "ленина|5а")),
        ("ул. Ленина", Scope(None, "ленина")),
        ("г. Демоград, ул. Ленина", Scope("демоград", "ленина")),
        ("с. Ивановка", Scope("ивановка")),
        ("  г.  Демоград  ", Scope("демоград")),
    ],
)
def test_an_address_line_is_a_house_a_street_range_or_a_settlement(line: str, scope: Scope) -> None:
    assert parse_line(line) == scope


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("ул. Ленина, д. 5, кв. 3", "квартира"),
        ("ул. Ленина 15-1", "начало диапазона больше конца"),
        ("15", "не распознан"),
        ("???", "не распознан"),
        ("x" * 400, "длиннее"),
    ],
)
def test_a_line_not_understood_says_why_in_russian(line: str, reason: str) -> None:
    with pytest.raises(AddressLineError, match=reason):
        parse_line(line)


def test_the_preview_counts_accounts_per_line_and_names_lines_not_understood(
    register: OutageRegister, town: dict[str, int]
) -> None:
    preview = register.preview(
        "г. Демоград, ул. Ленина, д. 1-10\n"
        "ул. Ленина, д. 12 к1\n"
        "ул. Садовая\n"
        "с. Ивановка\n"
        "ул. Ленина, д. 5, кв. 3\n"
        "ул. Несуществующая, д. 1-5\n"
    )
    counts = [(m.line_no, m.accounts, m.error is None) for m in preview.lines]
    # Ленина 1–10 in Демоград: 20 flats + 7а (its number 7 is inside); not Новоград's
    assert counts == [
        (1, 21, True),
        (2, 1, True),
        (3, 5, True),
        (4, 4, True),
        (5, 0, False),
        (6, 0, True),
    ]
    assert preview.accounts == 21 + 1 + 5 + 4
    assert not preview.ok and [m.line_no for m in preview.unparsed] == [5]
    # a street without a settlement is that street in every settlement
    assert len(register.resolve(["ул. Ленина, д. 1-3"])) == 6 + 3


def test_an_emergency_entered_is_what_the_ivr_hears_until_restored(
    db: Database, register: OutageRegister, town: dict[str, int], clock: Clock
) -> None:
    entry = register.create(
        Draft(
            kind=OutageKind.EMERGENCY,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=8),
            addresses=["г. Демоград, ул. Ленина, д. 1-10", "с. Ивановка"],
            reason="повреждение кабеля",
        ),
        by="sidorova",
    )
    assert entry.status is OutageStatus.IN_PROGRESS and entry.decided_at == NOW - timedelta(hours=1)
    ivr = OutageService(db)
    inside = town["0000001001"]  # Ленина 1, кв. 1
    seven_a = town["0000001041"]  # Ленина 7а
    far = town["0000001043"]  # Садовая 1
    assert (found := ivr.emergency(inside, NOW)) is not None
    assert found.eta == NOW + timedelta(hours=8) and found.register_id == entry.id
    assert found.estimate(NOW) == NOW + timedelta(hours=8)
    assert ivr.emergency(seven_a, NOW) is not None  # 7а is house 7
    assert ivr.emergency(far, NOW) is None
    assert ivr.emergency(town["0000001051"], NOW) is not None  # Ивановка

    clock.advance(hours=1)
    moved = register.move_eta(entry.id, NOW + timedelta(hours=12), by="sidorova")
    assert moved.ends_at == NOW + timedelta(hours=12)
    later = ivr.emergency(inside, NOW + timedelta(hours=10))
    assert later is not None and later.estimate(NOW + timedelta(hours=10)) == NOW + timedelta(
        hours=12
    )

    clock.advance(hours=1)
    register.set_status(entry.id, OutageStatus.RESTORED, by="sidorova")
    assert ivr.emergency(inside, clock.now) is None
    page = register.page(entry.id)
    assert [h.action for h in page.history] == ["created", "eta", "status"]
    assert page.history[1].detail["from"] == (NOW + timedelta(hours=8)).isoformat()
    assert page.entry.restored_at == clock.now
    with pytest.raises(OutageInputError, match="не переносится"):
        register.move_eta(entry.id, NOW + timedelta(hours=20), by="sidorova")
    with pytest.raises(OutageInputError, match="не меняется"):
        register.set_status(entry.id, OutageStatus.IN_PROGRESS, by="sidorova")


def test_a_planned_outage_is_announced_ahead_and_a_cancelled_one_is_gone(
    db: Database, register: OutageRegister, town: dict[str, int]
) -> None:
    entry = register.create(
        Draft(
            kind=OutageKind.PLANNED,
            starts_at=NOW + timedelta(days=2),
            ends_at=NOW + timedelta(days=2, hours=6),
            decided_at=NOW - timedelta(days=1),
            addresses=["ул. Садовая"],
        ),
        by="sidorova",
    )
    assert entry.status is OutageStatus.PLANNED and entry.decided_at == NOW - timedelta(days=1)
    ivr = OutageService(db)
    sad = town["0000001043"]
    assert [o.register_id for o in ivr.affecting(account_id=sad, now=NOW)] == [entry.id]
    assert ivr.emergency(sad, NOW) is None  # planned, not an emergency
    register.set_status(entry.id, "cancelled", by="sidorova")
    assert ivr.affecting(account_id=sad, now=NOW) == []
    with db.session() as s:
        assert s.scalars(select(Outage).where(Outage.register_id == entry.id)).all() == []


def test_bad_drafts_are_refused_in_russian_and_nothing_is_saved(
    db: Database, register: OutageRegister, town: dict[str, int]
) -> None:
    good = {
        "kind": OutageKind.PLANNED,
        "starts_at": NOW + timedelta(days=1),
        "ends_at": NOW + timedelta(days=1, hours=2),
        "addresses": ["ул. Садовая"],
    }
    for change, message in (
        ({"ends_at": NOW}, "окончание должно быть позже начала"),
        ({"addresses": []}, "укажите адреса"),
        ({"addresses": ["ул. Садовая", "???"]}, "строка 2 «\\?\\?\\?»"),
        ({"decided_at": NOW + timedelta(days=2)}, "решение"),
    ):
        with pytest.raises(OutageInputError, match=message):
            register.create(Draft(**{**good, **change}), by="sidorova")  # type: ignore[arg-type]
    with db.session() as s:
        assert s.scalars(select(Outage)).all() == []


def test_the_api_put_is_idempotent_by_the_clients_own_id(
    db: Database, register: OutageRegister, town: dict[str, int], clock: Clock
) -> None:
    client, token = register.add_client("grid-dispatch")
    assert token.startswith("otg_")
    with db.session() as s:
        stored = s.scalars(select(ApiClient.token_hash)).one()
    assert stored == hash_token(token) and token not in stored
    assert register.client_by_token(token) is not None
    assert register.client_by_token(token + "x") is None

    draft = Draft(
        kind=OutageKind.EMERGENCY,
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=4),
        addresses=["ул. Садовая, д. 1-3"],
        reason="авария на ТП-12",
    )
    first, created = register.put_external(client.id, "A-17", draft, by="api:grid-dispatch")
    again, created_again = register.put_external(client.id, "A-17", draft, by="api:grid-dispatch")
    assert created and not created_again and again.id == first.id
    with db.session() as s:
        assert len(s.scalars(select(OutageHistory)).all()) == 1  # nothing changed the 2nd time
        assert len(s.scalars(select(Outage).where(Outage.register_id == first.id)).all()) == 1

    clock.advance(minutes=30)
    moved = Draft(**{**draft.__dict__, "ends_at": NOW + timedelta(hours=6)})
    updated, _ = register.put_external(client.id, "A-17", moved, by="api:grid-dispatch")
    assert updated.ends_at == NOW + timedelta(hours=6)
    restored = Draft(**{**moved.__dict__, "status": OutageStatus.RESTORED})
    done, _ = register.put_external(client.id, "A-17", restored, by="api:grid-dispatch")
    assert done.status is OutageStatus.RESTORED
    assert OutageService(db).emergency(town["0000001043"], clock.now) is None
    actions = [h.action for h in register.page(first.id).history]
    assert actions == ["created", "eta", "status"]

    assert register.revoke_client("grid-dispatch")
    assert register.client_by_token(token) is None
    with pytest.raises(OutageInputError):
        register.add_client("имя по-русски")


def test_models_match_migrations(db: Database) -> None:
    """Autogenerate finds nothing to do for this slice's tables and the
    indexes its revision adds."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import outages.models  # noqa: F401
    from crm_bridge.db import Base

    ours = {
        "outage_register",
        "outage_history",
        "outage_api_clients",
        "outage_surge_alerts",
        "outages",
        "accounts",
    }

    def include(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in ours

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        assert compare_metadata(context, Base.metadata) == []
