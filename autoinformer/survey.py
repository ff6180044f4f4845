"""Outbound survey campaigns (kind ``survey``, REQ-A13): what the callee or
the SMS recipient answers is stored in the surveys (``survey_responses``)
like a post-call survey — source ``campaign``, channel ``voice`` or ``sms``,
one row per attempt (its ``channel_id`` is the row's key), written when the
survey reaches the customer (the call answered, the SMS delivered), so that
the response rate counts those who did not answer.

The questions are the scenario's question steps named ``csi`` (1–5) and
``nps`` (0–10; by voice ten is keyed 1 then 0, by SMS the reply «10»).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from autoinformer.models import Attempt, Campaign
from surveys.models import SurveyChannel, SurveyResponse, SurveySource
from surveys.service import CSI_SCALE, NPS_SCALE

__all__ = [
    "QUESTIONS",
    "SMS_QUESTIONS",
    "is_survey",
    "offer",
    "parse_mark",
    "questions",
    "store_answer",
]

QUESTIONS: Final = {"csi": CSI_SCALE, "nps": NPS_SCALE}
SMS_QUESTIONS: Final = {
    "csi": "Оцените наше обслуживание от 1 до 5 (5 — отлично). Ответьте цифрой.",
    "nps": "Порекомендуете ли нас знакомым? Ответьте числом от 0 до 10.",
}
"""The questions by SMS: one UCS-2 segment each (≤ 70 characters)."""
SMS_HELP: Final = {
    "csi": "Ответьте одной цифрой от 1 до 5, где 5 — отлично.",
    "nps": "Ответьте числом от 0 до 10, где 10 — обязательно порекомендую.",
}
SMS_THANKS: Final = "Спасибо за вашу оценку!"
_NUMBER: Final = re.compile(r"^\s*(\d{1,2})\s*[.!]?\s*$")


def is_survey(campaign: Campaign) -> bool:
    return campaign.kind == "survey"


def questions(campaign: Campaign) -> list[str]:
    """The survey's questions in the scenario's order (``csi``, ``nps``)."""
    out = [
        str(step["name"])
        for step in campaign.scenario or []
        if "question" in step and step.get("name") in QUESTIONS
    ]
    return list(dict.fromkeys(out)) or ["csi"]


def parse_mark(question: str, text: str) -> int | None:
    """The mark a reply gives to ``question`` (None: not a mark on its scale)."""
    m = _NUMBER.match(text or "")
    if m is None:
        return None
    value = int(m.group(1))
    return value if value in QUESTIONS[question] else None


def _row(s: Session, attempt: Attempt) -> SurveyResponse | None:
    return s.scalars(
        select(SurveyResponse).where(
            SurveyResponse.call_uniqueid == (attempt.channel_id or f"ai-{attempt.id}"),
            SurveyResponse.source == SurveySource.CAMPAIGN.value,
        )
    ).first()


def offer(s: Session, attempt: Attempt, channel: SurveyChannel, now: datetime) -> SurveyResponse:
    """The survey reached the customer: its row (idempotent per attempt)."""
    row = _row(s, attempt)
    if row is None:
        row = SurveyResponse(
            source=SurveySource.CAMPAIGN.value,
            channel=channel.value,
            call_uniqueid=attempt.channel_id or f"ai-{attempt.id}",
            offered_at=now,
        )
        s.add(row)
        s.flush()
    return row


def store_answer(
    s: Session, attempt: Attempt, question: str, value: int, channel: SurveyChannel, now: datetime
) -> bool:
    """Store one mark (False: not a survey question or off its scale)."""
    if question not in QUESTIONS or value not in QUESTIONS[question]:
        return False
    row = offer(s, attempt, channel, now)
    setattr(row, question, value)
    row.answered_at = now
    return True
