"""A visit to a customer office booked from the voice menu over real SIP
(REQ-T11, issue 16 item 5), and seen in the office's day list page.

The demo caller (the caller network, hotline.sipnet: a PJSIP channel on the
hotline's trunk, keys as RFC 4733 events sent once the prompt they answer
has started) chooses 5 in the main menu, proves the account with its last
four digits, hears the office of the account's town (its name synthesised
by RHVoice), hears the next free slot said naturally («в среду, пятого марта, в десять
часов тридцать минут»), chooses it as soon as its key is named and
confirms it — both keys typed ahead, stopping what was being said —, and
takes the confirmation by SMS to the calling mobile (no e-mail on file). The visit is in the
database and in the office's printable list of that day, read over HTTP by
the supervisor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from crm_bridge.demo_data import DEMO_CALLER, DEMO_OPERATORS
from crm_bridge.models import Account
from visits.demo import seed_offices
from visits.models import Office, Visit

pytestmark = [pytest.mark.asterisk]

PHONE = (DEMO_CALLER.phone or "+79001234567").lstrip("+")
TAIL = DEMO_CALLER.number[-4:]
MSK = ZoneInfo("Europe/Moscow")
SLOT = datetime(2025, 3, 5, 10, 30, tzinfo=MSK)
"""The first free slot after the call's 10:00 (tests/e2e/conftest.IN_HOURS), a Wednesday."""


def said(journal: Any, what: str) -> list[str]:
    return [
        str(e.detail["text"])
        for e in journal.entries
        if e.kind == "say" and e.detail.get("what") == what
    ]


async def _day_list(web_url: str, office_id: int) -> str:
    supervisor = next(op for op in DEMO_OPERATORS if op.login == "supervisor")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = await http.post(
            web_url + "login",
            data={"login": supervisor.login, "password": supervisor.password},
            allow_redirects=False,
        )
        assert login.status == 302, await login.text()
        page = await http.get(web_url + f"visits/offices/{office_id}/day?date=2025-03-05")
        text = await page.text()
        assert page.status == 200, text
        return text


async def test_a_visit_booked_from_the_menu_is_in_the_offices_day_list(
    sip: Any, runtime: Any
) -> None:
    services = runtime.services
    await services.run_db(seed_offices, services.db)
    hub = services.hub
    call = await sip.place_sip(caller_number=PHONE)
    try:
        await sip.walk(
            call,
            [
                ("menu/main", "5"),
                ("ident/enter_last_digits", TAIL + "#"),
                ("visits/office_options", "1"),
                # the first time, chosen as soon as its key is named (type-ahead:
                # the other times are not said)
                ("visits/press_1", "1"),
                # typed ahead: pressed as the chosen time starts to be repeated
                ("visits/you_choose", "1"),
                # no e-mail on file: the confirmation by SMS to the calling mobile
                ("visits/sms_offer", "1"),
            ],
            timeout=60,
        )
        journal = await hub.wait_for(call.call_id, lambda j: j.route == "visits" and j.ended, 60)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    heard = journal.heard()
    assert heard[:3] == ["visits/intro", "visits/ident_required", "ident/enter_last_digits"]
    # the office of the caller's town, its name synthesised
    i = heard.index("visits/office_nearest")
    assert heard[i + 1].startswith("office:"), heard
    # the first slot, said naturally, with its key
    j = heard.index("visits/slots_intro")
    assert heard[j + 1 : j + 6] == [
        "visits/on_2",
        "date:2025-03-05",
        "visits/at",
        "time:10:30",
        "visits/press_1",
    ], heard
    assert said(journal, "date")[0] == "пятого марта"
    assert said(journal, "time")[0] == "десять часов тридцать минут"
    assert [h for h in heard if h.startswith("visits/press_")] == ["visits/press_1"]
    # the key typed ahead confirmed it, whatever it stopped
    assert heard.count("visits/confirm_options") <= 1
    booked = [e for e in journal.entries if e.kind == "step" and e.detail["name"] == "visit-booked"]
    assert len(booked) == 1
    visit_id = int(booked[0].detail["visit"])

    def stored() -> tuple[Visit, str, int]:
        with services.db.session() as s:
            v = s.get(Visit, visit_id)
            assert v is not None
            number = s.execute(
                select(Account.number).where(Account.id == v.account_id)
            ).scalar_one()
            office = s.execute(select(Office.id).where(Office.id == v.office_id)).scalar_one()
            return v, number, office

    visit, number, office_id = await services.run_db(stored)
    assert number == DEMO_CALLER.number
    assert visit.starts_at == SLOT and visit.status == "booked" and visit.source == "ivr"
    assert visit.notify_channel == "sms" and visit.notify_contact == DEMO_CALLER.phone
    assert heard[-3:] == ["visits/booked", "visits/notice_sms", "common/goodbye"], heard
    page = await _day_list(runtime.web_url, office_id)
    assert f'data-visit="{visit_id}"' in page
    row = page.split(f'data-visit="{visit_id}"', 1)[1].split("</tr>", 1)[0]
    assert "10:30–11:00" in row and DEMO_CALLER.number in row and "голосовое меню" in row
