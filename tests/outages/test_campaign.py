"""The notice campaign of a planned outage, made from the register's page
(issue 16 item 6; REQ-O7, O9, O10, O12), and the outage dates typed in
Russian into the campaign form reaching the message (issue 15), through the
whole web application over real HTTP on SQLite and PostgreSQL.

Saving a planned outage proposes the campaign: households by their contract
phones (and e-mail where they gave one), legal entities listed apart for the
channel their contract names, the message with the outage's period spoken,
REQ-O9's last moment; one click makes it (a second opens the same one); the
dispatcher submits it, the supervisor approves it. Too late: the proposal
says why, submission and approval are refused in Russian."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from autoinformer.campaigns import CampaignService
from autoinformer.channels import contact_order, parse_channels
from autoinformer.contacts import ContactListService
from autoinformer.models import Campaign, Contact
from crm_bridge.accounts import AccountData
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Account
from ivr import phrases_ru
from ivr.prompts import PromptCatalogue
from outages.models import OutageCampaign
from tests.crm.conftest import add_accounts
from tests.crm_web.conftest import (  # noqa: F401 - the fixtures, shared
    db,
    log_in,
    migrated_template,
    operators,
    services,
)
from tests.outages.conftest import town_accounts
from tests.webtools import FakeServices, root_app

MSK = ZoneInfo("Europe/Moscow")


@pytest_asyncio.fixture
async def client(services: FakeServices) -> AsyncIterator[TestClient[Any, Any]]:  # noqa: F811
    async with TestClient(TestServer(root_app(services))) as c:
        yield c


def _residents(db: Database) -> dict[str, int]:  # noqa: F811
    """The town; on ул. Ленина 2 also an ООО with a contract phone and
    e-mail, a school with none; a flat on Ленина 3 with an e-mail given, a
    flat on Ленина 1 with no phone in its contract."""
    extra = [
        AccountData(
            number="7700000001",
            holder_name="ООО «Ромашка»",
            category="ЮЛ",
            settlement="г. Демоград",
            street_type="ул.",
            street="Ленина",
            house="2",
            phones=("+79007700001",),
            email="office@romashka.example",
        ),
        AccountData(
            number="7700000002",
            holder_name="МБОУ СОШ № 3",
            category="ЮЛ",
            settlement="г. Демоград",
            street_type="ул.",
            street="Ленина",
            house="2",
            phones=(),
        ),
        AccountData(
            number="7700000003",
            holder_name="Житель с почтой",
            settlement="г. Демоград",
            street_type="ул.",
            street="Ленина",
            house="3",
            flat="9",
            phones=("+79007700003",),
            email="zhitel@example.org",
        ),
        AccountData(
            number="7700000004",
            holder_name="Житель без телефона",
            settlement="г. Демоград",
            street_type="ул.",
            street="Ленина",
            house="1",
            flat="9",
            phones=(),
        ),
    ]
    return add_accounts(db, *town_accounts(), *extra)


def _typed(moment: datetime) -> str:
    """As a dispatcher types it: ДД.ММ.ГГГГ ЧЧ:ММ, Moscow time."""
    return moment.astimezone(MSK).strftime("%d.%m.%Y %H:%M")


def _day(days: int, hour: int) -> datetime:
    d = (utcnow() + timedelta(days=days)).astimezone(MSK).date()
    return datetime(d.year, d.month, d.day, hour, tzinfo=MSK)


def _spoken_period(start: datetime, end: datetime) -> str:
    catalogue = PromptCatalogue.load()
    return phrases_ru.time_range(start.astimezone(MSK), end.astimezone(MSK)).text(catalogue.text)


async def _save_planned(
    client: TestClient[Any, Any], csrf: str, start: datetime, end: datetime, **extra: str
) -> int:
    saved = await client.post(
        "/outages/new",
        data={
            "csrf": csrf,
            "kind": "planned",
            "starts_at": _typed(start),
            "ends_at": _typed(end),
            "reason": "замена трансформатора",
            "addresses": "г. Демоград, ул. Ленина, д. 1-3",
            "action": "save",
            **extra,
        },
        allow_redirects=False,
    )
    assert saved.status == 303, await saved.text()
    location = saved.headers["Location"]
    assert location.endswith("?saved=1"), location
    return int(location.split("?")[0].rsplit("/", 1)[1])


async def test_saving_a_planned_outage_proposes_its_campaign_made_in_one_click(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    services: FakeServices,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    _residents(db)
    csrf = await log_in(client, "sidorova")
    start, end = _day(5, 8), _day(5, 17)
    outage_id = await _save_planned(client, csrf, start, end)

    page = await client.get(f"/outages/{outage_id}?saved=1")
    text = await page.text()
    assert page.status == 200 and 'id="make-campaign"' in text
    # Ленина 1–3: 6 flats of the town and 2 more households; one has no phone
    assert 'id="households-phone">7<' in text and 'id="households-email">1<' in text
    assert 'id="households-unreachable">1<' in text
    assert "ООО «Ромашка»" in text and "МБОУ СОШ № 3" in text
    assert "способом, указанным в договоре" in text
    assert "(к обзвону: 8)" in text  # 7 households and the ООО
    spoken = _spoken_period(start, end)
    assert spoken in text, spoken
    assert "уведомить жителей не позднее" in text

    # a supervisor reads the proposal but does not make campaigns
    client.session.cookie_jar.clear()
    csrf_boss = await log_in(client, "boss")
    boss_page = await (await client.get(f"/outages/{outage_id}")).text()
    assert "ООО «Ромашка»" in boss_page and 'id="make-campaign"' not in boss_page
    refused = await client.post(f"/outages/{outage_id}/campaign", data={"csrf": csrf_boss})
    assert refused.status == 403

    client.session.cookie_jar.clear()
    csrf = await log_in(client, "sidorova")
    made = await client.post(
        f"/outages/{outage_id}/campaign", data={"csrf": csrf}, allow_redirects=False
    )
    assert made.status == 303
    location = made.headers["Location"]
    assert location.startswith("/dispatcher/campaigns/")
    cid = int(location.rsplit("/", 1)[1])
    again = await client.post(
        f"/outages/{outage_id}/campaign", data={"csrf": csrf}, allow_redirects=False
    )
    assert again.headers["Location"] == location  # one campaign per outage

    with db.session() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        assert campaign.kind == "planned_outage" and campaign.status == "draft"
        assert campaign.outage_start == start and campaign.outage_end == end
        assert campaign.end_at == start  # nobody is called once it began
        assert campaign.email_enabled and campaign.created_by == "sidorova"
        contacts = {
            c.variables["account"]: c
            for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))
        }
        assert s.get(OutageCampaign, outage_id) is not None
    assert len(contacts) == 8
    assert contacts["7700000001"].category == "ЮЛ"  # called under the legal entities' rule
    assert contacts["7700000003"].email == "zhitel@example.org"
    assert "7700000004" not in contacts and "7700000002" not in contacts

    # the campaign's page says the outage and its message with the period
    console = await (await client.get(location)).text()
    assert 'id="outage-period"' in console and spoken in console
    submitted = await client.post(f"{location}/submit", data={"csrf": csrf}, allow_redirects=False)
    assert submitted.status in (302, 303)
    client.session.cookie_jar.clear()
    csrf_boss = await log_in(client, "boss")
    approved = await client.post(
        f"{location}/approve", data={"csrf": csrf_boss}, allow_redirects=False
    )
    assert approved.status in (302, 303), await approved.text()
    assert services.campaigns.get(cid).status == "approved"
    linked = await (await client.get(f"/outages/{outage_id}")).text()
    assert f'href="/dispatcher/campaigns/{cid}"' in linked and "Утверждена" in linked


async def test_too_late_the_proposal_says_why_and_submission_and_approval_are_refused(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    services: FakeServices,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    _residents(db)
    csrf = await log_in(client, "sidorova")
    # decided five days ago: more than 3 days after the decision (REQ-O9)
    start, end = _day(9, 8), _day(9, 17)
    late_id = await _save_planned(
        client, csrf, start, end, decided_at=_typed(utcnow() - timedelta(days=5))
    )
    text = await (await client.get(f"/outages/{late_id}")).text()
    assert 'id="proposal-late"' in text
    assert "прошло больше 3 дней с решения об отключении" in text
    made = await client.post(
        f"/outages/{late_id}/campaign", data={"csrf": csrf}, allow_redirects=False
    )
    location = made.headers["Location"]
    refused = await client.post(f"{location}/submit", data={"csrf": csrf})
    body = await refused.text()
    assert refused.status == 400 and "опоздает" in body and "3 дней" in body

    # in time when sent, too late when the supervisor gets to it 7 hours later
    soon = utcnow() + timedelta(hours=30)
    soon = soon.replace(second=0, microsecond=0)
    soon_id = await _save_planned(client, csrf, soon, soon + timedelta(hours=8))
    made = await client.post(
        f"/outages/{soon_id}/campaign", data={"csrf": csrf}, allow_redirects=False
    )
    location = made.headers["Location"]
    sent = await client.post(f"{location}/submit", data={"csrf": csrf}, allow_redirects=False)
    assert sent.status in (302, 303), await sent.text()
    services.campaigns.clock = lambda: utcnow() + timedelta(hours=7)
    client.session.cookie_jar.clear()
    csrf_boss = await log_in(client, "boss")
    refused = await client.post(f"{location}/approve", data={"csrf": csrf_boss})
    body = await refused.text()
    assert refused.status == 400 and "до начала отключения меньше 24 часов" in body
    cid = int(location.rsplit("/", 1)[1])
    assert services.campaigns.get(cid).status == "submitted"
    text = await (await client.get(f"/outages/{soon_id}")).text()
    assert f'href="/dispatcher/campaigns/{cid}"' in text


async def test_an_emergency_outage_proposes_no_campaign(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    _residents(db)
    csrf = await log_in(client, "sidorova")
    saved = await client.post(
        "/outages/new",
        data={
            "csrf": csrf,
            "kind": "emergency",
            "starts_at": _typed(utcnow() - timedelta(hours=1)),
            "ends_at": _typed(utcnow() + timedelta(hours=4)),
            "addresses": "г. Демоград, ул. Ленина, д. 1-3",
            "action": "save",
        },
        allow_redirects=False,
    )
    assert saved.status == 303 and "saved" not in saved.headers["Location"]
    outage_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    text = await (await client.get(f"/outages/{outage_id}")).text()
    assert 'id="campaign-proposal"' not in text
    refused = await client.post(f"/outages/{outage_id}/campaign", data={"csrf": csrf})
    assert refused.status == 400
    assert "для планового отключения" in await refused.text()


async def test_outage_dates_typed_in_russian_in_the_campaign_form_reach_the_message(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    _residents(db)
    csrf = await log_in(client, "sidorova")
    start, end = _day(12, 9), _day(12, 18)
    form = {
        "csrf": csrf,
        "name": "Отключение на Садовой",
        "kind": "planned_outage",
        "max_attempts": "2",
        "amd": "off",
        "outage_start": _typed(start),
        "outage_end": _typed(end),
    }
    made = await client.post("/dispatcher/campaigns", data=form, allow_redirects=False)
    assert made.status == 302, await made.text()
    location = made.headers["Location"]
    cid = int(location.rsplit("/", 1)[1])
    campaign = CampaignService(db).get(cid)
    assert campaign.outage_start == start and campaign.outage_end == end
    assert campaign.outage_decided_at is not None
    # residents added by address carry the typed period
    result = ContactListService(db).from_addresses(cid, ["г. Демоград, ул. Садовая, д. 1"])
    assert result.accepted == 1 and not result.rejected
    page = await (await client.get(location)).text()
    spoken = _spoken_period(start, end)
    assert spoken in page, spoken
    # a date only (midnight) and the browser's ISO are taken too; nonsense is a Russian 400
    iso = {**form, "outage_start": start.strftime("%Y-%m-%dT%H:%M"), "outage_end": "31.12.2099"}
    assert (
        await client.post("/dispatcher/campaigns", data=iso, allow_redirects=False)
    ).status == 302
    for bad, said in (
        ({"outage_start": "31.02.2030 08:00"}, "несуществующая дата «31.02.2030 08:00»"),
        (
            {"outage_start": "завтра утром"},
            "Начало отключения: дата «завтра утром» не в виде ДД.ММ.ГГГГ",
        ),
        (
            {"outage_end": _typed(start - timedelta(hours=1))},
            "Окончание отключения должно быть позже его начала",
        ),
        ({"outage_end": ""}, "Укажите и начало, и окончание"),
    ):
        refused = await client.post("/dispatcher/campaigns", data={**form, **bad})
        body = await refused.text()
        assert refused.status == 400 and said in body, (bad, body[-600:])


async def test_the_campaign_follows_the_outage_until_its_calls_begin(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    services: FakeServices,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    _residents(db)
    csrf = await log_in(client, "sidorova")
    start, end = _day(6, 8), _day(6, 17)
    outage_id = await _save_planned(client, csrf, start, end)
    made = await client.post(
        f"/outages/{outage_id}/campaign", data={"csrf": csrf}, allow_redirects=False
    )
    location = made.headers["Location"]
    cid = int(location.rsplit("/", 1)[1])
    await client.post(f"{location}/submit", data={"csrf": csrf})
    assert services.campaigns.get(cid).status == "submitted"

    # moved before it was approved: the message says the new end, approved anew
    later = _day(6, 19)
    moved = await client.post(
        f"/outages/{outage_id}/eta",
        data={"csrf": csrf, "ends_at": _typed(later)},
        allow_redirects=False,
    )
    assert moved.status == 303
    campaign = services.campaigns.get(cid)
    assert campaign.outage_end == later and campaign.status == "draft"
    assert _spoken_period(start, later) in await (await client.get(location)).text()
    assert 'id="campaign-stale"' not in await (await client.get(f"/outages/{outage_id}")).text()

    # launched, then moved: the campaign keeps what it says; the page says so
    await client.post(f"{location}/submit", data={"csrf": csrf})
    client.session.cookie_jar.clear()
    csrf_boss = await log_in(client, "boss")
    await client.post(f"{location}/approve", data={"csrf": csrf_boss})
    await client.post(f"{location}/launch", data={"csrf": csrf_boss})
    assert services.campaigns.get(cid).status == "running"
    client.session.cookie_jar.clear()
    csrf = await log_in(client, "sidorova")
    await client.post(f"/outages/{outage_id}/eta", data={"csrf": csrf, "ends_at": _typed(end)})
    assert services.campaigns.get(cid).outage_end == later
    page = await (await client.get(f"/outages/{outage_id}")).text()
    assert 'id="campaign-stale"' in page and "прежний период" in page
    await client.post(f"/outages/{outage_id}/status", data={"csrf": csrf, "status": "cancelled"})
    page = await (await client.get(f"/outages/{outage_id}")).text()
    assert "Отключение отменено, а кампания не остановлена" in page


async def test_a_planned_outage_put_through_the_api_proposes_and_its_move_is_followed(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    services: FakeServices,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    from outages.register import OutageRegister

    _residents(db)
    _, token = OutageRegister(db).add_client("grid-dispatch")
    auth = {"Authorization": f"Bearer {token}"}
    start, end = _day(7, 9), _day(7, 15)
    body = {
        "kind": "planned",
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "addresses": ["г. Демоград, ул. Ленина, д. 1-3"],
    }
    put = await client.put("/outages/api/v1/outages/PL-7", json=body, headers=auth)
    assert put.status == 201, await put.text()
    outage_id = (await put.json())["id"]
    csrf = await log_in(client, "sidorova")
    assert 'id="make-campaign"' in await (await client.get(f"/outages/{outage_id}")).text()
    made = await client.post(
        f"/outages/{outage_id}/campaign", data={"csrf": csrf}, allow_redirects=False
    )
    cid = int(made.headers["Location"].rsplit("/", 1)[1])
    later = _day(7, 18)
    put = await client.put(
        "/outages/api/v1/outages/PL-7", json={**body, "ends_at": later.isoformat()}, headers=auth
    )
    assert put.status == 200
    assert services.campaigns.get(cid).outage_end == later
    assert "api:grid-dispatch" in services.campaigns.editors(cid)


async def test_with_an_sms_gateway_the_notice_goes_by_each_customers_chosen_form_first(
    db: Database,  # noqa: F811
    services: FakeServices,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    """REQ-O12 in the register's campaign: with the SMS gateway configured
    its channels are call → SMS → e-mail; the flat that chose SMS is told by
    SMS first, the one that chose e-mail by e-mail, the others are called."""
    accounts = _residents(db)
    with db.session(write=True) as s:
        s.get(Account, accounts["7700000003"]).notify_by = "email"
        s.get(Account, accounts["7700000001"]).notify_by = "email"  # the ООО's contract
        town = s.scalars(
            select(Account).where(Account.street == "Ленина", Account.category != "ЮЛ")
        ).all()
        chooser = next(a for a in town if a.number != "7700000003" and a.phones)
        chooser.notify_by = "sms"
        chooser_number = chooser.number
    services.settings.sms_kannel_url = "http://127.0.0.1:9/cgi-bin/sendsms"
    async with TestClient(TestServer(root_app(services))) as client:
        csrf = await log_in(client, "sidorova")
        outage_id = await _save_planned(client, csrf, _day(5, 8), _day(5, 17))
        text = await (await client.get(f"/outages/{outage_id}")).text()
        assert "звонок → СМС → e-mail" in text
        assert 'id="chose-sms">1<' in text and 'id="chose-email">1<' in text
        # the legal entities with the form their contract names, as on file
        assert re.search(r"ООО «Ромашка».*?<td class=\"form\">e-mail</td>", text)
        assert re.search(r"МБОУ СОШ № 3.*?<td class=\"form\">не указан — проверьте", text)
        made = await client.post(
            f"/outages/{outage_id}/campaign", data={"csrf": csrf}, allow_redirects=False
        )
        cid = int(made.headers["Location"].rsplit("/", 1)[1])
    with db.session() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None and campaign.channels == "phone,sms,email"
        chosen = {
            a.number: a.notify_by
            for a in s.scalars(select(Account).where(Account.notify_by.is_not(None)))
        }
        contacts = {
            c.variables["account"]: c
            for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))
        }
    order = parse_channels(campaign.channels)
    first = {
        number: contact_order(order, chosen.get(number), phone_on_file=True, email=bool(c.email))[0]
        for number, c in contacts.items()
    }
    assert first[chooser_number] == "sms" and first["7700000003"] == "email"
    assert first["7700000001"] == "email"  # the ООО, as its contract says
    chose = (chooser_number, "7700000003", "7700000001")
    assert {v for k, v in first.items() if k not in chose} == {"phone"}
