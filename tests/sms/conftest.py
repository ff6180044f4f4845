"""Fixtures of the SMS tests: the CRM's migrated database on SQLite and
PostgreSQL (``tests/crm/conftest.py``), customers with meters and phones on
file, and the SMS handler on a fixed clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_bridge.accounts import AccountData, MeterData
from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.readings import ReadingService
from sms.inbound import SmsInbound
from tests.crm.conftest import (  # noqa: F401 - the fixtures, shared
    MSK,
    NOW,
    add_accounts,
    add_meters,
    appeals,
    db,
    pg_database,
    sqlite_template,
)

SINGLE = "1000000001"
"""One-zone meter (6 digits, last 12 000), phone +79001110001 on file."""
DOUBLE = "1000000002"
"""Two-zone meter (last Т1 5 000, Т2 2 000), phone +79001110002 on file."""
SHARED_A = "1000000003"
SHARED_B = "1000000004"
"""Two accounts sharing the phone +79001110003."""
PHONE_SINGLE = "+79001110001"
PHONE_DOUBLE = "+79001110002"
PHONE_SHARED = "+79001110003"
STRANGER = "+79005550000"


@pytest.fixture
def customers(db: Database) -> dict[str, int]:  # noqa: F811
    ids = add_accounts(
        db,
        AccountData(
            SINGLE, "Иванов И. И.", street="Ленина", house="1", flat="1", phones=(PHONE_SINGLE,)
        ),
        AccountData(
            DOUBLE, "Петров П. П.", street="Ленина", house="1", flat="2", phones=(PHONE_DOUBLE,)
        ),
        AccountData(
            SHARED_A, "Сидоров С. С.", street="Мира", house="2", flat="1", phones=(PHONE_SHARED,)
        ),
        AccountData(
            SHARED_B, "Сидорова А. С.", street="Мира", house="2", flat="2", phones=(PHONE_SHARED,)
        ),
    )
    add_meters(
        db,
        MeterData("M-1", SINGLE, zones=1, digits=6, last_t1=Decimal(12000)),
        MeterData("M-2", DOUBLE, zones=2, digits=6, last_t1=Decimal(5000), last_t2=Decimal(2000)),
        MeterData("M-3", SHARED_A, zones=1, digits=5, last_t1=Decimal(100)),
        MeterData("M-4", SHARED_B, zones=1, digits=5, last_t1=Decimal(200)),
    )
    return ids


@pytest.fixture
def inbound(db: Database, appeals: AppealService) -> SmsInbound:  # noqa: F811
    return SmsInbound(
        db,
        readings=ReadingService(db, clock=lambda: NOW),
        appeals=appeals,
        service_number="7377",
        clock=lambda: NOW,
    )
