"""An outbound survey campaign by voice (issue 18 item 4, REQ-A13) against
the real Asterisk 22: the dialer calls a simulated callee of the test
network (``dialplans/test-network.conf``, code 02: answers and listens), the
message asks the survey's questions (the builder's question steps of the
kind «опрос»), the callee presses keys once each question's prompt has
started — 4 for the CSI mark, 1 then 0 for an NPS score of ten — and the
answers are stored in the surveys (``survey_responses``: source
``campaign``, channel ``voice``) and on the attempt, and the monthly report
counts the survey as answered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from surveys.models import SurveyResponse
from surveys.service import SurveyService
from tests.e2e import test_autoinformer as base
from tests.e2e.test_autoinformer import phone, run_campaign
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]

dialer = base.dialer
observer = base.observer


def _started(observer: Any, uid: str, prompt: str) -> bool:
    """The prompt began (STREAM FILE, or the Read() that collects two keys)."""
    said = re.compile(rf"/{re.escape(prompt)}(?![\w/])")
    return any(
        said.search(e.get("Command", ""))
        for e in observer.events.get(uid, [])
        if e.get("Event") == "AGIExecStart"
    )


async def test_a_voice_survey_campaign_stores_the_answers(
    runtime: Any, dialer: Any, observer: Any
) -> None:
    services = runtime.services
    before = observer.channels()
    cid = await run_campaign(runtime, [phone("02")], kind="survey", max_attempts=1)

    def asking(prompt: str) -> Any:
        def check() -> str | None:
            for uid in observer.channels() - before:
                if _started(observer, uid, prompt):
                    return uid
            return None

        return check

    uid = await until(asking("survey/csi"), 60, "the CSI question to be asked")
    callee = observer.name(f"{uid}-b")
    assert callee

    async def press(digit: str) -> None:
        await runtime.ami.action(
            {"Action": "PlayDTMF", "Channel": callee, "Digit": digit, "Duration": "200"}
        )

    await press("4")
    await until(asking("survey/nps"), 30, "the NPS question to be asked")
    await press("1")
    await press("0")

    def stored() -> SurveyResponse | None:
        with services.db.session() as s:
            row = s.scalars(
                select(SurveyResponse).where(SurveyResponse.call_uniqueid == uid)
            ).first()
            return row if row is not None and row.nps is not None else None

    row = await until(stored, 30, "the survey's answers")
    assert (row.source, row.channel, row.csi, row.nps) == ("campaign", "voice", 4, 10)
    await runtime.ami.action({"Action": "Hangup", "Channel": observer.name(uid) or ""})
    await base.finished(runtime, cid)
    attempts = await services.run_db(services.campaigns.attempts, cid)
    assert [a.answers for a in attempts] == [{"csi": "4", "nps": "10"}]
    today = datetime.now(UTC).date()
    report = await services.run_db(
        lambda: SurveyService(services.db).report(today.replace(day=1), today + timedelta(days=1))
    )
    assert report.total.answered >= 1 and report.total.csi_count >= 1
