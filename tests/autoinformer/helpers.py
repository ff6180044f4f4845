"""Test helpers of the autoinformer: accounts with phones on file, campaigns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from crm_bridge.accounts import AccountData, upsert_accounts
from crm_bridge.db import Database


def make_accounts(
    db: Database,
    phones: Sequence[str],
    *,
    prefix: str = "77",
    debt: Decimal = Decimal("1234.50"),
    timezone: str = "Europe/Moscow",
    address: str | None = None,
) -> dict[str, str]:
    """One account per phone (phone in the contract); phone → account number."""
    items = []
    out = {}
    for i, phone in enumerate(phones):
        number = f"{prefix}{i:08d}"
        out[phone] = number
        items.append(
            AccountData(
                number=number,
                holder_name=f"Абонент {i}",
                phones=(phone,),
                debt=debt,
                timezone=timezone,
                address=address,
            )
        )
    with db.session(write=True) as s:
        upsert_accounts(s, items)
    return out


def always_open() -> tuple[datetime, datetime]:
    """A campaign window wide enough for any test run."""
    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def daytime_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone where it is now early afternoon (inside every
    230-FZ window), so real-Asterisk tests do not depend on the hour they run."""
    now = now or datetime.now(UTC)
    for offset in range(-12, 15):
        hour = (now.hour + offset) % 24
        if 12 <= hour < 15:
            # Etc/GMT-3 is UTC+3 (POSIX sign convention).
            return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"
    raise AssertionError("unreachable")


def night_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone where it is now 02:00–04:59 (outside every
    230-FZ window): a contact there is held back until the morning."""
    now = now or datetime.now(UTC)
    for offset in range(-12, 15):
        hour = (now.hour + offset) % 24
        if 2 <= hour < 5:
            return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"
    raise AssertionError("unreachable")


TEST_TRUNK = "Local/{number}@hotline-test-network"
