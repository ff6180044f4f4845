"""The statistics pages (``/statistics/``, supervisors only; REQ-A10, REQ-T7,
seeds 000 and 004):

======================================  ==========================================
``GET /statistics/?year=&month=``       the year (or a month): tables + SVG charts
``GET /statistics/report?year=``        the printable yearly report in seed 004's
                                        shape (total and complaints, the monthly
                                        wait/handling table, channel modes)
``GET /statistics/export.xlsx?…``       the same tables with native charts (audited;
                                        ``export.csv``: the tables as text)
======================================  ==========================================

Handlers only parse, call :func:`page_context` / :mod:`supervision.stats`
in the bookkeeping lane (a year's aggregation must not hold up the calls'
lane), and render. A bad ``year``/``month`` is a Russian 400, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from crm_bridge.db import Database
from crm_bridge.models import ClassificationCode, OperatorRole
from crm_bridge.reports import MONTHS_RU
from supervision import stats
from supervision.deps import SupervisionDeps
from supervision.stats import CHANNELS, Statistics, StatisticsError
from supervision.stats_svg import Series, bar_chart, share_chart
from webedge.edge import allow, audit
from webedge.shell import error_response, render

__all__ = ["create_stats_app", "page_context", "report_context"]

STATIC_DIR: Final = Path(__file__).with_name("static")
SERVICES = web.AppKey("stats_services", SupervisionDeps)
KEEPING = web.AppKey("stats_keeping", dict[int, asyncio.Future[None]])
log = logging.getLogger(__name__)
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- what the pages show (pure: the bench times exactly this) -------------------------


def charts(s: Statistics) -> dict[str, Any]:
    labels = [b.label for b in s.period.buckets]
    per = "по месяцам" if s.period.month is None else "по дням"
    appeals = [s.appeals_in(b.index) for b in s.period.buckets]
    calls = [s.calls_in(b.index) for b in s.period.buckets]
    return {
        "appeals": bar_chart(
            f"Обращения {per}",
            labels,
            [
                Series("Обращения", [a.total for a in appeals]),
                Series("Жалобы", [a.complaints for a in appeals]),
            ],
            chart_id="chart-appeals",
        ),
        "calls": bar_chart(
            f"Звонки в очереди {per}",
            labels,
            [
                Series("В очереди", [c.queued for c in calls]),
                Series("Принято", [c.answered for c in calls]),
                Series("Потеряно", [c.abandoned for c in calls]),
            ],
            chart_id="chart-calls",
        ),
        "times": bar_chart(
            f"Среднее время ожидания и обслуживания {per}",
            labels,
            [
                Series("Ожидание", [c.avg_wait or 0.0 for c in calls]),
                Series("Обслуживание", [c.avg_handling or 0.0 for c in calls]),
            ],
            fmt=stats.format_mss,
            time=True,
            chart_id="chart-times",
        ),
        "channels": share_chart(
            "Доля обращений по каналам",
            [(title, s.appeals.by_channel[value]) for value, title in CHANNELS],
            chart_id="chart-channels",
        ),
        "topics": share_chart(
            "Доля обращений по темам",
            [(code.title_ru, s.appeals.by_topic[code.value]) for code in ClassificationCode]
            + [("без классификации", s.appeals.by_topic[None])],
            chart_id="chart-topics",
        ),
    }


def page_context(
    db: Database, year: int, month: int | None, *, tz: ZoneInfo | str, now: datetime | None = None
) -> dict[str, Any]:
    """Everything ``/statistics/`` shows for the year or the month."""
    s = stats.compute(db, year, month, tz=tz, now=now)
    return {
        "statistics": s,
        "tables": stats.tables(s),
        "charts": charts(s),
        "headline": stats.headline(s),
        "channels_sentence": stats.channels_sentence(s),
    }


def report_context(
    db: Database, year: int, *, tz: ZoneInfo | str, working_hours: str, now: datetime | None = None
) -> dict[str, Any]:
    """The printable yearly report (seed 004's shape)."""
    s = stats.compute(db, year, None, tz=tz, now=now)
    return {
        "statistics": s,
        "headline": stats.headline(s),
        "wait_handling": stats.wait_handling_table(s),
        "channels": stats.channel_table(s),
        "topics": stats.topic_table(s),
        "modes": stats.channel_modes(working_hours),
        "chart": charts(s)["times"],
    }


# -- the handlers ----------------------------------------------------------------------


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SERVICES].settings.timezone)


