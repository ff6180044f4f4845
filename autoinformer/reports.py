"""Campaign reports (REQ-O3): CSV, XLSX with charts, and the data of the
console's SVG chart (drawn by a template)."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from autoinformer.campaigns import RESULT_TITLES, CampaignService, Kind
from autoinformer.causes import cause_title
from core.export import safe_append, safe_writer

__all__ = ["Bar", "Chart", "chart", "csv_report", "xlsx_report"]

CHART_RESULTS: Final = (
    "completed",
    "transferred",
    "hungup",
    "machine",
    "busy",
    "noanswer",
    "congestion",
    "failed",
    "lost",
)
COLOURS: Final = {
    "completed": "#2e7d32",
    "transferred": "#1565c0",
    "hungup": "#f9a825",
    "machine": "#6d4c41",
    "busy": "#c62828",
    "noanswer": "#9e9e9e",
    "congestion": "#ad1457",
    "failed": "#000000",
    "lost": "#ff7043",
}


def _rows(service: CampaignService, campaign_id: int, tz: str) -> list[list[object]]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    contacts = {c.id: c for c in service.contacts(campaign_id)}
    out: list[list[object]] = []
    for a in service.attempts(campaign_id):
        c = contacts.get(a.contact_id)
        out.append(
            [
                a.id,
                a.contact_id,
                a.phone or (c.email if c else ""),
                (c.variables.get("account", "") if c else ""),
                a.channel,
                a.attempt_no,
                a.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                a.answered_at.astimezone(zone).strftime("%H:%M:%S") if a.answered_at else "",
                a.ended_at.astimezone(zone).strftime("%H:%M:%S") if a.ended_at else "",
                RESULT_TITLES.get(a.result or "", a.result or "в процессе"),
                "да" if a.positive else "нет",
                a.hangup_second if a.hangup_second is not None else "",
                a.amd_status or "",
                cause_title(
                    a.originate_reason,
                    a.hangup_cause,
                    answered=a.answered_at is not None,
                ),
                a.note or "",
            ]
        )
    return out


HEADER: Final = [
    "Попытка",
    "Контакт",
    "Телефон / адрес",
    "Лицевой счёт",
    "Канал",
    "№ попытки",
    "Начало",
    "Ответ",
    "Окончание",
    "Результат",
    "Положительный",
    "Положил трубку на секунде",
    "AMD",
    "Причина",
    "Примечание",
]


def csv_report(service: CampaignService, campaign_id: int, tz: str = "Europe/Moscow") -> bytes:
    buf = io.StringIO()
    w = safe_writer(buf, delimiter=";")
    c = service.get(campaign_id)
    st = service.stats(campaign_id)
    w.writerow(["Кампания", c.name, Kind(c.kind).label])
    w.writerow(["Контактов", st.total, "Завершено", st.finished, "Положительных", st.positive])
    w.writerow([])
    w.writerow(HEADER)
    w.writerows(_rows(service, campaign_id, tz))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_report(service: CampaignService, campaign_id: int, tz: str = "Europe/Moscow") -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, PieChart, Reference

    c = service.get(campaign_id)
    st = service.stats(campaign_id)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Итоги"
    safe_append(ws, ["Кампания", c.name])
    safe_append(ws, ["Вид", Kind(c.kind).label])
    safe_append(ws, ["Утвердил", c.approved_by or "", str(c.approved_at or "")])
    safe_append(ws, ["Контактов", st.total])
    safe_append(ws, ["Завершено", st.finished])
    safe_append(ws, ["Положительных звонков", st.positive])
    safe_append(ws, ["Доля положительных", round(st.positive_rate, 4)])
    safe_append(ws, [])
    safe_append(ws, ["Результат", "Контактов"])
    first = ws.max_row + 1
    for result, n in sorted(st.final.items()):
        safe_append(ws, [RESULT_TITLES.get(result, result), n])
    last = ws.max_row
    if last >= first:
        pie = PieChart()
        pie.title = "Итоговые результаты"
        pie.add_data(
            Reference(ws, min_col=2, min_row=first - 1, max_row=last), titles_from_data=True
        )
        pie.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
        ws.add_chart(pie, "D2")

    hours = wb.create_sheet("По часам")
    hours.append(["Час", *[RESULT_TITLES[r] for r in CHART_RESULTS]])
    timeline = service.timeline(campaign_id, tz=tz)
    for start, counts in timeline:
        hours.append([start.strftime("%d.%m %H:00"), *[counts.get(r, 0) for r in CHART_RESULTS]])
    if timeline:
        bar = BarChart()
        bar.type = "col"
        bar.grouping = "stacked"
        bar.overlap = 100
        bar.title = "Результаты звонков по часам"
        bar.y_axis.title = "Звонков"
        data = Reference(
            hours, min_col=2, max_col=len(CHART_RESULTS) + 1, min_row=1, max_row=hours.max_row
        )
        bar.add_data(data, titles_from_data=True)
        bar.set_categories(Reference(hours, min_col=1, min_row=2, max_row=hours.max_row))
        hours.add_chart(bar, "L2")

    detail = wb.create_sheet("Попытки")
    detail.append(HEADER)
    for row in _rows(service, campaign_id, tz):
        detail.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class Bar:
    """One result's part of an hour's stacked bar."""

    x: int
    y: int
    width: int
    height: int
    colour: str
    title: str
    """e.g. ``Занято: 3`` (the bar's tooltip)."""


@dataclass(frozen=True, slots=True)
class Chart:
    """Stacked bars of results per hour; drawn as SVG by the template
    ``dispatcher/chart.html``."""

    width: int
    height: int
    """Of the plot; the picture is 40 px taller for the hour labels."""
    top: int
    """The tallest bar's number of attempts."""
    bars: list[Bar]
    hours: list[tuple[int, str]]
    """(x, ``чч:00``) under each bar."""


def chart(timeline: list[tuple[datetime, Counter[str]]], width: int = 640) -> Chart | None:
    """The chart of results per hour (None: no calls yet)."""
    height, pad = 220, 30
    if not timeline:
        return None
    top = max(sum(c.values()) for _, c in timeline) or 1
    bw = max(6, (width - 2 * pad) // len(timeline) - 4)
    bars: list[Bar] = []
    hours: list[tuple[int, str]] = []
    for i, (start, counts) in enumerate(timeline):
        x = pad + i * (bw + 4)
        y = height
        for r in CHART_RESULTS:
            n = counts.get(r, 0)
            if not n:
                continue
            h = max(1, int((height - pad) * n / top))
            y -= h
            bars.append(Bar(x, y, bw, h, COLOURS[r], f"{RESULT_TITLES[r]}: {n}"))
        hours.append((x, start.strftime("%H:00")))
    return Chart(width, height, top, bars, hours)
