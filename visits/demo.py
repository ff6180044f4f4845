"""The demo's customer offices (``hotline demo``, ``hotline db demo-data``):
two offices, one in the demo town, with a lunch break and Saturday hours."""

from __future__ import annotations

from sqlalchemy import func, select

from crm_bridge.calendar_ru import ProductionCalendar
from crm_bridge.db import Database
from crm_bridge.demo_data import DEMO_TOWN
from visits.models import Office
from visits.service import OfficeDraft, VisitService

__all__ = ["DEMO_OFFICES", "seed_offices"]

WEEKDAYS = "08:00-12:00, 13:00-17:00"

DEMO_OFFICES = (
    OfficeDraft(
        name="Офис обслуживания «Центральный»",
        address=f"г. {DEMO_TOWN}, ул. Ленина, д. 1",
        settlement=DEMO_TOWN,
        spoken="офис на улице Ленина, дом один",
        hours={0: WEEKDAYS, 1: WEEKDAYS, 2: WEEKDAYS, 3: WEEKDAYS, 4: "08:00-12:00, 13:00-16:00"},
        slot_minutes=30,
        capacity=2,
    ),
    OfficeDraft(
        name="Офис обслуживания «Ивановка»",
        address="с. Ивановка, ул. Полевая, д. 3",
        settlement="Ивановка",
        spoken="офис в селе Ивановка, улица Полевая, дом три",
        hours={1: "09:00-13:00", 3: "09:00-13:00", 5: "09:00-12:00"},
        slot_minutes=20,
        capacity=1,
    ),
)


def seed_offices(db: Database) -> int:
    """Add the demo offices when there is none (idempotent); how many were added."""
    with db.session() as s:
        if s.execute(select(func.count()).select_from(Office)).scalar_one():
            return 0
    service = VisitService(db, ProductionCalendar())
    for draft in DEMO_OFFICES:
        service.save_office(draft)
    return len(DEMO_OFFICES)