def _year(request: web.Request) -> int:
    raw = request.query.get("year", "").strip()
    if not raw:
        return datetime.now(_zone(request)).year
    if not raw.isdigit():
        raise StatisticsError(f"год должен быть числом, например 2025, а не «{raw[:20]}»")
    return int(raw)


def _month(request: web.Request) -> int | None:
    raw = request.query.get("month", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise StatisticsError(f"месяц должен быть числом от 1 до 12, а не «{raw[:20]}»")
    return int(raw)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except StatisticsError as exc:
        return error_response(request, 400, f"Неверный период: {exc}")


def _choices(year: int, month: int | None) -> dict[str, Any]:
    return {
        "year": year,
        "month": month,
        "months": list(enumerate(MONTHS_RU, 1)),
    }


@allow(OperatorRole.SUPERVISOR)
async def page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    year, month = _year(request), _month(request)
    stats.period_of(year, month, _zone(request))  # a bad period: 400 before any work
    context = await services.run_db_background(
        lambda: page_context(services.db, year, month, tz=_zone(request))
    )
    s: Statistics = context["statistics"]
    _keep_later(request.app, s)
    return render(
        request,
        "supervision/stats.html",
        {
            "title": f"Статистика за {stats.period_genitive(s.period)}",
            **context,
            **_choices(year, month),
        },
    )


@allow(OperatorRole.SUPERVISOR)
async def report(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    year = _year(request)
    stats.period_of(year, None, _zone(request))
    context = await services.run_db_background(
        lambda: report_context(
            services.db,
            year,
            tz=_zone(request),
            working_hours=services.settings.working_hours,
        )
    )
    _keep_later(request.app, context["statistics"])
    return render(
        request,
        "supervision/stats_report.html",
        {"title": f"Отчёт о работе контакт-центра за {year} год", "year": year, **context},
    )


@allow(OperatorRole.SUPERVISOR)
async def export(request: web.Request) -> web.Response:
    """``export.xlsx`` (tables and charts) or ``export.csv``; audited."""
    from supervision.stats_export import statistics_csv, statistics_xlsx

    services = request.app[SERVICES]
    fmt = request.match_info["fmt"]
    year, month = _year(request), _month(request)
    stats.period_of(year, month, _zone(request))

    def build() -> bytes:
        s = stats.compute(services.db, year, month, tz=_zone(request))
        return statistics_xlsx(s) if fmt == "xlsx" else statistics_csv(s)

    data = await services.run_db_background(build)
    period = f"{year}" if month is None else f"{year}-{month:02d}"
    await audit(request, "statistics.export", f"{period}.{fmt}")
    return web.Response(
        body=data,
        headers={
            "Content-Type": XLSX_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="statistics-{period}.{fmt}"',
        },
    )


def _keep_later(app: web.Application, s: Statistics) -> None:
    """A year whose closed months were read but not kept: keep them in the
    background lane (the next reader gets them kept), once at a time."""
    keeping = app[KEEPING]
    year = s.period.year
    if not s.months_to_keep or year in keeping:
        return
    services = app[SERVICES]
    zone = services.settings.timezone

    async def keep() -> None:
        try:
            await services.run_db_background(
                lambda: stats.keep_closed_months(services.db, tz=zone, years=[year])
            )
        except Exception:  # the page was served; the next reader tries again
            log.exception("statistics: the closed months of a year could not be kept")
        finally:
            keeping.pop(year, None)

    keeping[year] = asyncio.ensure_future(keep())


async def _finish_keeping(app: web.Application) -> None:
    tasks: dict[int, asyncio.Future[None]] = app[KEEPING]
    for task in list(tasks.values()):
        with contextlib.suppress(Exception):
            await task


def create_stats_app(services: SupervisionDeps, runtime: Any = None) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SERVICES] = services
    keeping: dict[int, asyncio.Future[None]] = {}
    app[KEEPING] = keeping
    app.on_shutdown.append(_finish_keeping)
    r = app.router
    r.add_get("/", page)
    r.add_get("/report", report)
    r.add_get("/export.{fmt:xlsx|csv}", export)
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
