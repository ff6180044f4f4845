"""Surge detection on the real Asterisk 22 (issue 16 item 3): a burst of
calls from one street through the inbound route — the callers identified by
their calling numbers only — raises one alert for that street with the
callers' houses; a registered outage over the next street keeps its callers
out of any alert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_bridge.accounts import AccountData, upsert_accounts
from crm_bridge.db import utcnow
from crm_bridge.outages import OutageKind
from outages.register import Draft, OutageRegister
from outages.surge import SurgeDetector
from tests.e2e.test_hotline import IN_HOURS, place  # noqa: F401 - fixture
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]

STREET = "street:всплесковск|окружная"


def _residents(db: Any) -> dict[str, str]:
    """Three houses on ул. Окружная and two on ул. Заречная (an outage there)."""
    items = []
    numbers = {}
    for n, (street, house) in enumerate(
        [
            ("Окружная", "1"),
            ("Окружная", "3"),
            ("Окружная", "5"),
            ("Заречная", "2"),
            ("Заречная", "4"),
        ],
        1,
    ):
        phone = f"7955500{n:04d}"
        numbers[f"{street}-{house}"] = phone
        items.append(
            AccountData(
                number=f"88{n:08d}",
                holder_name=f"Житель {n}",
                settlement="г. Всплесковск",
                street_type="ул.",
                street=street,
                house=house,
                phones=(f"+{phone}",),
            )
        )
    with db.session(write=True) as s:
        upsert_accounts(s, items)
    return numbers


async def test_a_burst_of_calls_from_one_street_raises_its_alert(
    place: Any,  # noqa: F811
    runtime: Any,
) -> None:
    services = runtime.services
    numbers = await services.run_db(_residents, services.db)
    register = OutageRegister(services.db)
    now = utcnow()
    await services.run_db(
        lambda: register.create(
            Draft(
                kind=OutageKind.EMERGENCY,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=5),
                addresses=["г. Всплесковск, ул. Заречная"],
            ),
            by="sidorova",
        )
    )
    for phone in numbers.values():
        c = await place(IN_HOURS, caller=phone)
        await c.started("menu/main")  # through the warning, the caller at the menu
        await c.hang_up()

    # two calls would do: the two from the outage's street must not count
    detector = SurgeDetector(services.db, calls=2, minutes=15)

    def alerts() -> list[Any]:
        detector.scan()
        return [a for a in detector.open_alerts() if a.place_key.startswith("street:всплесковск")]

    found = await until(lambda: services.run_db(alerts), 30, "the street's surge alert")
    assert [a.place_key for a in found] == [STREET]
    assert found[0].calls == 3
    assert set(found[0].addresses) == {
        "г. всплесковск, ул. окружная, д. 1",
        "г. всплесковск, ул. окружная, д. 3",
        "г. всплесковск, ул. окружная, д. 5",
    }
    await services.run_db(detector.acknowledge, found[0].id, "sidorova")
