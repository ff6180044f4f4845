"""The voice menu's visit booking against the scripted caller (REQ-T11,
T9, T16; the fast tier beside tests/e2e/test_visits.py): menu key 5 hands
the call to the ``visits`` route; a caller who types ahead books without
hearing what the keys skip; a caller with a visit moves it or cancels it;
a caller at night books too (self-service around the clock); a failed
proof books nothing and reaches the operator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.demo_data import DEMO_CALLER
from ivr.flows import hotline
from telephony.contract import Route
from tests.unit.test_flow_branches import (  # noqa: F401 - the fixture
    IN_HOURS,
    account_id,
    call,
    demo_template,
    done,
    in_order,
    make_deps,
    run,
    steps,
)
from visits import flow as visits_flow
from visits.demo import seed_offices
from visits.models import NoticeChannel
from visits.service import Contact, VisitService

MSK = ZoneInfo("Europe/Moscow")
TAIL = DEMO_CALLER.number[-4:]


@pytest.fixture
async def deps(demo_template: Path, tmp_path: Path) -> AsyncIterator[Any]:  # noqa: F811
    import shutil

    path = tmp_path / "hotline.db"
    shutil.copyfile(demo_template, path)
    services = make_deps(f"sqlite:///{path}", tmp_path)
    seed_offices(services.db)
    yield services
    await services.aclose()


def visits_call(script: list[tuple[str, str | None]], **kw: Any) -> Any:
    return call(script, route=Route.VISITS, **kw)


def service(deps: Any, now: str = IN_HOURS) -> VisitService:
    when = datetime.fromisoformat(now)
    return VisitService(deps.db, deps.crm.calendar, clock=lambda: when)


async def test_menu_key_5_hands_the_call_to_the_visits_route(deps: Any) -> None:
    ch = call([("menu/main", "5")])
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.destinations == ["visits"]
    assert "visits" in steps(ch.journal)


async def test_typed_ahead_the_caller_books_the_second_time_by_sms(deps: Any) -> None:
    """1 during «ближайший офис» and 2 during «ближайшее свободное время»:
    the office's name and the times are not said; the second free time
    (11:00 after 10:00) is booked; the confirmation by SMS is chosen."""
    ch = visits_call(
        [
            ("ident/enter_last_digits", TAIL + "#"),
            ("visits/office_nearest", "1"),
            ("visits/slots_intro", "2"),
            ("visits/you_choose", None),
            ("visits/confirm_options", "1"),
            ("visits/sms_offer", "1"),
        ]
    )
    done(ch, await run(visits_flow.flow, ch, deps))
    heard = ch.heard
    assert not [h for h in heard if h.startswith(("office:", "dyn/"))], heard
    assert "visits/office_options" not in heard and "visits/press_1" not in heard
    # the chosen time is repeated, said naturally
    i = heard.index("visits/you_choose")
    assert heard[i + 1 : i + 5] == ["visits/on_2", "date:2025-03-05", "visits/at", "time:11:00"]
    assert heard[-3:] == ["visits/booked", "visits/notice_sms", "common/goodbye"]
    assert ch.destinations == ["hangup"]
    (visit,) = service(deps).upcoming(account_id(deps.db, DEMO_CALLER.number))
    assert visit.starts_at == datetime(2025, 3, 5, 11, 0, tzinfo=MSK)
    assert visit.notify_channel is NoticeChannel.SMS and visit.source == "ivr"
    # 152-FZ: the proof's keys are masked, no phone or account in the journal
    for e in ch.journal.entries:
        if e.kind in ("step", "input", "var"):
            assert DEMO_CALLER.number not in repr(e.detail) and "9001234567" not in repr(e.detail)


async def test_a_caller_with_a_visit_moves_it_then_cancels_it(deps: Any) -> None:
    svc = service(deps)
    account = account_id(deps.db, DEMO_CALLER.number)
    office = svc.nearest_office(account)
    assert office is not None
    booked = svc.book(
        office.id,
        account,
        datetime(2025, 3, 6, 9, 0, tzinfo=MSK),
        source="operator",
        by="ivanova",
        contact=Contact(NoticeChannel.NONE),
    )
    # «Вы записаны на приём в четверг, шестого марта, в девять часов»: 1 = move
    ch = visits_call(
        [
            ("ident/enter_last_digits", TAIL + "#"),
            ("time:09:00", "1"),
            ("visits/slots_intro", "1"),
            ("visits/confirm_options", "1"),
        ]
    )
    done(ch, await run(visits_flow.flow, ch, deps))
    heard = ch.heard
    assert in_order(
        heard,
        ["visits/you_are_booked", "visits/on_3", "date:2025-03-06", "visits/at", "time:09:00"],
    ), heard
    assert "visits/moved" in heard and "visits/notice_none" in heard
    moved = svc.get(booked.id)
    assert moved.starts_at == datetime(2025, 3, 5, 10, 30, tzinfo=MSK)
    # the next call cancels it (2, then 1 to confirm)
    ch = visits_call(
        [
            ("ident/enter_last_digits", TAIL + "#"),
            ("time:10:30", "2"),
            ("visits/cancel_confirm", "1"),
        ]
    )
    done(ch, await run(visits_flow.flow, ch, deps))
    assert ch.heard[-3:] == ["visits/cancelled", "visits/notice_none", "common/goodbye"]
    assert svc.get(booked.id).status.value == "cancelled"
    assert svc.upcoming(account) == []


async def test_at_night_the_caller_books_too(deps: Any) -> None:
    """REQ-T16: 23:00 — the next free time is the next working morning."""
    night = "2025-03-05T23:00:00+03:00"
    ch = visits_call(
        [
            ("ident/enter_last_digits", TAIL + "#"),
            ("visits/office_nearest", "1"),
            ("visits/slots_intro", "1"),
            ("visits/confirm_options", "1"),
            ("visits/sms_offer", "2"),
        ],
        now=night,
    )
    done(ch, await run(visits_flow.flow, ch, deps))
    (visit,) = service(deps, night).upcoming(account_id(deps.db, DEMO_CALLER.number))
    assert visit.starts_at == datetime(2025, 3, 6, 8, 0, tzinfo=MSK)
    assert visit.notify_channel is NoticeChannel.NONE
    assert ch.heard[-3:] == ["visits/booked", "visits/notice_none", "common/goodbye"]


async def test_a_failed_proof_books_nothing_and_reaches_the_operator(deps: Any) -> None:
    ch = visits_call(
        [
            ("ident/enter_last_digits", "9999#"),
            ("ident/enter_last_digits_or_account", "9999#"),
            ("ident/enter_last_digits_or_account", "9999#"),
        ]
    )
    done(ch, await run(visits_flow.flow, ch, deps))
    assert "ident/not_identified" in ch.heard
    assert not [
        h
        for h in ch.heard
        if h.startswith("visits/") and h != "visits/intro" and h != "visits/ident_required"
    ]
    assert ch.destinations == ["queue"]
    assert service(deps).upcoming(account_id(deps.db, DEMO_CALLER.number)) == []
