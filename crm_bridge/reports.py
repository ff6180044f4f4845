"""Contact-centre reports computed from the call records (REQ-A10, REQ-T7).

:func:`wait_and_handling` gives the table of seed 004 («Среднее время
обслуживания и ожидания»): one row per month, the average time a caller
waited for an operator to answer and the average handling time, as ``m:ss``.

Definitions (from the ``calls`` rows the AMI listener completes):

* a call counts when an operator was connected to it (``operator_id`` set);
* waiting time = ``queue_left_at − queue_entered_at`` (``wait_seconds``:
  from joining the operator queue to the operator's answer);
* handling time = ``ended_at − queue_left_at`` (operator's answer → hangup);
* the month is the month of ``queue_entered_at`` (else ``started_at``) in the
  company's time zone.

Months without calls are shown with a dash; averages are rounded to whole
seconds.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.export import safe_append, safe_writer
from crm_bridge.db import Database
from crm_bridge.models import Call

__all__ = [
    "MONTHS_RU",
    "REPORT_HEADERS",
    "MonthFigures",
    "format_mss",
    "report_csv",
    "report_xlsx",
    "wait_and_handling",
]

MONTHS_RU: Final = (
    "Январь",
    "Февраль",
    "Март",
    "Апрель",
    "Май",
    "Июнь",
    "Июль",
    "Август",
    "Сентябрь",
    "Октябрь",
    "Ноябрь",
    "Декабрь",
)
REPORT_HEADERS: Final = (
    "Период",
    "Среднее время ожидания ответа оператора",
    "Среднее время обслуживания",
)
REPORT_TITLE: Final = "Среднее время обслуживания и ожидания"
_DASH: Final = "—"


@dataclass(frozen=True, slots=True)
class MonthFigures:
    month: int
    calls: int
    avg_wait: float | None
    """Seconds; None without calls."""
    avg_handling: float | None

    @property
    def name(self) -> str:
        return MONTHS_RU[self.month - 1]

    def cells(self) -> tuple[str, str, str]:
        return (self.name, format_mss(self.avg_wait), format_mss(self.avg_handling))


def format_mss(seconds: float | None) -> str:
    """``m:ss`` (``1:05``; ``62:00`` past an hour); a dash for None."""
    if seconds is None:
        return _DASH
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def wait_and_handling(db: Database, year: int, *, tz: str | ZoneInfo) -> list[MonthFigures]:
    """The twelve months of ``year`` (see the module docstring)."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    start = datetime(year, 1, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone)
    when = Call.queue_entered_at
    stmt = (
        select(Call.queue_entered_at, Call.started_at, Call.queue_left_at, Call.ended_at)
        .where(
            Call.operator_id.is_not(None),
            Call.queue_entered_at.is_not(None),
            when >= start,
            when < end,
        )
        .execution_options(yield_per=5000)
    )
    waits: list[list[float]] = [[] for _ in range(12)]
    handles: list[list[float]] = [[] for _ in range(12)]
    with db.session() as session:
        for entered, started, left, ended in session.execute(stmt):
            moment = entered or started
            if moment is None:
                continue
            index = moment.astimezone(zone).month - 1
            if entered and left:
                waits[index].append(max(0.0, (left - entered).total_seconds()))
            if left and ended:
                handles[index].append(max(0.0, (ended - left).total_seconds()))
    return [
        MonthFigures(
            month=i + 1,
            calls=max(len(waits[i]), len(handles[i])),
            avg_wait=_mean(waits[i]),
            avg_handling=_mean(handles[i]),
        )
        for i in range(12)
    ]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def report_csv(rows: Iterable[MonthFigures], *, delimiter: str = ";") -> bytes:
    """The table as CSV (UTF-8 with BOM, ``;``: opens in Excel)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = safe_writer(out, delimiter=delimiter)
    writer.writerow(REPORT_HEADERS)
    for row in rows:
        writer.writerow(row.cells())
    return out.getvalue().encode("utf-8")


def report_xlsx(rows: Iterable[MonthFigures], *, year: int) -> bytes:
    """The table as an XLSX workbook (times as text ``m:ss``, as in the form)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"Ожидание и обслуживание {year}"
    safe_append(ws, [f"{REPORT_TITLE} за {year} год"])
    ws["A1"].font = Font(bold=True)
    safe_append(ws, ["Контакт-центр"])
    safe_append(ws, list(REPORT_HEADERS))
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for row in rows:
        safe_append(ws, list(row.cells()))
    for letter, width in (("A", 14), ("B", 42), ("C", 30)):
        ws.column_dimensions[letter].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
