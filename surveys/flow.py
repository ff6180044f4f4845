"""The survey after an operator's call (route ``survey``, REQ-A13).

The caller reaches it when the operator ends the conversation and the
caller is still on the line (``hotline-after-call``, rendered when
``survey_after_call`` is on), or when the operator transfers them to it
from the workplace (argument ``transfer``). It asks the CSI mark of the
operator's work, 1–5, and (``survey_nps``) the likelihood to recommend,
0–10 — keyed as one digit, or 1 then 0 for ten. Silence, a hang-up or a key
off the scale leaves that answer empty; the row was written when the survey
began, so the response rate counts those who did not answer. The marks are
stored with the call, its operator and its topic (the appeal's code).
"""

from __future__ import annotations

import logging

from surveys.deps import SurveyDeps
from surveys.models import SurveySource
from surveys.service import SurveyService
from telephony.channel import CallerHangup, Channel
from telephony.contract import Var

__all__ = ["flow"]

log = logging.getLogger(__name__)

P_INTRO = "survey/intro"
P_CSI = "survey/csi"
P_CSI_AGAIN = "survey/csi_again"
P_NPS = "survey/nps"
P_NPS_AGAIN = "survey/nps_again"
P_THANKS = "survey/thanks"


def _nps_valid(keys: str) -> bool:
    return keys.isdigit() and int(keys) <= 10


async def flow(ch: Channel, deps: SurveyDeps) -> None:
    service = SurveyService(deps.db)
    source = SurveySource.TRANSFER if "transfer" in ch.arguments else SurveySource.AFTER_CALL
    topic = (await ch.get_var(Var.CLASSIFICATION)) or None
    survey_id = await deps.run_db(lambda: service.offer(ch.call_id, source=source, topic=topic))
    ch.journal.add("step", name="survey", source=source.value)
    try:
        await ch.play(P_INTRO, escape="")  # short; the scale comes next
        mark = await ch.read_digits(
            P_CSI,
            max_digits=1,
            timeout=6.0,
            attempts=2,
            valid=lambda d: d in "12345",
            retry_prompt=P_CSI_AGAIN,
        )
        if mark.digits:
            await deps.run_db(lambda: service.answer(survey_id, csi=int(mark.digits or 0)))
        if deps.settings.survey_nps:
            score = await ch.read_digits(
                P_NPS,
                max_digits=2,
                timeout=4.0,
                attempts=2,
                valid=_nps_valid,
                retry_prompt=P_NPS_AGAIN,
            )
            if score.digits:
                await deps.run_db(lambda: service.answer(survey_id, nps=int(score.digits or 0)))
        await ch.play(P_THANKS, escape="")
    except CallerHangup:
        ch.journal.add("step", name="survey-abandoned")
        raise
    await ch.hangup()
