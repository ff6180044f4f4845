"""ReadingService (REQ-T14): storage in one transaction, rules re-checked,
export for billing (CSV/XLSX) and the exactly-once hand-over."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_bridge.accounts import AccountData, MeterData, upsert_accounts, upsert_meters
from crm_bridge.db import Database
from crm_bridge.models import Call, Meter, Reading, ReadingSource, ReadingStatus
from crm_bridge.readings import (
    EXPORT_HEADER,
    ConfirmationRequired,
    MeterNotFound,
    ReadingPolicy,
    ReadingRejected,
    ReadingService,
    Verdict,
    export_csv,
    export_xlsx,
)
from hotline.slices import upgrade

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, inside 15–25


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'readings.db'}")
    upgrade(database)
    yield database
    database.dispose()


def add_meter(
    db: Database,
    number: str = "5000000001",
    *,
    zones: int = 1,
    digits: int = 6,
    t1: int | None = 12000,
    t2: int | None = None,
    days_ago: float = 30,
    tz: str = "Europe/Moscow",
) -> int:
    with db.session(write=True) as session:
        upsert_accounts(
            session,
            [
                AccountData(
                    number=number, holder_name="Тестов", street="Садовая", house="1", timezone=tz
                )
            ],
        )
        ids = upsert_meters(
            session,
            [
                MeterData(
                    serial=f"M-{number}",
                    account_number=number,
                    zones=zones,
                    digits=digits,
                    last_t1=None if t1 is None else Decimal(t1),
                    last_t2=None if t2 is None else Decimal(t2),
                )
            ],
        ).ids
        meter = session.get(Meter, ids[f"M-{number}"])
        assert meter is not None
        meter.last_reading_at = NOW - timedelta(days=days_ago)
        return meter.id


def service(db: Database, clock: Clock | None = None, **policy: object) -> ReadingService:
    return ReadingService(
        db,
        policy=ReadingPolicy(**policy),
        clock=clock or Clock(NOW),  # type: ignore[arg-type]
    )


def meter_of(db: Database, meter_id: int) -> Meter:
    with db.session() as session:
        meter = session.get(Meter, meter_id)
        assert meter is not None
        return meter


def test_submit_stores_and_updates_the_meter_in_one_go(db: Database) -> None:
    meter_id = add_meter(db)
    stored = service(db).submit(
        meter_id=meter_id,
        zone="T1",
        value=12345,
        source=ReadingSource.VOICE,
        recognised_text="двенадцать тысяч триста сорок пять",
        confidence=0.93,
        audio_ref="/var/spool/r.wav",
        call_uniqueid="1700000000.42",
    )
    assert stored.status is ReadingStatus.ACCEPTED and stored.verdict is Verdict.OK
    assert stored.consumption == Decimal(345) and stored.in_period
    meter = meter_of(db, meter_id)
    assert meter.last_t1 == Decimal(12345) and meter.last_reading_at == NOW
    with db.session() as session:
        reading = session.execute(select(Reading)).scalar_one()
        call = session.execute(select(Call)).scalar_one()
    assert reading.recognised_text.startswith("двенадцать") and reading.confidence == 0.93
    assert reading.audio_ref == "/var/spool/r.wav" and reading.call_id == call.id
    assert call.uniqueid == "1700000000.42"
    assert service(db).readings_of_call("1700000000.42")[0].id == stored.id


def test_below_previous_is_refused_and_nothing_changes(db: Database) -> None:
    meter_id = add_meter(db)
    with pytest.raises(ReadingRejected) as info:
        service(db).submit(meter_id=meter_id, zone="T1", value=11000, source="keypad")
    assert info.value.check.verdict is Verdict.BELOW_PREVIOUS
    assert meter_of(db, meter_id).last_t1 == Decimal(12000)
    with db.session() as session:
        assert session.execute(select(Reading)).first() is None


def test_rollover_is_stored_with_its_consumption(db: Database) -> None:
    meter_id = add_meter(db, digits=5, t1=99950, days_ago=2)
    stored = service(db).submit(meter_id=meter_id, zone="T1", value=30, source="keypad")
    assert stored.verdict is Verdict.ROLLOVER and stored.consumption == Decimal(80)
    assert meter_of(db, meter_id).last_t1 == Decimal(30)


def test_jump_needs_confirmation_then_is_flagged(db: Database) -> None:
    meter_id = add_meter(db, t1=1000, days_ago=1)
    svc = service(db)
    with pytest.raises(ConfirmationRequired):
        svc.submit(meter_id=meter_id, zone="T1", value=5000, source="keypad")
    assert meter_of(db, meter_id).last_t1 == Decimal(1000)
    stored = svc.submit(
        meter_id=meter_id, zone="T1", value=5000, source="keypad", confirmed_jump=True
    )
    assert stored.status is ReadingStatus.FLAGGED and "kWh/day" in (stored.flag_reason or "")
    assert meter_of(db, meter_id).last_t1 == Decimal(5000)


def test_review_rejecting_a_flagged_reading_restores_the_previous_value(db: Database) -> None:
    meter_id = add_meter(db, t1=None)
    svc = service(db, max_daily_kwh=Decimal(10))
    first = svc.submit(meter_id=meter_id, zone="T1", value=1000, source="keypad")
    flagged = svc.submit(
        meter_id=meter_id, zone="T1", value=9000, source="keypad", confirmed_jump=True
    )
    assert first.status is ReadingStatus.ACCEPTED and flagged.status is ReadingStatus.FLAGGED
    reviewed = svc.review(flagged.id, accept=False)
    assert reviewed.status is ReadingStatus.REJECTED
    assert meter_of(db, meter_id).last_t1 == Decimal(1000)
    assert svc.review(first.id, accept=True).status is ReadingStatus.ACCEPTED


def test_too_many_digits_and_unknown_zone_and_meter(db: Database) -> None:
    meter_id = add_meter(db, digits=5, t1=100)
    svc = service(db)
    with pytest.raises(ReadingRejected):
        svc.submit(meter_id=meter_id, zone="T1", value=123456, source="keypad")
    with pytest.raises(ReadingRejected):
        svc.submit(meter_id=meter_id, zone="T2", value=200, source="keypad")
    with pytest.raises(MeterNotFound):
        svc.submit(meter_id=999999, zone="T1", value=1, source="keypad")


def test_outside_the_period_counts_from_the_next_start(db: Database) -> None:
    meter_id = add_meter(db)
    clock = Clock(datetime(2026, 3, 27, 9, 0, tzinfo=UTC))
    stored = service(db, clock).submit(meter_id=meter_id, zone="T1", value=12100, source="keypad")
    assert stored.status is ReadingStatus.ACCEPTED
    assert not stored.in_period and stored.counts_from == date(2026, 4, 15)


def test_the_customers_local_date_decides_the_period(db: Database) -> None:
    """25 March 21:00 UTC is already the 26th in Krasnoyarsk, still the 26th 00:00 in Moscow."""
    clock = Clock(datetime(2026, 3, 25, 20, 30, tzinfo=UTC))
    msk = add_meter(db, "5000000001")
    krs = add_meter(db, "5000000002", tz="Asia/Krasnoyarsk")
    svc = service(db, clock)
    assert svc.submit(meter_id=msk, zone="T1", value=12001, source="keypad").in_period
    assert not svc.submit(meter_id=krs, zone="T1", value=12001, source="keypad").in_period


def test_two_zones(db: Database) -> None:
    meter_id = add_meter(db, zones=2, t1=100, t2=50)
    svc = service(db)
    view = svc.meter(meter_id)
    assert [z.value for z in view.zones] == ["T1", "T2"]
    svc.submit(meter_id=meter_id, zone="T2", value=60, source="keypad")
    meter = meter_of(db, meter_id)
    assert (meter.last_t1, meter.last_t2) == (Decimal(100), Decimal(60))


# -- export ------------------------------------------------------------------------------


def _three_readings(db: Database) -> ReadingService:
    a = add_meter(db, "5000000001")
    b = add_meter(db, "5000000002", t1=1000, days_ago=1)
    svc = service(db)
    svc.submit(meter_id=a, zone="T1", value=12100, source="voice", call_uniqueid="c.1")
    svc.submit(meter_id=b, zone="T1", value=9000, source="keypad", confirmed_jump=True)
    svc.submit(meter_id=a, zone="T1", value=12200, source="keypad")
    return svc


def test_export_rows_only_accepted_and_by_date(db: Database) -> None:
    svc = _three_readings(db)
    rows = svc.export_rows(date(2026, 3, 20), date(2026, 3, 20))
    assert [(r.account_number, int(r.value), r.source) for r in rows] == [
        ("5000000001", 12100, "voice"),
        ("5000000001", 12200, "keypad"),
    ]
    assert rows[0].call_uniqueid == "c.1" and rows[1].call_uniqueid is None
    assert svc.export_rows(date(2026, 3, 21), None) == []
    assert len(svc.export_rows(statuses=[ReadingStatus.FLAGGED])) == 1


def test_csv_and_xlsx(db: Database) -> None:
    rows = _three_readings(db).export_rows()
    text = export_csv(rows).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].split(";") == list(EXPORT_HEADER)
    assert lines[1].split(";")[1:5] == ["5000000001", "M-5000000001", "T1", "12100"]
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(export_xlsx(rows)))
    ws = wb["Показания"]
    values = list(ws.values)
    assert list(values[0]) == list(EXPORT_HEADER)
    assert values[1][1] == "5000000001" and values[1][4] == 12100 and len(values) == 3


def test_claim_mark_release_hand_over_each_reading_once(db: Database) -> None:
    svc = _three_readings(db)
    batch, rows = svc.claim_for_export()
    assert len(rows) == 2
    again, none = svc.claim_for_export()
    assert none == [] and again != batch
    assert svc.release(batch) == 2
    batch2, rows2 = svc.claim_for_export()
    assert [r.reading_id for r in rows2] == [r.reading_id for r in rows]
    assert svc.mark_exported(batch2) == 2
    assert svc.mark_exported(batch2) == 0
    assert svc.release(batch2) == 0
    assert svc.claim_for_export()[1] == []


def test_a_stale_claim_is_taken_over(db: Database) -> None:
    clock = Clock(NOW)
    _three_readings(db)
    svc = service(db, clock)
    batch, rows = svc.claim_for_export()
    assert rows
    clock.now = NOW + svc.stale_after + timedelta(seconds=1)
    batch2, rows2 = svc.claim_for_export()
    assert len(rows2) == len(rows) and batch2 != batch
    assert svc.mark_exported(batch) == 0  # the old claim lost its rows
    assert svc.mark_exported(batch2) == len(rows)
