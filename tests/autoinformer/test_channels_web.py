"""The console's form of a campaign over several channels (REQ-O12): the
channels chosen in the form are kept in their order, and the campaign's page
shows them with the SMS text the first contact would get."""

from __future__ import annotations

from typing import Any

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from crm_bridge.db import Database
from tests.autoinformer.helpers import make_accounts
from tests.autoinformer.test_web import _as, client

__all__ = ["client"]  # the fixture, shared


async def test_a_campaign_by_sms_then_phone_from_the_form(client: Any, db: Database) -> None:
    c, _ = client
    csrf = await _as(c, "disp")
    r = await c.post(
        "/dispatcher/campaigns",
        data=[
            ("name", "Долги, СМС"),
            ("kind", "debt"),
            ("max_attempts", "1"),
            ("channels", "sms"),
            ("channels", "phone"),
            ("csrf", csrf),
        ],
        allow_redirects=False,
    )
    assert r.status == 302, await r.text()
    cid = int(str(r.headers["Location"]).rstrip("/").rsplit("/", 1)[1])
    campaign = CampaignService(db).get(cid)
    assert campaign.channels == "sms,phone" and not campaign.email_enabled
    accounts = make_accounts(db, ["+79001114401"])
    ContactListService(db).import_rows(cid, [{"phone": "+79001114401", "debt": "2750.40"}])
    page = await (await c.get(f"/dispatcher/campaigns/{cid}")).text()
    assert "Каналы по очереди: СМС → звонок" in page
    number = accounts["+79001114401"]
    assert (
        f"Текст СМС: «По лицевому счёту {number} задолженность 2 750,40 руб. Просим оплатить.»"
    ) in page
    bad = await c.post(
        "/dispatcher/campaigns",
        data=[("name", "x"), ("kind", "debt"), ("channels", "fax"), ("csrf", csrf)],
        allow_redirects=False,
    )
    body = await bad.text()
    assert bad.status == 400 and "Неизвестный канал «fax»" in body
