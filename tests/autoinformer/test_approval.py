"""Approval as a workflow (REQ-O10): draft → на утверждении → утверждена →
идёт ⇄ приостановлена → остановлена, a submission returned to draft with a
reason; the buttons each role may press in each state; the confirmation
before a stop; the supervisors' queue with the contacts being approved.
The service on SQLite and PostgreSQL, the console over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from autoinformer.campaigns import (
    CampaignError,
    CampaignService,
    NotAllowed,
    allowed_actions,
)
from autoinformer.contacts import ContactListService
from crm_bridge.db import Database
from tests.autoinformer.helpers import make_accounts
from tests.autoinformer.test_web import _as, _create, _upload, _xlsx, client
from webedge.models import AuditEvent

__all__ = ["client"]


def test_the_workflow_in_the_service(any_db: Database) -> None:
    phones = ["+79004440001", "+79004440002"]
    make_accounts(any_db, phones, prefix="91")
    cs = CampaignService(any_db)
    cid = cs.create("Долги, согласование", "debt", created_by="disp")
    # Nothing to approve yet: an empty list is not sent.
    with pytest.raises(CampaignError, match="нет ни одного контакта"):
        cs.submit(cid, "disp")
    ContactListService(any_db).import_rows(cid, [{"phone": p} for p in phones], by="disp")
    # Neither approved nor launched nor stopped straight from draft.
    with pytest.raises(CampaignError, match="отправленную на утверждение"):
        cs.approve(cid, "boss", "supervisor")
    with pytest.raises(CampaignError, match="утверждённую"):
        cs.launch(cid)
    with pytest.raises(CampaignError, match="Черновик"):
        cs.stop(cid)
    cs.submit(cid, "disp")
    c = cs.get(cid)
    assert (c.status, c.submitted_by) == ("submitted", "disp") and c.submitted_at is not None
    queue = cs.awaiting_approval()
    assert [(x["campaign"].id, x["contacts"]) for x in queue] == [(cid, 2)]
    with pytest.raises(CampaignError, match="только черновик"):
        cs.submit(cid, "disp")

    # Returned with a reason: a supervisor only, a reason required.
    with pytest.raises(NotAllowed, match="руководитель"):
        cs.refuse(cid, "disp", "dispatcher", "сам себе")
    with pytest.raises(CampaignError, match="причина"):
        cs.refuse(cid, "boss", "supervisor", "   ")
    cs.refuse(cid, "boss", "supervisor", "Уточните сумму долга")
    c = cs.get(cid)
    assert c.status == "draft" and c.submitted_by is None
    assert (c.refused_by, c.refusal_reason) == ("boss", "Уточните сумму долга")
    assert cs.awaiting_approval() == []
    with pytest.raises(CampaignError, match="на утверждении"):
        cs.refuse(cid, "boss", "supervisor", "ещё раз")

    # Changed while on approval: back to draft, to be sent again.
    cs.submit(cid, "disp")
    cs.update_scenario(cid, [{"prompt": "outbound/greeting"}], by="disp")
    assert cs.get(cid).status == "draft"
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    c = cs.get(cid)
    assert (c.status, c.approved_by) == ("approved", "boss")
    assert cs.stop_counts(cid) == (2, 0)
    cs.launch(cid)
    cs.pause(cid)
    with pytest.raises(CampaignError, match="«Приостановлена» в «Приостановлена»"):
        cs.pause(cid)
    cs.resume(cid)
    cs.stop(cid)
    assert cs.get(cid).status == "stopped" and cs.stats(cid).by_status == {"cancelled": 2}
    with pytest.raises(CampaignError, match="уже завершена"):
        cs.stop(cid)


def test_buttons_by_state_and_role() -> None:
    """REQ-O10: no «Утвердить» for a dispatcher, no «Остановить» on a draft,
    no approving what one changed (four eyes)."""
    disp, boss = "dispatcher", "supervisor"
    assert allowed_actions("draft", disp) == ["submit"]
    assert allowed_actions("draft", boss) == ["submit"]
    assert allowed_actions("submitted", disp) == []
    assert allowed_actions("submitted", boss) == ["approve", "refuse"]
    assert allowed_actions("submitted", boss, edited=True) == ["refuse"]
    assert allowed_actions("approved", disp) == ["launch", "stop"]
    assert allowed_actions("running", disp) == ["pause", "stop"]
    assert allowed_actions("paused", disp) == ["resume", "stop"]
    assert allowed_actions("stopped", boss) == allowed_actions("completed", boss) == []


async def test_queue_review_refuse_approve_and_stop_in_the_console(
    client: Any, db: Database
) -> None:
    c, _ = client
    phones = ["+79004440101", "+79004440102", "+79004440103"]
    make_accounts(db, phones, prefix="92")
    disp = await _as(c, "disp")
    url = await _create(c, disp, "Долги, очередь")
    cid = int(url.rsplit("/", 1)[1])
    page = await (await c.get(url)).text()
    assert 'id="submit"' in page and 'id="approve"' not in page and 'id="stop"' not in page
    r = await _upload(c, url, disp, _xlsx([[p, 1500] for p in phones]))
    assert r.status == 302
    r = await c.post(f"{url}/submit", data={"csrf": disp}, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == url
    page = await (await c.get(url)).text()
    assert "На утверждении" in page and "На утверждение отправил: disp" in page
    for button in ("submit", "approve", "refuse", "launch", "stop"):
        assert f'id="{button}"' not in page, button
    # The dispatcher sees the queue, without the supervisor's buttons.
    page = await (await c.get("/dispatcher/approvals")).text()
    assert "Долги, очередь" in page and 'class="approve"' not in page

    boss = await _as(c, "boss")
    index = await (await c.get("/dispatcher/")).text()
    assert "На утверждении: 1" in index
    page = await (await c.get("/dispatcher/approvals")).text()
    assert f'data-campaign="{cid}"' in page
    assert f'href="/dispatcher/campaigns/{cid}/review">3</a>' in page
    assert "одна тысяча пятьсот рублей" in page  # the message as the first contact hears it
    assert 'class="approve"' in page and 'class="refuse"' in page
    review = await (await c.get(f"{url}/review")).text()
    assert all(p in review for p in phones) and "Абонент 0" in review
    assert 'id="review-total">3<' in review
    with db.session() as s:
        seen = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.review")))
    assert {(a.login, a.subject) for a in seen} == {
        ("disp", f"campaign:{cid}"),
        ("boss", f"campaign:{cid}"),
    }

    # Returned from the queue with a reason: the dispatcher sees why.
    r = await c.post(
        f"{url}/refuse",
        data={"csrf": boss, "reason": "", "from": "queue"},
        allow_redirects=False,
    )
    assert r.status == 400 and "причина возврата обязательна" in await r.text()
    r = await c.post(
        f"{url}/refuse",
        data={"csrf": boss, "reason": "Проверьте суммы", "from": "queue"},
        allow_redirects=False,
    )
    assert r.status == 302 and r.headers["Location"] == "/dispatcher/approvals"
    assert "Кампаний на утверждении нет" in await (await c.get("/dispatcher/approvals")).text()
    disp = await _as(c, "disp")
    page = await (await c.get(url)).text()
    assert "Возвращена на доработку: boss" in page and "Проверьте суммы" in page
    r = await c.post(f"{url}/submit", data={"csrf": disp}, allow_redirects=False)
    assert r.status == 302

    boss = await _as(c, "boss")
    r = await c.post(f"{url}/approve", data={"csrf": boss}, allow_redirects=False)
    assert r.status == 302
    page = await (await c.get(url)).text()
    assert 'id="launch"' in page and 'id="stop"' in page
    # Stop: the button is a link to a confirmation page; only its form stops.
    assert f'href="{url}/stop"' in page
    confirm = await (await c.get(f"{url}/stop")).text()
    assert "3 контакт" in confirm and 'name="confirm" value="yes"' in confirm
    r = await c.post(f"{url}/stop", data={"csrf": boss}, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == f"{url}/stop"
    assert CampaignService(db).get(cid).status == "approved"
    r = await c.post(f"{url}/stop", data={"csrf": boss, "confirm": "yes"}, allow_redirects=False)
    assert r.status == 302 and CampaignService(db).get(cid).status == "stopped"
    # A stopped campaign has nothing to confirm.
    r = await c.get(f"{url}/stop")
    assert r.status == 400 and "остановить нельзя" in await r.text()
