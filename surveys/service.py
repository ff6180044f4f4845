"""Surveys (REQ-A13): recording what the customer said, and the figures the
standards publish — CSI (the mean 1–5 mark and the share of 4–5) and NPS
(promoters 9–10 minus detractors 0–6, in per cent) — per month and per
operator, with the response rate (surveys answered ÷ surveys offered)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_bridge.db import Database, utcnow
from crm_bridge.models import Call, Operator
from surveys.models import SurveyChannel, SurveyResponse, SurveySource

__all__ = [
    "CSI_SCALE",
    "NPS_SCALE",
    "Figures",
    "SurveyService",
    "csi",
    "nps",
    "satisfied_share",
]

CSI_SCALE: Final = range(1, 6)
NPS_SCALE: Final = range(0, 11)


def csi(marks: Iterable[int]) -> float | None:
    """The mean 1–5 mark, to two decimals; None without marks."""
    values = [m for m in marks if m in CSI_SCALE]
    return round(sum(values) / len(values), 2) if values else None


def satisfied_share(marks: Iterable[int]) -> float | None:
    """The share of 4 and 5 among the 1–5 marks, per cent (one decimal)."""
    values = [m for m in marks if m in CSI_SCALE]
    if not values:
        return None
    return round(100.0 * sum(1 for m in values if m >= 4) / len(values), 1)


def nps(scores: Iterable[int]) -> float | None:
    """Net Promoter Score: per cent of 9–10 minus per cent of 0–6 (one
    decimal, −100…100); None without scores."""
    values = [s for s in scores if s in NPS_SCALE]
    if not values:
        return None
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return round(100.0 * (promoters - detractors) / len(values), 1)


@dataclass(frozen=True)
class Figures:
    """One line of the report: a month, an operator, or everything."""

    label: str
    offered: int
    answered: int
    csi: float | None
    satisfied: float | None
    csi_count: int
    nps: float | None
    nps_count: int

    @property
    def response_rate(self) -> float | None:
        """Per cent of the surveys offered that got at least one answer."""
        return round(100.0 * self.answered / self.offered, 1) if self.offered else None


def figures(label: str, rows: Sequence[SurveyResponse]) -> Figures:
    marks = [r.csi for r in rows if r.csi is not None]
    scores = [r.nps for r in rows if r.nps is not None]
    return Figures(
        label=label,
        offered=len(rows),
        answered=sum(1 for r in rows if r.csi is not None or r.nps is not None),
        csi=csi(marks),
        satisfied=satisfied_share(marks),
        csi_count=len(marks),
        nps=nps(scores),
        nps_count=len(scores),
    )


MONTHS_RU: Final = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    """Inclusive local dates."""
    total: Figures
    months: list[Figures]
    operators: list[Figures]
    sources: list[Figures] = field(default_factory=list)
    """By how the survey was made: after a call, an outbound campaign by
    voice, by SMS (each with its response rate)."""


SOURCE_TITLES: Final = {
    (SurveySource.AFTER_CALL.value, SurveyChannel.VOICE.value): "после разговора с оператором",
    (SurveySource.TRANSFER.value, SurveyChannel.VOICE.value): "переведён оператором на опрос",
    (SurveySource.CAMPAIGN.value, SurveyChannel.VOICE.value): "опрос-обзвон (голосом)",
    (SurveySource.CAMPAIGN.value, SurveyChannel.SMS.value): "опрос по СМС",
}


class SurveyService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- recording ----------------------------------------------------------------

    def offer(
        self,
        call_uniqueid: str,
        *,
        source: SurveySource = SurveySource.AFTER_CALL,
        channel: SurveyChannel = SurveyChannel.VOICE,
        operator_id: int | None = None,
        topic: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """The survey starts: its row (the call's operator and topic taken
        from the call row when not given). Idempotent per call and source."""
        with self.db.session(write=True) as s:
            existing = s.scalars(
                select(SurveyResponse).where(
                    SurveyResponse.call_uniqueid == call_uniqueid,
                    SurveyResponse.source == source.value,
                )
            ).first()
            if existing is not None:
                return existing.id
            call = s.scalars(select(Call).where(Call.uniqueid == call_uniqueid)).first()
            row = SurveyResponse(
                source=source.value,
                channel=channel.value,
                call_uniqueid=call_uniqueid,
                call_id=call.id if call is not None else None,
                operator_id=operator_id
                if operator_id is not None
                else (call.operator_id if call is not None else None),
                topic=topic,
                offered_at=now or utcnow(),
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:  # another node offered it at the same moment
                s.rollback()
                return self.offer(call_uniqueid, source=source, channel=channel)
            return row.id

    def answer(
        self,
        survey_id: int,
        *,
        csi: int | None = None,
        nps: int | None = None,
        now: datetime | None = None,
    ) -> None:
        """Store a mark (the other stays as it was); values off the scale are refused."""
        if csi is not None and csi not in CSI_SCALE:
            raise ValueError(f"CSI mark {csi} is not 1–5")
        if nps is not None and nps not in NPS_SCALE:
            raise ValueError(f"NPS score {nps} is not 0–10")
        with self.db.session(write=True) as s:
            row = s.get(SurveyResponse, survey_id, with_for_update=True)
            if row is None:
                raise LookupError(f"no survey {survey_id}")
            if csi is not None:
                row.csi = csi
            if nps is not None:
                row.nps = nps
            row.answered_at = now or utcnow()

    # -- the report ------------------------------------------------------------------

    def report(self, start: date, end: date, tz: str = "Europe/Moscow") -> Report:
        """Figures for the local dates ``start``…``end`` (inclusive): in
        all, per month and per operator (by name, most surveys first)."""
        zone = ZoneInfo(tz)
        lo = datetime.combine(start, time.min, zone).astimezone(UTC)
        hi = datetime.combine(date.fromordinal(end.toordinal() + 1), time.min, zone).astimezone(UTC)
        with self.db.session(readonly=True) as s:
            rows = list(
                s.scalars(
                    select(SurveyResponse).where(
                        SurveyResponse.offered_at >= lo, SurveyResponse.offered_at < hi
                    )
                )
            )
            names = {op_id: name for op_id, name in s.execute(select(Operator.id, Operator.name))}
        by_month: dict[tuple[int, int], list[SurveyResponse]] = defaultdict(list)
        by_operator: dict[int | None, list[SurveyResponse]] = defaultdict(list)
        by_source: dict[tuple[str, str], list[SurveyResponse]] = defaultdict(list)
        for r in rows:
            by_source[(r.source, r.channel)].append(r)
            local = r.offered_at.astimezone(zone)
            by_month[(local.year, local.month)].append(r)
            by_operator[r.operator_id].append(r)
        months = [
            figures(f"{MONTHS_RU[m - 1]} {y}", by_month[(y, m)]) for (y, m) in sorted(by_month)
        ]
        operators = sorted(
            (
                figures(names.get(op, "—") if op is not None else "оператор не известен", rs)
                for op, rs in by_operator.items()
            ),
            key=lambda f: (-f.offered, f.label),
        )
        sources = [
            figures(SOURCE_TITLES.get(key, f"{key[0]} ({key[1]})"), by_source[key])
            for key in sorted(by_source)
        ]
        return Report(start, end, figures("Всего", rows), months, operators, sources)
