"""The customer's form of notification on the operator's card (REQ-O12):
shown with the account, saved by the operator of the call for the account
the card shows only, audited; bad input gets a Russian error and changes
nothing."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_bridge.accounts import AccountData, upsert_accounts
from crm_bridge.calls import CallService
from crm_bridge.models import Account
from tests.crm_web.conftest import log_in
from webedge.models import AuditEvent

PHONE = "+79001114455"


async def test_the_operator_saves_the_chosen_form(
    client: TestClient, operators: Any, db: Any
) -> None:
    with db.session(write=True) as s:
        ids = upsert_accounts(s, [AccountData("7700001234", "Смирнова А. А.", phones=(PHONE,))]).ids
    account_id = ids["7700001234"]
    calls = CallService(db)
    calls.upsert("1700000000.41", operator_id=operators["ivanova"], caller_number=PHONE)
    calls.upsert("1700000000.42", operator_id=operators["petrov"], caller_number=PHONE)
    token = await log_in(client, "ivanova")
    h = {"X-CSRF-Token": token}
    card = await (await client.get("/operator/api/calls/1700000000.41/card")).json()
    assert card["account"]["id"] == account_id and card["account"]["notify_by"] is None
    url = "/operator/api/calls/1700000000.41/notify-by"
    bad = await client.post(url, json={"account": account_id, "notify_by": "fax"}, headers=h)
    assert bad.status == 400 and "способ уведомления" in (await bad.json())["error"]
    wrong = await client.post(url, json={"account": account_id + 1, "notify_by": "sms"}, headers=h)
    assert wrong.status == 400
    other = "/operator/api/calls/1700000000.42/notify-by"
    assert (
        await client.post(other, json={"account": account_id, "notify_by": "sms"}, headers=h)
    ).status == 403
    with db.session() as s:
        assert s.get(Account, account_id).notify_by is None
    ok = await client.post(url, json={"account": account_id, "notify_by": "sms"}, headers=h)
    assert ok.status == 200 and (await ok.json())["title"] == "СМС"
    card = await (await client.get("/operator/api/calls/1700000000.41/card")).json()
    assert card["account"]["notify_by"] == "sms"
    with db.session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "account.notify_by")))
    assert [e.subject for e in events] == [f"account:{account_id}"]
